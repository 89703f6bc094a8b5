"""Run records and the files a run writes for others: one typed definition each, written
atomically, read back with a clear error.

``metrics.json`` (every run directory ends with one) records what the run measured and the
versions of the software that measured it (``RunRecord``); ``race.json`` records a racing
sweep's rounds and decisions (``RaceRecord``); ``figures.npz`` holds the raw arrays the
report's figures are drawn from. A record says it is decoderlab's (``producer``) and which
schema it follows (``schema_version``); version 1 is the landed format without either field,
recognised by what only decoderlab wrote into it (a ``versions.decoderlab`` entry in
metrics.json; race.json's ``knobs``, ``rounds`` and ``candidates``), and still loads. Another
version, or a file another program wrote under the same name, raises ``RecordError`` naming
the file. Every file decoderlab writes by renaming a temporary file into place goes through
:func:`replaced_atomically`, which gives it the permissions a plain ``open(path, "w")`` would
(``0o666`` minus the umask), not the owner-only ``0o600`` of ``tempfile.mkstemp``: data
folders, run directories and reports are often shared between users (a cluster, a Docker
volume written by another UID).
"""

from __future__ import annotations

import json
import math
import os
import platform
import uuid
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import IO, Any

import numpy as np

METRICS_FILE = "metrics.json"
RACE_FILE = "race.json"
FIGURES_FILE = "figures.npz"
# The arrays of figures.npz (float NumPy arrays; a run has those its callbacks made):
# the decoder's flat-field response (C, H, W), border cropped, before and after training;
FLAT_FIELD_ARRAYS = {"init": "flat_field_init", "final": "flat_field_final"}
# the validation residual's mean power spectrum (H, W), DC centred, after the last epoch;
RESIDUAL_SPECTRUM_ARRAY = "residual_spectrum"
# fixed test digits and their reconstructions after the last validation epoch (N, C, H, W).
DIGITS_ARRAY, RECONSTRUCTIONS_ARRAY = "digits", "reconstructions"


def software_versions() -> dict[str, str]:
    """The versions a record's numbers depend on: python, torch, lightning, torchmetrics and
    decoderlab, e.g. ``{"python": "3.11.7", "torch": "2.5.1+cu124", "lightning": "2.5.0",
    "torchmetrics": "1.6.0", "decoderlab": "0.1.0"}`` (torch's with its build tag).

    The packages are imported here, not at module level: a run has imported them already, and
    readers of records (the report) need not pay for them.
    """
    import lightning
    import torch
    import torchmetrics

    import decoderlab

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "lightning": lightning.__version__,
        "torchmetrics": torchmetrics.__version__,
        "decoderlab": decoderlab.__version__,
    }


@contextmanager
def replaced_atomically(path: str | Path, mode: str = "w") -> Iterator[IO]:
    """Open a new temporary file beside ``path``; when the block ends, rename it over ``path``.

    Readers see the old file or the complete new one, never a partial write; if the block
    raises, the temporary file is removed and ``path`` is untouched. The file is created with
    mode ``0o666`` and the kernel applies the umask (and a default ACL, if the folder has one),
    exactly as for a plain ``open``. ``mode`` is ``"w"`` or ``"wb"``. An ``OSError`` creating
    the file (e.g. a folder the user may not write to) names ``path``.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"replaced_atomically: mode {mode!r} is not 'w' or 'wb'")
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as err:
        raise type(err)(err.errno, err.strerror, str(path)) from err
    try:
        with os.fdopen(fd, mode) as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _finite_or_none(value: Any) -> Any:
    """JSON has no NaN/inf: store them as null so every reader parses the file."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite_or_none(v) for v in value]
    return value


def write_json_atomic(path: str | Path, payload: Any) -> Path:
    """Write ``payload`` (dicts, lists, numbers, strings) as JSON to ``path`` atomically,
    creating its folder; NaN and inf become null. Returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with replaced_atomically(path) as f:
        json.dump(_finite_or_none(payload), f, indent=2, sort_keys=False)
        f.write("\n")
    return path


def write_npz_atomic(path: str | Path, arrays: dict[str, np.ndarray]) -> Path:
    """Write ``arrays`` as an uncompressed ``.npz`` file to ``path`` atomically; returns it."""
    path = Path(path)
    with replaced_atomically(path, "wb") as f:
        np.savez(f, **arrays)
    return path


def read_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file (no pickles); OSError or ValueError if unreadable."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    except zipfile.BadZipFile as err:
        raise ValueError(f"{path}: not a readable .npz file ({err})") from err


PRODUCER = "decoderlab"
# schema versions: 1 is the landed format (no producer or schema_version field), 2 adds them
LEGACY_VERSION = 1
RUN_RECORD_VERSION = 2
RACE_RECORD_VERSION = 2
SUPPORTED_VERSIONS = (LEGACY_VERSION, 2)

# a run's status (RunRecord.status): running until it ends, then one of the other three
RUNNING, OK, FAILED, INTERRUPTED = "running", "ok", "failed", "interrupted"
STATUSES = (RUNNING, OK, FAILED, INTERRUPTED)


class RecordError(ValueError):
    """A record file decoderlab cannot use: not JSON, another schema version, not decoderlab's,
    or a field of the wrong type. The message names the file."""


class ForeignRecordError(RecordError):
    """A file under a record's name that decoderlab did not write (no producer and schema
    version, nor the marks of a version-1 record)."""


class RecordVersionError(RecordError):
    """A decoderlab record of a schema version this decoderlab does not read."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return _is_int(value) or isinstance(value, float)


def _optional(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: value is None or check(value)


def _mapping_of(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: (
        isinstance(value, dict) and all(isinstance(k, str) and check(v) for k, v in value.items())
    )


def _list_of(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, list) and all(check(v) for v in value)


_NUMBER_OR_NULL = _optional(_is_number)
_METRICS = (_mapping_of(_NUMBER_OR_NULL), "an object of metric name -> number or null")


@dataclass
class RunRecord:
    """A run's ``metrics.json``: who ran what (``decoder``, ``seed``, ``config_hash``, the
    software ``versions``, the ``slurm`` job), how it ended (``status``; ``error``,
    ``traceback``, ``failed_step`` or ``interrupted_step`` and ``checkpoint`` when it did not
    succeed) and what it measured: final ``val`` and ``test`` metrics and ``ffcr`` (metric
    name -> value, null where not finite), per-epoch ``history`` of the val metrics,
    ``seconds_per_epoch``, ``train_samples_per_s``, ``epochs``, ``wall_s`` (seconds), the
    ``device``, ``world_size``, ``params``, the torch ``threads`` chosen and the ``data``
    actually used (images, and patches, per split). ``extra`` keeps
    fields this version does not know, so rewriting a record never drops them."""

    status: str
    seed: int | None
    decoder: str | None = None
    config_hash: str | None = None
    versions: dict[str, str] = field(default_factory=dict)
    slurm: dict[str, str] = field(default_factory=dict)
    params: int | None = None
    threads: dict[str, Any] | None = None
    epochs: int | None = None
    device: str | None = None
    world_size: int | None = None
    data: dict[str, int] = field(default_factory=dict)
    seconds_per_epoch: list[float] = field(default_factory=list)
    train_samples_per_s: float | None = None
    val: dict[str, float | None] = field(default_factory=dict)
    test: dict[str, float | None] = field(default_factory=dict)
    ffcr: dict[str, float | None] = field(default_factory=dict)
    history: dict[str, list[float | None]] = field(default_factory=dict)
    wall_s: float | None = None
    error: str | None = None
    failed_step: int | None = None
    interrupted_step: int | None = None
    checkpoint: str | None = None
    traceback: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def finals(self) -> dict[str, float | None]:
        """Every final metric by name: ``val``, ``test`` and ``ffcr`` together."""
        return {**self.val, **self.test, **self.ffcr}

    def to_json(self) -> dict[str, Any]:
        """The record as metrics.json holds it: producer and schema version first, then who ran
        what (``decoder``, ``seed``, ``config_hash``, ``status``), what an ok run measured
        (only when ok, empty or not), any other field that is set, and ``extra``'s last."""

        def written(name: str, value: Any) -> bool:
            if name in _MEASURED:
                return self.status == OK
            return name in _ALWAYS_WRITTEN or value not in (None, {}, [])

        known = {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name != "extra" and written(f.name, getattr(self, f.name))
        }
        return {
            "producer": PRODUCER,
            "schema_version": RUN_RECORD_VERSION,
            **known,
            **{k: v for k, v in self.extra.items() if k not in known},
        }


_ALWAYS_WRITTEN = ("decoder", "seed", "config_hash", "status")
_MEASURED = (
    "epochs",
    "device",
    "world_size",
    "data",
    "seconds_per_epoch",
    "train_samples_per_s",
    "val",
    "test",
    "ffcr",
    "history",
)

# RunRecord's fields: the check a value must pass and, for the error, what is allowed
_RUN_FIELDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "status": (lambda v: v in STATUSES, f"one of {', '.join(STATUSES)}"),
    "seed": (_optional(_is_int), "an integer or null"),
    "decoder": (_optional(lambda v: isinstance(v, str)), "a string or null"),
    "config_hash": (_optional(lambda v: isinstance(v, str)), "a string or null"),
    "versions": (_mapping_of(lambda v: isinstance(v, str)), "an object of package -> version"),
    "slurm": (_mapping_of(lambda v: isinstance(v, str)), "an object of strings"),
    "params": (_optional(_is_int), "an integer or null"),
    "threads": (_optional(lambda v: isinstance(v, dict)), "an object or null"),
    "epochs": (_optional(_is_int), "an integer or null"),
    "device": (_optional(lambda v: isinstance(v, str)), "a string or null"),
    "world_size": (_optional(_is_int), "an integer or null"),
    "data": (_mapping_of(_is_int), "an object of name -> count"),
    "seconds_per_epoch": (_list_of(_NUMBER_OR_NULL), "a list of numbers"),
    "train_samples_per_s": (_NUMBER_OR_NULL, "a number or null"),
    "val": _METRICS,
    "test": _METRICS,
    "ffcr": _METRICS,
    "history": (_mapping_of(_list_of(_NUMBER_OR_NULL)), "an object of name -> list of numbers"),
    "wall_s": (_NUMBER_OR_NULL, "a number or null"),
    "error": (_optional(lambda v: isinstance(v, str)), "a string or null"),
    "failed_step": (_optional(_is_int), "an integer or null"),
    "interrupted_step": (_optional(_is_int), "an integer or null"),
    "checkpoint": (_optional(lambda v: isinstance(v, str)), "a string or null"),
    "traceback": (_optional(lambda v: isinstance(v, str)), "a string or null"),
}
_REQUIRED_RUN_FIELDS = ("status", "seed")


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise RecordError(f"{path}: not valid JSON ({err})") from err
    except UnicodeDecodeError as err:
        raise ForeignRecordError(f"{path}: not a text file, so not a decoderlab record") from err


def _schema_version(path: Path, data: Any, what: str, legacy: Callable[[dict], bool]) -> int:
    """The record's schema version; raises ForeignRecordError or RecordVersionError."""
    if not isinstance(data, dict):
        raise ForeignRecordError(f"{path}: not a JSON object, so not a decoderlab {what}")
    producer, version = data.get("producer"), data.get("schema_version")
    supported = f"this decoderlab reads schema versions {', '.join(map(str, SUPPORTED_VERSIONS))}"
    if producer is None and version is None:
        if legacy(data):
            return LEGACY_VERSION
        raise ForeignRecordError(
            f"{path}: not a decoderlab {what}: it has no producer 'decoderlab' and "
            "schema_version, nor the marks of a record written before them (another program "
            "wrote it)"
        )
    if producer != PRODUCER:
        raise ForeignRecordError(
            f"{path}: written by producer {producer!r}, not decoderlab's {what}"
        )
    if version not in SUPPORTED_VERSIONS:
        raise RecordVersionError(
            f"{path}: a decoderlab {what} of schema_version {version!r}; {supported} (1: "
            "records without a schema_version field); read it with the decoderlab that wrote "
            "it (its versions.decoderlab)"
        )
    return version


def _legacy_run_record(data: dict) -> bool:
    versions = data.get("versions")
    return isinstance(versions, dict) and "decoderlab" in versions


def run_record_from_json(data: Any, path: str | Path = METRICS_FILE) -> RunRecord:
    """The RunRecord a metrics.json's content holds (``path`` names it in errors).

    Raises ForeignRecordError (not decoderlab's), RecordVersionError (another schema version)
    or RecordError (a field missing or of the wrong type, naming it and what is allowed).
    """
    path = Path(path)
    _schema_version(path, data, "run record", _legacy_run_record)
    for name in _REQUIRED_RUN_FIELDS:
        if name not in data:
            raise RecordError(f"{path}: no {name!r} field")
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in data.items():
        if key in ("producer", "schema_version"):
            continue
        if key not in _RUN_FIELDS:
            extra[key] = value
            continue
        check, allowed = _RUN_FIELDS[key]
        if not check(value):
            raise RecordError(f"{path}: field {key!r} is {value!r}; it must be {allowed}")
        values[key] = value
    return RunRecord(**values, extra=extra)


def read_run_record(run_dir: str | Path) -> RunRecord:
    """``run_dir/metrics.json`` as a RunRecord; OSError when it cannot be read, RecordError
    (a ValueError) naming the file when it is not a decoderlab run record of a version this
    decoderlab reads (``run_record_from_json``)."""
    path = Path(run_dir) / METRICS_FILE
    return run_record_from_json(_load_json(path), path)


def write_run_record(run_dir: str | Path, record: RunRecord) -> Path:
    """Write ``record`` to ``run_dir/metrics.json`` atomically (NaN and inf as null)."""
    return write_json_atomic(Path(run_dir) / METRICS_FILE, record.to_json())


@dataclass(frozen=True)
class RaceKnobs:
    """A race's knobs as race.json records them (``decoderlab.stats.racing.RaceSettings``
    checks them): seeds per candidate in round 1, seeds per later round, the most seeds, the
    family-wise level, the metric raced on and the job budget (None: none)."""

    initial_seeds: int = 3
    seeds_per_round: int = 1
    max_seeds: int = 10
    alpha: float = 0.05
    metric: str = "test/loss"
    max_jobs: int | None = None


@dataclass(frozen=True)
class RaceJob:
    """A job of a race: its number in launch order across rounds, candidate and seed."""

    job: int
    candidate: str
    seed: int


@dataclass(frozen=True)
class RaceDecision:
    """A candidate leaving the race: ``action`` dropped (worse than ``best``, Holm p
    ``p_holm``, mean paired ``difference`` over ``n`` seeds) or failed (``reason``)."""

    candidate: str
    action: str
    best: str | None = None
    p_holm: float | None = None
    difference: float | None = None
    n: int | None = None
    reason: str | None = None


@dataclass
class RaceRound:
    """One round: the seeds it ran, the candidates racing before it, its jobs, whether its
    results were recorded (``finished``), the best candidate after it and its decisions."""

    round: int
    seeds: list[int]
    survivors_before: list[str]
    jobs: list[RaceJob]
    finished: bool
    best: str | None
    decisions: list[RaceDecision]


@dataclass
class RaceCandidate:
    """A candidate's part of the race: seeds run, their metric ``values`` and the failed seeds
    (seed -> reason), its ``status`` and the round, Holm p and difference at which it was
    dropped; the sweeper adds its ``overrides`` and the ``decoder`` its runs reported."""

    seeds_run: list[int]
    values: dict[int, float]
    failed_seeds: dict[int, str]
    status: str
    dropped_in_round: int | None = None
    p_holm_at_drop: float | None = None
    difference_at_drop: float | None = None
    overrides: list[str] = field(default_factory=list)
    decoder: str | None = None


@dataclass
class RaceRecord:
    """A racing sweep's ``race.json``: the ``knobs``, the seeds in the order rounds take them,
    the jobs run, the best candidate after the last round, why the race stopped (None while
    racing), its rounds and its candidates by label (``decoderlab.stats.racing.Race``)."""

    knobs: RaceKnobs
    seed_order: list[int]
    jobs_run: int
    best: str | None
    stop_reason: str | None
    rounds: list[RaceRound]
    candidates: dict[str, RaceCandidate]

    def to_json(self) -> dict[str, Any]:
        """The record as race.json holds it (seeds as string keys of ``values`` and
        ``failed_seeds``), producer and schema version first."""
        data = asdict(self)
        for candidate in data["candidates"].values():
            for key in ("values", "failed_seeds"):
                candidate[key] = {str(seed): v for seed, v in candidate[key].items()}
        return {"producer": PRODUCER, "schema_version": RACE_RECORD_VERSION, **data}


def _legacy_race_record(data: dict) -> bool:
    return {"knobs", "rounds", "candidates"} <= set(data)


def race_record_from_json(data: Any, path: str | Path = RACE_FILE) -> RaceRecord:
    """The RaceRecord a race.json's content holds; raises RecordError (or its subclasses, as
    ``run_record_from_json``) naming ``path``."""
    path = Path(path)
    _schema_version(path, data, "race record", _legacy_race_record)
    try:
        candidates = {
            label: RaceCandidate(
                **{
                    **c,
                    "values": {int(s): float(v) for s, v in c["values"].items()},
                    "failed_seeds": {int(s): str(r) for s, r in c["failed_seeds"].items()},
                }
            )
            for label, c in data["candidates"].items()
        }
        rounds = [
            RaceRound(
                **{
                    **r,
                    "jobs": [RaceJob(**j) for j in r["jobs"]],
                    "decisions": [RaceDecision(**d) for d in r["decisions"]],
                }
            )
            for r in data["rounds"]
        ]
        fixed = {k: data[k] for k in ("seed_order", "jobs_run", "best", "stop_reason")}
        return RaceRecord(RaceKnobs(**data["knobs"]), **fixed, rounds=rounds, candidates=candidates)
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise RecordError(f"{path}: not a race record of its schema ({err!r})") from err


def read_race_record(sweep_dir: str | Path) -> RaceRecord:
    """``sweep_dir/race.json`` as a RaceRecord; OSError when unreadable, RecordError naming the
    file otherwise (``race_record_from_json``)."""
    path = Path(sweep_dir) / RACE_FILE
    return race_record_from_json(_load_json(path), path)


def write_race_record(sweep_dir: str | Path, record: RaceRecord) -> Path:
    """Write ``record`` to ``sweep_dir/race.json`` atomically."""
    return write_json_atomic(Path(sweep_dir) / RACE_FILE, record.to_json())

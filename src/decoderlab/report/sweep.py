"""A sweep directory's jobs: their metrics.json records, configs and figures' raw arrays.

A directory is a decoderlab sweep when at least one of its run records is decoderlab's
(``decoderlab.records``); a metrics.json another program wrote is named and left out.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf

from decoderlab.metrics.registry import PRIMARY_METRIC
from decoderlab.records import (
    FIGURES_FILE,
    INTERRUPTED,
    METRICS_FILE,
    OK,
    RACE_FILE,
    RUNNING,
    ForeignRecordError,
    RaceRecord,
    RecordVersionError,
    RunRecord,
    read_arrays,
    read_race_record,
    read_run_record,
)

log = logging.getLogger(__name__)


class NoRunsError(RuntimeError):
    """The directory does not exist, holds no run directory, or none of decoderlab's."""


@dataclass
class Job:
    """One run directory of a sweep.

    ``record`` is its metrics.json (None when missing or unreadable); ``problem`` says why
    the job cannot enter the table (None for a usable job); ``overrides`` and ``config`` are
    its ``.hydra/overrides.yaml`` and composed ``config.yaml`` (unresolved; None when
    unreadable); ``arrays`` are its figures.npz (empty when missing or unreadable);
    ``decoderlab``: its metrics.json is decoderlab's, even if of an unreadable version.
    """

    directory: Path
    record: RunRecord | None
    problem: str | None
    overrides: list[str] = field(default_factory=list)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    duplicate_of: Path | None = None
    decoderlab: bool = False
    config: Any = None

    def __post_init__(self) -> None:
        self.decoderlab = self.decoderlab or self.record is not None

    @property
    def ok(self) -> bool:
        return self.problem is None

    @property
    def decoder(self) -> str | None:
        return self.record.decoder if self.record else None

    @property
    def seed(self) -> int | None:
        return self.record.seed if self.record else None

    @property
    def reason(self) -> str:
        """The problem on one line (whitespace collapsed); empty for a usable job."""
        return " ".join((self.problem or "").split())


def varying_overrides(jobs: list[Job]) -> dict[Path, list[str]]:
    """Per job, its overrides that not every job of the sweep shares (what the sweep varied)."""
    common = set.intersection(*(set(j.overrides) for j in jobs)) if jobs else set()
    return {j.directory: [o for o in j.overrides if o not in common] for j in jobs}


def _natural_key(path: Path) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(path))]


def find_job_dirs(sweep_dir: Path) -> list[Path]:
    """Run directories under ``sweep_dir`` (itself included): those with .hydra/ or metrics.json."""
    found = {p.parent for p in sweep_dir.rglob(METRICS_FILE)}
    found |= {p.parent.parent for p in sweep_dir.rglob(".hydra/config.yaml")}
    return sorted((d for d in found if ".submitit" not in d.parts), key=_natural_key)


def _problem(record: RunRecord) -> str | None:
    if record.status == RUNNING:
        return "status running: the job is still running, or was killed before it ended"
    if record.status == INTERRUPTED:
        return f"interrupted: {record.error} (resume the sweep with resume=true)"
    if record.status != OK:
        return f"failed: {record.error or f'status {record.status!r}'}"
    loss = record.test.get(PRIMARY_METRIC)
    if loss is None or not math.isfinite(loss):
        return f"{PRIMARY_METRIC} is not finite (diverged)"
    return None


def load_job(job_dir: Path) -> Job:
    """Read one run directory; never raises for a broken job, it records the problem, except
    ForeignRecordError for a metrics.json that decoderlab did not write."""
    overrides_path = job_dir / ".hydra" / "overrides.yaml"
    try:
        overrides = [str(o) for o in OmegaConf.load(overrides_path)]
    except (OSError, ValueError, TypeError):
        overrides = []
    try:
        config = OmegaConf.load(job_dir / ".hydra" / "config.yaml")
    except (OSError, ValueError):
        config = None
    if not (job_dir / METRICS_FILE).exists():
        problem = f"no {METRICS_FILE}: still running, interrupted or crashed before writing it"
        return Job(job_dir, None, problem, overrides, config=config)
    try:
        record = read_run_record(job_dir)
    except ForeignRecordError:
        raise
    except (OSError, ValueError) as err:
        decoderlab = isinstance(err, RecordVersionError)
        problem = f"unreadable {METRICS_FILE}: {err}"
        return Job(job_dir, None, problem, overrides, decoderlab=decoderlab, config=config)
    arrays = _figure_arrays(job_dir)
    return Job(job_dir, record, _problem(record), overrides, arrays, config=config)


def _figure_arrays(job_dir: Path) -> dict[str, np.ndarray]:
    """The job's figures.npz; empty (with a warning if the file is there) when unreadable."""
    path = job_dir / FIGURES_FILE
    if not path.exists():
        return {}
    try:
        return read_arrays(path)
    except (OSError, ValueError) as err:
        log.warning("figures without this job: %s", err)
        return {}


def mark_duplicates(jobs: list[Job]) -> list[Job]:
    """Jobs that repeat an earlier usable job's configuration and seed (same ``config_hash``
    in metrics.json; for records without one, the same overrides) are left out of the
    statistics, with ``duplicate_of`` and a problem naming the directory they collide with, so
    no run is averaged twice. Order: natural, first kept."""
    first: dict[tuple, Job] = {}
    for job in jobs:
        if not job.ok:
            continue
        digest = job.record.config_hash
        key = ("config_hash", digest) if digest else ("overrides", tuple(sorted(job.overrides)))
        if not key[1]:
            continue
        if key in first:
            job.duplicate_of = first[key].directory
            job.problem = (
                f"duplicate: same configuration and seed as `{first[key].directory}` "
                f"({key[0]} {digest or ' '.join(job.overrides)}); counted once"
            )
        else:
            first[key] = job
    return jobs


def load_jobs(sweep_dir: str | Path) -> tuple[list[Job], list[Job]]:
    """Every decoderlab job of ``sweep_dir``, duplicates marked (``mark_duplicates``), and the
    run directories whose metrics.json another program wrote (``problem`` says why; left out
    of everything). Raises NoRunsError naming the directory when it has no run directory, or
    none holding a decoderlab record."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise NoRunsError(f"{sweep_dir}: not a directory")
    job_dirs = find_job_dirs(sweep_dir)
    if not job_dirs:
        raise NoRunsError(
            f"{sweep_dir}: no run directories (none holds .hydra/config.yaml or {METRICS_FILE})"
        )
    jobs, foreign = [], []
    for job_dir in job_dirs:
        try:
            jobs.append(load_job(job_dir))
        except ForeignRecordError as err:
            foreign.append(Job(job_dir, None, f"not a decoderlab run: {err}"))
    if not any(j.decoderlab for j in jobs):
        raise NoRunsError(
            f"{sweep_dir}: not a decoderlab sweep: none of its {len(job_dirs)} run directories "
            f"holds a decoderlab {METRICS_FILE} (one with producer 'decoderlab' and a "
            "schema_version, or versions.decoderlab); nothing written"
        )
    return mark_duplicates(jobs), foreign


@dataclass
class Sweep:
    """A sweep directory loaded once: its jobs, the run directories another program wrote
    (``foreign``) and, when the racing sweeper ran it, the race (``race.json``). Analyses and
    renderers take this value and never re-read the directory."""

    directory: Path
    jobs: list[Job]
    race: RaceRecord | None = None
    foreign: list[Job] = field(default_factory=list)

    def versions(self) -> dict[str, list[str]]:
        """Per package, the distinct versions the usable jobs recorded (metrics.json
        ``versions``), only for packages with more than one."""
        seen: dict[str, set[str]] = {}
        for job in self.jobs:
            if job.ok:
                for package, version in job.record.versions.items():
                    seen.setdefault(package, set()).add(str(version))
        return {p: sorted(v) for p, v in sorted(seen.items()) if len(v) > 1}


def load_sweep(sweep_dir: str | Path) -> Sweep:
    """Load ``sweep_dir``'s jobs and race; raises NoRunsError when it holds no decoderlab run,
    ValueError naming the file when race.json is there but unreadable."""
    sweep_dir = Path(sweep_dir)
    jobs, foreign = load_jobs(sweep_dir)
    race = None
    if (sweep_dir / RACE_FILE).is_file():
        try:
            race = read_race_record(sweep_dir)
        except OSError as err:
            raise ValueError(f"{sweep_dir / RACE_FILE}: unreadable ({err})") from err
    return Sweep(sweep_dir, jobs, race, foreign)

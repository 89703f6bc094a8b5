"""Resuming: the checkpoint a run continues from, and the finished runs a re-run skips, both
only when the directory's run is the same job (its ``metrics.json`` has this ``config_hash``)."""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

from omegaconf import DictConfig

from decoderlab.records import METRICS_FILE, OK, RunRecord, read_run_record
from decoderlab.runtime.job_identity import config_hash

log = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoints"


class NoCheckpointError(FileNotFoundError):
    """``ckpt_path=last`` was asked for but the run directory holds no last checkpoint."""


class UnreadableCheckpointError(ValueError):
    """``ckpt_path`` names a file that is no complete checkpoint (empty, truncated)."""


class JobMismatchError(RuntimeError):
    """``resume=true`` met a directory whose run is another job (or cannot be told apart)."""


def check_same_job(output_dir: str | Path, cfg: DictConfig) -> None:
    """Raise JobMismatchError unless the run recorded in ``output_dir`` is the job of ``cfg``.

    Same job: its ``metrics.json`` holds ``config_hash(cfg)``. A directory with neither a
    record nor checkpoints has nothing to reuse and passes; one whose record is unreadable or
    has no ``config_hash`` (written before it was recorded) cannot be matched and fails.
    """
    output_dir = Path(output_dir)
    expected = config_hash(cfg)
    if not (output_dir / METRICS_FILE).is_file():
        if latest_checkpoint(output_dir) is None:
            return
        recorded_hash = None
        what = f"checkpoints but no {METRICS_FILE}"
    else:
        try:
            recorded = read_run_record(output_dir)
        except (OSError, ValueError) as err:
            recorded_hash, what = None, f"an unreadable {METRICS_FILE} ({err})"
        else:
            recorded_hash = recorded.config_hash
            what = (
                f"decoder {recorded.decoder} seed {recorded.seed}, "
                f"config_hash {recorded.config_hash}"
            )
    if recorded_hash == expected:
        return
    raise JobMismatchError(
        f"resume=true: {output_dir} holds the run of another job ({what}); this job is seed "
        f"{cfg.get('seed')}, config_hash {expected}. A run is resumed only by the same job. "
        "Run this job in a fresh directory (hydra.run.dir=... or hydra.sweep.dir=...), or "
        "continue that run explicitly with ckpt_path=<its checkpoint>."
    )


def unreadable_reason(path: str | Path) -> str | None:
    """None when ``path`` is a whole checkpoint (torch's zip format, every member's CRC
    right), else why not (``empty file``, ``truncated``, ...). Reads the whole file."""
    try:
        if Path(path).stat().st_size == 0:
            return "an empty file"
        with zipfile.ZipFile(path) as archive:
            broken = archive.testzip()
    except (OSError, zipfile.BadZipFile, EOFError) as err:
        return f"not a complete checkpoint ({err})"
    return f"its member {broken} is damaged" if broken else None


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    """The newest readable ``checkpoints/last*.ckpt`` of a run directory, or None.

    That is ``last-interrupted.ckpt`` after an interruption, else ModelCheckpoint's
    ``last.ckpt`` (the end of the last finished epoch). A newer one that is unreadable (a
    partial file from a full disk) is skipped with a warning naming it.
    """
    found = (Path(output_dir) / CHECKPOINT_DIR).glob("last*.ckpt")
    for path in sorted(found, key=lambda p: (p.stat().st_mtime_ns, p.name), reverse=True):
        reason = unreadable_reason(path)
        if reason is None:
            return path
        log.warning("skipping %s: %s; taking the newest readable last*.ckpt", path, reason)
    return None


def finished_record(output_dir: str | Path) -> RunRecord | None:
    """The run's metrics.json record when it says ``status: ok``, else None."""
    if not (Path(output_dir) / METRICS_FILE).is_file():
        return None
    try:
        record = read_run_record(output_dir)
    except (OSError, ValueError):
        return None
    return record if record.status == OK else None


def checkpoint_to_resume(ckpt_path: str | None, resume: bool, output_dir: str | Path) -> str | None:
    """The checkpoint ``fit`` starts from: ``ckpt_path`` (a file, or ``last`` for the newest
    readable last checkpoint of ``output_dir``), else with ``resume`` that newest one if any.
    NoCheckpointError for ``last`` without one; UnreadableCheckpointError for a file given that
    is no complete checkpoint."""
    if ckpt_path == "last" or (resume and not ckpt_path):
        found = latest_checkpoint(output_dir)
        if found is None and ckpt_path == "last":
            raise NoCheckpointError(
                f"ckpt_path=last: no readable {CHECKPOINT_DIR}/last*.ckpt in {output_dir}; "
                "resume a run by giving its directory (hydra.run.dir=...) or a file "
                "(ckpt_path=...)"
            )
        return str(found) if found else None
    if ckpt_path and Path(ckpt_path).is_file() and (reason := unreadable_reason(ckpt_path)):
        raise UnreadableCheckpointError(
            f"ckpt_path={ckpt_path}: {reason} (a partial write?); give a complete checkpoint, "
            "or ckpt_path=last for the newest readable last*.ckpt of the run directory"
        )
    return ckpt_path or None

"""Sweep progress a user can follow: one line after each job with jobs done / planned,
failures so far, time elapsed and an estimate of the time left.

The sweep's process writes the plan (``progress.json`` in the sweep directory: jobs planned
and when the multirun started); each job's process, when it ends, counts the run records
in the sweep directory. Both go through the shared filesystem, so the line is right with
every launcher (basic, joblib workers, submitit/SLURM jobs) and after ``resume=true``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from decoderlab.records import (
    METRICS_FILE,
    OK,
    RUNNING,
    STATUSES,
    read_run_record,
    write_json_atomic,
)

PROGRESS_FILE = "progress.json"
ENDED = tuple(s for s in STATUSES if s != RUNNING)


@dataclass(frozen=True)
class Progress:
    """Jobs of a sweep that have ended (``done``, of which ``failed`` did not succeed), the
    jobs planned (None when the sweeper does not say), and seconds since the multirun
    started; ``done_since_start`` counts the jobs that ended during this multirun."""

    done: int
    failed: int
    planned: int | None
    elapsed_s: float
    done_since_start: int

    @property
    def remaining_s(self) -> float | None:
        """Elapsed time per job of this multirun times the jobs left; None when unknown."""
        if self.planned is None or self.done_since_start == 0:
            return None
        return self.elapsed_s / self.done_since_start * max(self.planned - self.done, 0)

    def line(self) -> str:
        """E.g. ``sweep: 5/24 jobs done, 1 failed, 2m10s elapsed, about 6m30s left``."""
        planned = "?" if self.planned is None else str(self.planned)
        text = (
            f"sweep: {self.done}/{planned} jobs done, {self.failed} failed, "
            f"{_duration(self.elapsed_s)} elapsed"
        )
        if (left := self.remaining_s) is not None:
            text += f", about {_duration(left)} left"
        return text


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def write_plan(sweep_dir: str | Path, planned: int | None, started: float | None = None) -> None:
    """Record in ``sweep_dir`` how many jobs the sweep plans (a racing sweeper raises it each
    round) and the multirun's start (``time.time()``; kept from an earlier call when None)."""
    path = Path(sweep_dir) / PROGRESS_FILE
    if started is None:
        started = read_plan(sweep_dir).get("started", time.time())
    write_json_atomic(path, {"planned": planned, "started": started})


def read_plan(sweep_dir: str | Path) -> dict:
    """The plan ``write_plan`` recorded; empty when there is none or it is unreadable."""
    try:
        return json.loads((Path(sweep_dir) / PROGRESS_FILE).read_text())
    except (OSError, ValueError):
        return {}


def sweep_progress(sweep_dir: str | Path, now: float | None = None) -> Progress:
    """Count the ended run records (metrics.json with status ok, failed or interrupted) in
    the sweep directory's job folders, against the recorded plan; files that are no
    decoderlab run record are not counted."""
    sweep_dir = Path(sweep_dir)
    plan = read_plan(sweep_dir)
    now = time.time() if now is None else now
    started = plan.get("started", now)
    done = failed = since = 0
    for path in sweep_dir.glob(f"*/{METRICS_FILE}"):
        try:
            status = read_run_record(path.parent).status
            modified = path.stat().st_mtime
        except (OSError, ValueError):
            continue
        if status in ENDED:
            done += 1
            failed += status != OK
            since += modified >= started
    planned = plan.get("planned")
    elapsed = max(now - started, 0.0)
    return Progress(done, failed, planned if isinstance(planned, int) else None, elapsed, since)


def planned_jobs(sweeper: Mapping, task_overrides: list[str]) -> int | None:
    """Jobs a Hydra sweeper config (``hydra.sweeper``, a DictConfig or a dict) will launch: the
    basic sweeper's job list (``decoderlab.runtime.sweep_jobs``), ``n_trials`` for Optuna;
    None otherwise. Swept values are read resolved, as the sweeper reads them
    (``model/decoder: ${decoder_variants:}`` is every registered variant)."""
    from decoderlab.runtime import sweep_jobs

    if sweeper.get("_target_") == sweep_jobs.basic_sweeper_target():
        arguments = sweep_jobs.sweep_arguments(sweeper.get("params"), task_overrides)
        return len(sweep_jobs.expand(arguments))
    trials = sweeper.get("n_trials")
    return int(trials) if isinstance(trials, int) and not math.isnan(trials) else None

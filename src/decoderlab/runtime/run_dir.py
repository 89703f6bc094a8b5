"""One run, one directory: unique default run and sweep directories, and a guard that stops a
run before it writes into a directory holding another run's record.

A run directory's record is its ``metrics.json`` and Hydra's ``.hydra/`` (composed config and
overrides); a sweep directory's is Hydra's ``multirun.yaml`` and its job directories. Writing
into one is allowed only when asked to continue it: ``ckpt_path`` (a run) or ``resume=true``
(a run or a sweep), and then only for the same job (``decoderlab.runtime.resume.check_same_job``).
``GuardRunDirectory`` (a Hydra callback, registered in ``conf/hydra/default.yaml``) checks before
Hydra creates or writes anything; ``check_run_dir`` is the same check for any caller.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from decoderlab.records import METRICS_FILE
from decoderlab.runtime import sweep_jobs
from decoderlab.runtime.job_identity import RUN_ONLY_GROUPS, RUN_ONLY_KEYS
from decoderlab.runtime.resume import JobMismatchError, check_same_job

HYDRA_RECORD = ".hydra"
SWEEP_RECORD = "multirun.yaml"


class RunDirectoryInUse(RuntimeError):
    """The run or sweep directory already holds another run's record."""


def unique_now(pattern: str) -> str:
    """``datetime.now().strftime(pattern)`` followed by ``-<process id>``.

    With microseconds in ``pattern`` (``%f``) the name is unique on a machine: processes
    started at the same moment have different ids, and one process takes far longer than a
    microsecond to compose its next config. (Processes on different hosts, e.g. a job array
    on a shared file system, could only collide with the same microsecond and process id.)
    Registered as the ``${unique_now:PATTERN}`` config resolver.
    """
    return f"{datetime.now().strftime(pattern)}-{os.getpid()}"


def register_resolvers() -> None:
    """``${unique_now:PATTERN}`` in configs (the default run and sweep directories), cached per
    config like Hydra's ``${now:}`` so every use in one config gives the same name."""
    if not OmegaConf.has_resolver("unique_now"):
        OmegaConf.register_new_resolver("unique_now", unique_now, use_cache=True)


def run_record(
    directory: Path, names: tuple[str, ...] = (METRICS_FILE, HYDRA_RECORD)
) -> Path | None:
    """The first of ``names`` present in ``directory`` (a run's record), or None."""
    return next((directory / n for n in names if (directory / n).exists()), None)


def check_run_dir(
    directory: str | Path, cfg: DictConfig, names: tuple[str, ...] = (METRICS_FILE, HYDRA_RECORD)
) -> None:
    """Raise RunDirectoryInUse when ``directory`` holds a run's record (one of ``names``) and
    ``cfg`` does not ask to continue it (``ckpt_path`` or ``resume``); with ``resume``, raise
    ``decoderlab.runtime.resume.JobMismatchError`` when that run is another job."""
    directory = Path(directory)
    record = run_record(directory, names)
    if record is None:
        return
    if not (cfg.get("resume") or cfg.get("ckpt_path")):
        raise RunDirectoryInUse(
            f"{directory} already holds another run ({record.name}); a run never writes over "
            "another run's record. To continue that run, add ckpt_path=last (or resume=true); "
            "to start a new one, choose a fresh directory (hydra.run.dir=<new folder>, or leave "
            "hydra.run.dir out for a new dated one)."
        )
    if cfg.get("resume") and not cfg.get("ckpt_path"):
        check_same_job(directory, cfg)


def _identity_overrides(overrides: list[str]) -> set[str]:
    """The overrides that say which job runs, without those that only say where or how."""
    run_only = (*RUN_ONLY_KEYS, *RUN_ONLY_GROUPS)
    kept = set()
    for override in overrides:
        key = override.split("=", 1)[0].lstrip("+~")
        if not any(key == k or key.startswith((f"{k}.", f"{k}/")) for k in run_only):
            kept.add(override)
    return kept


def basic_sweep_jobs(config: DictConfig) -> list[list[str]]:
    """The overrides of every job Hydra's basic sweeper launches for ``config``, in job order."""
    arguments = sweep_jobs.sweep_arguments(
        config.hydra.sweeper.get("params"), config.hydra.overrides.task
    )
    return sweep_jobs.expand(arguments)


def _job_dirs(sweep_dir: Path) -> list[Path]:
    """Job directories of a sweep directory: its children holding a run's record."""
    if not sweep_dir.is_dir():
        return []
    return sorted(p for p in sweep_dir.iterdir() if p.is_dir() and run_record(p))


def check_sweep_dir(sweep_dir: str | Path, config: DictConfig) -> None:
    """Raise RunDirectoryInUse when ``sweep_dir`` holds another sweep and ``config`` does not
    ask to resume it, or (basic sweeper, job directories named by job number) when a job
    directory holds a job other than the one this sweep would run under that number."""
    sweep_dir = Path(sweep_dir)
    found = [p for p in (sweep_dir / SWEEP_RECORD,) if p.exists()] + _job_dirs(sweep_dir)
    if not found:
        return
    if not config.get("resume"):
        names = ", ".join(p.name for p in found[:4]) + (", ..." if len(found) > 4 else "")
        raise RunDirectoryInUse(
            f"{sweep_dir} already holds another sweep ({names}); a sweep never writes over "
            "another's records. To continue that sweep, run the same command with resume=true; "
            "to start a new one, choose a fresh directory (hydra.sweep.dir=<new folder>, or "
            "leave hydra.sweep.dir out for a new dated one)."
        )
    subdir = OmegaConf.to_container(config.hydra.sweep, resolve=False).get("subdir")
    basic = config.hydra.sweeper._target_ == sweep_jobs.basic_sweeper_target()
    if not basic or subdir != "${hydra.job.num}":
        return  # jobs unknown before they run: each job checks its own directory
    jobs = [_identity_overrides(job) for job in basic_sweep_jobs(config)]
    for job_dir in _job_dirs(sweep_dir):
        recorded = _recorded_overrides(job_dir)
        if recorded is None or not job_dir.name.isdigit():
            continue
        number, old = int(job_dir.name), _identity_overrides(recorded)
        new = jobs[number] if number < len(jobs) else None
        if new is None:
            raise RunDirectoryInUse(
                f"resume=true: {sweep_dir} holds job {number} of another sweep "
                f"({' '.join(sorted(old))}), this sweep has {len(jobs)} jobs. Resume a sweep "
                "with its own job list; to run a changed one, choose a fresh hydra.sweep.dir."
            )
        if new != old:
            raise RunDirectoryInUse(
                f"resume=true: {job_dir} holds job {number} of another sweep: it ran "
                f"{' '.join(sorted(old - new))} where this sweep's job {number} runs "
                f"{' '.join(sorted(new - old))}. Resume a sweep with its own job list; to run "
                "a changed one, choose a fresh hydra.sweep.dir."
            )


def _recorded_overrides(job_dir: Path) -> list[str] | None:
    """The task overrides Hydra saved for a job directory's run, None if not saved."""
    path = job_dir / HYDRA_RECORD / "overrides.yaml"
    return [str(o) for o in OmegaConf.load(path)] if path.is_file() else None


class GuardRunDirectory(Callback):
    """Stop with a clear message, before Hydra writes anything, when the run or sweep directory
    holds another run's record that the config does not ask to continue."""

    def _stop(self, check: Any, directory: str, config: DictConfig) -> None:
        from lightning.pytorch.utilities import rank_zero_only

        if rank_zero_only.rank != 0:
            return  # a DDP process Lightning started for the run of the global rank 0
        try:
            check(directory, config)
        except (RunDirectoryInUse, JobMismatchError) as err:
            raise SystemExit(f"decoderlab: {err}") from err

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._stop(check_run_dir, config.hydra.run.dir, config)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._stop(check_sweep_dir, config.hydra.sweep.dir, config)

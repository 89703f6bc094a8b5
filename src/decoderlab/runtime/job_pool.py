"""Parallel sweep jobs (``launcher=joblib``) that survive a killed worker process and Ctrl-C.

hydra-joblib-launcher runs a batch through one ``joblib.Parallel`` call: when the kernel kills
one worker process (out of memory, ``kill -9``), loky ends every worker, the call raises
``TerminatedWorkerError``, the healthy jobs beside the dead one die without a record, queued
jobs never start and the sweep ends in a traceback without its report (joblib issue #812); on
Ctrl-C the workers are killed before they save. ``launch`` runs the same jobs through loky's
process pool (joblib's), one future per job, so that:

- a job that ended keeps its result whatever happens to the others;
- when a worker dies, the jobs that were running (each job marks its start in the sweep
  directory) get ``status: failed`` with the cause in their ``metrics.json``, the jobs that had
  not started are launched again in a fresh pool, and the sweep goes on to its report;
- on Ctrl-C (the terminal sends it to every process) queued jobs are cancelled, running ones
  stop after their current batch with a checkpoint and ``status: interrupted``, and the sweep
  ends with exit status 130 and one line saying how to continue (``resume=true``); a second
  Ctrl-C stops them at once.

Idle workers ignore SIGINT (an idle loky worker that takes it exits and breaks the pool); a job
takes it as usual while it runs.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import shutil
import signal
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, run_job, setup_globals
from hydra.types import HydraContext, TaskFunction
from joblib.externals.loky import get_reusable_executor
from joblib.externals.loky.process_executor import TerminatedWorkerError
from omegaconf import DictConfig, open_dict

from decoderlab.records import FAILED, INTERRUPTED, RUNNING, read_run_record, write_run_record

# The folder of the sweep directory where running jobs mark their start (``<number>.started``)
# and a stopping sweep tells queued jobs not to start (``stop``); removed after each launch
STARTED_DIR = ".started"
STOP_MARK = "stop"
# What joblib's loky backend sets in its workers so that n_jobs processes share the cores
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
# Seconds an idle worker waits for the next job (the race's next round) before it exits
IDLE_WORKER_TIMEOUT_S = 300


class WorkerDied(RuntimeError):
    """A job's worker process died, or the pool ended it when another worker died."""


class NotStarted(RuntimeError):
    """A queued job that a stopping sweep did not start."""


@dataclass(frozen=True)
class Job:
    """One job of a batch: its number, overrides and directory."""

    number: int
    overrides: list[str]
    directory: Path


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_in_worker(
    job: Job,
    started: Path,
    hydra_context: HydraContext,
    config: DictConfig,
    task_function: TaskFunction,
    singleton_state: dict[Any, Any],
) -> JobReturn:
    """Run ``job`` in a pool worker as hydra-joblib-launcher does (Hydra's ``run_job``), after
    marking its start in ``started``; Ctrl-C reaches it only while it runs."""
    if (started / STOP_MARK).exists():
        raise NotStarted(f"job {job.number}: the sweep is stopping")
    (started / f"{job.number}.started").touch()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        setup_globals()
        Singleton.set_state(singleton_state)
        sweep_config = job_config(hydra_context, config, job)
        HydraConfig.instance().set_config(sweep_config)
        return run_job(
            hydra_context=hydra_context,
            config=sweep_config,
            task_function=task_function,
            job_dir_key="hydra.sweep.dir",
            job_subdir_key="hydra.sweep.subdir",
        )
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def job_config(hydra_context: HydraContext, config: DictConfig, job: Job) -> DictConfig:
    """The composed config of ``job`` (Hydra's sweep config with its number and directory)."""
    sweep_config = hydra_context.config_loader.load_sweep_config(config, list(job.overrides))
    with open_dict(sweep_config):
        sweep_config.hydra.job.id = f"{sweep_config.hydra.job.name}_{job.number}"
        sweep_config.hydra.job.num = job.number
    return sweep_config


def plan_jobs(
    hydra_context: HydraContext, config: DictConfig, batch: Sequence[Sequence[str]], first: int
) -> list[Job]:
    """The jobs of ``batch``, numbered from ``first``, with the directories Hydra gives them."""
    jobs = []
    for offset, overrides in enumerate(batch):
        draft = Job(first + offset, list(overrides), Path())
        sweep_config = job_config(hydra_context, config, draft)
        directory = Path(str(sweep_config.hydra.sweep.dir)) / str(sweep_config.hydra.sweep.subdir)
        jobs.append(Job(draft.number, draft.overrides, directory))
    return jobs


def record_failure(job: Job, status: str, error: str) -> bool:
    """Write ``status`` and ``error`` into the job's metrics.json if it still says running
    (its process was killed before it could); True if it did."""
    try:
        record = read_run_record(job.directory)
    except (OSError, ValueError):
        return False
    if record.status != RUNNING:
        return False
    write_run_record(job.directory, replace(record, status=status, error=error))
    return True


def _lost_return(job: Job, sweep_config: DictConfig, error: BaseException) -> JobReturn:
    """A FAILED JobReturn for a job that returned none, as ``run_job`` would return it."""
    with open_dict(sweep_config):
        sweep_config.hydra.runtime.output_dir = str(job.directory)
    return JobReturn(
        overrides=job.overrides,
        hydra_cfg=sweep_config,
        working_dir=os.getcwd(),
        task_name=sweep_config.hydra.job.name,
        status=JobStatus.FAILED,
        _return_value=error,
    )


class JobPool:
    """The launcher's state: ``n_jobs`` workers for the jobs of one Hydra multirun."""

    def __init__(
        self,
        n_jobs: int,
        hydra_context: HydraContext,
        config: DictConfig,
        task_function: TaskFunction,
    ) -> None:
        self.n_jobs = (os.cpu_count() or 1) if n_jobs == -1 else max(1, n_jobs)
        self.executor: Any = None
        self.hydra_context, self.config, self.task_function = hydra_context, config, task_function
        self.sweep_dir = Path(str(config.hydra.sweep.dir))

    def _executor(self) -> Any:
        threads = str(max((os.cpu_count() or 1) // self.n_jobs, 1))
        return get_reusable_executor(
            max_workers=self.n_jobs,
            timeout=IDLE_WORKER_TIMEOUT_S,
            initializer=_ignore_sigint,
            env={v: os.environ.get(v, threads) for v in THREAD_VARIABLES},
        )

    def launch(self, batch: Sequence[Sequence[str]], first: int) -> list[JobReturn]:
        """Run ``batch`` (jobs ``first``, ``first + 1``, ...); their results in batch order."""
        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        jobs = plan_jobs(self.hydra_context, self.config, batch, first)
        results: dict[int, JobReturn] = {}
        pending, restarted = list(jobs), set()
        while pending:
            started = self.sweep_dir / STARTED_DIR / uuid.uuid4().hex
            started.mkdir(parents=True)
            try:
                died = self._run(pending, started, results)
                marked = {int(p.stem) for p in started.glob("*.started")}
            finally:
                shutil.rmtree(started, ignore_errors=True)
                _remove_if_empty(self.sweep_dir / STARTED_DIR)
            if died is None:
                break
            cause = WorkerDied(
                f"a worker process of launcher=joblib died ({died}); "
                "the jobs running beside it were ended with it"
            )
            ended = [j for j in pending if j.number not in results]
            # running with a record: failed with the cause; started before writing one (or
            # queued): started again, once
            failed = [
                j
                for j in ended
                if j.number in marked and record_failure(j, FAILED, f"WorkerDied: {cause}")
            ]
            again = [j for j in ended if j not in failed and j.number not in restarted]
            for job in ended:
                if job not in again:
                    self._lost(job, cause, results)
            restarted |= {j.number for j in again if j.number in marked}
            print(
                f"decoderlab: a worker process died ({died}): "
                f"{_jobs(failed) or 'no job'} recorded as failed, "
                f"{_jobs(again) or 'no job'} started again in new worker processes. To run "
                "the failed jobs again once the sweep ends: resume=true.",
                file=sys.stderr,
                flush=True,
            )
            if not marked:  # workers die before any job starts: trying again would loop
                for job in again:
                    self._lost(job, cause, results)
                break
            pending = again
        return [results[job.number] for job in jobs]

    def _lost(self, job: Job, error: BaseException, results: dict[int, JobReturn]) -> None:
        """Record a job that returned nothing as failed, with Hydra's end-of-job callbacks
        (failure isolation, the progress line)."""
        sweep_config = job_config(self.hydra_context, self.config, job)
        result = _lost_return(job, sweep_config, error)
        self.hydra_context.callbacks.on_job_end(config=sweep_config, job_return=result)
        results[job.number] = result

    def _run(self, jobs: list[Job], started: Path, results: dict[int, JobReturn]) -> str | None:
        """Run ``jobs`` in the pool, filling ``results``; a dead worker's description, or None
        when every job returned."""
        executor = self.executor = self._executor()
        state = Singleton.get_state()
        futures = {
            executor.submit(
                run_in_worker,
                job,
                started,
                self.hydra_context,
                self.config,
                self.task_function,
                state,
            ): job
            for job in jobs
        }
        died = None
        try:
            for future in concurrent.futures.as_completed(futures):
                job = futures[future]
                try:
                    results[job.number] = future.result()
                except TerminatedWorkerError as err:
                    died = _exit_codes(err)
                except BaseException as err:  # noqa: BLE001 - a job's stop (SystemExit) or bug
                    if isinstance(err, KeyboardInterrupt):
                        raise
                    self._lost(job, err, results)
        except KeyboardInterrupt as err:
            self._stop(futures, started, err)
        return died

    def _stop(self, futures: dict[Any, Job], started: Path, err: KeyboardInterrupt) -> None:
        """Cancel queued jobs, wait for the running ones to stop (a second Ctrl-C: at once),
        mark those killed meanwhile interrupted, and end the sweep with exit status 130."""
        (started / STOP_MARK).touch()
        for future in futures:
            future.cancel()
        print(
            "\nStopping the sweep: running jobs stop after their current batch and save a "
            "checkpoint (Ctrl-C again: at once).",
            file=sys.stderr,
            flush=True,
        )
        try:
            concurrent.futures.wait(futures)
        except KeyboardInterrupt:
            self.executor.shutdown(wait=False, kill_workers=True)
        running = [job for job in futures.values() if (started / f"{job.number}.started").exists()]
        for job in running:
            record_failure(job, INTERRUPTED, "stopped by SIGINT")
        print(
            f"decoderlab: sweep stopped by SIGINT: {len(running)} running "
            f"{'job' if len(running) == 1 else 'jobs'} interrupted, "
            f"{len(futures) - len(running)} not started. Continue it with the same command "
            f"plus hydra.sweep.dir={self.sweep_dir} resume=true",
            file=sys.stderr,
            flush=True,
        )
        raise SystemExit(128 + signal.SIGINT) from err


def _exit_codes(error: TerminatedWorkerError) -> str:
    """The workers' exit codes from loky's message, e.g. ``exit codes: {SIGKILL(-9)}``."""
    text = str(error)
    found = text[text.find("{") : text.rfind("}") + 1] if "{" in text else ""
    return f"exit codes: {found}" if found else "TerminatedWorkerError"


def _jobs(jobs: list[Job]) -> str:
    """``job 3`` or ``jobs 1, 2``; empty for none."""
    if not jobs:
        return ""
    return f"{'job' if len(jobs) == 1 else 'jobs'} {', '.join(str(j.number) for j in jobs)}"


def _remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):
        folder.rmdir()

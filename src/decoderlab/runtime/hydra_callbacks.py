"""Hydra callbacks: failure isolation and progress lines in sweeps, the report at sweep end.

Registered in ``conf/hydra/default.yaml``. Hydra 1.3's ``run_job`` catches a job's exception
into a FAILED ``JobReturn``; the basic sweeper then re-raises the first one once its batch is
done, which skips later batches and ``on_multirun_end``. ``IsolateJobFailures`` marks such a
job completed with a NaN result (Optuna counts NaN as a failed trial) so every job runs;
``WriteSweepReport`` then writes the report and exits non-zero if any job failed, its last
line saying how to run the failed jobs again (``resume=true``).
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig

log = logging.getLogger(__name__)


class IsolateJobFailures(Callback):
    """In a multirun, turn a job's exception into a logged error and a NaN result.

    The job's own ``metrics.json`` (written by ``decoderlab.train``) keeps ``status: failed``
    and the reason; ``WriteSweepReport`` reads it. Single runs are left alone and still raise.
    """

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if config.hydra.mode != RunMode.MULTIRUN or job_return.status != JobStatus.FAILED:
            return
        error = job_return._return_value
        log.error(
            "job %s failed (%s); the sweep goes on",
            config.hydra.job.num,
            " ".join(job_return.overrides or []),
            exc_info=error if isinstance(error, BaseException) else None,
        )
        job_return.status = JobStatus.COMPLETED
        job_return.return_value = math.nan


class SweepProgress(Callback):
    """A line after each job of a multirun: jobs done / planned, failures, time elapsed and
    left (``decoderlab.runtime.progress``). The plan is written when the multirun starts if the
    sweeper's job count is known here (basic, Optuna); the racing sweeper writes it each
    round."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from decoderlab.runtime.progress import planned_jobs, write_plan

        planned = planned_jobs(config.hydra.sweeper, list(config.hydra.overrides.task))
        # a sweeper whose plan is unknown here (the race) writes its own, once its knobs pass
        if planned is not None:
            write_plan(config.hydra.sweep.dir, planned, started=time.time())

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if config.hydra.mode != RunMode.MULTIRUN:
            return
        from decoderlab.runtime.progress import sweep_progress

        print(sweep_progress(config.hydra.sweep.dir).line(), flush=True)


class WriteSweepReport(Callback):
    """At the end of a multirun: write the report (paired verdicts on ``report.metric`` at
    ``report.alpha``), print its path, exit 1 if a job failed."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from decoderlab.metrics.registry import PRIMARY_METRIC
        from decoderlab.report import NoRunsError, write_report

        sweep_dir = Path(config.hydra.sweep.dir)
        settings = config.get("report") or {}
        try:
            report = write_report(
                sweep_dir,
                metric=settings.get("metric", PRIMARY_METRIC),
                alpha=float(settings.get("alpha", 0.05)),
                equivalence_margin=settings.get("equivalence_margin", 0.05),
            )
        except (NoRunsError, ValueError) as err:
            raise SystemExit(f"decoderlab: no report: {err}") from err
        print(f"Report: {report.markdown_path}", flush=True)
        if report.problems:
            raise SystemExit(
                f"decoderlab: {report.failure_summary()}. To run the failed jobs again and keep "
                f"the finished ones: the same command plus hydra.sweep.dir={sweep_dir} resume=true"
            )

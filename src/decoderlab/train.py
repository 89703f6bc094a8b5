"""Hydra entry point ``decoderlab-train``: compose, instantiate, fit, test, write metrics.json."""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import time
import traceback
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ProgressBar
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf
from rich.console import Console

from decoderlab import blocks
from decoderlab.callbacks import FlatFieldProbe, RunStats
from decoderlab.metrics.registry import PRIMARY_METRIC, TEST, VAL, at_stage
from decoderlab.model import DivergenceError
from decoderlab.records import (
    FAILED,
    INTERRUPTED,
    METRICS_FILE,
    OK,
    RUNNING,
    RunRecord,
    software_versions,
    write_run_record,
)
from decoderlab.runtime import run_dir
from decoderlab.runtime.checkpoints import AtomicCheckpointIO
from decoderlab.runtime.config_checks import check_accelerator, check_argument_types
from decoderlab.runtime.full_disk import write_final_record
from decoderlab.runtime.interrupt import DistributedStop, StopSignals, stop_signal
from decoderlab.runtime.job_identity import config_hash
from decoderlab.runtime.machine import register_resolvers
from decoderlab.runtime.rank_failure import failure_fields
from decoderlab.runtime.resume import checkpoint_to_resume, finished_record, latest_checkpoint
from decoderlab.runtime.threads import ThreadChoice, apply_threads
from decoderlab.runtime.torch_runtime import skip_idle_runtime_work
from decoderlab.tasks import check_data_config

log = logging.getLogger(__name__)
# Lightning's warnings for fit(ckpt_path=None) beside an OnExceptionCheckpoint (see train())
FRESH_START_WARNINGS = (
    r"`\.fit\(ckpt_path=None\)` was called without a model",
    r"\.fit\(ckpt_path=\"last\"\) is set, but there is no last checkpoint available",
)
register_resolvers()
run_dir.register_resolvers()
blocks.register_resolvers()


def config_dir() -> str:
    """conf/ shipped inside the wheel, or the source tree's top-level conf/ (editable install)."""
    packaged = Path(__file__).resolve().parent / "conf"
    if packaged.is_dir():
        return str(packaged)
    return str(Path(__file__).resolve().parents[2] / "conf")


def _metrics_at(metrics: dict[str, Any], stage: str) -> dict[str, float]:
    """The metrics of ``stage`` (VAL or TEST) that ``decoderlab.metrics.registry`` declares,
    among Lightning's logged ``metrics``, as floats by name."""
    return {k: float(metrics[k]) for k in sorted(at_stage(metrics, stage))}


def log_hparams(logger: Any, hparams: dict[str, Any], metric_names: list[str]) -> None:
    """Fill TensorBoard's hparams tab: the values come from the scalars already logged."""
    from torch.utils.tensorboard.summary import hparams as hparams_summary

    writer = logger.experiment._get_file_writer()
    for summary in hparams_summary(hparams, dict.fromkeys(metric_names, 0.0)):
        writer.add_summary(summary)
    writer.flush()


# metrics.json's "slurm" field: its key -> SLURM's environment variable
SLURM_JOB_FIELDS = {
    "job_id": "SLURM_JOB_ID",
    "array_job_id": "SLURM_ARRAY_JOB_ID",
    "array_task_id": "SLURM_ARRAY_TASK_ID",
    "node": "SLURMD_NODENAME",
}


def slurm_job() -> dict[str, str]:
    """The SLURM job this process runs in (job id, array job and task ids, node name, from
    SLURM's environment) and this host's name; empty outside SLURM."""
    if "SLURM_JOB_ID" not in os.environ:
        return {}
    found = {k: os.environ[v] for k, v in SLURM_JOB_FIELDS.items() if v in os.environ}
    return {**found, "host": socket.gethostname()}


def check_process_launch(trainer: L.Trainer) -> None:
    """Refuse a DDP run whose processes Lightning would start inside a Hydra multirun job.

    Lightning starts the other DDP processes by running this command again with
    ``hydra.run.dir`` set; in a multirun (``-m``) that command is the whole sweep, so each
    process would run its own sweep (Lightning issue #11300). Raises ValueError then.
    """
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from lightning.pytorch.strategies.launchers.subprocess_script import (
        _SubprocessScriptLauncher,
    )

    launcher = trainer.strategy.launcher
    if (
        isinstance(launcher, _SubprocessScriptLauncher)
        and not launcher.cluster_environment.creates_processes_externally
        and HydraConfig.initialized()
        and HydraConfig.get().mode == RunMode.MULTIRUN
    ):
        raise ValueError(
            f"trainer.strategy=ddp on {launcher.num_processes} devices starts its processes by "
            "running the command again, which cannot work for one job of a multirun (-m) "
            "sweep: run DDP jobs as single runs (no -m), or sweep with trainer.devices=1"
        )


@dataclass
class Run:
    """Everything one run is made of, built from its config."""

    datamodule: L.LightningDataModule
    model: L.LightningModule
    trainer: L.Trainer
    logger: Any
    callbacks: list[L.Callback]
    stats: RunStats
    threads: ThreadChoice


def build_run(cfg: DictConfig) -> Run:
    """Seed everything, instantiate data, model, callbacks, logger and trainer, then set torch's
    threads (the ``threads`` key) for this run's processes."""
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = instantiate(cfg.data)
    model = instantiate(cfg.model, in_shape=datamodule.image_shape, compile=cfg.compile)
    stats = RunStats()
    # DistributedStop is no option: without it a DDP run may hang on SIGTERM
    callbacks = [instantiate(c) for c in cfg.callbacks.values() if c] + [stats, DistributedStop()]
    logger = instantiate(cfg.logger, version=f"{model.decoder_name}_seed{cfg.seed}")
    # The bar is the configured callback or none (callbacks.progress_bar=null), never a default.
    has_bar = any(isinstance(c, ProgressBar) for c in callbacks)
    trainer = instantiate(
        cfg.trainer,
        callbacks=callbacks,
        logger=logger,
        enable_progress_bar=has_bar,
        plugins=[AtomicCheckpointIO()],
    )
    skip_idle_runtime_work(trainer.strategy.root_device)
    threads = apply_threads(cfg.get("threads"), getattr(trainer.strategy, "num_processes", 1))
    return Run(datamodule, model, trainer, logger, callbacks, stats, threads)


def train(cfg: DictConfig) -> dict[str, Any]:
    """Run one experiment described by ``cfg``; write its metrics.json record (``RunRecord``)
    and return that record's JSON content (``RunRecord.to_json``).

    ``status`` is running until the run ends, then ok, failed (with ``error``;
    ``failed_step`` once training started) or interrupted (SIGTERM or Ctrl-C: a checkpoint is
    saved and the process exits with 128 + the signal number). With ``resume``, a directory
    whose record is ok is returned as is, and a run with a last checkpoint continues from it.
    """
    started = time.perf_counter()
    output_dir = Path(cfg.paths.output_dir)
    # Under DDP Lightning starts this command again for every other process (with LOCAL_RANK
    # set, which rank_zero_only reads): only the global rank 0 writes the record and prints.
    is_global_zero = rank_zero_only.rank == 0
    check_data_config(cfg.data)  # sizes, an image folder's files: refused before any record
    check_argument_types(cfg)  # a refused config writes nothing
    check_accelerator(cfg)
    if is_global_zero:  # another run's record is never written over, nor another job resumed
        run_dir.check_run_dir(output_dir, cfg, names=(METRICS_FILE,))
    if cfg.get("resume") and (done := finished_record(output_dir)):
        log.info("skipped: %s already holds a finished run (resume=true)", output_dir)
        return done.to_json()
    record = RunRecord(
        status=FAILED,
        seed=cfg.seed,
        config_hash=config_hash(cfg),
        versions=software_versions(),
        slurm=slurm_job(),
    )
    # until the run ends, its directory says so (a killed run stays "running", never "ok")
    if is_global_zero:
        write_run_record(output_dir, replace(record, status=RUNNING))
    stops = StopSignals()
    trainer = None
    try:
        with stops:
            ckpt_path = checkpoint_to_resume(cfg.get("ckpt_path"), cfg.get("resume"), output_dir)
            run = build_run(cfg)
            check_process_launch(run.trainer)
            datamodule, model, trainer, logger = run.datamodule, run.model, run.trainer, run.logger
            callbacks, stats = run.callbacks, run.stats
            record = replace(
                record,
                decoder=model.decoder_name,
                params=model.num_parameters,
                threads=run.threads.as_record(),
            )
            if ckpt_path:
                log.info("resuming from %s", ckpt_path)
            with warnings.catch_warnings():
                # checkpoint_to_resume has chosen: None is a fresh start. Lightning reads None as
                # "last" when an OnExceptionCheckpoint (the interrupt checkpoint) is present and
                # warns twice that it found none in this new run directory; say nothing then.
                for message in FRESH_START_WARNINGS:
                    warnings.filterwarnings("ignore", message=message)
                trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
            val = _metrics_at(trainer.callback_metrics, VAL)
            test = _metrics_at(trainer.test(model, datamodule=datamodule, verbose=False)[0], TEST)
        ffcr = next((c.ffcr for c in callbacks if isinstance(c, FlatFieldProbe)), {})
        record = replace(
            record,
            status=OK,
            epochs=trainer.current_epoch,
            device=str(trainer.strategy.root_device),
            world_size=trainer.world_size,
            seconds_per_epoch=stats.epoch_seconds,
            train_samples_per_s=stats.samples_per_second,
            val=val,
            test=test,
            data=datamodule.used_sizes,
            ffcr=dict(sorted(ffcr.items())),
            history=stats.history,
        )
        if is_global_zero:
            log_hparams(
                logger,
                {
                    "decoder": model.decoder_name,
                    "seed": cfg.seed,
                    "params": model.num_parameters,
                    "loss": cfg.model.loss,
                    "batch_size": cfg.data.batch_size,
                    "epochs": trainer.current_epoch,
                },
                sorted(test) + ["val/loss"] + sorted(ffcr),
            )
    except BaseException as err:
        signum = stop_signal(err, stops)
        record = replace(record, **_end_fields(err, signum, trainer, output_dir))
        if signum is None:
            raise
        if not is_global_zero:
            # The launcher reports the stop. Lightning's process observer kills the launcher
            # (SIGKILL) as soon as it sees a DDP process exit non-zero, maybe before it wrote
            # its record: the other processes exit 0.
            raise SystemExit(0) from err
        _print_interruption(record, output_dir)
        raise SystemExit(128 + signum) from err
    finally:
        record.wall_s = time.perf_counter() - started
        if is_global_zero:  # on a full disk, in place and compact: never left running
            write_final_record(output_dir, record)
    if is_global_zero:
        _print_summary(record, output_dir)
    return record.to_json()


def _end_fields(
    err: BaseException, signum: signal.Signals | None, trainer: Any, output_dir: Path
) -> dict[str, Any]:
    """RunRecord fields of a run that ``err`` ended: failed, or interrupted by ``signum``."""
    step = err.step if isinstance(err, DivergenceError) else getattr(trainer, "global_step", None)
    fields: dict[str, Any] = {"traceback": traceback.format_exc(limit=20)}
    if signum is None:
        fields.update(status=FAILED, error=f"{type(err).__name__}: {err}")
        if step is not None:
            fields["failed_step"] = step
        if getattr(trainer, "world_size", 1) > 1:  # DDP: the error of the rank that failed first
            fields.update(failure_fields(output_dir, rank_zero_only.rank, fields, time.time()))
        return fields
    checkpoint = latest_checkpoint(output_dir)
    fields.update(
        status=INTERRUPTED,
        error=f"stopped by {signum.name}",
        interrupted_step=step,
        checkpoint=str(checkpoint) if checkpoint else None,
    )
    return fields


def _print_interruption(record: RunRecord, output_dir: Path) -> None:
    print(
        f"decoderlab: {record.error} at global step {record.interrupted_step}; "
        f"checkpoint: {record.checkpoint}. Resume with the same command plus "
        f"hydra.run.dir={output_dir} ckpt_path=last (a sweep: hydra.sweep.dir=... resume=true)",
        file=sys.stderr,
        flush=True,
    )


def _print_summary(record: RunRecord, output_dir: Path) -> None:
    loss = record.test.get(PRIMARY_METRIC, float("nan"))
    # soft_wrap: one line even when stdout is no terminal (a sweep's log, CI, | tee), where rich
    # would otherwise wrap at 80 columns
    Console(soft_wrap=True).print(
        f"[bold]{record.decoder}[/] seed {record.seed}: {record.params:,} params, "
        f"{PRIMARY_METRIC} {loss:.4f}, {record.wall_s:.1f} s on {record.device} -> {output_dir}"
    )


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Console script ``decoderlab-train``; returns the optimised metric (a final val/ or test/
    metric) for sweepers."""
    if cfg.get("print_config"):
        Console(soft_wrap=True).print(OmegaConf.to_yaml(cfg, resolve=True))
    record = train(cfg)
    final = {**record.get("val", {}), **record.get("test", {})}
    return final.get(cfg.get("optimized_metric") or PRIMARY_METRIC)


if __name__ == "__main__":
    main()

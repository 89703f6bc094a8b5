"""Sweeps end to end through ``decoderlab-train -m``: report at the end, failure isolation,
launchers; and the configs and Hydra callbacks they rely on."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobStatus
from hydra.types import RunMode
from omegaconf import OmegaConf
from PIL import Image

from decoderlab.blocks import decoder_families, decoder_variants
from decoderlab.report.figures import DPI, VAL_LOSS_SIZE, strips_figure_size
from decoderlab.report.figures.front import FRONT_SIZE
from decoderlab.runtime import machine
from decoderlab.runtime.hydra_callbacks import IsolateJobFailures
from decoderlab.runtime.machine import parallel_jobs, usable_cores
from decoderlab.train import config_dir
from tests.tiny_sweep import DECODERS, SEEDS, run_sweep, tiny_sweep

FIGURES = ("val_loss", "cost_quality", "reconstructions", "spectrum", "flat_field")


def compose_train(*overrides: str):
    """conf/train.yaml with its hydra node; ${hydra:...} resolves as in a job."""
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose("train", overrides=list(overrides), return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    return cfg


def test_compare_decoders_sweeps_every_variant_x_3_seeds_on_the_default_budget():
    cfg = compose_train("experiment=compare_decoders")
    params = cfg.hydra.sweeper.params
    assert params["model/decoder"].split(",") == list(decoder_variants())
    assert len(decoder_variants()) == 13 and params["seed"] == "1,2,3"
    assert (cfg.data.train_size, cfg.trainer.max_epochs) == (6000, 13)
    assert cfg.hydra.runtime.choices.preset == "default"


def test_make_sweeps_race_is_one_decoder_per_family_raced_from_4_to_8_seeds():
    cfg = compose_train("experiment=race_decoders")
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("race_sweeper.RaceSweeper")
    assert (sweeper.initial_seeds, sweeper.seeds_per_round, sweeper.max_seeds) == (4, 2, 8)
    assert sweeper.max_jobs == 32
    decoders = sweeper.params["model/decoder"].split(",")
    assert len(decoders) == len(set(decoders)) == 6
    # every one a registered variant; one per family, every family but CARAFE's
    families = {decoder_variants()[d].name for d in decoders}
    assert len(families) == 6 and set(decoder_families()) - families == {"carafe"}
    assert (cfg.data.train_size, cfg.trainer.max_epochs) == (6000, 13)
    assert (sweeper.metric, sweeper.alpha) == ("test/loss", 0.05)


def test_race_all_decoders_races_every_variant_without_a_job_cap():
    cfg = compose_train("experiment=race_all_decoders")
    sweeper = cfg.hydra.sweeper
    assert sweeper.params["model/decoder"].split(",") == list(decoder_variants())
    assert sweeper.max_jobs is None
    assert (sweeper.initial_seeds, sweeper.seeds_per_round, sweeper.max_seeds) == (4, 2, 8)


def test_full_preset_is_all_data_for_25_epochs():
    cfg = compose_train("experiment=compare_decoders", "preset=full")
    assert cfg.data.train_size is None and cfg.data.test_size is None
    assert cfg.trainer.max_epochs == 25


def test_parallel_launchers_do_not_oversubscribe_the_cores():
    joblib = compose_train("launcher=joblib")
    assert joblib.threads == 1 and joblib.hydra.launcher.n_jobs == parallel_jobs(1)
    assert 1 <= joblib.hydra.launcher.n_jobs * joblib.threads <= usable_cores()
    two_threads = compose_train("launcher=joblib", "threads=2")
    assert two_threads.hydra.launcher.n_jobs == max(1, usable_cores() // 2)
    local = compose_train("launcher=submitit_local")
    assert local.hydra.sweeper.max_batch_size * local.threads <= 2


@pytest.mark.parametrize(
    ("cores", "memory_gb", "threads", "jobs"),
    [
        (2, 24, 1, 2),
        (16, 64, 1, 16),
        (16, 64, 4, 4),
        (64, 32, 1, 21),
        (8, 1, 1, 1),
    ],
)
def test_parallel_jobs_fill_the_cores_within_memory(monkeypatch, cores, memory_gb, threads, jobs):
    monkeypatch.setattr(machine, "usable_cores", lambda: cores)
    monkeypatch.setattr(machine, "available_memory", lambda: memory_gb * 10**9)
    assert machine.parallel_jobs(threads) == jobs


def test_cores_and_memory_are_this_processs_affinity_and_the_kernels_available_memory():
    import os

    assert machine.usable_cores() == len(os.sched_getaffinity(0))
    meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    kernel = int(meminfo["MemAvailable"].split()[0]) * 1024
    assert abs(machine.available_memory() - kernel) < 0.05 * kernel  # read moments apart


def test_slurm_launcher_asks_one_gpu_per_job_and_takes_a_partition():
    cfg = compose_train("launcher=submitit_slurm", "hydra.launcher.partition=gpu")
    launcher = cfg.hydra.launcher
    assert launcher.gpus_per_node == 1 and launcher.partition == "gpu"
    assert launcher.timeout_min > 0 and launcher._target_.endswith("SlurmLauncher")


def test_optuna_search_tunes_the_learning_rate():
    cfg = compose_train("hparams_search=optuna")
    assert cfg.hydra.sweeper._target_.endswith("OptunaSweeper")
    assert "model.optimizer.lr" in cfg.hydra.sweeper.params


def _job_end(mode: RunMode) -> JobReturn:
    config = OmegaConf.create({"hydra": {"mode": mode, "job": {"num": 3}}})
    job = JobReturn(overrides=["seed=2"], status=JobStatus.FAILED)
    job.return_value = ValueError("boom")
    IsolateJobFailures().on_job_end(config, job)
    return job


def test_a_failed_job_of_a_multirun_becomes_a_nan_result():
    job = _job_end(RunMode.MULTIRUN)
    assert job.status == JobStatus.COMPLETED and math.isnan(job.return_value)


def test_a_failed_single_run_still_raises():
    job = _job_end(RunMode.RUN)
    with pytest.raises(ValueError, match="boom"):
        job.return_value  # noqa: B018


@pytest.fixture(scope="module")
def basic_sweep(tmp_path_factory):
    return tiny_sweep(tmp_path_factory)


@pytest.mark.slow
def test_sweep_ends_with_the_report_path(basic_sweep):
    sweep_dir, result = basic_sweep
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == f"Report: {sweep_dir / 'report.md'}"
    for name in ("report.md", "report.csv", *(f"{f}.png" for f in FIGURES)):
        assert (sweep_dir / name).is_file(), name
    markdown = (sweep_dir / "report.md").read_text()
    for figure in FIGURES:
        assert f"]({figure}.png)" in markdown


@pytest.mark.slow
def test_report_table_has_both_decoders_with_finite_intervals(basic_sweep):
    sweep_dir, _ = basic_sweep
    with (sweep_dir / "report.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["decoder"] for r in rows) == sorted(DECODERS)
    for row in rows:
        assert row["seeds_ok"] == str(len(SEEDS))
        intervals = {k: float(v) for k, v in row.items() if k.endswith("_ci95")}
        assert {"test/loss_ci95", "test/psnr_ci95", "test/cbe2_ci95", "ffcr2/init_ci95"} <= set(
            intervals
        )
        assert all(math.isfinite(v) for v in intervals.values()), intervals
    markdown = (sweep_dir / "report.md").read_text()
    for name in DECODERS:
        assert f"| `{name}` | 2/2 |" in markdown


@pytest.mark.slow
def test_report_figures_are_pngs_of_the_expected_size(basic_sweep):
    sweep_dir, _ = basic_sweep
    sizes = {}
    for figure in FIGURES:
        with Image.open(sweep_dir / f"{figure}.png") as png:
            png.verify()
            assert png.format == "PNG"
            sizes[figure] = png.size
    inches = {
        "val_loss": VAL_LOSS_SIZE,
        "cost_quality": FRONT_SIZE,
        "reconstructions": strips_figure_size(1 + len(DECODERS)),
    }
    for figure, (width, height) in inches.items():
        assert sizes[figure] == (round(width * DPI), round(height * DPI))


@pytest.mark.slow
def test_a_failing_job_does_not_stop_the_sweep(tmp_path):
    sweep_dir = tmp_path / "sweep"
    result = run_sweep(
        sweep_dir, "model/decoder=transposed_conv", "model.decoder.up.kernel_size=5,3"
    )
    assert result.returncode == 1
    summary = result.stderr.strip().splitlines()[-1]
    assert summary.startswith("decoderlab: 1 of 2 jobs failed: 0 (model.decoder.up.kernel_size=5")
    assert "kernel_size=5 is not allowed" in summary
    failed, done = (json.loads((sweep_dir / j / "metrics.json").read_text()) for j in "01")
    assert failed["status"] == "failed" and "kernel_size=5" in failed["error"]
    assert done["status"] == "ok" and done["decoder"] == "transposed_conv_k3"
    markdown = (sweep_dir / "report.md").read_text()
    assert "| `transposed_conv_k3 (model.decoder.up.kernel_size=3)` | 1/1 |" in markdown
    assert "| `0` | `model.decoder.up.kernel_size=5` |" in markdown


@pytest.mark.slow
def test_submitit_local_launcher_runs_the_sweep(tmp_path):
    sweep_dir = tmp_path / "sweep"
    result = run_sweep(
        sweep_dir, "launcher=submitit_local", "model/decoder=resize_conv", "seed=1,2"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (sweep_dir / ".submitit").is_dir()
    records = [json.loads((sweep_dir / j / "metrics.json").read_text()) for j in "01"]
    assert [(r["status"], r["seed"]) for r in records] == [("ok", 1), ("ok", 2)]
    assert "| `resize_conv_nearest` | 2/2 |" in (sweep_dir / "report.md").read_text()

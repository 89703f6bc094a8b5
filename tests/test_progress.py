"""Sweep progress lines: counts from the run records, the plan, the time left."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from decoderlab.records import RunRecord, write_run_record
from decoderlab.runtime.progress import planned_jobs, sweep_progress, write_plan

BASIC = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"


def record(sweep: Path, job: int, status: str, mtime: float) -> None:
    path = write_run_record(sweep / str(job), RunRecord(status=status, seed=job))
    os.utime(path, (mtime, mtime))


def test_counts_ended_jobs_and_estimates_the_time_left(tmp_path):
    write_plan(tmp_path, 10, started=1000.0)
    record(tmp_path, 0, "ok", 900.0)  # ended before this multirun (resume=true)
    record(tmp_path, 1, "ok", 1020.0)
    record(tmp_path, 2, "failed", 1040.0)
    record(tmp_path, 3, "interrupted", 1050.0)
    record(tmp_path, 4, "running", 1055.0)

    progress = sweep_progress(tmp_path, now=1060.0)

    assert (progress.done, progress.failed, progress.planned) == (4, 2, 10)
    assert progress.done_since_start == 3
    assert progress.remaining_s == pytest.approx(60.0 / 3 * 6)
    assert progress.line() == "sweep: 4/10 jobs done, 2 failed, 1m00s elapsed, about 2m00s left"


def test_an_unknown_plan_gives_no_estimate(tmp_path):
    record(tmp_path, 0, "ok", 5.0)
    progress = sweep_progress(tmp_path, now=10.0)
    assert progress.planned is None
    assert progress.line().startswith("sweep: 1/? jobs done, 0 failed")
    assert "left" not in progress.line()


def test_a_later_plan_keeps_the_start(tmp_path):
    write_plan(tmp_path, 6, started=50.0)
    write_plan(tmp_path, 9)
    assert sweep_progress(tmp_path, now=80.0).elapsed_s == 30.0
    assert sweep_progress(tmp_path, now=80.0).planned == 9


def test_planned_jobs_of_the_basic_sweeper_is_the_product_of_the_sweeps():
    sweeper = {"_target_": BASIC, "params": {"model/decoder": "a,b,c", "seed": "1,2"}}
    assert planned_jobs(sweeper, ["trainer.max_epochs=1", "data.batch_size=16,32"]) == 12
    assert planned_jobs({"_target_": "x.OptunaSweeper", "n_trials": 7}, []) == 7
    assert planned_jobs({"_target_": "x.Other"}, []) is None


def test_the_comparison_plans_every_variant_under_each_seed_given(tmp_path):
    # hydra.sweeper.params holds model/decoder: ${decoder_variants:}; the plan the multirun
    # writes must count the variants it resolves to, not the interpolation as one value
    from hydra import compose, initialize_config_dir
    from omegaconf import open_dict

    from decoderlab.blocks import decoder_variants
    from decoderlab.runtime.hydra_callbacks import SweepProgress
    from decoderlab.runtime.progress import read_plan
    from decoderlab.train import config_dir

    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose("train", ["experiment=compare_decoders"], return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.sweep.dir = str(tmp_path)
        cfg.hydra.overrides.task = ["experiment=compare_decoders", "seed=1,2,3,4"]
    SweepProgress().on_multirun_start(cfg)
    assert read_plan(tmp_path)["planned"] == 4 * len(decoder_variants())

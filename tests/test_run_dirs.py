"""One run, one directory: default directories are unique even for processes started at the
same moment; a run or sweep never writes into a directory holding another's record unless asked
to continue it; resume=true continues only the same job (``config_hash``)."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from decoderlab.runtime.job_identity import SEED_KEYS, config_hash
from decoderlab.runtime.resume import JobMismatchError
from decoderlab.runtime.run_dir import RunDirectoryInUse
from decoderlab.train import config_dir, train
from tests.cli_runs import BUDGET, REPO, read_metrics, run_in_process
from tests.conftest import SHIPPED_DATA

ONE_EPOCH = (*BUDGET, "trainer.max_epochs=1")

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def compose_train(*overrides: str):
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        return compose("train", overrides=[f"paths.data_dir={SHIPPED_DATA}", *overrides])


def snapshot(directory: Path, logs: bool = True) -> dict[str, tuple[int, int]]:
    """Every file under ``directory`` (without ``*.log`` unless ``logs``): (size, mtime in ns),
    by relative path. Runs in this process leave their log file handler attached, so a later
    ``train()`` here may append to an earlier run's log."""
    return {
        str(p.relative_to(directory)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(directory.rglob("*"))
        if p.is_file() and (logs or p.suffix != ".log")
    }


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """Environment of the in-process runs here: shipped data, outputs under a temporary folder."""
    return {
        "DECODERLAB_DATA_DIR": str(SHIPPED_DATA),
        "DECODERLAB_OUTPUT_DIR": str(tmp_path_factory.mktemp("outputs")),
    }


def run_with(env: dict[str, str], *args: str):
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        return run_in_process(*args)


# --- default directories ---------------------------------------------------------------

RESOLVE_DIRS = """
import sys
from hydra import compose, initialize_config_dir
import decoderlab.train as entry  # registers the config resolvers, as decoderlab-train does
print("ready", flush=True)
sys.stdin.readline()
with initialize_config_dir(config_dir=entry.config_dir(), version_base="1.3"):
    cfg = compose("train", return_hydra_config=True)
print(cfg.hydra.run.dir)
print(cfg.hydra.sweep.dir)
"""


@pytest.mark.slow
def test_default_directories_differ_for_processes_started_in_the_same_second(tmp_path):
    outputs = tmp_path / "outputs"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", RESOLVE_DIRS],
            cwd=REPO,
            env={**os.environ, "DECODERLAB_OUTPUT_DIR": str(outputs)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for process in processes:
        assert process.stdout.readline() == "ready\n"
    time.sleep(1.05 - time.time() % 1)  # just after a second starts: both resolve within it
    for process in processes:
        process.stdin.write("go\n")
        process.stdin.flush()
    lines = [process.communicate(timeout=60)[0].split() for process in processes]
    today = datetime.date.today().isoformat()
    run_dirs, sweep_dirs = {line[0] for line in lines}, {line[1] for line in lines}
    assert len(run_dirs) == 2 and len(sweep_dirs) == 2, lines
    for run_dir in run_dirs:
        assert Path(run_dir).parent == outputs / "runs" / today
    for sweep_dir in sweep_dirs:
        assert Path(sweep_dir).parent == outputs / "multirun" / today


# --- a run directory holding another run -------------------------------------------------


@pytest.fixture(scope="module")
def first_run(tmp_path_factory, env):
    """One finished run (seed 1) in a directory of its own, and what decoderlab-train printed."""
    run_dir = tmp_path_factory.mktemp("used") / "run"
    result = run_with(env, *ONE_EPOCH, "seed=1", f"hydra.run.dir={run_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir, result


@pytest.mark.slow
def test_a_second_run_into_a_used_directory_stops_before_writing(first_run, env):
    run_dir, _ = first_run
    before = snapshot(run_dir)
    second = run_with(env, *ONE_EPOCH, "seed=2", f"hydra.run.dir={run_dir}")
    assert second.returncode == 1
    assert f"decoderlab: {run_dir} already holds another run (metrics.json)" in second.stderr
    for way_out in ("ckpt_path=last", "resume=true", "hydra.run.dir=<new folder>"):
        assert way_out in second.stderr
    assert snapshot(run_dir) == before
    assert read_metrics(run_dir)["seed"] == 1


@pytest.mark.slow
def test_train_refuses_a_directory_holding_a_record(first_run):
    run_dir, _ = first_run
    before = snapshot(run_dir, logs=False)
    with pytest.raises(RunDirectoryInUse, match="already holds another run"):
        train(compose_train(f"paths.output_dir={run_dir}", *ONE_EPOCH, "seed=2"))
    assert snapshot(run_dir, logs=False) == before


@pytest.mark.slow
def test_the_run_summary_is_one_line_when_stdout_is_not_a_terminal(first_run):
    run_dir, result = first_run
    summaries = [line for line in result.stdout.splitlines() if " seed 1: " in line]
    assert len(summaries) == 1, result.stdout
    assert summaries[0].startswith("resize_conv")
    assert summaries[0].endswith(f" s on cpu -> {run_dir}")
    assert len(summaries[0]) > 80  # long enough that rich would have wrapped it


# --- config_hash: which job a run is -------------------------------------------------------


def test_config_hash_ignores_where_and_how_a_job_runs(tmp_path):
    reference = config_hash(compose_train(f"paths.output_dir={tmp_path / 'a'}"))
    same_job = [
        (f"paths.output_dir={tmp_path / 'b'}", "paths.data_dir=/elsewhere"),
        ("resume=true", "ckpt_path=last", "threads=3", "print_config=true"),
        ("callbacks.progress_bar=null", "optimized_metric=val/loss", "launcher=joblib"),
    ]
    for overrides in same_job:
        assert config_hash(compose_train(*overrides)) == reference, overrides


@pytest.mark.parametrize(
    "override",
    [
        "seed=2",
        "model/decoder=transposed_conv",
        "model.optimizer.lr=0.01",
        "trainer.max_epochs=3",
        "data.train_size=100",
        "callbacks.model_checkpoint.save_top_k=2",
    ],
)
def test_config_hash_tells_jobs_apart(override):
    assert config_hash(compose_train(override)) != config_hash(compose_train())


def test_config_hash_without_the_seed_groups_a_configuration_across_seeds():
    seeds = [compose_train(f"seed={s}") for s in (1, 2, 3)]
    assert len({config_hash(c) for c in seeds}) == 3
    assert len({config_hash(c, ignore=SEED_KEYS) for c in seeds}) == 1
    other = compose_train("model/decoder=pixel_shuffle")
    assert config_hash(other, ignore=SEED_KEYS) != config_hash(seeds[0], ignore=SEED_KEYS)


@pytest.mark.slow
def test_metrics_json_records_the_config_hash_of_the_saved_config(first_run):
    run_dir, _ = first_run
    saved = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    recorded = read_metrics(run_dir)["config_hash"]
    assert recorded == config_hash(saved)
    assert recorded == config_hash(compose_train(*ONE_EPOCH, "seed=1"))


@pytest.mark.slow
def test_resume_refuses_the_finished_run_of_another_job(first_run):
    run_dir, _ = first_run
    before = snapshot(run_dir, logs=False)
    cfg = compose_train(f"paths.output_dir={run_dir}", *ONE_EPOCH, "seed=2", "resume=true")
    with pytest.raises(JobMismatchError) as raised:
        train(cfg)
    message = str(raised.value)
    assert f"resume=true: {run_dir} holds the run of another job" in message
    assert "seed 1" in message and "this job is seed 2" in message
    assert snapshot(run_dir, logs=False) == before


@pytest.mark.slow
def test_resume_skips_the_finished_run_of_the_same_job(first_run):
    run_dir, _ = first_run
    before = snapshot(run_dir, logs=False)
    cfg = compose_train(f"paths.output_dir={run_dir}", *ONE_EPOCH, "seed=1", "resume=true")
    assert train(cfg) == read_metrics(run_dir)
    assert snapshot(run_dir, logs=False) == before


@pytest.mark.slow
def test_decoderlab_train_resumes_only_the_same_job(first_run, env):
    run_dir, _ = first_run
    record = read_metrics(run_dir)
    before = snapshot(run_dir)
    other = run_with(env, *ONE_EPOCH, "seed=2", "resume=true", f"hydra.run.dir={run_dir}")
    assert other.returncode == 1
    assert f"decoderlab: resume=true: {run_dir} holds the run of another job" in other.stderr
    assert snapshot(run_dir) == before  # refused before Hydra wrote .hydra/ or a log
    same = run_with(env, *ONE_EPOCH, "seed=1", "resume=true", f"hydra.run.dir={run_dir}")
    assert same.returncode == 0, same.stderr[-3000:]
    assert f"skipped: {run_dir} already holds a finished run" in same.stdout
    assert read_metrics(run_dir) == record


# --- a sweep directory holding another sweep -----------------------------------------------

SWEEP = ("-m", *ONE_EPOCH, "model/decoder=resize_conv,transposed_conv")


@pytest.fixture(scope="module")
def reused_sweep(tmp_path_factory, env):
    """A 2 decoders x 2 seeds sweep, then into its directory: the same sweep again without
    resume, and a sweep with one seed more with resume=true (Hydra renumbers its jobs)."""
    sweep_dir = tmp_path_factory.mktemp("reused") / "sweep"
    first = run_with(env, *SWEEP, "seed=1,2", f"hydra.sweep.dir={sweep_dir}")
    assert first.returncode == 0, first.stderr[-3000:]
    before = snapshot(sweep_dir)
    again = run_with(env, *SWEEP, "seed=1,2", f"hydra.sweep.dir={sweep_dir}")
    after_again = snapshot(sweep_dir)
    extended = run_with(env, *SWEEP, "seed=1,2,3", "resume=true", f"hydra.sweep.dir={sweep_dir}")
    return {
        "sweep_dir": sweep_dir,
        "before": before,
        "again": (again, after_again),
        "extended": (extended, snapshot(sweep_dir)),
    }


@pytest.mark.slow
def test_a_second_sweep_into_a_used_sweep_directory_stops_before_writing(reused_sweep):
    sweep_dir = reused_sweep["sweep_dir"]
    again, after = reused_sweep["again"]
    assert again.returncode == 1
    assert f"decoderlab: {sweep_dir} already holds another sweep (multirun.yaml, 0, 1, 2, ...)" in (
        again.stderr
    )
    assert "resume=true" in again.stderr and "hydra.sweep.dir=<new folder>" in again.stderr
    assert after == reused_sweep["before"]


@pytest.mark.slow
def test_resume_with_a_changed_job_list_names_the_job_that_differs(reused_sweep):
    sweep_dir = reused_sweep["sweep_dir"]
    extended, after = reused_sweep["extended"]
    assert extended.returncode == 1
    # job 2 was transposed_conv with seed 1; with seeds 1,2,3 it is resize_conv with seed 3
    assert (
        f"resume=true: {sweep_dir / '2'} holds job 2 of another sweep: it ran "
        "model/decoder=transposed_conv seed=1 where this sweep's job 2 runs "
        "model/decoder=resize_conv seed=3"
    ) in extended.stderr
    assert after == reused_sweep["before"]
    assert not (sweep_dir / "4").exists()

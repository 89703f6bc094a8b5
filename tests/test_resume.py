"""Interrupt and resume: a signal mid-epoch leaves a checkpoint and an ``interrupted`` record,
the resumed run ends exactly where an uninterrupted one does; a re-run sweep with
``resume=true`` trains only the jobs that did not finish."""

from __future__ import annotations

import os
import shutil

import pytest
import torch

from decoderlab.runtime.interrupt import INTERRUPT_CHECKPOINT
from decoderlab.train import train
from tests.cli_runs import BUDGET, read_metrics, results_of, run_in_process, run_subprocess
from tests.conftest import SHIPPED_DATA

EPOCHS = ("trainer.max_epochs=3",)
# SignalMidEpoch signals while serving batch 2 of epoch 1: 4 batches per epoch, so the run
# stops after global step 4 + 2
SIGNAL_AT = ("data._target_=tests.faults.SignalMidEpoch", "+data.at_epoch=1", "+data.at_batch=2")
STOP_STEP = 6


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def outcome(record: dict) -> dict:
    """What a run ended with: its results without ``config_hash``, which the fault-injecting
    data modules of these tests change (a job with a fault is another job)."""
    return {k: v for k, v in results_of(record).items() if k != "config_hash"}


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    """Environment of every run here: shipped data, outputs under a temporary folder."""
    return {
        "DECODERLAB_DATA_DIR": str(SHIPPED_DATA),
        "DECODERLAB_OUTPUT_DIR": str(tmp_path_factory.mktemp("outputs")),
    }


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """3 epochs in one go: the record every resumed run must reproduce, and its run dir."""
    from hydra import compose, initialize_config_dir

    from decoderlab.train import config_dir

    torch.set_num_threads(1)
    run_dir = tmp_path_factory.mktemp("uninterrupted")
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[
                f"paths.output_dir={run_dir}",
                f"paths.data_dir={SHIPPED_DATA}",
                *BUDGET,
                *EPOCHS,
            ],
        )
    return train(cfg), run_dir


@pytest.fixture(scope="module")
def sigterm_run(tmp_path_factory, env):
    """A run stopped by SIGTERM mid-epoch 1 (a subprocess), then the result of
    ``decoderlab-train <same overrides> hydra.run.dir=<its dir> ckpt_path=last``."""
    run_dir = tmp_path_factory.mktemp("sigterm") / "run"
    overrides = (*BUDGET, *EPOCHS, *SIGNAL_AT, f"hydra.run.dir={run_dir}")
    stopped = run_subprocess(*overrides, env={**os.environ, **env})
    if not (run_dir / "metrics.json").exists():
        pytest.fail(f"the interrupted run wrote no metrics.json:\n{stopped.stderr[-3000:]}")
    interrupted_record = read_metrics(run_dir)
    checkpoint = torch.load(run_dir / "checkpoints" / INTERRUPT_CHECKPOINT, weights_only=True)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        resumed = run_in_process(*overrides, "ckpt_path=last")
    return {
        "run_dir": run_dir,
        "stopped": stopped,
        "interrupted_record": interrupted_record,
        "checkpoint": checkpoint,
        "resumed": resumed,
    }


@pytest.mark.slow
def test_sigterm_exits_143_with_an_interrupted_record(sigterm_run):
    stopped, record = sigterm_run["stopped"], sigterm_run["interrupted_record"]
    assert stopped.returncode == 143, stopped.stderr[-3000:]
    assert "decoderlab: stopped by SIGTERM at global step 6" in stopped.stderr
    assert record["status"] == "interrupted" and record["error"] == "stopped by SIGTERM"
    assert record["interrupted_step"] == STOP_STEP
    assert record["checkpoint"].endswith(f"checkpoints/{INTERRUPT_CHECKPOINT}")
    assert "test" not in record and "val" not in record


@pytest.mark.slow
def test_the_interrupt_checkpoint_is_taken_after_the_signalled_batch(sigterm_run):
    checkpoint = sigterm_run["checkpoint"]
    assert checkpoint["global_step"] == STOP_STEP and checkpoint["epoch"] == 1
    loader_state = checkpoint["loops"]["fit_loop"]["state_dict"]["combined_loader"]
    assert loader_state == [{"epoch": 1, "served": 2}]


@pytest.mark.slow
def test_resumed_run_equals_an_uninterrupted_one(sigterm_run, uninterrupted):
    resumed = sigterm_run["resumed"]
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resuming from {sigterm_run['run_dir']}/checkpoints/{INTERRUPT_CHECKPOINT}" in (
        resumed.stdout
    )
    record, reference = read_metrics(sigterm_run["run_dir"]), uninterrupted[0]
    assert record["status"] == "ok" and record["epochs"] == 3
    assert outcome(record) == outcome(reference)  # val, test, ffcr, every epoch's history
    assert len(record["history"]["val/loss"]) == 3


@pytest.mark.slow
def test_resumed_run_ends_with_the_same_weights_and_no_interrupt_checkpoint(
    sigterm_run, uninterrupted
):
    checkpoints = sigterm_run["run_dir"] / "checkpoints"
    assert not (checkpoints / INTERRUPT_CHECKPOINT).exists()
    final = torch.load(checkpoints / "last.ckpt", weights_only=True)["state_dict"]
    reference = torch.load(uninterrupted[1] / "checkpoints" / "last.ckpt", weights_only=True)
    assert final.keys() == reference["state_dict"].keys()
    for key, tensor in reference["state_dict"].items():
        assert torch.equal(final[key], tensor), key


@pytest.mark.slow
def test_first_ctrl_c_stops_after_the_batch_and_exits_130(tmp_path, env):
    run_dir = tmp_path / "run"
    stopped = run_subprocess(
        *BUDGET,
        *EPOCHS,
        *SIGNAL_AT,
        "+data.signal_name=SIGINT",
        f"hydra.run.dir={run_dir}",
        env={**os.environ, **env},
    )
    assert stopped.returncode == 130, stopped.stderr[-3000:]
    assert "Stopping after the current batch" in stopped.stderr
    record = read_metrics(run_dir)
    assert record["status"] == "interrupted" and record["error"] == "stopped by SIGINT"
    assert record["interrupted_step"] == STOP_STEP  # the same batch boundary as SIGTERM
    checkpoint = torch.load(run_dir / "checkpoints" / INTERRUPT_CHECKPOINT, weights_only=True)
    assert checkpoint["global_step"] == STOP_STEP


@pytest.mark.slow
def test_a_killed_run_says_running_and_continues_from_the_last_epoch(tmp_path, env, uninterrupted):
    run_dir = tmp_path / "run"
    overrides = (*BUDGET, *EPOCHS, f"hydra.run.dir={run_dir}")
    killed = run_subprocess(
        *overrides, *SIGNAL_AT, "+data.signal_name=SIGKILL", env={**os.environ, **env}
    )
    assert killed.returncode == -9
    assert read_metrics(run_dir)["status"] == "running"  # never ok, though epoch 0 finished
    assert not (run_dir / "checkpoints" / INTERRUPT_CHECKPOINT).exists()
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        # the same data without the fault, which would strike again: epoch 1 is redone. Without
        # the fault it is another config, so resume=true would refuse it: ckpt_path continues
        # explicitly
        resumed = run_in_process(*overrides, "ckpt_path=last")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resuming from {run_dir}/checkpoints/last.ckpt" in resumed.stdout
    assert outcome(read_metrics(run_dir)) == outcome(uninterrupted[0])


@pytest.mark.slow
@pytest.mark.parametrize("moved", [False, True], ids=["in_place", "moved"])
def test_after_a_resume_checkpoints_hold_the_final_weights_and_one_best(tmp_path, env, moved):
    """README: checkpoints/ holds last.ckpt (the final weights) and the best by val/loss, also
    after ckpt_path=last continued a run whose directory was moved."""
    first_dir, run_dir = tmp_path / "first", tmp_path / ("moved" if moved else "first")
    final_weights = tmp_path / "final.pt"
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        first = run_in_process(*BUDGET, "trainer.max_epochs=1", f"hydra.run.dir={first_dir}")
        assert first.returncode == 0, first.stderr[-3000:]
        if moved:
            shutil.move(first_dir, run_dir)
        resumed = run_in_process(
            *BUDGET,
            "trainer.max_epochs=2",
            f"hydra.run.dir={run_dir}",
            "ckpt_path=last",
            "+callbacks.final_weights._target_=tests.weights.SaveFinalWeights",
            f"+callbacks.final_weights.path={final_weights}",
        )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    val_loss = read_metrics(run_dir)["history"]["val/loss"]
    assert len(val_loss) == 2
    best_epoch = min(range(2), key=val_loss.__getitem__)
    checkpoints = run_dir / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == sorted(
        ["last.ckpt", f"epoch{best_epoch:03d}.ckpt"]
    )
    last = torch.load(checkpoints / "last.ckpt", weights_only=True)
    assert last["global_step"] == 8  # 2 epochs of 4 batches
    final = torch.load(final_weights, weights_only=True)
    assert last["state_dict"].keys() == final.keys()
    for key, tensor in final.items():
        assert torch.equal(last["state_dict"][key], tensor), key
    best = torch.load(checkpoints / f"epoch{best_epoch:03d}.ckpt", weights_only=True)
    assert best["epoch"] == best_epoch


# Three jobs: a healthy one, one whose loader raises after batch 2 of epoch 0, and one whose
# batch 2 is NaN (it diverges at global step 1).
SWEEP = (
    "-m",
    *BUDGET,
    "trainer.max_epochs=1",
    "data._target_=decoderlab.tasks.mnist.MNISTDataModule,tests.faults.LoaderFailsMidEpoch,"
    "tests.faults.NaNBatch",
)


@pytest.fixture(scope="module")
def rerun_sweep(tmp_path_factory, env):
    """The sweep, then the same command with resume=true, and what each left behind."""
    sweep_dir = tmp_path_factory.mktemp("sweep") / "sweep"
    command = (*SWEEP, f"hydra.sweep.dir={sweep_dir}")
    first = run_subprocess(*command, env={**os.environ, **env})
    if not (sweep_dir / "report.md").exists():
        pytest.fail(f"the sweep wrote no report:\n{first.stderr[-3000:]}")
    jobs = [sweep_dir / str(n) for n in range(3)]
    after_first = {
        "records": [read_metrics(job) for job in jobs],
        "mtimes": [(job / "metrics.json").stat().st_mtime_ns for job in jobs],
        "interrupt_checkpoints": [
            (job / "checkpoints" / INTERRUPT_CHECKPOINT).exists() for job in jobs
        ],
        "report": (sweep_dir / "report.md").read_text(),
    }
    second = run_subprocess(*command, "resume=true", env={**os.environ, **env})
    return {"jobs": jobs, "first": first, "after_first": after_first, "second": second}


@pytest.mark.slow
def test_failing_jobs_do_not_stop_the_sweep_and_the_report_lists_them(rerun_sweep):
    first, after_first = rerun_sweep["first"], rerun_sweep["after_first"]
    assert first.returncode == 1, first.stderr[-3000:]
    assert "decoderlab: 2 of 3 jobs failed" in first.stderr
    ok, loader_failed, diverged = after_first["records"]
    assert ok["status"] == "ok"
    assert loader_failed["status"] == "failed" and loader_failed["failed_step"] == 2
    assert loader_failed["error"] == (
        "InjectedFault: injected loader failure after batch 2 of epoch 0"
    )
    assert diverged["status"] == "failed" and diverged["failed_step"] == 1
    assert diverged["error"].startswith("DivergenceError: training loss is nan at global step 1")
    failures = after_first["report"].split("## Failed")[1]
    assert "| `1` | `data._target_=tests.faults.LoaderFailsMidEpoch` | failed: Inj" in failures
    assert "| `2` | `data._target_=tests.faults.NaNBatch` | failed: DivergenceError" in failures


@pytest.mark.slow
def test_a_failed_job_keeps_an_interrupt_checkpoint_a_diverged_one_does_not(rerun_sweep):
    assert rerun_sweep["after_first"]["interrupt_checkpoints"] == [False, True, False]


@pytest.mark.slow
def test_resume_skips_finished_jobs_and_continues_the_others(rerun_sweep):
    second, (ok, loader_failed, diverged) = rerun_sweep["second"], rerun_sweep["jobs"]
    after_first = rerun_sweep["after_first"]
    assert f"skipped: {ok} already holds a finished run" in second.stdout
    assert second.stdout.count("skipped:") == 1
    assert f"resuming from {loader_failed}/checkpoints/{INTERRUPT_CHECKPOINT}" in second.stdout
    assert second.stdout.count("resuming from") == 1
    mtimes = [(job / "metrics.json").stat().st_mtime_ns for job in rerun_sweep["jobs"]]
    assert mtimes[0] == after_first["mtimes"][0]
    assert mtimes[1] > after_first["mtimes"][1] and mtimes[2] > after_first["mtimes"][2]
    assert read_metrics(ok) == after_first["records"][0]
    assert read_metrics(diverged)["status"] == "failed"  # no checkpoint: retrained, diverged again


@pytest.mark.slow
def test_the_resumed_job_ends_as_if_it_never_failed(rerun_sweep):
    healthy, resumed = (read_metrics(job) for job in rerun_sweep["jobs"][:2])
    assert resumed["status"] == "ok"
    # the same data, seed and budget: only the fault and the restart tell them apart
    assert outcome(resumed) == outcome(healthy)
    assert not (rerun_sweep["jobs"][1] / "checkpoints" / INTERRUPT_CHECKPOINT).exists()


@pytest.mark.slow
def test_the_report_of_the_rerun_covers_every_job(rerun_sweep):
    second = rerun_sweep["second"]
    assert second.returncode == 1, second.stderr[-3000:]  # the diverging job still fails
    assert "decoderlab: 1 of 3 jobs failed: 2 (data._target_=tests.faults.NaNBatch" in (
        second.stderr
    )
    report = (rerun_sweep["jobs"][0].parent / "report.md").read_text()
    assert "1 of 3 jobs succeeded" not in report
    assert report.count("| 1/1 |") == 2 and report.count("| 0/1 |") == 1
    assert "InjectedFault" not in report

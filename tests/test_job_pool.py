"""``launcher=joblib`` under a killed worker process and Ctrl-C: the jobs running are recorded
with the cause, the others go on or are not started, the sweep ends with one line saying how to
continue (``resume=true``) and no traceback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli_runs import BUDGET, read_metrics
from tests.tiny_sweep import REPO

# Three jobs, two at a time; SignalMidEpoch sends its signal while serving batch 2 of epoch
# ``at_epoch`` (99 and 98: never), so job 1 kills its own worker process at global step 2,
# while job 0 runs beside it and job 2 waits
KILLER = (
    "data._target_=tests.faults.SignalMidEpoch",
    "+data.signal_name=SIGKILL",
    "+data.at_epoch=99,0,98",
)
POOL = ("launcher=joblib", "hydra.launcher.n_jobs=2")


def sweep_command(sweep_dir: Path, *overrides: str) -> list[str]:
    """``decoderlab-train -m`` as ``python -m decoderlab.train`` (so ``tests.faults`` imports)."""
    return [sys.executable, "-m", "decoderlab.train", "-m", *BUDGET, *POOL, *overrides,
            f"hydra.sweep.dir={sweep_dir}"]  # fmt: skip


def env_for(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DECODERLAB_DATA_DIR": str(REPO / "data"),
        "DECODERLAB_OUTPUT_DIR": str(tmp_path / "outputs"),
    }


@pytest.mark.slow
def test_a_killed_worker_fails_the_jobs_running_with_it_and_the_sweep_goes_on(tmp_path):
    sweep_dir = tmp_path / "sweep"
    result = subprocess.run(
        sweep_command(sweep_dir, "trainer.max_epochs=3", *KILLER),
        cwd=REPO,
        env=env_for(tmp_path),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and "TerminatedWorkerError" not in result.stderr
    died = "WorkerDied: a worker process of launcher=joblib died (exit codes: {"
    beside, killer, queued = (read_metrics(sweep_dir / str(n)) for n in range(3))
    assert killer["status"] == "failed" and killer["error"].startswith(died)
    assert "SIGKILL(-9)" in killer["error"]
    # the healthy job running beside it was ended by loky too; started again if it had not
    # yet written its record
    assert beside["status"] == "ok" or beside["error"].startswith(died)
    assert queued["status"] == "ok"  # started in a fresh pool after the death
    assert "decoderlab: a worker process died (exit codes: {" in result.stderr
    assert (sweep_dir / "report.md").is_file()
    assert not (sweep_dir / ".started").exists()
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("decoderlab: ") and "jobs failed: " in last_line
    assert last_line.endswith(f"hydra.sweep.dir={sweep_dir} resume=true")


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.mark.slow
def test_ctrl_c_interrupts_the_running_jobs_with_checkpoints_and_says_how_to_continue(tmp_path):
    sweep_dir = tmp_path / "sweep"
    # the terminal sends Ctrl-C's SIGINT to its foreground process group: the sweep and workers.
    # A foreground job takes SIGINT; pytest run in the background of a non-interactive shell
    # (`cmd &`, nohup) passes SIGINT on ignored, so the sweep gets the default back here
    sweep = subprocess.Popen(
        sweep_command(sweep_dir, "trainer.max_epochs=50", "seed=1,2,3"),
        cwd=REPO,
        env=env_for(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        running = [sweep_dir / str(n) for n in (0, 1)]
        wait_for(
            lambda: all((job / "checkpoints" / "last.ckpt").exists() for job in running),
            300,
            "both running jobs to finish an epoch",
        )
        os.killpg(sweep.pid, signal.SIGINT)
        out, err = sweep.communicate(timeout=120)
    finally:
        if sweep.poll() is None:
            os.killpg(sweep.pid, signal.SIGKILL)
    assert sweep.returncode == 130, err[-3000:]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert err.strip().splitlines()[-1] == (
        "decoderlab: sweep stopped by SIGINT: 2 running jobs interrupted, 1 not started. "
        f"Continue it with the same command plus hydra.sweep.dir={sweep_dir} resume=true"
    )
    for job in running:
        record = json.loads((job / "metrics.json").read_text())
        assert record["status"] == "interrupted", record
        assert record["error"] == "stopped by SIGINT"
        assert record["checkpoint"] == str(job / "checkpoints" / "last-interrupted.ckpt")
        assert Path(record["checkpoint"]).is_file()
    assert not (sweep_dir / "2" / "metrics.json").exists()
    assert not (sweep_dir / ".started").exists()


def test_hydra_discovers_the_launcher_and_launcher_joblib_selects_it():
    from hydra.core.plugins import Plugins
    from hydra.plugins.launcher import Launcher

    from tests.test_sweep import compose_train

    target = "hydra_plugins.decoderlab_launchers.joblib_launcher.JobPoolLauncher"
    found = [f"{c.__module__}.{c.__name__}" for c in Plugins.instance().discover(Launcher)]
    assert target in found
    assert compose_train("launcher=joblib").hydra.launcher._target_ == target

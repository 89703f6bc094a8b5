"""Sweeps submitted to a real one-node SLURM cluster (tests/slurm_cluster.py) through
``launcher=submitit_slurm``: one job array, every job a SLURM task, failure isolation.

The cluster needs Debian's ``slurm-wlm`` and ``munge`` packages and root (``make test`` installs
them); without them these tests fail with the reason, they are never skipped.
"""

from __future__ import annotations

import csv
import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests import slurm_cluster
from tests.slurm_cluster import SlurmCluster, SlurmUnavailable
from tests.test_sweep import compose_train
from tests.tiny_sweep import DECODERS, SEEDS, run_sweep

# what a user of a CPU-only partition adds to the command line; one core and 2 GB per job fit
# this 2-core machine two jobs at a time
SLURM = (
    "experiment=compare_decoders",
    "launcher=submitit_slurm",
    "hydra.launcher.gpus_per_node=0",
    "hydra.launcher.cpus_per_task=1",
    "hydra.launcher.mem_gb=2",
)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with pytest.MonkeyPatch.context() as env:
        cluster = SlurmCluster(tmp_path_factory.mktemp("slurm"))
        try:
            cluster.start()
        except SlurmUnavailable as err:
            pytest.fail(f"no SLURM test cluster: {err}")
        env.setenv("SLURM_CONF", str(cluster.conf))
        yield cluster
        cluster.stop()


def test_without_the_packages_the_cluster_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(slurm_cluster, "SEARCH_PATH", str(tmp_path))
    with pytest.raises(SlurmUnavailable, match="munged, slurmctld, slurmd, sinfo") as error:
        SlurmCluster(tmp_path / "cluster").start()
    assert "apt-get install -y slurm-wlm munge" in str(error.value)
    assert not (tmp_path / "cluster").exists()


def test_slurm_launcher_takes_a_cpu_partition_and_ties_threads_to_cpus_per_task():
    cfg = compose_train(
        "launcher=submitit_slurm",
        "hydra.launcher.partition=cpu",
        "hydra.launcher.gpus_per_node=0",
        "hydra.launcher.cpus_per_task=2",
    )
    launcher = cfg.hydra.launcher
    assert (launcher.partition, launcher.gpus_per_node, cfg.threads) == ("cpu", 0, 2)
    # a time limit and memory are always asked for; the clean stop comes before the limit
    assert launcher.timeout_min > 0 and launcher.mem_gb > 0
    assert launcher.additional_parameters.signal.startswith("TERM@")


def slurm_sweep(cluster: SlurmCluster, sweep_dir: Path, *overrides: str):
    """``run_sweep`` on ``cluster``'s partition; the result and the queue right after it."""
    result = run_sweep(
        sweep_dir, *SLURM, f"hydra.launcher.partition={cluster.partition}", *overrides
    )
    return result, cluster.run("squeue", "--noheader")


def slurm_jobs(cluster: SlurmCluster, array_job_id: str) -> dict[str, dict[str, str]]:
    """SLURM's own record of every task of an array (``scontrol show job``), by job id."""
    lines = cluster.run("scontrol", "--oneliner", "show", "job", array_job_id).splitlines()
    jobs = [dict(f.split("=", 1) for f in line.split() if "=" in f) for line in lines]
    return {job["JobId"]: job for job in jobs}


def records(sweep_dir: Path, jobs: int) -> list[dict]:
    return [json.loads((sweep_dir / str(j) / "metrics.json").read_text()) for j in range(jobs)]


@pytest.fixture(scope="module")
def sweep(cluster, tmp_path_factory):
    """2 decoders x 2 seeds on the cluster: (sweep dir, result, queue after it)."""
    sweep_dir = tmp_path_factory.mktemp("slurm_sweep") / "sweep"
    result, queue = slurm_sweep(
        cluster,
        sweep_dir,
        f"model/decoder={','.join(DECODERS)}",
        f"seed={','.join(map(str, SEEDS))}",
    )
    return sweep_dir, result, queue


@pytest.mark.slow
def test_sweep_runs_as_one_slurm_job_array_and_leaves_the_queue_empty(cluster, sweep):
    sweep_dir, result, queue = sweep
    assert result.returncode == 0, result.stderr[-3000:]
    runs = records(sweep_dir, len(DECODERS) * len(SEEDS))
    assert [(r["status"], r["decoder"], r["seed"]) for r in runs] == [
        ("ok", decoder, seed) for decoder in DECODERS for seed in SEEDS
    ]
    slurm = [r["slurm"] for r in runs]
    (array_job_id,) = {s["array_job_id"] for s in slurm}
    assert [s["array_task_id"] for s in slurm] == ["0", "1", "2", "3"]
    assert {(s["node"], s["host"]) for s in slurm} == {(cluster.node, socket.gethostname())}
    # each record names a task SLURM ran to completion, on this node, on the CPU partition
    known = slurm_jobs(cluster, array_job_id)
    for s in slurm:
        job = known[s["job_id"]]
        assert (job["ArrayJobId"], job["ArrayTaskId"]) == (array_job_id, s["array_task_id"])
        assert (job["JobState"], job["NodeList"], job["Partition"]) == (
            "COMPLETED",
            cluster.node,
            cluster.partition,
        )
        logs = sweep_dir / ".submitit" / f"{array_job_id}_{s['array_task_id']}"
        assert Path(job["StdOut"]).parent == logs and Path(job["StdOut"]).is_file()
    # SIGTERM (the run's clean stop) 120 s before the time limit, not submitit's USR2
    (script,) = (sweep_dir / ".submitit" / array_job_id).glob("*_submission.sh")
    assert "#SBATCH --signal=TERM@120\n" in script.read_text()
    assert queue == ""


@pytest.mark.slow
def test_slurm_sweep_ends_with_the_report(sweep):
    sweep_dir, result, _ = sweep
    assert result.stdout.strip().splitlines()[-1] == f"Report: {sweep_dir / 'report.md'}"
    with (sweep_dir / "report.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert sorted((r["decoder"], r["seeds_ok"]) for r in rows) == sorted(
        (decoder, str(len(SEEDS))) for decoder in DECODERS
    )


@pytest.mark.slow
def test_a_failing_slurm_job_is_recorded_and_the_others_finish(cluster, tmp_path):
    sweep_dir = tmp_path / "sweep"
    result, queue = slurm_sweep(
        cluster,
        sweep_dir,
        "model/decoder=transposed_conv",
        "model.decoder.up.kernel_size=7,3",
        "seed=1",
    )
    assert result.returncode == 1
    summary = result.stderr.strip().splitlines()[-1]
    assert summary.startswith("decoderlab: 1 of 2 jobs failed: 0 (model.decoder.up.kernel_size=7")
    failed, done = records(sweep_dir, 2)
    assert failed["status"] == "failed" and "kernel_size=7 is not allowed" in failed["error"]
    assert done["status"] == "ok" and done["decoder"] == "transposed_conv_k3"
    # the failure is the job's, recorded by decoderlab: both SLURM tasks ended normally
    known = slurm_jobs(cluster, failed["slurm"]["array_job_id"])
    assert {known[r["slurm"]["job_id"]]["JobState"] for r in (failed, done)} == {"COMPLETED"}
    assert "| `0` | `model.decoder.up.kernel_size=7` |" in (sweep_dir / "report.md").read_text()
    assert queue == ""


def wait_for(condition, timeout: float = 240.0):
    """Poll ``condition()`` every 0.2 s until it returns something true; return that."""
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)
    return found


def status_of(run_dir: Path) -> dict | None:
    try:
        return json.loads((run_dir / "metrics.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


@pytest.mark.slow
def test_a_requeued_job_continues_from_its_checkpoint_with_resume(cluster, tmp_path):
    """What a preemption does: SLURM stops the running job (SIGTERM) and queues it again."""
    sweep_dir, run_dir = tmp_path / "sweep", tmp_path / "sweep" / "0"
    # 240 steps per epoch: the requeue lands in the second epoch, after last.ckpt
    with ThreadPoolExecutor(1) as pool:
        sweep = pool.submit(
            slurm_sweep,
            cluster,
            sweep_dir,
            "data.train_size=6000",
            "trainer.max_epochs=2",
            "model/decoder=resize_conv",
            "seed=1",
            "resume=true",
        )
        wait_for(lambda: (run_dir / "checkpoints" / "last.ckpt").exists() or sweep.done())
        job_id = status_of(run_dir)["slurm"]["job_id"]
        cluster.run("scontrol", "requeue", job_id)
        stopped = wait_for(lambda: (r := status_of(run_dir)) and r["status"] == "interrupted" and r)
        result, queue = sweep.result()
    assert result.returncode == 0, result.stderr[-3000:]
    assert stopped["interrupted_step"] > 240 and stopped["checkpoint"].endswith(
        "last-interrupted.ckpt"
    )
    done = status_of(run_dir)
    assert (done["status"], done["epochs"], done["slurm"]["job_id"]) == ("ok", 2, job_id)
    assert slurm_jobs(cluster, job_id)[job_id]["Restarts"] == "1"
    log = next((sweep_dir / ".submitit" / job_id).glob("*_log.out")).read_text()
    assert f"resuming from {stopped['checkpoint']}" in log
    assert queue == ""

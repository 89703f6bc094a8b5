"""One run on several processes (DDP, gloo on CPU): each process trains and evaluates its own
shard; the metrics equal one process's on the same data and weights; only the launcher writes
the run's files; SIGTERM to the launcher leaves a checkpoint the run resumes from exactly."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import lightning as L
import numpy as np
import pytest
import torch
from hydra.utils import instantiate

from decoderlab.callbacks import CheckerboardMetrics
from decoderlab.records import FIGURES_FILE, RESIDUAL_SPECTRUM_ARRAY, read_arrays
from decoderlab.runtime import rank_failure
from decoderlab.runtime.interrupt import INTERRUPT_CHECKPOINT
from decoderlab.tasks.mnist import EpochPermutation, MNISTDataModule, TensorBatches
from tests.cli_runs import REPO, read_metrics, run_subprocess
from tests.conftest import SHIPPED_DATA

DDP = ("trainer=cpu", "trainer.strategy=ddp", "trainer.devices=2")
# 101 training images in global batches of 2 x 25: the last global batch (1 image) joins the
# one before, so each process trains 2 steps (25 + 26, and 25 + 25 images); validation and
# test shards differ in size (26 and 25, 25 and 24 images), in batches of at most 20
BUDGET = (
    "data.train_size=101",
    "data.val_size=51",
    "data.test_size=49",
    "data.eval_batch_size=20",
    "trainer.max_epochs=1",
    "callbacks.progress_bar=null",
    "threads=1",
)


def shard_batches(
    num_samples: int, batch_size: int, replicas: int, shuffle: bool = True
) -> list[list[torch.Tensor]]:
    """Every process's batches of epoch 0, as sample indices: [rank][step] -> (B_r,)."""
    indices = torch.arange(num_samples).reshape(-1, 1, 1, 1)
    return [
        [
            batch.flatten()
            for batch in TensorBatches(
                indices,
                batch_size,
                EpochPermutation(num_samples, shuffle, seed=3, rank=rank, num_replicas=replicas),
            )
        ]
        for rank in range(replicas)
    ]


@pytest.mark.parametrize(
    ("num_samples", "batch_size", "replicas"),
    [(100, 25, 2), (53, 10, 2), (101, 25, 2), (41, 10, 2), (62, 10, 3), (7, 3, 3), (5, 25, 2)],
)
def test_processes_split_every_step_and_serve_each_sample_once(num_samples, batch_size, replicas):
    shards = shard_batches(num_samples, batch_size, replicas)
    steps = {len(batches) for batches in shards}
    assert len(steps) == 1, f"processes make different numbers of steps: {steps}"
    sizes = [len(batch) for batches in shards for batch in batches]
    assert min(sizes) >= 1 and max(sizes) <= batch_size + 1
    # step by step, the processes' batches in rank order are the epoch's order, cut in pieces
    step_major = [batch for step in zip(*shards, strict=True) for batch in step]
    order = EpochPermutation(num_samples, True, seed=3).order()
    assert torch.equal(torch.cat(step_major), order)


def test_a_step_of_two_processes_is_one_process_batch_of_twice_the_size():
    two = shard_batches(100, 10, 2)
    one = shard_batches(100, 20, 1)[0]
    steps = [torch.cat(step) for step in zip(*two, strict=True)]
    assert all(torch.equal(a, b) for a, b in zip(steps, one, strict=True))


def test_one_process_serves_the_whole_order_in_batches_of_batch_size():
    (batches,) = shard_batches(53, 10, 1)
    expected = EpochPermutation(53, True, seed=3).order().split(10)
    assert [len(b) for b in batches] == [10, 10, 10, 10, 10, 3]
    assert all(torch.equal(a, b) for a, b in zip(batches, expected, strict=True))


def test_a_resumed_shard_skips_the_steps_already_served():
    images = torch.arange(90.0).reshape(90, 1, 1, 1)
    loader = TensorBatches(images, 10, EpochPermutation(90, True, seed=5, rank=1, num_replicas=3))
    full = list(loader)
    iterator = iter(loader)
    next(iterator), next(iterator)
    resumed = TensorBatches(images, 10, EpochPermutation(90, True, seed=5, rank=1, num_replicas=3))
    resumed.load_state_dict(loader.state_dict())
    assert loader.state_dict() == {"epoch": 0, "served": 2}
    assert all(torch.equal(a, b) for a, b in zip(list(resumed), full[2:], strict=True))


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"num_samples": 1, "num_replicas": 2}, "1 samples cannot be shared by 2 processes"),
        (
            {"num_samples": 10, "rank": 2, "num_replicas": 2},
            "rank=2 must lie in [0, num_replicas=2)",
        ),
    ],
)
def test_impossible_shards_are_refused(kwargs, words):
    with pytest.raises(ValueError, match=re.escape(words)):
        EpochPermutation(shuffle=True, **kwargs)


def test_the_datamodule_shards_by_the_trainer_rank_and_world_size(tiny_mnist):
    trainer = SimpleNamespace(
        global_rank=1, world_size=2, strategy=SimpleNamespace(root_device=torch.device("cpu"))
    )
    data = MNISTDataModule(tiny_mnist, 4, 5, val_split=0.25, verify_checksums=False, download=False)
    data.trainer = trainer
    data.prepare_data()
    data.setup("fit")
    train, val = data.train_dataloader(), data.val_dataloader()
    assert (train.sampler.rank, train.sampler.num_replicas) == (1, 2)
    # 60 training images: 7 steps of 2 x 4 and a last one of 2 x 2
    assert [len(b) for b in train] == [4] * 7 + [2]
    # 20 validation images, unshuffled: this process takes images 5-9 and 15-19
    assert torch.equal(torch.cat(list(val)), data.parts["val"][[*range(5, 10), *range(15, 20)]])


def run_ddp(*overrides: str, env: dict[str, str], timeout: int = 600):
    """``python -m decoderlab.train`` on 2 gloo processes with ``overrides``."""
    return run_subprocess(*DDP, *overrides, env=env, timeout=timeout)


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("ddp") / "run"
    env = {**os.environ, "DECODERLAB_DATA_DIR": str(SHIPPED_DATA)}
    started = time.perf_counter()
    result = run_ddp(*BUDGET, f"hydra.run.dir={run_dir}", env=env)
    assert result.returncode == 0, result.stderr[-4000:]
    return SimpleNamespace(result=result, run_dir=run_dir, seconds=time.perf_counter() - started)


@pytest.fixture(scope="module")
def one_process_evaluation(ddp_run, tmp_path_factory):
    """Validation and test of the DDP run's final weights (last.ckpt) in one process, on the
    same images: callback metrics and the validation residual spectrum."""
    from hydra import compose, initialize_config_dir

    from decoderlab.train import config_dir

    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[f"paths.output_dir={ddp_run.run_dir}", f"paths.data_dir={SHIPPED_DATA}"]
            + list(BUDGET),
        )
    data = instantiate(cfg.data)
    model = instantiate(cfg.model, in_shape=data.image_shape, compile=False)
    weights = torch.load(ddp_run.run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    model.load_state_dict(weights["state_dict"])
    checkerboard = CheckerboardMetrics(spectrum=True)
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        callbacks=[checkerboard],
        default_root_dir=tmp_path_factory.mktemp("one_process"),
    )
    (val,) = trainer.validate(model, datamodule=data, verbose=False)
    spectrum = checkerboard.spectrum.compute().numpy()
    (test,) = trainer.test(model, datamodule=data, verbose=False)
    return {"val": val, "test": test, "spectrum": spectrum}


@pytest.mark.slow
def test_the_ddp_run_trains_on_two_processes_and_records_once(ddp_run):
    record = read_metrics(ddp_run.run_dir)
    assert record["status"] == "ok" and record["world_size"] == 2 and record["epochs"] == 1
    assert ddp_run.result.stdout.count("seed 1:") == 1  # the summary, printed by rank 0 only
    assert "Error" not in ddp_run.result.stderr and "Traceback" not in ddp_run.result.stderr
    # the processes trained 51 and 50 images; the throughput counts both
    last = torch.load(ddp_run.run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["callbacks"]["RunStats"]["epoch_samples"] == [101]


@pytest.mark.slow
def test_only_the_launcher_writes_events_and_checkpoints_are_lightnings(ddp_run):
    event_files = list(ddp_run.run_dir.rglob("events.out.tfevents.*"))
    writers = {path.name.split(".")[4] for path in event_files}
    assert event_files and len({path.parent for path in event_files}) == 1
    assert len(writers) == 1, f"event files of several processes: {sorted(writers)}"
    assert sorted(p.name for p in (ddp_run.run_dir / "checkpoints").iterdir()) == [
        "epoch000.ckpt",
        "last.ckpt",
    ]
    assert (ddp_run.run_dir / FIGURES_FILE).is_file()


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["val", "test"])
def test_metrics_of_two_processes_equal_one_process_on_the_same_weights(
    ddp_run, one_process_evaluation, stage
):
    recorded = read_metrics(ddp_run.run_dir)[stage]
    expected = {k: v for k, v in one_process_evaluation[stage].items() if k.startswith(f"{stage}/")}
    names = {"loss", "mse", "psnr", "ssim", "cbe2", "cbe4", "prf2", "prf4", "pace2", "pace4"}
    assert set(recorded) == set(expected) == {f"{stage}/{name}" for name in names}
    for key, value in expected.items():
        assert recorded[key] == pytest.approx(value, rel=1e-5, abs=1e-9), key


@pytest.mark.slow
def test_the_residual_spectrum_of_two_processes_equals_one_process(ddp_run, one_process_evaluation):
    recorded = read_arrays(ddp_run.run_dir / FIGURES_FILE)[RESIDUAL_SPECTRUM_ARRAY]
    np.testing.assert_allclose(recorded, one_process_evaluation["spectrum"], rtol=1e-6)


def processes_naming(run_dir: Path) -> list[int]:
    """PIDs of the live processes whose command line names ``run_dir``."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if str(run_dir).encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


@pytest.mark.slow
def test_sigterm_to_the_launcher_leaves_a_checkpoint_that_resumes_exactly(tmp_path):
    env = {**os.environ, "DECODERLAB_DATA_DIR": str(SHIPPED_DATA)}
    # 400 images in 8 steps of 2 x 25 per epoch, 3 epochs: stopped once epoch 0 is saved
    budget = (*BUDGET[1:], "data.train_size=400", "trainer.max_epochs=3")
    stopped_dir, whole_dir = tmp_path / "stopped", tmp_path / "whole"
    command = [sys.executable, "-m", "decoderlab.train", *DDP, *budget]
    launcher = subprocess.Popen(
        [*command, f"hydra.run.dir={stopped_dir}"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 300
    while not (stopped_dir / "checkpoints" / "epoch000.ckpt").exists():
        assert launcher.poll() is None and time.monotonic() < deadline, launcher.communicate()
        time.sleep(0.1)
    launcher.send_signal(signal.SIGTERM)
    _, stderr = launcher.communicate(timeout=120)
    assert launcher.returncode == 128 + signal.SIGTERM, stderr[-4000:]
    record = read_metrics(stopped_dir)
    assert record["status"] == "interrupted" and record["error"] == "stopped by SIGTERM"
    assert record["checkpoint"] == str(stopped_dir / "checkpoints" / INTERRUPT_CHECKPOINT)
    assert stderr.count("decoderlab: stopped by SIGTERM") == 1
    time.sleep(6)  # Lightning's process observer looks every 5 s
    assert processes_naming(stopped_dir) == [], "a DDP process outlived the launcher"

    resumed = run_ddp(*budget, f"hydra.run.dir={stopped_dir}", "ckpt_path=last", env=env)
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    whole = run_ddp(*budget, f"hydra.run.dir={whole_dir}", env=env)
    assert whole.returncode == 0, whole.stderr[-4000:]
    finished, reference = read_metrics(stopped_dir), read_metrics(whole_dir)
    assert finished["status"] == "ok" and finished["epochs"] == 3
    assert not (stopped_dir / "checkpoints" / INTERRUPT_CHECKPOINT).exists()
    assert (finished["val"], finished["test"]) == (reference["val"], reference["test"])
    weights = [
        torch.load(d / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
        for d in (stopped_dir, whole_dir)
    ]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[1])


@pytest.mark.slow
def test_ddp_in_a_multirun_is_refused_with_what_to_do_instead(tmp_path):
    env = {**os.environ, "DECODERLAB_DATA_DIR": str(SHIPPED_DATA)}
    sweep = run_subprocess(
        "-m", *DDP, "debug=fast", f"hydra.sweep.dir={tmp_path / 'sweep'}", env=env
    )
    assert sweep.returncode == 1
    record = read_metrics(tmp_path / "sweep" / "0")
    assert record["status"] == "failed"
    assert "cannot work for one job of a multirun (-m) sweep" in record["error"]
    assert "trainer.devices=1" in record["error"]
    assert processes_naming(tmp_path) == []


@pytest.mark.slow
def test_the_record_of_a_ddp_run_gives_the_error_of_the_rank_that_raised(tmp_path):
    env = {**os.environ, "DECODERLAB_DATA_DIR": str(SHIPPED_DATA)}
    run_dir = tmp_path / "run"
    fault = ("data._target_=tests.faults.LoaderFailsMidEpoch", "+data.on_rank=1")
    result = run_ddp(*BUDGET, *fault, "+data.at_batch=1", f"hydra.run.dir={run_dir}", env=env)
    assert result.returncode == 1, result.stderr[-4000:]
    record = read_metrics(run_dir)
    assert record["status"] == "failed"
    # not rank 0's own error, gloo's "Connection closed by peer"
    assert (
        record["error"] == "rank 1: InjectedFault: injected loader failure after batch 1 of epoch 0"
    )
    assert "tests/faults.py" in record["traceback"]
    assert not list(run_dir.glob(".rank*-failure.json"))


def test_rank_0_records_the_failure_noted_before_its_own(tmp_path, monkeypatch):
    monkeypatch.setattr(rank_failure, "NOTE_WAIT_S", 0.0)
    fields = {"error": "RuntimeError: Connection closed by peer", "traceback": "rank 0's"}
    assert (
        rank_failure.failure_fields(tmp_path, 1, {"error": "E: first", "traceback": "t"}, 0) == {}
    )
    assert rank_failure.failure_fields(tmp_path, 0, fields, time.time()) == {
        "error": "rank 1: E: first",
        "traceback": "t",
    }
    assert not list(tmp_path.iterdir())  # notes are removed once read


def test_rank_0_keeps_its_own_error_when_it_failed_first(tmp_path, monkeypatch):
    monkeypatch.setattr(rank_failure, "NOTE_WAIT_S", 0.0)
    failed_at = time.time()
    rank_failure.note_failure(tmp_path, 1, "RuntimeError: Connection closed by peer", "")
    assert rank_failure.failure_fields(tmp_path, 0, {"error": "E: own"}, failed_at) == {}

"""Training end to end: composed configs, metrics.json, TensorBoard events, the console script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from decoderlab.train import train
from tests.test_model import DECODERS

RUN_KEYS = {
    "decoder",
    "seed",
    "params",
    "epochs",
    "device",
    "wall_s",
    "train_samples_per_s",
    "status",
    "val",
    "test",
    "history",
}
FAST = (
    "data.train_size=200",
    "data.val_size=100",
    "data.test_size=100",
    "callbacks.progress_bar=null",
)


def event_accumulator(run_dir: Path) -> EventAccumulator:
    """All event files of the run's single TensorBoard run folder (fit and test write their own)."""
    (folder,) = {p.parent for p in run_dir.glob("*_seed*/events.out.tfevents.*")}
    accumulator = EventAccumulator(str(folder), size_guidance={"images": 0, "scalars": 0})
    accumulator.Reload()
    return accumulator


@pytest.mark.slow
@pytest.mark.parametrize("decoder", DECODERS)
def test_fast_dev_run_every_decoder(make_cfg, decoder):
    cfg = make_cfg(f"model/decoder={decoder}", "+trainer.fast_dev_run=true", *FAST)
    record = train(cfg)
    assert record["status"] == "ok"
    assert record["decoder"] == decoder


@pytest.mark.slow
def test_one_epoch_run_writes_metrics_and_events(make_cfg):
    cfg = make_cfg("model/decoder=transposed_conv", "trainer.max_epochs=1", "seed=2", *FAST)
    train(cfg)
    run_dir = Path(cfg.paths.output_dir)
    record = json.loads((run_dir / "metrics.json").read_text())
    assert set(record) >= RUN_KEYS
    assert record["status"] == "ok" and record["decoder"] == "transposed_conv_k3"
    assert record["seed"] == 2 and record["epochs"] == 1 and record["device"] == "cpu"
    assert record["train_samples_per_s"] > 0 and record["params"] > 0
    for key in ("loss", "mse", "psnr", "ssim"):
        assert f"val/{key}" in record["val"] and f"test/{key}" in record["test"]
    assert len(record["history"]["val/loss"]) == 1
    assert (run_dir / "checkpoints" / "last.ckpt").exists()

    events = event_accumulator(run_dir)
    assert events.path.endswith("transposed_conv_k3_seed2")
    scalars = set(events.Tags()["scalars"])
    assert {"train/loss", "val/loss", "val/psnr", "val/ssim", "test/loss"} <= scalars
    assert "reconstructions" in events.Tags()["images"]
    image = events.Images("reconstructions")[-1]
    assert image.width > image.height > 28


@pytest.mark.slow
def test_seed_experiment_trains_the_article_model(make_cfg):
    cfg = make_cfg("experiment=seed_upsampling2d", "trainer.max_epochs=1", *FAST)
    record = train(cfg)
    assert record["params"] == 1393 and record["decoder"] == "seed_upsampling2d_bilinear"
    assert cfg.data.batch_size == 25 and cfg.data.split == "tail"


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "decoderlab.train", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_multirun_two_decoders_two_seeds(cli_env, tmp_path):
    sweep = tmp_path / "sweep"
    result = run_cli(
        "-m",
        "model/decoder=resize_conv,pixel_shuffle",
        "seed=1,2",
        "trainer.max_epochs=1",
        f"hydra.sweep.dir={sweep}",
        *FAST,
        env=cli_env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    records = [json.loads(p.read_text()) for p in sorted(sweep.glob("*/metrics.json"))]
    assert sorted((r["decoder"], r["seed"]) for r in records) == [
        ("pixel_shuffle_default", 1),
        ("pixel_shuffle_default", 2),
        ("resize_conv_nearest", 1),
        ("resize_conv_nearest", 2),
    ]
    assert all(r["status"] == "ok" for r in records)


@pytest.mark.slow
def test_unknown_decoder_lists_the_options(cli_env):
    result = run_cli("model/decoder=nope", env=cli_env)
    assert result.returncode != 0
    assert "Could not find 'model/decoder/nope'" in result.stderr
    for option in ("pixel_shuffle", "resize_conv", "transposed_conv"):
        assert option in result.stderr


@pytest.mark.slow
def test_invalid_kernel_names_allowed_values(cli_env):
    result = run_cli(
        "model/decoder=transposed_conv", "model.decoder.up.kernel_size=5", *FAST, env=cli_env
    )
    assert result.returncode != 0
    assert "kernel_size=5 is not allowed; choose one of 2, 3, 4" in result.stderr


@pytest.mark.slow
def test_a_fresh_run_does_not_warn_about_a_checkpoint_it_does_not_need(make_cfg, recwarn):
    """Lightning reads fit(ckpt_path=None) as "last" beside the interrupt checkpoint and warns
    that it found none; a new run starts fresh without those warnings."""
    assert train(make_cfg("trainer.max_epochs=1", *FAST))["status"] == "ok"
    assert not [w for w in recwarn if "ckpt_path" in str(w.message)]

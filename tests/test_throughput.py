"""The throughput benchmark runs (reduced) and the fast defaults leave results unchanged."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path
from types import ModuleType

import lightning as L
import pytest
import torch
from hydra.utils import instantiate

from decoderlab.runtime.machine import usable_cores
from decoderlab.train import build_run
from tests.conftest import REPO, run_benchmark

STEPS = 12


def run_quick(stem: str, rows: str, env: dict[str, str], tmp_path: Path):
    """``benchmarks/<stem>.py --quick`` without a progress bar: the result and its JSON rows,
    which go to the outputs folder (the path is the last line printed)."""
    result = run_benchmark(
        f"{stem}.py", "--quick", "--rows", rows, "callbacks.progress_bar=null", env=env
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = tmp_path / "outputs" / "benchmarks" / f"{stem}-cpu.json"
    assert result.stdout.strip().endswith(str(out))
    return result, json.loads(out.read_text())


@pytest.mark.slow
def test_benchmark_quick_mode_writes_a_ratio_per_row(cli_env, tmp_path):
    """By default the JSON goes to the outputs folder; the committed one is left alone."""
    committed = REPO / "benchmarks" / "throughput-cpu.json"
    before = committed.stat()
    result, rows = run_quick("throughput", "seed_upsampling2d,pixel_shuffle", cli_env, tmp_path)
    assert committed.stat().st_mtime_ns == before.st_mtime_ns
    assert [r["model"] for r in rows] == ["seed_upsampling2d", "pixel_shuffle"]
    assert all(r["overrides"] == ["callbacks.progress_bar=null"] for r in rows)
    assert "━" not in result.stdout.split("training samples/s")[0]  # no progress bar drawn
    for row in rows:
        assert row["blocks"] == 2 and row["steps"] == 8
        assert len(row["plain_runs"]) == len(row["framework_runs"]) == 2
        for key, runs in (("ratio", "plain_runs"), ("ratio_to_tuned_loop", "tuned_loop_runs")):
            block_ratios = [b / a for b, a in zip(row["framework_runs"], row[runs], strict=True)]
            record = row[key]
            assert record["ratio"] == pytest.approx(math.prod(block_ratios) ** 0.5, rel=1e-9)
            assert record["low"] <= record["ratio"] <= record["high"]
            assert record["half_width"] == pytest.approx(
                (record["high"] - record["low"]) / 2, rel=1e-9
            )
    assert "b/a" in result.stdout and "b/a'" in result.stdout
    assert "95% interval" in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("script", ["throughput.py", "busy.py"])
def test_benchmarks_reject_bad_options(script):
    result = run_benchmark(script, "--rows", "seed_upsampling2d,nope", timeout=120)
    assert result.returncode == 2
    assert "unknown rows ['nope']" in result.stderr
    result = run_benchmark(script, "--min-blocks", "1", timeout=120)
    assert result.returncode == 2
    assert "2 <= --min-blocks <= --max-blocks" in result.stderr


@pytest.mark.slow
def test_busy_benchmark_quick_mode_writes_every_condition_and_ratio(cli_env, tmp_path):
    """Two blocks of the five conditions; under a busy core auto leaves that core alone."""
    result, (row,) = run_quick("busy", "seed_upsampling2d", cli_env, tmp_path)
    conditions = ["quiet default", "quiet 1 thread", "quiet auto", "busy default", "busy auto"]
    assert list(row["runs"]) == conditions
    assert all(len(row["runs"][c]) == 2 for c in conditions)
    assert row["threads_chosen"]["quiet 1 thread"] == [1, 1]
    default = row["torch_default_threads"]
    assert row["threads_chosen"]["quiet default"] == [default, default]
    assert all(t <= max(1, usable_cores() - 1) for t in row["threads_chosen"]["busy auto"])
    assert {name: r["target"] for name, r in row["ratios"].items()} == {
        "auto busy / 1 thread quiet": 0.8,
        "auto quiet / default quiet": 0.95,
        "default busy / 1 thread quiet": None,
    }
    ratio = row["ratios"]["auto busy / 1 thread quiet"]
    block_ratios = [
        b / a for b, a in zip(row["runs"]["busy auto"], row["runs"]["quiet 1 thread"], strict=True)
    ]
    assert ratio["ratio"] == pytest.approx(math.prod(block_ratios) ** 0.5, rel=1e-9)
    assert ratio["verdict"] in {"met", "met by the estimate", "not met"}
    assert "auto busy / 1 thread quiet" in result.stdout


def load_benchmark() -> ModuleType:
    """benchmarks/throughput.py as a module (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location(
        "throughput", REPO / "benchmarks" / "throughput.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_json_is_written_only_when_asked(tmp_path, monkeypatch):
    throughput = load_benchmark()
    monkeypatch.setenv("DECODERLAB_OUTPUT_DIR", str(tmp_path))

    def destination(*argv):
        return throughput.json_path(throughput.build_parser().parse_args(list(argv)))

    assert destination() == tmp_path / "benchmarks" / "throughput-cpu.json"
    assert destination("--json", "x.json") == Path("x.json")
    assert destination("--update-committed", "--device", "cuda") == (
        REPO / "benchmarks" / "throughput-cuda.json"
    )
    with pytest.raises(SystemExit) as info:
        destination("--update-committed", "--json", "x.json")
    assert info.value.code == 2


def plain_nchw_training(cfg) -> torch.nn.Module:
    """The seed model trained by hand in NCHW on the framework's batch order."""
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = instantiate(cfg.data)
    model = instantiate(cfg.model, in_shape=datamodule.image_shape, memory_format="contiguous")
    datamodule.prepare_data()
    datamodule.setup("fit")
    optimizer = instantiate(cfg.model.optimizer)(model.parameters())
    for batch in datamodule.train_dataloader():
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model.logits(batch), batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model


@pytest.mark.slow
def test_fast_defaults_leave_the_seed_loss_unchanged(make_cfg):
    cfg = make_cfg(
        "experiment=seed_upsampling2d",
        f"data.train_size={STEPS * 25}",
        "data.val_size=100",
        "data.test_size=100",
        "trainer.max_epochs=1",
        "callbacks.progress_bar=null",
    )
    assert cfg.model.memory_format == "channels_last"
    run = build_run(cfg)
    run.trainer.fit(run.model, datamodule=run.datamodule)
    assert run.trainer.global_step == STEPS
    reference = plain_nchw_training(cfg)
    batch = run.datamodule.parts["test"][:100]
    with torch.no_grad():
        fast = run.model.loss(run.model.logits(batch), batch)
        plain = reference.loss(reference.logits(batch), batch)
    assert fast.item() == pytest.approx(plain.item(), abs=1e-5)
    for (name, a), b in zip(
        run.model.state_dict().items(), reference.state_dict().values(), strict=True
    ):
        if a.is_floating_point():
            assert torch.allclose(a, b, atol=1e-5), name

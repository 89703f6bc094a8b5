"""Reliability: repeatable runs, safe checkpoint loading, divergence, and clear answers to bad
input (a message naming the problem, a non-zero exit, nothing that looks like a result)."""

from __future__ import annotations

import functools
import gzip
import shutil
from pathlib import Path
from typing import Literal, Optional, Union

import pytest
import torch
from hydra import compose, initialize_config_dir

from decoderlab.model import DivergenceError
from decoderlab.runtime.config_checks import (
    ConfigTypeError,
    accepts,
    check_argument_types,
    describe,
    unwritable_reason,
)
from decoderlab.train import config_dir, train
from tests.cli_runs import BUDGET, read_metrics, results_of, run_in_process
from tests.conftest import SHIPPED_DATA, write_idx

ONE_EPOCH = (*BUDGET, "trainer.max_epochs=1")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def shipped_data(monkeypatch, tmp_path):
    """In-process runs read the shipped data and write under tmp_path unless told otherwise."""
    monkeypatch.setenv("DECODERLAB_DATA_DIR", str(SHIPPED_DATA))
    monkeypatch.setenv("DECODERLAB_OUTPUT_DIR", str(tmp_path / "outputs"))


def compose_train(*overrides: str):
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        return compose("train", overrides=[f"paths.data_dir={SHIPPED_DATA}", *overrides])


@pytest.fixture(scope="module")
def twin_runs(tmp_path_factory):
    """The same config and seed trained twice (1 epoch, resize_conv): both run dirs."""
    torch.set_num_threads(1)
    run_dirs = [tmp_path_factory.mktemp(f"twin{i}") for i in range(2)]
    for run_dir in run_dirs:
        train(compose_train(f"paths.output_dir={run_dir}", *ONE_EPOCH))
    return run_dirs


# --- determinism -------------------------------------------------------------------------


@pytest.mark.slow
def test_same_config_and_seed_give_the_same_metrics(twin_runs):
    first, second = (read_metrics(d) for d in twin_runs)
    assert first["status"] == second["status"] == "ok"
    assert results_of(first) == results_of(second)  # every metric, every epoch of history
    assert first["val"] and first["test"] and first["ffcr"] and first["history"]["val/loss"]


@pytest.mark.slow
def test_same_config_and_seed_give_the_same_weights(twin_runs):
    first, second = (
        torch.load(d / "checkpoints" / "last.ckpt", weights_only=True) for d in twin_runs
    )
    assert first["state_dict"].keys() == second["state_dict"].keys()
    for key, tensor in first["state_dict"].items():
        assert torch.equal(tensor, second["state_dict"][key]), key
    assert first["global_step"] == second["global_step"] == 4


# --- safe loading ------------------------------------------------------------------------


@pytest.mark.slow
def test_every_checkpoint_loads_with_weights_only(twin_runs):
    checkpoints = sorted((twin_runs[0] / "checkpoints").glob("*.ckpt"))
    assert [p.name for p in checkpoints] == ["epoch000.ckpt", "last.ckpt"]
    for path in checkpoints:
        checkpoint = torch.load(path, weights_only=True)
        assert {"state_dict", "optimizer_states", "callbacks", "loops"} <= set(checkpoint)
        assert "hyper_parameters" not in checkpoint


@pytest.mark.slow
def test_a_checkpoint_of_another_architecture_names_the_mismatched_keys(twin_runs, tmp_path):
    resize_conv_checkpoint = twin_runs[0] / "checkpoints" / "last.ckpt"
    cfg = compose_train(
        f"paths.output_dir={tmp_path}",
        *ONE_EPOCH,
        "model/decoder=transposed_conv",
        f"ckpt_path={resize_conv_checkpoint}",
    )
    with pytest.raises(RuntimeError, match="Error\\(s\\) in loading state_dict") as raised:
        train(cfg)
    message = str(raised.value)
    assert 'Missing key(s) in state_dict: "decoder.' in message
    assert 'Unexpected key(s) in state_dict: "decoder.' in message
    assert read_metrics(tmp_path)["status"] == "failed"


@pytest.mark.slow
def test_a_checkpoint_holding_pickled_objects_is_refused(twin_runs, tmp_path):
    checkpoint = torch.load(twin_runs[0] / "checkpoints" / "last.ckpt", weights_only=True)
    checkpoint["hyper_parameters"] = {"optimizer": functools.partial(torch.optim.Adam, lr=1.0)}
    tampered = tmp_path / "tampered.ckpt"
    torch.save(checkpoint, tampered)
    cfg = compose_train(f"paths.output_dir={tmp_path / 'run'}", *ONE_EPOCH, f"ckpt_path={tampered}")
    with pytest.raises(Exception, match="Weights only load failed"):
        train(cfg)
    assert read_metrics(tmp_path / "run")["status"] == "failed"


# --- divergence --------------------------------------------------------------------------


@pytest.mark.slow
def test_divergence_stops_the_run_at_the_step_with_a_failed_record(tmp_path):
    cfg = compose_train(
        f"paths.output_dir={tmp_path}", *BUDGET, "trainer.max_epochs=5", "model.optimizer.lr=1e6"
    )
    with pytest.raises(DivergenceError, match="at global step 1: the run diverged"):
        train(cfg)
    record = read_metrics(tmp_path)
    assert record["status"] == "failed" and record["failed_step"] == 1
    assert record["error"].startswith("DivergenceError: training loss is nan at global step 1")
    assert "history" not in record and "test" not in record
    assert not (tmp_path / "checkpoints").exists()  # no checkpoint of diverged weights


# --- bad input ---------------------------------------------------------------------------


def assert_nothing_like_a_result(run_dir: Path) -> None:
    """No checkpoint, and a metrics.json (if any) that says failed."""
    assert not list(run_dir.rglob("*.ckpt"))
    if (run_dir / "metrics.json").exists():
        assert read_metrics(run_dir)["status"] == "failed"


@pytest.mark.slow
def test_unknown_config_group_option_lists_the_options(shipped_data):
    result = run_in_process("trainer=tpu")
    assert result.returncode == 1
    assert "Could not find 'trainer/tpu'" in result.stderr
    assert "Available options in 'trainer':\n\tcpu\n\tdefault\n\tgpu" in result.stderr


@pytest.mark.slow
def test_a_wrong_type_names_key_value_and_expected_type(shipped_data, tmp_path):
    result = run_in_process(*ONE_EPOCH, "trainer.max_epochs=abc", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 1
    assert (
        "ConfigTypeError: trainer.max_epochs='abc' (str) is not valid: "
        "lightning.pytorch.Trainer expects max_epochs: int or None"
    ) in result.stderr
    assert_nothing_like_a_result(tmp_path)
    assert not list(tmp_path.glob("*_seed*"))  # checked before any logger or model is built


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["run", "sweep"])
def test_a_wrong_type_writes_nothing(shipped_data, tmp_path, mode):
    args = ("-m", "seed=1,2") if mode == "sweep" else ()
    result = run_in_process(
        *args, *ONE_EPOCH, "trainer.max_epochs=two", f"hydra.{mode}.dir={tmp_path}/out"
    )
    assert result.returncode == 1
    assert "decoderlab: ConfigTypeError: trainer.max_epochs='two' (str) is not valid" in (
        result.stderr
    )
    assert list(tmp_path.iterdir()) == []  # no run or sweep directory, no record


@pytest.mark.slow
def test_a_wrong_data_type_names_key_value_and_expected_type(shipped_data, tmp_path):
    result = run_in_process(*ONE_EPOCH, "data.batch_size=x", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 1
    assert (
        "data.batch_size='x' (str) is not valid: "
        "decoderlab.tasks.mnist.MNISTDataModule expects batch_size: int"
    ) in result.stderr
    assert_nothing_like_a_result(tmp_path)


@pytest.mark.slow
def test_an_impossible_architecture_shows_the_stage_shapes(shipped_data, tmp_path):
    result = run_in_process(*ONE_EPOCH, "data.pad_to=30", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 1
    assert "ArchitectureError" in result.stderr
    assert "decoder(encoder(x)) has shape (1, 28, 28) but the input is (1, 30, 30)" in (
        result.stderr
    )
    assert r"stage output shapes (C, H, W):\n  input: (1, 30, 30)\n  encoder." in result.stderr
    assert_nothing_like_a_result(tmp_path)


def _missing(raw: Path) -> None:
    raw.mkdir(parents=True)


def _truncated(raw: Path) -> None:
    shutil.copytree(SHIPPED_DATA / "MNIST" / "raw", raw, ignore=shutil.ignore_patterns("*ubyte"))
    gz = raw / "train-images-idx3-ubyte.gz"
    gz.write_bytes(gz.read_bytes()[:100_000])


def _foreign(raw: Path) -> None:
    raw.mkdir(parents=True)
    for name, magic in (("train-images-idx3-ubyte", 2051), ("train-labels-idx1-ubyte", 2049)):
        write_idx(raw / name, torch.zeros(10, 28, 28) if magic == 2051 else torch.zeros(10), magic)
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        with gzip.open(raw / name, "wb") as f:
            f.write(b"<html>not found</html>")


@pytest.mark.slow
@pytest.mark.parametrize(
    "make_raw, words",
    [
        (_missing, ["MNIST files missing in", "train-images-idx3-ubyte.gz", "data.data_dir"]),
        (_truncated, ["train-images-idx3-ubyte.gz: cannot be decompressed", "truncated"]),
        (_foreign, ["differs from the canonical", "not MNIST"]),
    ],
    ids=["missing", "truncated", "foreign"],
)
def test_bad_data_dir_is_explained(shipped_data, monkeypatch, tmp_path, make_raw, words):
    data_dir = tmp_path / "data"
    make_raw(data_dir / "MNIST" / "raw")
    monkeypatch.setenv("DECODERLAB_DATA_DIR", str(data_dir))
    run_dir = tmp_path / "run"
    result = run_in_process(*ONE_EPOCH, "data.download=false", f"hydra.run.dir={run_dir}")
    assert result.returncode == 1
    for word in words:
        assert word in result.stderr
    assert_nothing_like_a_result(run_dir)
    assert not list(data_dir.rglob("*ubyte"))  # no half-decompressed file left behind


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["run", "sweep"])
def test_an_output_dir_below_a_file_is_refused_before_anything_is_written(
    shipped_data, tmp_path, mode
):
    blocker = tmp_path / "a_file"
    blocker.write_text("keep me")
    key = f"hydra.{mode}.dir"
    args = ("-m",) if mode == "sweep" else ()
    result = run_in_process(*args, *ONE_EPOCH, f"{key}={blocker}/out")
    assert result.returncode == 1
    assert (
        f"decoderlab: cannot write the output directory {blocker}/out ({key}): "
        f"{blocker} is a file, not a folder"
    ) in result.stderr
    assert blocker.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_gpu_without_cuda_says_what_to_use_instead(shipped_data, tmp_path):
    result = run_in_process(*ONE_EPOCH, "trainer=gpu", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 1
    assert "DeviceUnavailableError: trainer.accelerator=gpu needs a CUDA GPU" in result.stderr
    assert "Use trainer=cpu" in result.stderr
    assert_nothing_like_a_result(tmp_path)


# --- the type checks themselves ----------------------------------------------------------


@pytest.mark.parametrize(
    "hint, value, verdict",
    [
        (int, 3, True),
        (int, "3", False),
        (int, True, False),
        (float, 1, True),
        (float, "fast", False),
        (bool, 1, False),
        # typing.Optional/Union and X | Y are different objects; libraries use both
        (Optional[int], None, True),  # noqa: UP045
        (int | None, "abc", False),
        (Literal["tail", "random"], "head", False),
        (Literal[16, 32], 32, True),
        (Union[str, Path], "x", True),  # noqa: UP007
        (Path, "x", True),
        (torch.Tensor, 0.1, False),
        (list[int], "x", None),
        (Union[int, list[int]], "x", None),  # noqa: UP007
    ],
)
def test_accepts_checks_what_it_can(hint, value, verdict):
    assert accepts(hint, value) is verdict


def test_describe_reads_like_a_type():
    assert describe(Optional[int]) == describe(int | None) == "int or None"  # noqa: UP045
    assert describe(Literal["a", "b"]) == "one of 'a', 'b'"


@pytest.mark.parametrize(
    "overrides",
    [
        (),
        ("experiment=compare_decoders",),
        ("experiment=compare_decoders", "preset=full"),
        ("experiment=seed_upsampling2d",),
        ("experiment=seed_conv2dtranspose",),
        ("hparams_search=optuna",),
        ("launcher=joblib",),
        ("model/encoder=strided_conv", "model/decoder=pixel_shuffle_icnr"),
        ("trainer=cpu", "debug=fast"),
    ],
)
def test_shipped_configs_pass_the_type_check(overrides, tmp_path):
    check_argument_types(compose_train(f"paths.output_dir={tmp_path}", *overrides))


def test_type_check_reaches_nested_targets(tmp_path):
    cfg = compose_train(
        f"paths.output_dir={tmp_path}",
        "model/decoder=transposed_conv",
        "model.decoder.up.kernel_size=3.0",
    )
    with pytest.raises(ConfigTypeError, match=r"model\.decoder\.up\.kernel_size=3\.0 \(float\)"):
        check_argument_types(cfg)


def test_unwritable_reason_names_the_blocking_file(tmp_path):
    blocker = tmp_path / "file"
    blocker.touch()
    assert unwritable_reason(blocker / "a" / "b") == f"{blocker} is a file, not a folder"
    assert unwritable_reason(tmp_path / "new" / "dir") is None
    assert not (tmp_path / "new").exists()

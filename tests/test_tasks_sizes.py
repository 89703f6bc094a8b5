"""Size knobs: null (all) or a positive integer, anything else refused by name before a run
writes its record; the task's budget presets; metrics.json's record of the sizes used."""

from __future__ import annotations

import pytest

from decoderlab.tasks import check_data_config
from decoderlab.tasks.mnist import MNISTDataModule
from decoderlab.tasks.sizes import SizeError, check_cap, check_count
from tests.cli_runs import BUDGET, read_metrics, run_in_process
from tests.conftest import SHIPPED_DATA


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "3"])
def test_a_cap_is_null_or_a_positive_integer(value):
    with pytest.raises(
        SizeError, match=rf"data\.val_size={value!r} is not allowed: val_size is null"
    ):
        check_cap("data", "val_size", value)


@pytest.mark.parametrize("value", [None, 1, 12_000])
def test_caps_that_are_allowed(value):
    check_cap("data", "train_size", value)


@pytest.mark.parametrize("value", [None, 0, -25, 2.0])
def test_a_batch_size_is_a_positive_integer(value):
    with pytest.raises(SizeError, match="batch_size is a positive integer"):
        check_count("data", "batch_size", value)


@pytest.mark.parametrize("knob", ["train_size", "val_size", "test_size", "batch_size"])
def test_the_mnist_data_module_refuses_a_zero(knob):
    with pytest.raises(SizeError, match=rf"MNISTDataModule\.{knob}=0 is not allowed"):
        MNISTDataModule(SHIPPED_DATA, **{knob: 0})


def test_a_data_config_is_checked_knob_by_knob():
    check_data_config({"_target_": "decoderlab.tasks.mnist.MNISTDataModule", "train_size": None})
    with pytest.raises(SizeError, match=r"data\.test_size=-1"):
        check_data_config({"_target_": "decoderlab.tasks.mnist.MNISTDataModule", "test_size": -1})


@pytest.mark.parametrize(
    ("preset", "sizes", "epochs"),
    [("default", (6000, 1000, 2000, 25), 13), ("full", (None, None, None, 25), 25)],
)
def test_mnist_presets_are_the_seed_budgets(make_cfg, preset, sizes, epochs):
    cfg = make_cfg(f"preset={preset}")
    data = cfg.data
    assert (data.train_size, data.val_size, data.test_size, data.batch_size) == sizes
    assert cfg.trainer.max_epochs == epochs


@pytest.mark.slow
@pytest.mark.parametrize("knob", ["data.val_size=0", "data.train_size=-1"])
def test_a_bad_size_is_refused_before_the_record(knob, tmp_path, monkeypatch):
    monkeypatch.setenv("DECODERLAB_DATA_DIR", str(SHIPPED_DATA))
    result = run_in_process(*BUDGET, knob, f"hydra.run.dir={tmp_path}/run")
    assert result.returncode != 0
    assert f"decoderlab: SizeError: {knob} is not allowed" in result.stderr
    assert not (tmp_path / "run").exists()  # refused before Hydra made the run directory


@pytest.mark.slow
def test_metrics_json_records_the_sizes_used(tmp_path, monkeypatch, one_torch_thread):
    monkeypatch.setenv("DECODERLAB_DATA_DIR", str(SHIPPED_DATA))
    result = run_in_process(*BUDGET, "trainer.max_epochs=1", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 0, result.stderr
    assert read_metrics(tmp_path)["data"] == {
        "train_images": 100,
        "val_images": 50,
        "test_images": 50,
    }

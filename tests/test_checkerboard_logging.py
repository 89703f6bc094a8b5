"""A training run logs the checkerboard metrics, FFCR and their pictures, and records them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from decoderlab.metrics.flat_field import field_periodic_ratio
from decoderlab.records import FIGURES_FILE, FLAT_FIELD_ARRAYS, read_arrays
from decoderlab.train import train

FAST = ("debug=fast", "data.train_size=200", "callbacks.progress_bar=null")


def events(run_dir: Path, tag_kind: str) -> set[str]:
    """All tags of one kind (scalars, images) across the run's TensorBoard event files."""
    tags: set[str] = set()
    for path in run_dir.rglob("events.out.tfevents.*"):
        accumulator = EventAccumulator(str(path), size_guidance={"images": 0, "scalars": 0})
        accumulator.Reload()
        tags |= set(accumulator.Tags()[tag_kind])
    return tags


def hparams_metrics(run_dir: Path) -> set[str]:
    """Metric names declared in the TensorBoard hparams tab."""
    names: set[str] = set()
    for path in run_dir.rglob("events.out.tfevents.*"):
        accumulator = EventAccumulator(str(path))
        accumulator.Reload()
        try:
            contents = accumulator.PluginTagToContent("hparams").values()
        except KeyError:  # an event file without an hparams summary
            continue
        for content in contents:
            data = plugin_data_pb2.HParamsPluginData.FromString(content)
            names |= {info.name.tag for info in data.experiment.metric_infos}
    return names


@pytest.mark.slow
def test_one_epoch_run_logs_and_records_every_checkerboard_metric(make_cfg):
    cfg = make_cfg("trainer.max_epochs=1", *FAST)
    train(cfg)
    run_dir = Path(cfg.paths.output_dir)
    record = json.loads((run_dir / "metrics.json").read_text())

    names = {f"{metric}{s}" for metric in ("cbe", "prf", "pace") for s in (2, 4)}
    assert {f"test/{name}" for name in names} <= set(record["test"])
    assert {f"val/{name}" for name in names} <= set(record["val"])
    assert set(record["ffcr"]) == {f"ffcr{s}/{when}" for s in (2, 4) for when in ("init", "final")}
    assert all(0 <= value < 1e-10 for value in record["ffcr"].values())  # nearest resize_conv
    assert all(value >= 0 for value in record["test"].values() if value is not None)

    scalars = events(run_dir, "scalars")
    assert {f"val/cbe{s}" for s in (2, 4)} <= scalars
    assert set(record["ffcr"]) <= scalars
    assert {"flat_field/init", "flat_field/final", "residual_spectrum"} <= events(run_dir, "images")
    assert set(record["ffcr"]) | {"test/cbe2", "test/pace4"} <= hparams_metrics(run_dir)

    arrays = read_arrays(run_dir / FIGURES_FILE)
    assert arrays["residual_spectrum"].shape == (28, 28)
    assert arrays["digits"].shape == arrays["reconstructions"].shape == (8, 1, 28, 28)
    for when, name in FLAT_FIELD_ARRAYS.items():  # the arrays the record's FFCR came from
        field = torch.from_numpy(arrays[name])
        assert field_periodic_ratio(field, 4) == record["ffcr"][f"ffcr4/{when}"]


@pytest.mark.slow
def test_a_decoder_without_stages_reports_period_2_and_the_probes_can_be_switched_off(make_cfg):
    cfg = make_cfg(
        "experiment=seed_conv2dtranspose",
        "trainer.max_epochs=1",
        "data.batch_size=100",
        "callbacks.flat_field=null",
        *FAST,
    )
    record = train(cfg)
    assert {"test/cbe2", "test/prf2", "test/pace2"} <= set(record["test"])
    assert not any(key.startswith("test/cbe4") for key in record["test"])
    assert record["ffcr"] == {}

    cfg = make_cfg("trainer.max_epochs=1", "callbacks.checkerboard=null", *FAST)
    record = train(cfg)
    assert not any("cbe" in key or "pace" in key for key in record["test"])
    assert set(record["ffcr"]) == {"ffcr2/init", "ffcr2/final", "ffcr4/init", "ffcr4/final"}

"""The metric registry: names built from declared families, directions read from the
torchmetrics classes, and a newly declared higher-is-better metric judged the right way round
by the paired verdicts, the report and the race."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from torchmetrics import MeanSquaredError
from torchmetrics.image import PeakSignalNoiseRatio

from decoderlab.metrics.epoch import CheckerboardScores
from decoderlab.metrics.registry import (
    FINAL,
    FLAT_FIELD,
    TEST,
    Family,
    UnknownMetricError,
    metric,
    register,
    unregister,
)
from decoderlab.metrics.ssim import StructuralSimilarity
from decoderlab.records import RunRecord, write_run_record
from decoderlab.report import write_report
from decoderlab.stats.paired import BEST, WORSE, compare_to_best
from decoderlab.stats.racing import DROPPED, WINNER, Race, RaceSettings

LANDED_RECORD = Path(__file__).parent / "records" / "metrics_v1.json"


def test_directions_come_from_the_torchmetrics_classes_that_compute_them():
    assert metric("test/mse").higher_is_better is MeanSquaredError.higher_is_better is False
    assert metric("val/psnr").higher_is_better is PeakSignalNoiseRatio.higher_is_better is True
    assert metric("test/ssim").higher_is_better is StructuralSimilarity.higher_is_better is True
    for name in ("test/cbe4", "test/prf2", "val/pace8"):
        assert metric(name).higher_is_better is CheckerboardScores.higher_is_better is False
    assert metric("test/loss").higher_is_better is False


def test_periodic_metrics_are_declared_per_family_with_their_periods():
    cbe = metric("test/cbe4")
    assert (cbe.family, cbe.stage, cbe.period, cbe.when) == ("cbe", TEST, 4, None)
    assert cbe.label == "test periodic checkerboard energy, period 4"
    ffcr = metric("ffcr8/final")
    assert (ffcr.family, ffcr.stage, ffcr.period, ffcr.when) == ("ffcr", FLAT_FIELD, 8, FINAL)
    judged = {n: metric(n).checkerboard_verdict for n in ("test/cbe2", "test/pace2", "test/prf2")}
    assert judged == {"test/cbe2": True, "test/pace2": True, "test/prf2": False}
    assert (
        not metric("val/cbe2").checkerboard_verdict
        and not metric("ffcr2/init").checkerboard_verdict
    )
    for unknown in ("test/cbe3", "test/loss2", "ffcr2", "cbe2"):
        with pytest.raises(UnknownMetricError, match=unknown):
            metric(unknown)


def test_every_metric_a_run_records_is_declared():
    record = json.loads(LANDED_RECORD.read_text())
    for stage in ("val", "test", "ffcr"):
        for name in record[stage]:
            metric(name)  # raises for an undeclared name


@pytest.fixture
def sharpness():
    """A metric the registry did not know, where higher is better."""
    family = Family("sharpness", "sharpness", (TEST,), higher_is_better=True)
    register(family)
    yield "test/sharpness"
    unregister(family)


# "sharp" is higher than "blurry" under every seed; a lower-is-better reading would pick blurry
SHARPNESS = {"sharp": {1: 0.90, 2: 0.80, 3: 0.85}, "blurry": {1: 0.50, 2: 0.41, 3: 0.47}}


def test_a_new_higher_is_better_metric_is_judged_the_right_way_round(sharpness, tmp_path):
    verdicts = compare_to_best(SHARPNESS, sharpness)
    assert [(c.decoder, c.verdict) for c in verdicts.comparisons] == [
        ("sharp", BEST),
        ("blurry", WORSE),
    ]

    sweep = tmp_path / "sweep"
    for number, (decoder, seed) in enumerate((d, s) for d in SHARPNESS for s in (1, 2, 3)):
        run = sweep / str(number)
        (run / ".hydra").mkdir(parents=True)
        listed = f"- model/decoder={decoder}\n- seed={seed}\n"
        (run / ".hydra" / "overrides.yaml").write_text(listed)
        test = {"test/loss": 0.1 + 0.01 * seed, sharpness: SHARPNESS[decoder][seed]}
        write_run_record(run, RunRecord(status="ok", seed=seed, decoder=decoder, test=test))

    report = write_report(sweep, metric=sharpness)

    assert report.verdicts.best == "sharp"
    markdown = report.markdown_path.read_text()
    assert "`sharp` has the highest test sharpness; `blurry` is worse" in markdown
    with (sweep / "paired.csv").open() as f:
        rows = [r for r in csv.DictReader(f) if r["metric"] == sharpness and r["kind"] == "vs_best"]
    assert {r["decoder"]: r["verdict"] for r in rows} == {"sharp": BEST, "blurry": WORSE}

    race = Race(list(SHARPNESS), RaceSettings(initial_seeds=3, max_seeds=5, metric=sharpness))
    jobs = race.next_round()
    race.record({(c, s): SHARPNESS[c][s] for c, s in jobs}, {})
    assert race.candidates["blurry"].status == DROPPED
    assert race.next_round() is None and race.candidates["sharp"].status == WINNER

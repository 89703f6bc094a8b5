"""The report's figures drawn from synthetic sweeps with known properties: what a reader
relies on (shared scales, a flat decoder looking flat, the front holding exactly the
dominating points), and the raw arrays and display scales behind them."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib import colormaps

from decoderlab.blocks import TransposedConvUp
from decoderlab.metrics.flat_field import field_periodic_ratio, flat_field_response
from decoderlab.pictures import (
    FLAT_FIELD_CMAP,
    flat_field_deviation,
    flat_field_rgb,
)
from decoderlab.records import FIGURES_FILE, RunRecord, write_npz_atomic, write_run_record
from decoderlab.report import main, write_report
from decoderlab.report.analysis import Options, analyse
from decoderlab.report.figures import draw_figures
from decoderlab.report.figures.flat_field import TILE_PIXELS
from decoderlab.report.figures.spectrum import frequency_classes
from decoderlab.report.pareto import pareto_optimal
from decoderlab.report.sweep import load_sweep

SIZE = 28  # spectra: 28 x 28 (MNIST); flat fields: 24 x 24, whole periods of 4


def checkerboard(amplitude: float, size: int = 24) -> np.ndarray:
    """1 + amplitude * (-1)^(i+j) as a (1, size, size) flat-field response."""
    i, j = np.indices((size, size))
    return (1.0 + amplitude * (-1.0) ** (i + j))[None]


def ffcr_of(field: np.ndarray, period: int) -> float:
    return field_periodic_ratio(torch.from_numpy(field), period)


def spectrum(peak: float = 1.0) -> np.ndarray:
    """A DC-centred (28, 28) spectrum, 1 everywhere, ``peak`` at (-1/2, -1/2) cycles/pixel."""
    power = np.ones((SIZE, SIZE))
    power[0, 0] = peak
    return power


def job(
    sweep: Path,
    num: int,
    decoder: str,
    seed: int,
    loss: float,
    params: int = 1000,
    seconds: float = 1.0,
    field: np.ndarray | None = None,
    power: np.ndarray | None = None,
) -> None:
    """A successful run directory: metrics.json (FFCR computed from ``field``) + figures.npz."""
    run = sweep / str(num)
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text(f"- model/decoder={decoder}\n- seed={seed}\n")
    field = checkerboard(0.0) if field is None else field
    ffcr = {f"ffcr{s}/{when}": ffcr_of(field, s) for s in (2, 4) for when in ("init", "final")}
    write_run_record(
        run,
        RunRecord(
            decoder=decoder,
            seed=seed,
            status="ok",
            params=params,
            seconds_per_epoch=[seconds],
            test={"test/loss": loss, "test/cbe2": 0.01, "test/cbe4": 0.01},
            ffcr=ffcr,
            history={"val/loss": [loss + 0.1, loss]},
        ),
    )
    digits = np.random.default_rng(seed).random((8, 1, SIZE, SIZE)).astype(np.float32)
    write_npz_atomic(
        run / FIGURES_FILE,
        {
            "flat_field_init": field,
            "flat_field_final": field,
            "residual_spectrum": spectrum() if power is None else power,
            "digits": digits,
            "reconstructions": digits * 0.5,
        },
    )


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """flat: FFCR 0, reference spectrum; checkered: (-1)^(i+j) of amplitude 0.9 (FFCR
    0.81/1.81), 50x and 200x the reference's power at (1/2, 1/2) under seeds 1 and 2."""
    sweep = tmp_path / "sweep"
    for seed in (1, 2):
        job(sweep, seed, "flat", seed, 0.10 + seed / 100, params=3000, seconds=2.0)
        job(
            sweep,
            10 + seed,
            "checkered",
            seed,
            0.30 + seed / 100,
            params=2000,
            seconds=1.0,
            field=checkerboard(0.9),
            power=spectrum({1: 50.0, 2: 200.0}[seed]),
        )
    return sweep


def drawn(sweep: Path, reference: str | None = "flat"):
    return draw_figures(sweep, analyse(load_sweep(sweep), Options(reference=reference)))


def test_pareto_optimal_points_are_exactly_those_no_other_point_dominates():
    rng = np.random.default_rng(0)
    costs = np.sort(rng.uniform(1, 10, 12))
    losses = 1 / costs  # strictly decreasing: every point of this curve is optimal
    offsets = rng.uniform(0, 1, (30, 2))
    offsets[:5, 1] = 0  # dominated only through the cost
    base = rng.integers(0, 12, 30)
    all_costs = np.concatenate([costs, costs[base] + offsets[:, 0]])
    all_losses = np.concatenate([losses, losses[base] + offsets[:, 1]])
    flags = pareto_optimal(list(all_costs), list(all_losses))
    assert flags == [True] * 12 + [False] * 30


def test_pareto_ties_and_undefined_points():
    assert pareto_optimal([1, 1, 2, 1, math.nan], [5, 5, 1, 6, 0]) == [
        True,
        True,  # equal points are optimal together
        True,
        False,  # same cost, higher loss
        False,  # NaN: never optimal, dominates nothing
    ]
    with pytest.raises(ValueError, match="3 costs but 2 losses"):
        pareto_optimal([1, 2, 3], [1, 2])


def test_the_front_is_in_the_csv(sweep):
    write_report(sweep, reference="flat")
    with (sweep / "report.csv").open() as f:
        table = {row["decoder"]: row for row in csv.DictReader(f)}
    # flat: lower loss, more params and time; checkered: cheaper, worse -> both optimal
    assert (table["flat"]["pareto_params"], table["checkered"]["pareto_params"]) == ("1", "1")
    job(sweep, 20, "bloated", 1, 0.5, params=4000, seconds=3.0)
    job(sweep, 21, "bloated", 2, 0.5, params=4000, seconds=3.0)
    write_report(sweep)
    with (sweep / "report.csv").open() as f:
        table = {row["decoder"]: row for row in csv.DictReader(f)}
    assert {d: (r["pareto_params"], r["pareto_time"]) for d, r in table.items()} == {
        "flat": ("1", "1"),
        "checkered": ("1", "1"),
        "bloated": ("0", "0"),
    }


def test_cost_quality_figure_names_exactly_the_front(sweep):
    job(sweep, 20, "bloated", 1, 0.5, params=4000, seconds=3.0)
    figure = drawn(sweep).figures["cost_quality"]
    for axes in figure.axes:
        named = {text.get_text() for text in axes.texts}
        assert named == {"flat", "checkered"}


def test_flat_field_panels_share_one_symmetric_scale_and_a_flat_decoder_looks_flat(sweep):
    figure = drawn(sweep).figures["flat_field"]
    # rows in table order (flat has the lower loss), columns init and final, then the bar
    flat_init, flat_final, checkered_init, checkered_final, bar = figure.axes
    panels = (flat_init, flat_final, checkered_init, checkered_final)
    assert bar.get_ylabel() == "(y − mean y) / RMS(y)" and not bar.images
    # every deviation is within one RMS, so the shared scale is the minimum ±1
    assert {a.images[0].get_clim() for a in panels} == {(-1.0, 1.0)}
    for panel in (flat_init, flat_final):
        assert np.ptp(panel.images[0].get_array()) < 1e-12
        assert "FFCR₄ 0 (mean of 2)" in panel.get_title()
    deviation = 0.9 / math.sqrt(1.81)  # the checkerboard in units of its RMS
    for panel in (checkered_init, checkered_final):
        picture = panel.images[0].get_array()
        assert picture.shape == (TILE_PIXELS, TILE_PIXELS)
        assert np.ptp(picture) == pytest.approx(2 * deviation)
        assert "FFCR₄ 0.45 (mean of 2)" in panel.get_title()  # 0.81 / 1.81
    assert flat_init.get_ylabel() == "flat"


def test_flat_field_panels_show_the_seed_with_the_median_ffcr(tmp_path):
    sweep = tmp_path / "sweep"
    for seed, amplitude in zip((1, 2, 3), (0.1, 0.9, 0.5), strict=True):
        job(sweep, seed, "varied", seed, 0.1, field=checkerboard(amplitude))
    (panel,) = [a for a in drawn(sweep, None).figures["flat_field"].axes if a.images][:1]
    deviation = 0.5 / math.sqrt(1.25)  # seed 3's checkerboard, the median of the three
    assert np.ptp(panel.images[0].get_array()) == pytest.approx(2 * deviation)
    assert "shown: seed 3, 0.2" in panel.get_title()  # FFCR 0.25 / 1.25


def test_a_strong_deviation_widens_the_shared_scale(tmp_path):
    sweep = tmp_path / "sweep"
    spike = np.pad(np.ones((1, 4, 4)), ((0, 0), (0, 20), (0, 20)))  # 4x4 ones in 24x24 zeros
    job(sweep, 0, "flat", 1, 0.1)
    job(sweep, 1, "spiky", 1, 0.2, field=spike)
    figure = drawn(sweep, None).figures["flat_field"]
    largest = (1 - 16 / 576) / math.sqrt(16 / 576)  # (1 - mean) / RMS = 5.83
    clims = {axes.images[0].get_clim() for axes in figure.axes if axes.images}
    assert len(clims) == 1
    assert next(iter(clims)) == pytest.approx((-largest, largest))


def test_deviation_map_mean_square_is_ffcr_of_a_real_decoder():
    torch.manual_seed(0)
    block = TransposedConvUp(3, 2, kernel_size=3)
    field, _ = flat_field_response(block.double(), (3, 16, 16))
    period = 2
    interior = field[:, : field.shape[1] // period * period, : field.shape[2] // period * period]
    deviation = flat_field_deviation(interior.numpy()[:1])
    assert np.mean(deviation**2) == pytest.approx(field_periodic_ratio(interior[:1], period))
    assert np.mean(deviation**2) > 0.01


def test_tensorboard_flat_field_image_uses_the_report_scale():
    flat = flat_field_rgb(checkerboard(0.0))
    assert flat.shape == (3, 24, 24)
    assert np.allclose(flat, np.asarray(colormaps[FLAT_FIELD_CMAP](0.5)[:3])[:, None, None])
    checkered = flat_field_rgb(checkerboard(0.9))
    expected = 0.5 + 0.5 * 0.9 / math.sqrt(1.81)  # +deviation on a ±1 scale
    assert np.allclose(checkered[:, 0, 0], colormaps[FLAT_FIELD_CMAP](expected)[:3])


def test_spectra_share_one_log_scale_and_the_ratio_shows_the_checkerboard(sweep):
    figure = drawn(sweep).figures["spectrum"]
    maps = [axes for axes in figure.axes if axes.images]
    assert len(maps) == 2
    norms = {(axes.images[0].norm.vmin, axes.images[0].norm.vmax) for axes in maps}
    assert len(norms) == 1
    checkered = next(a for a in maps if a.get_title().startswith("checkered"))
    assert checkered.images[0].get_array()[0, 0] == pytest.approx(125.0)  # mean of 50, 200
    assert next(iter(norms))[1] == pytest.approx(125.0)
    ratio = next(a for a in figure.axes if a.get_xlabel().startswith("lattice frequency"))
    classes = [c.label for c in frequency_classes(4, (SIZE, SIZE))]
    corner = classes.index("(1/2, 1/2)")
    lines = {line.get_label(): line.get_ydata() for line in ratio.get_lines()}
    assert lines["checkered"][corner] == pytest.approx(100.0)  # geometric mean of 50, 200
    assert np.allclose(np.delete(lines["checkered"], corner), 1.0)
    assert np.allclose(lines["flat"], 1.0)


def test_frequency_classes_of_period_4_on_28_pixels():
    classes = frequency_classes(4, (28, 28))
    assert [c.label for c in classes] == [
        "(1/4, 0)",
        "(1/4, 1/4)",
        "(1/2, 0)",
        "(1/2, 1/4)",
        "(1/2, 1/2)",
    ]
    assert sum(len(c.indices) for c in classes) == 4 * 4 - 1
    assert classes[-1].indices == ((0, 0),)  # -1/2 is fftshift index 0
    assert frequency_classes(4, (30, 30)) == []


def test_reconstructions_come_from_the_arrays(sweep):
    figure = drawn(sweep).figures["reconstructions"]
    strips = [axes.images[0].get_array() for axes in figure.axes]
    assert len(strips) == 3  # originals, flat, checkered
    digits = np.random.default_rng(1).random((8, SIZE, SIZE)).astype(np.float32)
    assert np.allclose(strips[0][:, :SIZE], digits[0])
    assert np.allclose(strips[1][:, :SIZE], digits[0] * 0.5)
    assert all(axes.images[0].get_clim() == (0, 1) for axes in figure.axes)


def test_unknown_reference_exits_2_before_writing(sweep, capsys):
    assert main([str(sweep), "--reference", "nearest"]) == 2
    err = capsys.readouterr().err
    assert "reference decoder 'nearest' is not in this sweep; choose one of: flat, checkered" in err
    assert not (sweep / "report.md").exists() and not list(sweep.glob("*.png"))


def test_without_the_default_reference_the_ratio_panel_is_left_out(sweep):
    markdown = write_report(sweep).markdown_path.read_text()
    assert "No ratio panel: no reference decoder in this sweep" in markdown
    figure = drawn(sweep, None).figures["spectrum"]
    assert not any(a.get_xlabel().startswith("lattice frequency") for a in figure.axes)


def test_an_unreadable_figures_file_only_drops_that_job_from_the_pictures(sweep, caplog):
    (sweep / "1" / FIGURES_FILE).write_bytes(b"PK\x03\x04 truncated")
    report = write_report(sweep, reference="flat")
    assert not report.problems and "not a readable .npz file" in caplog.text
    titles = {a.get_title() for a in drawn(sweep).figures["spectrum"].axes}
    assert "flat (1 seed)" in titles

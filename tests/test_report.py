"""decoderlab-report on hand-made sweeps: statistics, ranking, findings, failures, bad input."""

from __future__ import annotations

import csv
import math
import re
import subprocess
from pathlib import Path

import pytest
from PIL import Image
from scipy import stats

from decoderlab.records import RunRecord, write_run_record
from decoderlab.report import main, write_report
from decoderlab.report.figures import DPI, VAL_LOSS_SIZE
from decoderlab.report.stats import mean_ci
from tests.tiny_sweep import console_script

# Student t quantiles t_{0.975, df} (printed tables: 12.706 and 4.303)
T975 = {1: 12.706204736174705, 2: 4.302652729911275}


def fake_job(
    sweep: Path,
    num: int,
    decoder: str,
    seed: int,
    loss: float | None,
    cbe2: float = 0.01,
    status: str = "ok",
    overrides: tuple[str, ...] = (),
    **extra,
) -> Path:
    """A run directory as decoderlab-train leaves it, without TensorBoard events."""
    job = sweep / str(num)
    (job / ".hydra").mkdir(parents=True)
    listed = [f"model/decoder={decoder}", f"seed={seed}", *overrides]
    (job / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in listed))
    (job / ".hydra" / "config.yaml").write_text(
        "data:\n  train_size: 600\n  val_size: 200\n  test_size: 100\n  batch_size: 25\n"
        "trainer:\n  max_epochs: 3\n"
    )
    record = RunRecord(
        decoder=decoder,
        seed=seed,
        status=status,
        params=1000,
        seconds_per_epoch=[1.0, 3.0],
        test={"test/loss": loss, "test/mse": 0.01, "test/cbe2": cbe2},
        ffcr={"ffcr2/init": 0.0, "ffcr2/final": 0.002},
        history={"val/loss": [0.3, 0.2, 0.1]},
        **extra,
    )
    write_run_record(job, record)
    return job


def read_table(sweep: Path) -> dict[str, dict[str, str]]:
    with (sweep / "report.csv").open() as f:
        return {row["decoder"]: row for row in csv.DictReader(f)}


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """a: losses 0.10, 0.12, 0.14; b: 0.20, 0.26 (one more seed failed); c: 0.50, 0.50, 0.51."""
    sweep, num = tmp_path / "sweep", iter(range(100))
    for seed, loss in zip((1, 2, 3), (0.10, 0.12, 0.14), strict=True):
        fake_job(sweep, next(num), "a", seed, loss, cbe2=0.001)
    for seed, loss in zip((1, 2), (0.20, 0.26), strict=True):
        fake_job(sweep, next(num), "b", seed, loss, cbe2=0.05)
    fake_job(sweep, next(num), "b", 3, None, status="failed", error="RuntimeError: boom")
    for seed, loss in zip((1, 2, 3), (0.50, 0.50, 0.51), strict=True):
        fake_job(sweep, next(num), "c", seed, loss, cbe2=0.02)
    return sweep


def test_mean_and_ci_match_a_hand_computation(sweep):
    assert write_report(sweep).problems[0].directory.name == "5"
    table = read_table(sweep)
    s_a = math.sqrt(((0.10 - 0.12) ** 2 + 0 + (0.14 - 0.12) ** 2) / 2)  # = 0.02
    assert float(table["a"]["test/loss_mean"]) == pytest.approx(0.12)
    assert float(table["a"]["test/loss_ci95"]) == pytest.approx(T975[2] * s_a / math.sqrt(3))
    s_b = math.sqrt(((0.20 - 0.23) ** 2 + (0.26 - 0.23) ** 2) / 1)
    assert float(table["b"]["test/loss_mean"]) == pytest.approx(0.23)
    assert float(table["b"]["test/loss_ci95"]) == pytest.approx(T975[1] * s_b / math.sqrt(2))
    assert float(table["a"]["s/epoch_mean"]) == pytest.approx(2.0)
    assert float(table["a"]["params_ci95"]) == 0.0
    assert float(table["c"]["ffcr2/final_mean"]) == pytest.approx(0.002)


def test_one_value_has_a_mean_but_no_interval():
    estimate = mean_ci([0.3])
    assert estimate.mean == 0.3 and math.isnan(estimate.half_width) and estimate.n == 1


def test_rows_are_ranked_by_loss_and_count_seeds(sweep):
    write_report(sweep)
    table = read_table(sweep)
    assert [table[d]["rank"] for d in "abc"] == ["1", "2", "3"]
    assert (table["b"]["seeds_ok"], table["b"]["jobs"]) == ("2", "3")
    markdown = (sweep / "report.md").read_text()
    assert "| 2 | `b` | 2/3 | 1,000 | 0.23 ± 0.38 |" in markdown


def test_findings_state_the_paired_verdicts(sweep):
    """Pairs by seed: a-c over seeds 1-3, a-b and b-c over seeds 1-2 (b's seed 3 failed);
    Holm over the three pairs, computed here by its definition (no equivalence tests: they
    would join the family; tests/test_report_judgement.py has them)."""
    report = write_report(sweep, equivalence_margin=None)
    a, b, c = [0.10, 0.12, 0.14], [0.20, 0.26], [0.50, 0.50, 0.51]
    p = {
        "ab": stats.ttest_rel(b, a[:2]).pvalue,
        "ac": stats.ttest_rel(c, a).pvalue,
        "bc": stats.ttest_rel(c[:2], b).pvalue,
    }
    order = sorted(p, key=p.get)
    holm, running = {}, 0.0
    for rank, key in enumerate(order):
        running = max(running, min(1.0, (3 - rank) * p[key]))
        holm[key] = running
    assert holm["ac"] < 0.05 < holm["ab"]
    rows = {c.decoder: c for c in report.verdicts.comparisons}
    assert rows["c"].p_holm == pytest.approx(holm["ac"])
    assert rows["b"].p_holm == pytest.approx(holm["ab"])

    findings = (sweep / "report.md").read_text().split("## Findings")[1].split("\n## ")[0]
    # the text's Holm p, read back, is the one computed here to the decimals it shows
    stated = re.search(r"`a` has the lowest test loss; `c` is worse \(Holm p = 0\.(\d+)", findings)
    assert stated and float(f"0.{stated[1]}") == pytest.approx(
        holm["ac"], abs=0.5 * 10 ** -len(stated[1])
    )
    assert "worse in 3 of 3 seeds" in findings
    assert "`b` is not distinguishable from it with 2 seeds" in findings
    assert "`a` has the least periodic checkerboard energy (`test/cbe2`)" in findings
    assert "Flat-field checkerboard ratio at init is 0 (below 1e-6) for `a`, `b`, `c`" in findings
    assert "1 of 9 jobs failed" in findings


def test_verdict_table_forest_plot_and_pairwise_csv(sweep):
    report = write_report(sweep)
    markdown = (sweep / "report.md").read_text()
    assert "## Verdicts on `test/loss`, paired by seed" in markdown
    assert "| `c` | **worse than the best** | paired t | 3 | 0 of 3 |" in markdown
    assert "![Paired differences to the best](forest.png)" in markdown
    assert report.figures["forest"].is_file()
    with (sweep / "paired.csv").open() as f:
        rows = list(csv.DictReader(f))
    pairs = {(r["decoder"], r["against"]) for r in rows if r["kind"] == "pair"}
    assert {("a", "b"), ("a", "c"), ("b", "c")} <= pairs
    loss_pairs = [r for r in rows if r["kind"] == "pair" and r["metric"] == "test/loss"]
    assert len(loss_pairs) == 3
    assert {r["metric"] for r in rows} >= {"test/loss", "test/cbe2", "ffcr2/final"}


def test_separated_decoders_are_called_worse(tmp_path):
    sweep = tmp_path / "sweep"
    for num, (decoder, loss) in enumerate([("a", 0.10), ("a", 0.11), ("a", 0.12)]):
        fake_job(sweep, num, decoder, num + 1, loss)
    for num, loss in enumerate([0.50, 0.52, 0.51]):
        fake_job(sweep, num + 3, "z", num + 1, loss)
    write_report(sweep)
    assert "`z` is worse" in (sweep / "report.md").read_text()


def test_missing_pairs_are_compared_unpaired_and_said_so(tmp_path):
    sweep = tmp_path / "sweep"
    for num, (decoder, seed, loss) in enumerate(
        [("a", 1, 0.10), ("a", 2, 0.12), ("z", 3, 0.30), ("z", 4, 0.32)]
    ):
        fake_job(sweep, num, decoder, seed, loss)
    write_report(sweep)
    markdown = (sweep / "report.md").read_text()
    assert "| `z` | **worse than the best** | Welch t |" in markdown
    assert "`z` share fewer than 2 seeds with the best, so it is compared unpaired" in markdown


def test_duplicate_records_are_counted_once_and_named(tmp_path, capsys):
    sweep = tmp_path / "sweep"
    fake_job(sweep, 0, "a", 1, 0.10, config_hash="h1")
    fake_job(sweep, 1, "a", 2, 0.12, config_hash="h2")
    fake_job(sweep, 2, "a", 1, 0.30, config_hash="h1")
    assert main([str(sweep)]) == 0  # listed, not a failure: the first record counts
    assert float(read_table(sweep)["a"]["test/loss_mean"]) == pytest.approx(0.11)
    markdown = (sweep / "report.md").read_text()
    assert "duplicate: same configuration and seed as" in markdown
    assert f"{sweep / '0'}" in markdown
    assert "1 of 3 jobs failed, are incomplete or duplicates" in markdown


def test_mixed_software_versions_are_flagged(tmp_path):
    sweep = tmp_path / "sweep"
    fake_job(sweep, 0, "a", 1, 0.10, versions={"torch": "2.5.1", "lightning": "2.6.6"})
    fake_job(sweep, 1, "a", 2, 0.12, versions={"torch": "2.14.1", "lightning": "2.6.6"})
    markdown = write_report(sweep).markdown_path.read_text()
    assert "different software versions** (torch 2.14.1, 2.5.1;" in markdown
    assert "lightning" not in markdown.split("different software versions")[1].split(")")[0]


def test_an_unknown_metric_exits_2_before_writing(sweep, capsys):
    assert main([str(sweep), "--metric", "test/nope"]) == 2
    assert "metric 'test/nope' is not in this sweep's records; choose one of: test/loss" in (
        capsys.readouterr().err
    )
    assert not (sweep / "report.md").exists()


def test_alpha_outside_zero_one_exits_2_before_writing(sweep, capsys):
    with pytest.raises(SystemExit) as stopped:
        main([str(sweep), "--alpha", "1.5"])
    assert stopped.value.code == 2
    assert "--alpha must be in (0, 1), got 1.5" in capsys.readouterr().err
    assert not (sweep / "report.md").exists()


def test_other_swept_settings_get_rows_of_their_own(tmp_path):
    sweep = tmp_path / "sweep"
    for num, (lr, seed) in enumerate([("0.01", 1), ("0.01", 2), ("0.001", 1), ("0.001", 2)]):
        fake_job(sweep, num, "a", seed, 0.1 + num / 100, overrides=(f"model.optimizer.lr={lr}",))
    fake_job(sweep, 4, "a", 3, None, status="failed", overrides=("model.optimizer.lr=0.001",))
    write_report(sweep)
    table = read_table(sweep)
    assert set(table) == {"a (model.optimizer.lr=0.01)", "a (model.optimizer.lr=0.001)"}
    assert table["a (model.optimizer.lr=0.001)"]["jobs"] == "3"


def test_failed_diverged_and_unreadable_jobs_are_listed_and_exit_1(sweep, capsys):
    fake_job(sweep, 9, "c", 4, None)  # status ok but test/loss NaN (stored as null)
    (sweep / "10").mkdir()
    (sweep / "10" / "metrics.json").write_text("{not json")
    fake_job(sweep, 11, "c", 5, None, status="running")
    fake_job(sweep, 12, "c", 6, None, status="interrupted", error="stopped by SIGTERM")
    assert main([str(sweep)]) == 1
    err = capsys.readouterr().err
    assert "5 of 13 jobs failed" in err and str(sweep / "10" / "metrics.json") in err
    problems = (sweep / "report.md").read_text().split("## Failed, unreadable or incomplete")[1]
    assert "RuntimeError: boom" in problems
    assert "test/loss is not finite" in problems
    assert "unreadable metrics.json" in problems and "not valid JSON" in problems
    assert "still running, or was killed" in problems
    assert "interrupted: stopped by SIGTERM (resume the sweep with resume=true)" in problems
    assert set(read_table(sweep)) == {"a", "b", "c"}


def test_missing_figures_are_noted_and_the_curves_drawn(sweep):
    report = write_report(sweep)
    markdown = report.markdown_path.read_text()
    assert "_Not available: no run has `digits`/`reconstructions` in its figures.npz" in markdown
    assert "_Not available: no run has `residual_spectrum` in its figures.npz" in markdown
    assert "_Not available: no run has the flat-field arrays in its figures.npz" in markdown
    assert "![Validation loss](val_loss.png)" in markdown
    with Image.open(report.figures["val_loss"]) as png:
        assert png.format == "PNG"
        assert png.size == (round(VAL_LOSS_SIZE[0] * DPI), round(VAL_LOSS_SIZE[1] * DPI))


def test_report_of_one_successful_job_exits_0(tmp_path, capsys):
    fake_job(tmp_path / "sweep", 0, "a", 1, 0.1)
    assert main([str(tmp_path / "sweep")]) == 0
    assert "Report:" in capsys.readouterr().out


@pytest.mark.parametrize("make", ["missing", "empty", "file"])
def test_no_runs_exits_2_naming_the_directory(tmp_path, make):
    target = tmp_path / "nothing"
    if make == "empty":
        target.mkdir()
    elif make == "file":
        target.write_text("x")
    result = subprocess.run(
        [console_script("decoderlab-report"), str(target)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert str(target) in result.stderr
    assert not (target / "report.md").exists()

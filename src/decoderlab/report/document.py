"""The report's text: the ranked table (Markdown and CSV), the budget and the findings."""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from omegaconf import OmegaConf

from decoderlab.report.stats import (
    CONFIDENCE,
    PARAMS,
    SECONDS_PER_EPOCH,
    DecoderSummary,
    Estimate,
)
from decoderlab.report.sweep import Job

# below this, a value is rounding noise (e.g. FFCR of a block with no checkerboard)
TINY = 1e-12


def format_estimate(estimate: Estimate | None) -> str:
    """``mean ± half-width``, rounded to the half-width's second significant digit."""
    if estimate is None or estimate.n == 0:
        return "—"
    mean, half = estimate.mean, estimate.half_width
    if abs(mean) < TINY and not half >= TINY:
        return "0"
    if math.isnan(half) or half == 0:
        return f"{mean:.4g}"
    if 0 < abs(mean) < 1e-3 or abs(mean) >= 1e5:
        return f"{mean:.2e} ± {half:.1e}"
    decimals = max(0, 1 - math.floor(math.log10(half)))
    return f"{mean:.{decimals}f} ± {half:.{decimals}f}"


def markdown_table(rows: Sequence[DecoderSummary], metrics: Sequence[str]) -> str:
    """Ranked table, one row per decoder: seeds that succeeded, then every metric."""
    header = ["rank", "decoder", "seeds ok", *metrics]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for rank, row in enumerate(rows, 1):
        cells = [str(rank), f"`{row.decoder}`", f"{len(row.ok_jobs)}/{len(row.jobs)}"]
        for metric in metrics:
            estimate = row.get(metric)
            if metric == PARAMS and estimate is not None and not estimate.half_width > 0:
                cells.append(f"{int(estimate.mean):,}")
            else:
                cells.append(format_estimate(estimate))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_csv(
    path: Path,
    rows: Sequence[DecoderSummary],
    metrics: Sequence[str],
    extra: Mapping[str, Mapping[str, object]] | None = None,
) -> Path:
    """The table as CSV: ``{metric}_mean``, ``{metric}_ci95`` (half-width) and ``{metric}_n``,
    then the ``extra`` columns (column name -> row label -> value; empty where a row has none,
    e.g. ``pareto_params``)."""
    extra = extra or {}
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(
            ["rank", "decoder", "seeds_ok", "jobs"]
            + [f"{m}_{part}" for m in metrics for part in ("mean", "ci95", "n")]
            + list(extra)
        )
        for rank, row in enumerate(rows, 1):
            cells: list = [rank, row.decoder, len(row.ok_jobs), len(row.jobs)]
            for metric in metrics:
                e = row.get(metric)
                cells += [e.mean, e.half_width, e.n] if e else ["", "", 0]
            cells += [column.get(row.decoder, "") for column in extra.values()]
            writer.writerow(cells)
    return path


def _images(size: object, what: str) -> str:
    return f"all {what} images" if size is None else f"the first {int(size):,} {what} images"


def budget_sentence(jobs: Sequence[Job]) -> str:
    """The data subset and epochs the runs used, read from the first readable job config."""
    for job in jobs:
        cfg = job.config()
        if cfg is None:
            continue
        data, trainer = cfg.get("data", {}), cfg.get("trainer", {})
        try:
            sizes = [
                OmegaConf.select(data, k, default=None)
                for k in ("train_size", "val_size", "test_size")
            ]
            epochs = OmegaConf.select(trainer, "max_epochs", default=None)
            batch = OmegaConf.select(data, "batch_size", default=None)
        except Exception:  # interpolations that cannot resolve outside the job
            continue
        if not all(s is None or isinstance(s, int) for s in sizes):
            continue
        return (
            f"Budget: {epochs} epochs at batch {batch} on {_images(sizes[0], 'training')}, "
            f"validated on {_images(sizes[1], 'validation')} and tested on "
            f"{_images(sizes[2], 'test')} (MNIST; the same for every decoder)."
        )
    return "Budget: unknown (no readable job config)."


def _overlap_clause(best: DecoderSummary, others: Sequence[DecoderSummary], metric: str) -> str:
    overlapping, undefined = [], False
    for other in others:
        verdict = best.get(metric).overlaps(other.get(metric))
        undefined |= verdict is None
        if verdict:
            overlapping.append(f"`{other.decoder}`")
    if undefined:
        return "Some decoders have fewer than 2 successful seeds, so no CI comparison is made."
    if not overlapping:
        return (
            f"The 95% CI of `{best.decoder}` overlaps no other decoder's: the difference "
            "exceeds the seed-to-seed variation at this budget."
        )
    return (
        f"The 95% CI of `{best.decoder}` overlaps those of {', '.join(overlapping)}: with "
        "these seeds the data do not separate them on this metric."
    )


def _extreme_sentence(rows: Sequence[DecoderSummary], metric: str, label: str) -> str:
    measured = [r for r in rows if r.get(metric) is not None]
    if len(measured) < 2:
        return ""
    ranked = sorted(measured, key=lambda r: r.get(metric).mean, reverse=True)
    top, low = ranked[0], ranked[-1]
    sentence = (
        f"Most {label}: `{top.decoder}` ({format_estimate(top.get(metric))}); least: "
        f"`{low.decoder}` ({format_estimate(low.get(metric))}). "
    )
    return sentence + _overlap_clause(top, ranked[1:], metric)


def _smallest_period_metric(metrics: Sequence[str], prefix: str) -> str | None:
    candidates = [m for m in metrics if m.startswith(prefix) and m[len(prefix) :].isdigit()]
    return min(candidates, key=lambda m: int(m[len(prefix) :]), default=None)


def findings(rows: Sequence[DecoderSummary], metrics: Sequence[str], jobs: Sequence[Job]) -> str:
    """A paragraph of claims the table supports: best loss, CI overlap, checkerboard extremes."""
    parts = []
    ranked = [r for r in rows if r.get("test/loss") is not None]
    if ranked:
        best = ranked[0]
        parts.append(
            f"Lowest test loss: `{best.decoder}` "
            f"({format_estimate(best.get('test/loss'))}, n={len(best.ok_jobs)})."
        )
        if len(ranked) > 1:
            parts.append(_overlap_clause(best, ranked[1:], "test/loss"))
    for prefix, label in (
        ("test/cbe", "periodic checkerboard energy"),
        ("test/pace", "phase-affine checkerboard energy"),
    ):
        metric = _smallest_period_metric(metrics, prefix)
        if metric:
            parts.append(_extreme_sentence(rows, metric, f"{label} ({metric})"))
    zero_init = [
        r.decoder
        for r in rows
        if any(m.endswith("/init") and m.startswith("ffcr") for m in r.estimates)
        and all(
            abs(e.mean) < 1e-6
            for m, e in r.estimates.items()
            if m.startswith("ffcr") and m.endswith("/init")
        )
    ]
    if zero_init:
        parts.append(
            "Flat-field checkerboard ratio at init is 0 (below 1e-6) for "
            + ", ".join(f"`{d}`" for d in zero_init)
            + "."
        )
    failed = [j for j in jobs if not j.ok]
    if failed:
        parts.append(
            f"{len(failed)} of {len(jobs)} jobs failed or are incomplete and are left "
            "out of the statistics (listed below)."
        )
    return " ".join(p for p in parts if p)


def columns_note(metrics: Sequence[str]) -> str:
    pct = round(CONFIDENCE * 100)
    note = (
        f"Each cell: mean ± half-width of the {pct}% confidence interval over the seeds that "
        f"succeeded (Student t, n−1 degrees of freedom); `{PARAMS}` is exact. "
    )
    if SECONDS_PER_EPOCH in metrics:
        note += (
            f"`{SECONDS_PER_EPOCH}`: wall seconds per epoch (training and its validation), "
            "averaged per run. "
        )
    note += (
        "Test metrics on the test images; `cbe`/`prf`/`pace` per period s "
        "(0 is perfect); `ffcr{s}/init`, `/final`: flat-field checkerboard ratio before "
        "and after training."
    )
    return note

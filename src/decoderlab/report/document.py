"""The report's text: the ranked table (Markdown and CSV), the budget and the findings."""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from omegaconf import OmegaConf

from decoderlab.metrics.registry import FLAT_FIELD, INIT, TEST, at_stage
from decoderlab.metrics.registry import metric as declared
from decoderlab.report.stats import (
    CONFIDENCE,
    PARAMS,
    SECONDS_PER_EPOCH,
    DecoderSummary,
    Estimate,
)
from decoderlab.report.sweep import Job
from decoderlab.report.verdicts import verdict_sentence
from decoderlab.stats.paired import PairedVerdicts

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


def _label(name: str) -> str:
    """E.g. "lowest test loss", "highest test PSNR" (the registry's direction and label)."""
    info = declared(name)
    return f"{info.best_word()} {info.label}"


# the checkerboard families the findings name, at their smallest period
CHECKERBOARD_FAMILIES = ("cbe", "pace")


def _smallest_period_metric(metrics: Sequence[str], family: str) -> str | None:
    candidates = [m for m in at_stage(metrics, TEST) if declared(m).family == family]
    return min(candidates, key=lambda m: declared(m).period, default=None)


def findings(
    rows: Sequence[DecoderSummary],
    metrics: Sequence[str],
    jobs: Sequence[Job],
    primary: PairedVerdicts,
    checkerboard: Mapping[str, PairedVerdicts],
) -> str:
    """A paragraph of claims the paired verdicts support: the best decoder on the primary
    metric and which decoders are worse or not distinguishable from it; the same for the
    smallest-period CBE and PACE; FFCR at init; failures."""
    parts = [verdict_sentence(primary, _label(primary.metric))]
    for family in CHECKERBOARD_FAMILIES:
        name = _smallest_period_metric(metrics, family)
        if name and name in checkerboard:
            label = f"least {declared(name).quantity} (`{name}`)"
            parts.append(verdict_sentence(checkerboard[name], label))

    def at_init(row: DecoderSummary) -> list[Estimate]:
        names = [m for m in at_stage(row.estimates, FLAT_FIELD) if declared(m).when == INIT]
        return [row.estimates[m] for m in names]

    zero_init = [
        r.decoder for r in rows if at_init(r) and all(abs(e.mean) < 1e-6 for e in at_init(r))
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
            f"{len(failed)} of {len(jobs)} jobs failed, are incomplete or duplicates and are "
            "left out of the statistics (listed below)."
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

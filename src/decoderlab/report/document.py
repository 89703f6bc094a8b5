"""The report's text, rendered from the analyses' results: report.md (the budget, findings,
verdicts, race, ranked table, figures and the jobs left out) and the table as report.csv."""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from decoderlab.metrics.registry import FLAT_FIELD, INIT, TEST, at_stage
from decoderlab.metrics.registry import metric as declared
from decoderlab.report.analysis import Budget, Results
from decoderlab.report.figures import BUDGET, CRITICAL_DIFFERENCE, FOREST, DrawnFigures
from decoderlab.report.judgement_text import (
    across_tasks_section,
    budget_section,
    budget_words,
    recommendation_text,
)
from decoderlab.report.race import race_section
from decoderlab.report.stats import (
    CONFIDENCE,
    PARAMS,
    SECONDS_PER_EPOCH,
    DecoderSummary,
    Estimate,
)
from decoderlab.report.sweep import Job, Sweep, varying_overrides
from decoderlab.report.verdicts import (
    checkerboard_table,
    verdict_sentence,
    verdict_table,
    verdicts_note,
)
from decoderlab.stats.paired import PairedVerdicts

REPORT_MD = "report.md"
REPORT_CSV = "report.csv"
PAIRED_CSV = "paired.csv"

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


def write_csv(path: Path, results: Results) -> Path:
    """The table as CSV: ``{metric}_mean``, ``{metric}_ci95`` (half-width) and ``{metric}_n``,
    then the cost-quality front's columns (``pareto_params``, ``pareto_time``: 1 on the
    front, 0 off it, empty for a row on neither axis)."""
    rows, metrics, extra = results.rows, results.metrics, results.front.columns()
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


def _patches(size: object, what: str, side: int) -> str:
    if what == "training":
        count = "as many" if size is None else f"{int(size):,}"
        grid = " as the training images' grid holds" if size is None else ""
        return f"{count} random {side}x{side} training crops per epoch{grid}"
    return f"all fixed {what} patches" if size is None else f"{int(size):,} fixed {what} patches"


def budget_sentence(budget: Budget | None) -> str:
    """The data subset and epochs the runs used (``analysis.budget``), in a sentence that names
    the task and the images."""
    if budget is None:
        return "Budget: unknown (no readable job config)."
    side = budget.patch_size
    parts = [
        _patches(size, what, side) if side else _images(size, what)
        for size, what in (
            (budget.train_size, "training"),
            (budget.val_size, "validation"),
            (budget.test_size, "test"),
        )
    ]
    what = ", ".join(w for w in (budget.task and f"task {budget.task}", budget.source) if w)
    return (
        f"Budget: {budget.epochs} epoch{'s' if budget.epochs != 1 else ''} at batch "
        f"{budget.batch_size} on {parts[0]}, validated "
        f"on {parts[1]} and tested on {parts[2]} ({what + '; ' if what else ''}the same for "
        "every decoder)."
    )


BICUBIC_PSNR, BICUBIC_SSIM = "test/bicubic_psnr_y", "test/bicubic_ssim_y"


def bicubic_section(rows: Sequence[DecoderSummary]) -> str:
    """For super-resolution runs: the bicubic-interpolation floor (the same test patches, the
    same metrics: ``decoderlab.tasks.super_resolution.BicubicBaseline``) as a row beside each
    decoder's mean ``test/psnr_y`` and ``test/ssim_y``; empty for other tasks."""
    floor = next((r for r in rows if r.get(BICUBIC_PSNR) and r.get(BICUBIC_SSIM)), None)
    if floor is None:
        return ""
    lines = [
        "| | test PSNR_y (dB) | test SSIM_y |",
        "|---|---|---|",
        f"| **bicubic interpolation (the floor)** | {floor.get(BICUBIC_PSNR).mean:.3f} | "
        f"{floor.get(BICUBIC_SSIM).mean:.4f} |",
    ]
    above = []
    for row in rows:
        psnr, ssim = row.get("test/psnr_y"), row.get("test/ssim_y")
        if psnr and ssim:
            lines.append(f"| {row.decoder} | {psnr.mean:.3f} | {ssim.mean:.4f} |")
            above += [row.decoder] if psnr.mean > floor.get(BICUBIC_PSNR).mean else []
    beat = ", ".join(above) if above else "none"
    return (
        "## The bicubic floor\n\n"
        "The network's input upsampled back by bicubic interpolation, scored on the same test "
        "patches (luma Y of ITU-R BT.601, a border of the scale factor cropped; means over seeds "
        f"for the decoders). Decoders above the floor on mean PSNR_y: {beat}.\n\n"
        + "\n".join(lines)
        + "\n"
    )


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


def _problems_section(jobs: list[Job]) -> str:
    problems = [j for j in jobs if not j.ok]
    if not problems:
        return ""
    varying = varying_overrides(jobs)
    lines = [
        "## Failed, unreadable or incomplete jobs",
        "",
        "| job | swept overrides | problem |",
        "|---|---|---|",
    ]
    for job in problems:
        reason = job.reason[:300].replace("|", "\\|")
        swept = " ".join(varying[job.directory])
        lines.append(f"| `{job.directory.name}` | `{swept}` | {reason} |")
    return "\n".join(lines) + "\n"


def _foreign_section(foreign: list[Job]) -> str:
    if not foreign:
        return ""
    lines = [
        "## Left out: not decoderlab runs",
        "",
        "These run directories hold a metrics.json that decoderlab did not write; they are in "
        "no table, verdict or figure.",
        "",
        "| directory | why |",
        "|---|---|",
    ]
    for job in foreign:
        reason = job.reason[:300].replace("|", "\\|")
        lines.append(f"| `{job.directory.name}` | {reason} |")
    return "\n".join(lines) + "\n"


def _versions_sentence(sweep: Sweep) -> str:
    mixed = sweep.versions()
    if not mixed:
        return ""
    listed = "; ".join(f"{package} {', '.join(v)}" for package, v in mixed.items())
    return (
        f"**These runs were computed with different software versions** ({listed}; "
        "metrics.json `versions`): their numbers may not be comparable.\n"
    )


def _verdict_sections(results: Results, forest: Path | None) -> list[str]:
    primary, checkerboard, rows = results.primary, results.checkerboard, results.rows
    if primary.best is None:
        return []
    sections = [
        f"## Verdicts on `{primary.metric}`, paired by seed\n\n{verdict_table(primary)}\n\n"
        f"{verdicts_note(primary)} Every pair of decoders, on every metric below, is in "
        f"[{PAIRED_CSV}]({PAIRED_CSV}).\n"
    ]
    if forest:
        sections.append(f"![Paired differences to the best]({forest.name})\n")
    if any(v.best for v in checkerboard.values()):
        decoders = [r.decoder for r in rows if r.ok_jobs]
        sections.append(
            "## Checkerboard verdicts, paired by seed\n\n"
            f"{checkerboard_table(checkerboard, decoders)}\n\n"
            "Each decoder against the decoder with the least of each checkerboard metric "
            "(0 is perfect): ≈ not distinguishable from it, *worse* at Holm p < "
            f"{primary.alpha:g}, Holm over every pair on that metric.\n"
        )
    return sections


def report_markdown(sweep: Sweep, results: Results, drawn: DrawnFigures) -> str:
    """report.md: title, jobs and budget, mixed versions, findings, verdicts (with the forest
    plot ``drawn``), the race, the ranked table, the figure sections, the jobs that failed and
    the run directories left out."""
    jobs, rows, metrics = sweep.jobs, results.rows, results.metrics
    ok = sum(j.ok for j in jobs)
    findings_text = findings(rows, metrics, jobs, results.primary, results.checkerboard)
    if results.budget_check is not None:
        findings_text += " " + budget_words(results.budget_check)
    if results.recommendation is not None:
        findings_text += "\n\n" + recommendation_text(
            results.recommendation, results.primary, results.budget_check
        )
    sections = [
        f"# Decoder comparison: `{sweep.directory.name}`\n",
        f"{ok} of {len(jobs)} jobs succeeded in `{sweep.directory}`. "
        f"{budget_sentence(results.budget)}\n",
        _versions_sentence(sweep),
        f"## Findings\n\n{findings_text}\n",
        *_verdict_sections(results, drawn.paths.get(FOREST)),
        budget_section(results.budget_check, drawn.paths.get(BUDGET)),
        across_tasks_section(
            results.across_tasks, results.options.metric, drawn.paths.get(CRITICAL_DIFFERENCE)
        ),
        race_section(sweep.race) if sweep.race else "",
        bicubic_section(rows),
        f"## Results, ranked by test loss\n\n{markdown_table(rows, metrics)}\n\n"
        f"{columns_note(metrics)} Also in [{REPORT_CSV}]({REPORT_CSV}).\n",
        *drawn.sections(),
        _problems_section(jobs),
        _foreign_section(sweep.foreign),
    ]
    return "\n".join(s for s in sections if s)

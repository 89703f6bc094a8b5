"""The judgement in words: the budget check's section, the recommendation that ends the
findings and the ranks across tasks (``judgement`` computes them; this only renders)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from decoderlab.stats.across_tasks import AcrossTasks
from decoderlab.stats.budget import BudgetCheck
from decoderlab.stats.paired import BEST, PairedVerdicts
from decoderlab.stats.recommendation import Recommendation


def _names(decoders: Sequence[str]) -> str:
    names = [f"`{d}`" for d in decoders]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _p(value: float) -> str:
    return "< 0.0001" if value < 1e-4 else f"= {value:.2g}"


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def _last(epochs: int) -> str:
    return "the last epoch" if epochs == 1 else f"the last {epochs} epochs"


def budget_words(check: BudgetCheck) -> str:
    """The budget check in plain words: whether the ranking and the verdicts were still
    moving, which verdicts are at risk, who was still improving, and what budget to try."""
    if check.latest is None:
        return (
            f"The runs trained for {check.epochs} epoch: there is no earlier epoch to check the "
            "ranking against, so nothing says whether it was still moving."
        )
    latest, epochs = check.latest, check.epochs
    improving = check.still_improving
    gains = [check.improvement[d] for d in improving]
    improving_text = (
        f"{_names(improving)} still improved by "
        + (
            _percent(gains[0])
            if len(gains) == 1
            else f"{_percent(min(gains))}–{_percent(max(gains))}"
        )
        + f" over {_last(check.last_quarter)}"
        if improving
        else ""
    )
    if not check.moving:
        text = (
            f"The ranking and the verdicts held from epoch {latest.epoch} to {epochs} "
            f"(Kendall's τ = {latest.tau:.2f})"
        )
        if improving:
            return (
                f"{text}, but {improving_text}: the decoders had not converged, and the "
                "verdicts describe this budget, not trained decoders."
            )
        return (
            f"{text}, and every decoder improved by less than {_percent(check.converged)} "
            f"over {_last(check.last_quarter)}: "
            "the verdicts are not an artefact of stopping early."
        )
    parts = ["**The verdicts are not settled at this budget.**"]
    if check.ranking_moving:
        parts.append(
            f"At epoch {latest.epoch} of {epochs}, Kendall's τ between the ranking then and the "
            f"final one is {latest.tau:.2f} (settled: ≥ {check.tau_settled:g})."
        )
    if check.verdicts_moving:
        changes = "; ".join(
            f"`{d}`: {latest.changed[d][0]} at epoch {latest.epoch}, {latest.changed[d][1]} "
            f"at epoch {epochs}"
            for d in check.verdicts_moving
        )
        parts.append(
            f"Verdicts at risk (they changed in the last {epochs - latest.epoch} epochs and "
            f"may change again): {changes}."
        )
    if improving:
        parts.append(f"{improving_text[0].upper()}{improving_text[1:]}.")
    parts.append(
        f"Try a budget of at least {2 * epochs} epochs (`trainer.max_epochs={2 * epochs}`) "
        "and check again."
    )
    return " ".join(parts)


def budget_section(check: BudgetCheck | None, figure: Path | None) -> str:
    """The budget check's section of report.md: a table per checked epoch, each decoder's
    improvement over the last quarter, the plain-words verdict and the figure."""
    if check is None:
        return ""
    lines = [
        "## Budget check: was the ranking still moving?",
        "",
        f"The ranking and the paired verdicts on `{check.metric}` (the validation images, "
        "recorded after every epoch) recomputed at earlier epochs and compared with the last "
        f"one, epoch {check.epochs}.",
        "",
    ]
    if check.checkpoints:
        lines += [
            f"| epoch | Kendall's τ with epoch {check.epochs} | best then | verdicts that "
            f"differ at epoch {check.epochs} |",
            "|---|---|---|---|",
        ]
        for c in check.checkpoints:
            changed = ", ".join(f"`{d}` ({a} → {b})" for d, (a, b) in sorted(c.changed.items()))
            lines.append(f"| {c.epoch} | {c.tau:.2f} | `{c.verdicts.best}` | {changed or '—'} |")
        lines.append(f"| {check.epochs} (last) | 1.00 | `{check.final.best}` | |")
        lines.append("")
    if check.epochs >= 2:
        lines += [
            f"| decoder | improvement over {_last(check.last_quarter)} |",
            "|---|---|",
            *(
                f"| `{d}` | {_percent(r)} |"
                for d, r in sorted(check.improvement.items(), key=lambda item: -item[1])
            ),
            "",
        ]
    lines += [budget_words(check), ""]
    if figure:
        lines += [
            f"![Paired difference to the final best, by epoch]({figure.name})",
            "",
            f"Each decoder's mean paired difference to `{check.final.best}` (the best at the "
            f"last epoch) on `{check.metric}`, in % of the best's mean at each epoch; dotted: "
            "the epochs checked. Lines that cross late are a ranking still moving.",
            "",
        ]
    return "\n".join(lines)


def recommendation_text(
    recommendation: Recommendation | None, primary: PairedVerdicts, check: BudgetCheck | None
) -> str:
    """The findings' last paragraph: the decision, its rule and its evidence, or why the data
    support none and what would (seeds for the inconclusive, a longer budget)."""
    if recommendation is None or primary.best is None:
        return ""
    fraction = f"±{100 * primary.margin_fraction:g}% of the best's mean, ±{primary.margin:.3g}"
    rule = (
        f"Rule: among the decoders equivalent to the best on `{primary.metric}` (within "
        f"{fraction}; two one-sided paired tests, Holm) and not worse than the best on any "
        "checkerboard verdict, the one with the fewest parameters, then the fewest seconds "
        "per epoch."
    )
    unsettled = check is not None and (check.moving or bool(check.still_improving))
    rows = {c.decoder: c for c in primary.comparisons}
    if recommendation.decoder is not None:
        c = rows[recommendation.decoder]
        if c.outcome == BEST:
            evidence = f"`{c.decoder}` has the best mean on `{primary.metric}`"
        else:
            evidence = (
                f"`{c.decoder}` is equivalent to the best, `{primary.best}` (difference "
                f"{c.difference:+.3g} [{c.low:.3g}, {c.high:.3g}], TOST Holm p "
                f"{_p(c.p_equivalence_holm)})"
            )
        left_out = [f"`{d}` ({why})" for d, why in recommendation.excluded.items()]
        text = (
            f"**Recommendation: `{recommendation.decoder}`.** {rule} Evidence: {evidence} and "
            "is not worse on any checkerboard verdict"
            + (f"; left out: {', '.join(left_out)}" if left_out else "")
            + "."
        )
        if unsettled:
            text += (
                " The budget check finds the verdicts still moving or the decoders still "
                "improving: this holds for this budget and may change with longer training."
            )
        return text
    if recommendation.pending:
        waits = []
        for d, seeds in recommendation.pending.items():
            c = rows[d]
            if seeds is not None:
                waits.append(f"showing `{d}` equivalent would take about {seeds} seeds")
            elif c.seeds_needed:
                waits.append(
                    f"`{d}` differs by more than the margin so far ({c.difference:+.3g}): "
                    f"showing it worse would take about {c.seeds_needed} seeds"
                )
            else:
                waits.append(f"`{d}` would take more than 1000 seeds either way")
        admitted = (
            f"`{recommendation.candidates[0]}` is the cheapest decoder the rule admits, but the "
            "cheaper "
            if recommendation.candidates
            else "No decoder is admitted yet: "
        )
        text = (
            f"**No recommendation yet.** {rule} {admitted}"
            f"{_names(list(recommendation.pending))} "
            f"{'is' if len(recommendation.pending) == 1 else 'are'} inconclusive on "
            f"`{primary.metric}`: {'; '.join(waits)}"
        )
        return text + ("; the budget check also asks for a longer budget." if unsettled else ".")
    reasons = ", ".join(f"`{d}` ({why})" for d, why in recommendation.excluded.items())
    return f"**No recommendation.** {rule} No decoder passes it: {reasons}."


def across_tasks_section(result: AcrossTasks | None, metric: str, figure: Path | None) -> str:
    """Ranks per task, Friedman's test and the critical-difference diagram (Demšar 2006)."""
    if result is None:
        return ""
    tasks = result.tasks
    lines = [
        "## Across tasks",
        "",
        f"Each decoder's rank on `{metric}` in each task (1 = best; its mean over seeds in that "
        f"task), and the mean rank over the {len(tasks)} tasks. Friedman's test: "
        f"χ² = {result.statistic:.3g}, p = {result.p:.2g}; Nemenyi's critical difference at "
        f"α = {result.alpha:g}: {result.critical_difference:.2f} ranks (Demšar 2006).",
        "",
        "| decoder | " + " | ".join(f"`{t}`" for t in tasks) + " | mean rank |",
        "|" + "---|" * (len(tasks) + 2),
    ]
    for decoder, mean in result.mean_ranks.items():
        ranks = " | ".join(f"{result.ranks[t][decoder]:g}" for t in tasks)
        lines.append(f"| `{decoder}` | {ranks} | {mean:.2f} |")
    lines.append("")
    if figure:
        lines += [
            f"![Critical-difference diagram]({figure.name})",
            "",
            "Decoders joined by a bar are not separated by Nemenyi's test; with few tasks the "
            "test has little power, so a bar is no evidence that they are as good.",
            "",
        ]
    if result.left_out:
        lines += [f"Not in every task, so not ranked: {_names(result.left_out)}.", ""]
    return "\n".join(lines)

"""The paired verdicts as text: Markdown tables, the findings' sentences and the CSV."""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from decoderlab.stats.paired import (
    BEST,
    EQUIVALENT,
    INCONCLUSIVE,
    NOT_DISTINGUISHABLE,
    PAIRED,
    UNTESTED,
    WELCH,
    WORSE,
    Comparison,
    PairedVerdicts,
)

NUMBER_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def _g(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.{digits}g}"


def _p(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "—"
    return "<0.0001" if value < 1e-4 else f"{value:.4f}" if value < 0.01 else f"{value:.3f}"


def _count(n: int, noun: str) -> str:
    word = NUMBER_WORDS[n] if n < len(NUMBER_WORDS) else str(n)
    return f"{word} {noun}{'' if n == 1 else 's'}"


def _names(comparisons: Sequence[Comparison]) -> str:
    names = [f"`{c.decoder}`" for c in comparisons]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _needed(c: Comparison) -> str:
    if c.outcome not in (NOT_DISTINGUISHABLE, INCONCLUSIVE) or c.test != PAIRED:
        return ""
    return str(c.seeds_needed) if c.seeds_needed else "> 1000"


def verdict_table(verdicts: PairedVerdicts) -> str:
    """Every decoder against the best on one metric, best first then by mean; with an
    equivalence margin the verdict is the outcome (best, equivalent, worse, inconclusive) and
    a last column gives the TOST's Holm-adjusted p."""
    margin = verdicts.margin is not None
    header = (
        "| decoder | verdict | test | pairs | better than the best in | difference to the best "
        "[95% CI] | p | Holm p | Wilcoxon p | seeds needed |"
    )
    columns = 10
    if margin:
        header += f" within ±{verdicts.margin:.3g}: TOST Holm p |"
        columns += 1
    lines = [header, "|" + "---|" * columns]
    for c in verdicts.comparisons:
        if c.verdict == BEST:
            lines.append(f"| `{c.decoder}` | **best** | | {c.n} seeds |" + " |" * (columns - 4))
            continue
        interval = f"{c.difference:+.3g} [{_g(c.low)}, {_g(c.high)}]"
        wins = f"{c.wins} of {c.n}" if c.test == PAIRED else "—"
        verdict = f"**{c.outcome}**" if c.outcome in (WORSE, EQUIVALENT) else c.outcome
        line = (
            f"| `{c.decoder}` | {verdict} | {c.test or '—'} | {c.n} | {wins} | {interval} | "
            f"{_p(c.p)} | {_p(c.p_holm)} | {_p(c.p_wilcoxon)} | {_needed(c)} |"
        )
        if margin:
            line += f" {_p(c.p_equivalence_holm)} |"
        lines.append(line)
    return "\n".join(lines)


def verdicts_note(verdicts: PairedVerdicts) -> str:
    """How to read ``verdict_table``."""
    pct = round(100 * (1 - verdicts.alpha))
    note = (
        f"Differences are decoder − best in `{verdicts.metric}`, paired by seed (same encoder "
        "weights, data order and images), with the 95% Student-t interval. p: paired t-test; "
        "Holm p: adjusted over every pair of decoders (the best is chosen from these data, so "
        f"the family is all pairs); a decoder is *worse* when Holm p < {verdicts.alpha:g} "
        f"(family-wise confidence {pct}%). Wilcoxon signed-rank p is shown with 6 or more "
        "pairs. *Seeds needed*: pairs a paired t-test would need to separate the two with 80% "
        "power at the observed mean and spread of the differences."
    )
    if verdicts.margin is not None:
        note += (
            f" *Equivalent*: shown within ±{verdicts.margin:.3g} of the best "
            f"({100 * verdicts.margin_fraction:g}% of its mean) by two one-sided paired t-tests "
            "(Schuirmann's TOST), Holm-adjusted in the same family as the tests above; it wins "
            "over *worse* (a difference too small to matter). *Inconclusive*: neither shown "
            "worse nor shown equivalent: not distinguishable is not as good."
        )
    if verdicts.uses_welch:
        welch = [c for c in verdicts.comparisons if c.test == WELCH]
        note += (
            f" {_names(welch)} share fewer than 2 seeds with the best, so "
            f"{'it is' if len(welch) == 1 else 'they are'} compared unpaired (Welch's t-test)."
        )
    return note


def checkerboard_table(verdicts: Mapping[str, PairedVerdicts], decoders: Sequence[str]) -> str:
    """One row per decoder, one column per checkerboard metric: best, ≈ (not distinguishable
    from the best) or worse, with the Holm-adjusted p."""
    metrics = [m for m, v in verdicts.items() if v.best is not None]
    lines = ["| decoder | " + " | ".join(metrics) + " |", "|" + "---|" * (len(metrics) + 1)]
    for decoder in decoders:
        cells = []
        for metric in metrics:
            row = {c.decoder: c for c in verdicts[metric].comparisons}.get(decoder)
            if row is None:
                cells.append("—")
            elif row.verdict == BEST:
                cells.append("**best**")
            elif row.verdict == WORSE:
                cells.append(f"worse (p {_p(row.p_holm)})")
            elif row.verdict == UNTESTED:
                cells.append("not tested")
            else:
                cells.append(f"≈ (p {_p(row.p_holm)})")
        lines.append(f"| `{decoder}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def verdict_sentence(verdicts: PairedVerdicts, label: str) -> str:
    """The verdicts on one metric in plain words, e.g. "`a` has the lowest test loss; `b` is
    worse (Holm p = 0.003, worse in 5 of 5 seeds); the other two are not distinguishable
    from it with 5 seeds (separating them would take about 12 seeds)." With an equivalence
    margin, decoders shown within it are *equivalent*, and those neither shown worse nor
    equivalent are *inconclusive*."""
    if verdicts.best is None:
        return ""
    rows = verdicts.comparisons[1:]
    head = f"`{verdicts.best}` has the {label}"
    if not rows:
        return head + "."
    margin = verdicts.margin is not None
    worse = [c for c in rows if c.outcome == WORSE]
    close = verdicts.inconclusive if margin else verdicts.close
    equivalent = verdicts.equivalent
    untested = [c for c in rows if c.verdict == UNTESTED]
    parts = [head]
    if worse:
        details = "; ".join(
            (f"`{c.decoder}` " if len(worse) > 1 else "")
            + f"Holm p = {_p(c.p_holm)}"
            + (f", worse in {c.n - c.wins} of {c.n} seeds" if c.test == PAIRED else ", Welch")
            for c in worse
        )
        verb = "is" if len(worse) == 1 else "are"
        parts.append(f"{_names(worse)} {verb} worse ({details})")
    if equivalent:
        details = ", ".join(
            (f"`{c.decoder}` " if len(equivalent) > 1 else "")
            + f"TOST Holm p = {_p(c.p_equivalence_holm)}"
            for c in equivalent
        )
        verb = "is" if len(equivalent) == 1 else "are"
        parts.append(
            f"{_names(equivalent)} {verb} equivalent to it within ±{verdicts.margin:.3g} "
            f"({100 * verdicts.margin_fraction:g}% of its mean; {details})"
        )
    if close:
        seeds = sorted({c.n for c in close})
        with_seeds = f"{'–'.join(map(str, (seeds[0], seeds[-1]) if len(seeds) > 1 else seeds))}"
        who = _names(close) if len(close) <= 3 else f"the other {_count(len(close), 'decoder')}"
        verb = "is" if len(close) == 1 else "are"
        state = "inconclusive" if margin else "not distinguishable from it"
        clause = f"{who} {verb} {state} with {with_seeds} seeds"
        if margin:
            clause += ", neither shown worse nor within the margin"
        clause += _seeds_needed_clause([c for c in close if c.test == PAIRED])
        parts.append(clause)
    if untested:
        parts.append(f"{_names(untested)} could not be tested (fewer than 2 seeds)")
    return "; ".join(parts) + "."


def _seeds_needed_clause(close: Sequence[Comparison]) -> str:
    """E.g. " (separating them would take about 45 seeds for `b` and more than 1000 seeds for
    `c`)", each decoder named when there are at most three, else the range."""
    if not close:
        return ""

    def amount(c: Comparison) -> str:
        return f"about {c.seeds_needed}" if c.seeds_needed else "more than 1000"

    if len(close) <= 3:
        items = [f"{amount(c)} seeds for `{c.decoder}`" for c in close]
        listed = items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
        return f" (separating {'it' if len(close) == 1 else 'them'} would take {listed})"
    finite = sorted(c.seeds_needed for c in close if c.seeds_needed)
    beyond = len(close) - len(finite)
    text = f"about {finite[0]}–{finite[-1]} seeds" if finite else ""
    if beyond:
        text += (", " if text else "") + f"more than 1000 for {_count(beyond, 'decoder')}"
    return f" (separating them would take {text})"


CSV_COLUMNS = (
    "metric",
    "kind",
    "decoder",
    "against",
    "test",
    "n",
    "difference",
    "ci95_low",
    "ci95_high",
    "p",
    "p_holm",
    "p_wilcoxon",
    "wins",
    "verdict",
    "seeds_needed",
    "margin",
    "p_equivalence",
    "p_equivalence_holm",
    "outcome",
)


def write_paired_csv(path: Path, verdicts: Sequence[PairedVerdicts]) -> Path:
    """Per metric: each decoder against the best (``kind`` vs_best) and the full pairwise
    matrix (``kind`` pair: ``decoder`` − ``against``, Holm over every pair); with an
    equivalence margin, the vs_best rows add the TOST p-values and the outcome."""
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS, restval="")
        writer.writeheader()
        for v in verdicts:
            for c in v.comparisons:
                writer.writerow(
                    {
                        "metric": v.metric,
                        "kind": "vs_best",
                        "decoder": c.decoder,
                        "against": c.best,
                        "test": c.test or "",
                        "n": c.n,
                        "difference": c.difference,
                        "ci95_low": c.low,
                        "ci95_high": c.high,
                        "p": c.p,
                        "p_holm": c.p_holm,
                        "p_wilcoxon": "" if c.p_wilcoxon is None else c.p_wilcoxon,
                        "wins": c.wins,
                        "verdict": c.verdict,
                        "seeds_needed": c.seeds_needed or "",
                        "margin": "" if c.margin is None else c.margin,
                        "p_equivalence": c.p_equivalence,
                        "p_equivalence_holm": c.p_equivalence_holm,
                        "outcome": c.outcome,
                    }
                )
            for cell in v.pairwise:
                writer.writerow(
                    {
                        "metric": v.metric,
                        "kind": "pair",
                        "decoder": cell.a,
                        "against": cell.b,
                        "test": cell.test or "",
                        "n": cell.n,
                        "difference": cell.difference,
                        "p": cell.p,
                        "p_holm": cell.p_holm,
                    }
                )
    return path

"""How well a short budget's comparison agrees with a long reference's (``stats.budget_fidelity``).

Prints two markdown tables:

1. **Every epoch budget of the reference**, read off its per-epoch validation history
   (``by_epoch``): Kendall's τ with the reference's last epoch, the effect-size scale (short
   effects / long effects, least squares) and the per-decoder ratio range; the paired
   verdicts a sweep of that budget would give with the reference's seeds (decoders worse
   than the best, and equivalent to it within ``--margin``, Holm over all, as the report);
   and the training seconds one seed of every decoder costs at that budget (Σ over decoders
   of the mean seconds per epoch × epochs, on the machine the reference ran on).
2. **Each short sweep against the reference** on the primary test metric (``agreement``):
   τ, scale, ratio range, whether every ratio is within the factor, and the sweep's jobs.

Then each decoder's effect (difference to the reference's best, % of its mean) in every
sweep, and the reference's improvement over its last quarter of epochs (converged: < 1%).

    python benchmarks/budget_fidelity.py REFERENCE_SWEEP [SHORT_SWEEP ...] [--factor 1.5]
        [--decoders a,b,c] [--seeds 1,2,3]

``--decoders`` and ``--seeds`` keep only those decoders and seeds (a candidate default's).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from decoderlab.metrics.registry import PRIMARY_METRIC, is_declared
from decoderlab.metrics.registry import metric as declared
from decoderlab.report.judgement import validation_twin
from decoderlab.report.stats import SECONDS_PER_EPOCH, seed_values, summarise
from decoderlab.report.sweep import NoRunsError, load_sweep
from decoderlab.stats.budget import budget_check, finite_histories, values_at
from decoderlab.stats.budget_fidelity import Agreement, agreement, by_epoch
from decoderlab.stats.paired import EQUIVALENT, WORSE, compare_to_best


def _ratio_range(result: Agreement) -> str:
    ratios = list(result.ratios().values())
    return f"{min(ratios):.2f}–{max(ratios):.2f}" if ratios else "—"


def _load(directory: str, decoders: set[str] | None, seeds: set[int] | None):
    """The sweep's rows, kept to ``decoders`` and ``seeds``; ValueError naming any of them the
    sweep does not hold, with the ones it does."""
    ok = [j for j in load_sweep(directory).jobs if j.ok]
    for name, wanted, held in (
        ("decoders", decoders, {j.decoder for j in ok}),
        ("seeds", seeds, {j.seed for j in ok}),
    ):
        if wanted is not None and wanted - held:
            missing, present = sorted(wanted - held), ", ".join(map(str, sorted(held)))
            raise ValueError(
                f"{directory} has no successful run of {name} {missing}; it has {present}"
            )
    jobs = [
        j
        for j in ok
        if (decoders is None or j.decoder in decoders) and (seeds is None or j.seed in seeds)
    ]
    return summarise(jobs)[0]


def _verdicts(values, name: str, higher: bool, margin: float) -> str:
    outcomes = [c.outcome for c in compare_to_best(values, name, 0.05, higher, margin).comparisons]
    return f"{outcomes.count(WORSE)} / {outcomes.count(EQUIVALENT)}"


def epoch_table(rows, metric: str, factor: float, margin: float) -> list[str]:
    name = validation_twin(metric, {k for r in rows for j in r.ok_jobs for k in j.record.history})
    if name is None:
        raise SystemExit(f"the reference records no per-epoch history of {metric}'s twin")
    higher = declared(name).higher_is_better
    histories = {
        r.decoder: {j.seed: j.record.history[name] for j in r.ok_jobs if j.record.history.get(name)}
        for r in rows
    }
    seconds = sum(r.get(SECONDS_PER_EPOCH).mean for r in rows if r.get(SECONDS_PER_EPOCH))
    lines = [
        f"Every epoch budget of the reference on `{name}`, against its last epoch "
        f"({len(rows)} decoders, {max(len(h) for h in histories.values())} seeds):",
        "",
        "| epochs | Kendall's τ | p | effect scale | effect ratios | "
        f"within {factor:g}× | worse / equivalent (±{margin:.0%}) | "
        "training s per seed, all decoders |",
        "|---|---|---|---|---|---|---|---|",
    ]
    runs, _ = finite_histories(histories)
    for k, result in enumerate(by_epoch(histories, higher), start=1):
        values = values_at(runs, k)
        lines.append(
            f"| {k} | {result.tau:.2f} | {result.p:.2g} | {result.scale:.2f} | "
            f"{_ratio_range(result)} | {'yes' if result.within(factor) else 'no'} | "
            f"{_verdicts(values, name, higher, margin)} | {seconds * k:.0f} |"
        )
    check = budget_check(histories, name, higher)
    improvements = sorted(check.improvement.values())
    lines += [
        "",
        f"Improvement of `{name}` over the reference's last {check.last_quarter} epochs: "
        f"{improvements[0]:.1%}–{improvements[-1]:.1%} (converged: < 1%).",
    ]
    return lines


def sweep_table(reference, shorts, metric: str, factor: float) -> list[str]:
    higher = declared(metric).higher_is_better
    long = seed_values(reference, metric)
    results = []
    for label, rows in shorts:
        results.append((agreement(seed_values(rows, metric), long, higher, label), rows))
    lines = [
        f"Each sweep against the reference on `{metric}`:",
        "",
        f"| sweep | Kendall's τ | p | effect scale | effect ratios | within {factor:g}× "
        "| jobs of these decoders |",
        "|---|---|---|---|---|---|---|",
    ]
    for result, rows in results:
        jobs = sum(len(r.ok_jobs) for r in rows)
        lines.append(
            f"| {result.label} | {result.tau:.2f} | {result.p:.2g} | {result.scale:.2f} | "
            f"{_ratio_range(result)} | {'yes' if result.within(factor) else 'no'} | {jobs} |"
        )
    if not results:
        return lines
    best = results[0][0].best
    header = " | ".join(r.label for r, _ in results)
    lines += [
        "",
        f"Difference to `{best}` (the reference's best), % of its mean:",
        "",
        f"| decoder | {header} | reference |",
        "|---|" + "---|" * (len(results) + 1),
    ]
    decoders = sorted(results[0][0].effects, key=lambda d: results[0][0].effects[d][1])
    for d in decoders:
        cells = [f"{r.effects[d][0]:+.1%}" if d in r.effects else "—" for r, _ in results]
        lines.append(f"| `{d}` | {' | '.join(cells)} | {results[0][0].effects[d][1]:+.1%} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reference", help="the long reference sweep's directory")
    parser.add_argument("shorts", nargs="*", help="short sweeps to compare with it")
    parser.add_argument(
        "--metric",
        default=PRIMARY_METRIC,
        help="the sweeps' metric; the epoch table uses its validation twin (default: %(default)s)",
    )
    parser.add_argument(
        "--factor", type=float, default=1.5, help="effect ratio target (default: %(default)s)"
    )
    parser.add_argument(
        "--margin", type=float, default=0.05, help="equivalence margin (default: %(default)s)"
    )
    parser.add_argument(
        "--decoders", type=lambda v: set(v.split(",")), help="a,b,c (default: every decoder)"
    )
    parser.add_argument(
        "--seeds",
        type=lambda v: {int(s) for s in v.split(",")},
        help="1,2,3: the reference's seeds kept (default: every seed)",
    )
    args = parser.parse_args(argv)
    if not is_declared(args.metric):
        parser.error(f"--metric {args.metric}: not a metric decoderlab declares")
    try:
        reference = _load(args.reference, args.decoders, args.seeds)
        shorts = [(Path(s).name, _load(s, args.decoders, None)) for s in args.shorts]
        lines = epoch_table(reference, args.metric, args.factor, args.margin)
        if shorts:
            lines += ["", *sweep_table(reference, shorts, args.metric, args.factor)]
    except (NoRunsError, ValueError) as err:
        print(f"budget_fidelity: {err}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    np.seterr(invalid="ignore")
    sys.exit(main())

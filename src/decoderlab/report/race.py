"""The report's "Race" section, rendered from a racing sweep's ``race.json`` (written by
``hydra/sweeper=race``; schema ``decoderlab.records.RaceRecord``)."""

from __future__ import annotations

import math
from collections.abc import Mapping

from decoderlab.records import RaceCandidate, RaceRecord
from decoderlab.stats.racing import (
    ALL_FAILED,
    DROPPED,
    FAILED,
    MAX_JOBS,
    MAX_SEEDS,
    ONE_LEFT,
    SURVIVED,
    WINNER,
)


def _mean(values: Mapping[int, float]) -> float:
    finite = [v for v in values.values() if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else math.nan


def _result(name: str, candidate: RaceCandidate, best: str | None) -> str:
    status = candidate.status
    if status == WINNER:
        return "**winner**"
    if status == DROPPED:
        return (
            f"dropped in round {candidate.dropped_in_round} "
            f"(Holm p = {candidate.p_holm_at_drop:.3g}, "
            f"{candidate.difference_at_drop:+.4g} vs the best)"
        )
    if status == FAILED:
        return f"failed in round {candidate.dropped_in_round} (no seed gave a result)"
    if status == SURVIVED:
        return "survived, best mean" if name == best else "survived"
    return "racing (unfinished)"


def _order(item: tuple[str, RaceCandidate]) -> tuple:
    """Winner and survivors first (by mean), then the later drops, failures last."""
    _, c = item
    rank = {WINNER: 0, SURVIVED: 0, DROPPED: 1, FAILED: 2}.get(c.status, 0)
    mean = _mean(c.values)
    return (rank, -(c.dropped_in_round or 0), math.inf if math.isnan(mean) else mean)


def _stop_sentence(race: RaceRecord) -> str:
    knobs, candidates = race.knobs, race.candidates
    finished = [r for r in race.rounds if r.finished]
    survivors = [n for n, c in candidates.items() if c.status in (WINNER, SURVIVED)]
    others = len([n for n in survivors if n != race.best])
    rest = (
        f"the other survivor was not distinguishable from the best, `{race.best}`"
        if others == 1
        else f"the {others} other survivors were not distinguishable from the best, `{race.best}`"
    )
    after = f"The race stopped after round {len(finished)} ({race.jobs_run} jobs)"
    level = f"on {knobs.metric} at α = {knobs.alpha}"
    reason = race.stop_reason
    if reason == ONE_LEFT:
        winner = survivors[0] if survivors else None
        return f"{after}: one candidate was left, `{winner}`; every other was dropped or failed."
    if reason == MAX_SEEDS:
        return f"{after} at max_seeds = {knobs.max_seeds}: {rest}, {level}."
    if reason == MAX_JOBS:
        return (
            f"{after}: another round would have exceeded the job budget max_jobs = "
            f"{knobs.max_jobs}; {rest}, {level}."
        )
    if reason == ALL_FAILED:
        return f"{after}: every candidate failed."
    return (
        f"The race did not finish: round {len(race.rounds)} was running "
        f"({race.jobs_run} jobs recorded); the sweep was stopped or is still running."
    )


def race_section(race: RaceRecord) -> str:
    """The Markdown section ``## Race`` for a loaded ``race.json``: per candidate its decoder,
    seeds run (and failed), mean metric, and the round and Holm-adjusted p-value at which it
    was dropped, or winner / survived; then the knobs and the stop reason in a sentence."""
    knobs = race.knobs
    metric = knobs.metric
    lines = [
        f"| candidate | decoder | seeds run | failed seeds | mean {metric} | result |",
        "|---|---|---:|---:|---:|---|",
    ]
    for name, c in sorted(race.candidates.items(), key=_order):
        mean = _mean(c.values)
        lines.append(
            f"| `{name}` | {c.decoder or '–'} | {len(c.seeds_run)} | "
            f"{len(c.failed_seeds)} | {'–' if math.isnan(mean) else f'{mean:.4g}'} "
            f"| {_result(name, c, race.best)} |"
        )
    budget = "" if knobs.max_jobs is None else f" and {knobs.max_jobs} jobs"
    rounds = (
        f"{knobs.initial_seeds} seeds per candidate in one round{budget}"
        if knobs.max_seeds <= knobs.initial_seeds
        else f"{knobs.initial_seeds} seeds per candidate in round 1, then "
        f"{knobs.seeds_per_round} more per round for the survivors, up to {knobs.max_seeds} "
        f"seeds{budget}"
    )
    knob_sentence = (
        f"Racing sweeper (`hydra/sweeper=race`): {rounds}. After "
        f"each round, a survivor is dropped when the paired t-test against the best on "
        f"{metric} gives a Holm-adjusted p < {knobs.alpha} (Holm over every pair of "
        "survivors); every candidate ran the same seeds, in the order 1, 2, 3, ... A dropped "
        "candidate can still be *equivalent to the best* in the verdicts: a difference can be "
        "both significant and smaller than the equivalence margin."
    )
    table = "\n".join(lines)
    return f"## Race\n\n{knob_sentence}\n\n{table}\n\n{_stop_sentence(race)}\n"

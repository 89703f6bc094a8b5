"""Racing candidates over seeds: the rounds, decisions and stop rules of ``hydra/sweeper=race``,
apart from Hydra (``Race`` takes results and says which jobs run next).

A race (F-Race, Birattari et al. 2002; irace, López-Ibáñez et al. 2016) runs every candidate
for ``initial_seeds`` seeds, then after each round compares the survivors with the best one by
``decoderlab.stats.paired.compare_to_best`` (paired t-tests over shared seeds, Holm-adjusted over
every pair of survivors) and drops each survivor whose verdict is "worse than the best"; the
survivors get ``seeds_per_round`` more seeds. It stops when one candidate is left, when the
survivors have run ``max_seeds`` seeds, or when the next round would take the jobs run past
``max_jobs``. Each round's decisions keep the family-wise error rate at ``alpha``; over R
rounds a wrong drop has probability at most R x alpha (tests/test_race_rounds.py measures it).

Seeds: every candidate runs the same seeds, in the order 1, 2, ..., ``max_seeds``, so each
round's results pair up. A job that failed leaves its seed out for that candidate; a candidate
without any usable seed is dropped as failed. The race is deterministic: the same results give
the same rounds, which is how a resumed sweep finds its jobs again.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from itertools import accumulate

from decoderlab.records import (
    RaceCandidate,
    RaceDecision,
    RaceJob,
    RaceKnobs,
    RaceRecord,
    RaceRound,
)

# how a race ended (``Race.stop``)
ONE_LEFT = "one candidate left"
MAX_SEEDS = "max_seeds reached"
MAX_JOBS = "job budget reached"
ALL_FAILED = "every candidate failed"

# a candidate's status (``CandidateState.status``)
RACING, DROPPED, FAILED, WINNER, SURVIVED = "racing", "dropped", "failed", "winner", "survived"


class RaceSettingsError(ValueError):
    """A race knob has a value that is not allowed; the message names the knob and the allowed
    values (``knob=value: ...``)."""


@dataclass(frozen=True)
class RaceSettings(RaceKnobs):
    """The knobs of a race (``hydra.sweeper.<knob>`` of ``hydra/sweeper=race``), as race.json
    records them (``RaceKnobs``), with their check.

    ``initial_seeds``: seeds every candidate runs in round 1 (>= 2: a paired test needs 2);
    ``seeds_per_round``: seeds each survivor runs in every later round (>= 1);
    ``max_seeds``: seeds after which the survivors are not run further (>= ``initial_seeds``);
    ``alpha``: family-wise level of each round's Holm-adjusted tests, in (0, 1);
    ``metric``: a test or flat-field metric of metrics.json declared in
    ``decoderlab.metrics.registry`` (which says whether lower or higher is better);
    ``max_jobs``: the most jobs the race may run in all (None: no budget).
    """

    def check(self) -> None:
        """Raise RaceSettingsError for the first knob outside its allowed values."""

        def whole(value: object) -> bool:
            return isinstance(value, int) and not isinstance(value, bool)

        if not whole(self.initial_seeds) or self.initial_seeds < 2:
            raise RaceSettingsError(
                f"initial_seeds={self.initial_seeds}: must be an integer >= 2 (the paired test "
                "needs 2 seeds per candidate)"
            )
        if not whole(self.seeds_per_round) or self.seeds_per_round < 1:
            raise RaceSettingsError(
                f"seeds_per_round={self.seeds_per_round}: must be an integer >= 1"
            )
        if not whole(self.max_seeds) or self.max_seeds < self.initial_seeds:
            raise RaceSettingsError(
                f"max_seeds={self.max_seeds}: must be an integer >= initial_seeds "
                f"({self.initial_seeds})"
            )
        if isinstance(self.alpha, bool) or not (
            isinstance(self.alpha, int | float) and 0 < self.alpha < 1
        ):
            raise RaceSettingsError(f"alpha={self.alpha}: must be a number in (0, 1), e.g. 0.05")
        from decoderlab.metrics.registry import FLAT_FIELD, TEST, at_stage

        if not isinstance(self.metric, str) or not at_stage([self.metric], TEST, FLAT_FIELD):
            raise RaceSettingsError(
                f"metric={self.metric}: must be a test or flat-field metric of metrics.json "
                "declared in decoderlab.metrics.registry (e.g. test/loss, test/psnr, test/cbe2, "
                "ffcr2/final)"
            )
        if self.max_jobs is not None and (not whole(self.max_jobs) or self.max_jobs < 1):
            raise RaceSettingsError(
                f"max_jobs={self.max_jobs}: must be a positive integer, or null for no budget"
            )


@dataclass(frozen=True)
class Decision(RaceDecision):
    """A recorded decision (``decoderlab.records.RaceDecision``: dropped or failed, and why)
    taken after ``round``; race.json keeps it in its round, without the number."""

    round: int = field(kw_only=True)

    def describe(self, metric: str) -> str:
        """One line for a person, e.g. ``round 2: dropped model/decoder=x: worse than
        model/decoder=y on test/loss by +0.0123 over 4 seeds (Holm p = 0.003)``."""
        if self.action == FAILED:
            return (
                f"round {self.round}: dropped {self.candidate}: every seed failed ({self.reason})"
            )
        return (
            f"round {self.round}: dropped {self.candidate}: worse than {self.best} on {metric} "
            f"by {self.difference:+.4g} over {self.n} seeds (Holm p = {self.p_holm:.3g})"
        )


@dataclass
class CandidateState:
    """One candidate's part of the race: the seeds it ran, their values of the metric and the
    failed ones (seed -> reason), its status and, once it left, the decision."""

    label: str
    seeds_run: list[int] = field(default_factory=list)
    values: dict[int, float] = field(default_factory=dict)
    failed: dict[int, str] = field(default_factory=dict)
    status: str = RACING
    decision: Decision | None = None


@dataclass
class Round:
    """One round: its number, the seeds it ran, the candidates racing before it, its jobs in
    launch order (candidate, seed), the best candidate after it and its decisions."""

    number: int
    seeds: list[int]
    survivors_before: list[str]
    jobs: list[tuple[str, int]]
    best: str | None = None
    decisions: list[Decision] = field(default_factory=list)


class Race:
    """The race of ``candidates`` (distinct labels, launch order) under ``settings``.

    Use: ``while (jobs := race.next_round()) is not None: race.record(values, failures)``,
    where ``values`` maps each job (candidate, seed) that gave a finite metric value to it and
    ``failures`` maps every other job of the round to a reason. Raises RaceSettingsError for
    bad knobs, fewer than 2 candidates, or a first round larger than ``max_jobs``.
    """

    def __init__(self, candidates: Sequence[str], settings: RaceSettings) -> None:
        settings.check()
        if len(candidates) < 2:
            raise RaceSettingsError(
                f"candidates={list(candidates)}: a race needs 2 or more candidates; sweep a "
                "parameter other than seed, e.g. model/decoder=resize_conv,pixel_shuffle"
            )
        if len(set(candidates)) != len(candidates):
            raise RaceSettingsError(f"candidates={list(candidates)}: a candidate is repeated")
        first_round = len(candidates) * settings.initial_seeds
        if settings.max_jobs is not None and settings.max_jobs < first_round:
            raise RaceSettingsError(
                f"max_jobs={settings.max_jobs}: must be at least the first round's "
                f"{len(candidates)} candidates x {settings.initial_seeds} initial_seeds = "
                f"{first_round} jobs"
            )
        self.settings = settings
        self.candidates = {c: CandidateState(c) for c in candidates}
        self.rounds: list[Round] = []
        self.stop: str | None = None
        self._pending: Round | None = None

    @property
    def seeds(self) -> list[int]:
        """The seeds in the order the race runs them: 1, 2, ..., max_seeds."""
        return list(range(1, self.settings.max_seeds + 1))

    @property
    def survivors(self) -> list[str]:
        return [c for c, s in self.candidates.items() if s.status in (RACING, WINNER, SURVIVED)]

    @property
    def jobs_run(self) -> int:
        return sum(len(r.jobs) for r in self.rounds)

    @property
    def best(self) -> str | None:
        """The best candidate after the last round (lowest mean metric among the survivors)."""
        return self.rounds[-1].best if self.rounds else None

    def next_round(self) -> list[tuple[str, int]] | None:
        """The jobs (candidate, seed) of the next round, or None when the race is over (then
        ``stop`` says why and the survivors' status is winner or survived)."""
        if self._pending is not None:
            raise RuntimeError("record the results of the round before asking for the next one")
        if self.stop is not None:
            return None
        racing = self.survivors
        if not racing:
            return self._finish(ALL_FAILED)
        if len(racing) == 1:
            return self._finish(ONE_LEFT)
        done = len(self.candidates[racing[0]].seeds_run)
        if done >= self.settings.max_seeds:
            return self._finish(MAX_SEEDS)
        count = self.settings.seeds_per_round if self.rounds else self.settings.initial_seeds
        seeds = self.seeds[done : done + count]
        jobs = [(c, s) for c in racing for s in seeds]
        budget = self.settings.max_jobs
        if budget is not None and self.jobs_run + len(jobs) > budget:
            return self._finish(MAX_JOBS)
        self._pending = Round(len(self.rounds) + 1, seeds, racing, jobs)
        return jobs

    def _finish(self, reason: str) -> None:
        self.stop = reason
        racing = self.survivors
        for c in racing:
            self.candidates[c].status = WINNER if len(racing) == 1 else SURVIVED

    def record(
        self, values: Mapping[tuple[str, int], float], failures: Mapping[tuple[str, int], str]
    ) -> list[Decision]:
        """Take the results of the round ``next_round`` gave, decide, and return the decisions
        (failed candidates first, then the dropped ones, best first). Raises ValueError when
        the results do not cover exactly the round's jobs, or a value is not finite."""
        from decoderlab.stats.paired import WORSE, compare_to_best

        current = self._pending
        if current is None:
            raise RuntimeError("no round is running: call next_round() first")
        given = set(values) | set(failures)
        if given != set(current.jobs) or set(values) & set(failures):
            raise ValueError(
                f"round {current.number}: results must cover each of its {len(current.jobs)} "
                "jobs once, as a value or a failure"
            )
        bad = {job: v for job, v in values.items() if not math.isfinite(v)}
        if bad:
            raise ValueError(f"round {current.number}: values not finite: {bad}")
        for candidate, seed in current.jobs:
            state = self.candidates[candidate]
            state.seeds_run.append(seed)
            if (candidate, seed) in values:
                state.values[seed] = float(values[candidate, seed])
            else:
                state.failed[seed] = failures[candidate, seed]
        for candidate in current.survivors_before:
            state = self.candidates[candidate]
            if not state.values:
                reason = "; ".join(sorted(set(state.failed.values())))
                self._leave(state, Decision(candidate, FAILED, reason=reason, round=current.number))
        racing = self.survivors
        verdicts = compare_to_best(
            {c: self.candidates[c].values for c in racing},
            self.settings.metric,
            self.settings.alpha,
        )
        current.best = verdicts.best
        for comparison in verdicts.comparisons:
            if comparison.verdict == WORSE:
                self._leave(
                    self.candidates[comparison.decoder],
                    Decision(
                        comparison.decoder,
                        DROPPED,
                        best=verdicts.best,
                        p_holm=comparison.p_holm,
                        difference=comparison.difference,
                        n=comparison.n,
                        round=current.number,
                    ),
                )
        self.rounds.append(current)
        self._pending = None
        return list(current.decisions)

    def _leave(self, state: CandidateState, decision: Decision) -> None:
        state.status = FAILED if decision.action == FAILED else DROPPED
        state.decision = decision
        self._pending.decisions.append(decision)

    def state(self) -> RaceRecord:
        """The race as race.json records it (``RaceRecord``), less what only the sweeper knows
        (each candidate's ``overrides`` and ``decoder``): a round launched but not yet recorded
        is ``finished=False``; jobs are numbered in launch order across rounds."""
        rounds = [*self.rounds, *([self._pending] if self._pending else [])]
        first_jobs = accumulate((len(r.jobs) for r in rounds), initial=0)
        return RaceRecord(
            knobs=RaceKnobs(**asdict(self.settings)),
            seed_order=self.seeds,
            jobs_run=self.jobs_run,
            best=self.best,
            stop_reason=self.stop,
            rounds=[
                RaceRound(
                    round=r.number,
                    seeds=list(r.seeds),
                    survivors_before=list(r.survivors_before),
                    jobs=[RaceJob(first + i, c, s) for i, (c, s) in enumerate(r.jobs)],
                    finished=r is not self._pending,
                    best=r.best,
                    decisions=[_recorded(d) for d in r.decisions],
                )
                for r, first in zip(rounds, first_jobs, strict=False)
            ],
            candidates={
                c: RaceCandidate(
                    seeds_run=list(s.seeds_run),
                    values=dict(s.values),
                    failed_seeds=dict(s.failed),
                    status=s.status,
                    dropped_in_round=s.decision.round if s.decision else None,
                    p_holm_at_drop=s.decision.p_holm if s.decision else None,
                    difference_at_drop=s.decision.difference if s.decision else None,
                )
                for c, s in self.candidates.items()
            },
        )


def _recorded(decision: Decision) -> RaceDecision:
    fields = asdict(decision)
    del fields["round"]
    return RaceDecision(**fields)

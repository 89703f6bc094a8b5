"""The comparison table: per decoder, mean and 95% Student-t confidence interval over seeds."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from decoderlab.metrics.registry import (
    FLAT_FIELD,
    PRIMARY_METRIC,
    TEST,
    at_stage,
    column_order,
    metric,
)
from decoderlab.records import RunRecord
from decoderlab.report.sweep import Job, varying_overrides
from decoderlab.stats.intervals import t_interval

CONFIDENCE = 0.95
SECONDS_PER_EPOCH = "s/epoch"
PARAMS = "params"


@dataclass(frozen=True)
class Estimate:
    """Mean of ``n`` values and the half-width of its confidence interval (NaN when n < 2)."""

    mean: float
    half_width: float
    n: int

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width

    def overlaps(self, other: Estimate) -> bool | None:
        """Whether the two intervals share a point; None when either is undefined."""
        if math.isnan(self.half_width) or math.isnan(other.half_width):
            return None
        return self.low <= other.high and other.low <= self.high


def mean_ci(values: Sequence[float], confidence: float = CONFIDENCE) -> Estimate:
    """Mean ± t_{(1+confidence)/2, n-1} · s / sqrt(n), s the sample standard deviation
    (``decoderlab.stats.intervals.t_interval``: scipy's ``ttest_1samp``)."""
    x = np.asarray(values, dtype=float)
    if len(x) == 0:
        return Estimate(math.nan, math.nan, 0)
    mean = float(x.mean())
    low, high = t_interval(x, confidence)
    return Estimate(mean, (high - low) / 2, len(x))


def run_values(record: RunRecord) -> dict[str, float]:
    """The numbers one run contributes: params, every declared test and flat-field metric
    (``decoderlab.metrics.registry``) with a finite value, seconds per epoch."""
    values: dict[str, float] = {}
    if record.params is not None:
        values[PARAMS] = float(record.params)
    measured = {**record.test, **record.ffcr}
    for key in at_stage(measured, TEST, FLAT_FIELD):
        if measured[key] is not None and math.isfinite(measured[key]):
            values[key] = float(measured[key])
    epochs = [s for s in record.seconds_per_epoch if s is not None]
    if epochs:
        values[SECONDS_PER_EPOCH] = float(np.mean(epochs))
    return values


def _column_key(name: str) -> tuple:
    """Column order: params, the metrics in the registry's order, s/epoch."""
    if name == PARAMS:
        return (0, 0)
    if name == SECONDS_PER_EPOCH:
        return (2, 0)
    return (1, column_order(name))


@dataclass
class DecoderSummary:
    """One table row: a decoder (at one sweep point), its jobs, estimates over its seeds and,
    per metric, each successful seed's value (``{metric: {seed: value}}``)."""

    decoder: str
    jobs: list[Job] = field(default_factory=list)
    estimates: dict[str, Estimate] = field(default_factory=dict)
    per_seed: dict[str, dict[int, float]] = field(default_factory=dict)

    @property
    def ok_jobs(self) -> list[Job]:
        return [j for j in self.jobs if j.ok]

    def get(self, metric: str) -> Estimate | None:
        return self.estimates.get(metric)


SEED_AND_DECODER = ("seed", "model/decoder")


def row_labels(jobs: Sequence[Job]) -> dict[Path, str | None]:
    """Per job, the name of its table row: its decoder, plus whatever else the sweep varied
    besides seed and decoder (e.g. ``pixel_shuffle_icnr (model.optimizer.lr=0.003)``).

    A job that failed before naming its decoder takes the label of a job that differs from it
    only in the seed; None when there is none (it gets no row, only the failure list).
    """
    varying = varying_overrides(list(jobs))

    def point(job: Job) -> frozenset[str]:
        return frozenset(o for o in job.overrides if o.partition("=")[0] != "seed")

    labels: dict[Path, str | None] = {}
    for job in jobs:
        if job.decoder:
            extra = [
                o
                for o in varying[job.directory]
                if o.partition("=")[0].lstrip("+~") not in SEED_AND_DECODER
            ]
            labels[job.directory] = job.decoder + (f" ({' '.join(extra)})" if extra else "")
    by_point = {point(j): labels[j.directory] for j in jobs if j.directory in labels}
    for job in jobs:
        labels.setdefault(job.directory, by_point.get(point(job)))
    return labels


def summarise(jobs: Sequence[Job]) -> tuple[list[DecoderSummary], list[str]]:
    """Rows ranked by mean test loss (rows without a successful run last), and the columns."""
    labels = row_labels(jobs)
    rows: dict[str, DecoderSummary] = {}
    for job in jobs:
        if labels[job.directory] is not None:
            rows.setdefault(labels[job.directory], DecoderSummary(labels[job.directory]))
            rows[labels[job.directory]].jobs.append(job)
    values = {label: [run_values(j.record) for j in row.ok_jobs] for label, row in rows.items()}
    metrics = sorted({k for runs in values.values() for r in runs for k in r}, key=_column_key)
    for label, runs in values.items():
        row = rows[label]
        row.estimates = {
            m: mean_ci([r[m] for r in runs if m in r]) for m in metrics if any(m in r for r in runs)
        }
        for job, run in zip(row.ok_jobs, runs, strict=True):
            if job.seed is not None:
                for m, value in run.items():
                    row.per_seed.setdefault(m, {})[job.seed] = value

    def rank(row: DecoderSummary) -> tuple:
        loss = row.get(PRIMARY_METRIC)
        return (loss is None, loss.mean if loss else 0.0, row.decoder)

    return sorted(rows.values(), key=rank), metrics


def seed_values(rows: Sequence[DecoderSummary], metric: str) -> dict[str, dict[int, float]]:
    """Per row, ``{seed: value of metric}`` over its successful jobs (``summarise`` read them
    once), for the paired analysis; rows without the metric are left out."""
    return {row.decoder: dict(row.per_seed[metric]) for row in rows if row.per_seed.get(metric)}


def checkerboard_metrics(metrics: Sequence[str]) -> list[str]:
    """The checkerboard metrics among ``metrics`` that the paired analysis compares, as the
    registry marks them: CBE and PACE on the test images and FFCR after training, at every
    period measured. PRF is left out: a share of the error, it falls when the broadband error
    grows, so it is read beside CBE, never judged alone."""
    return [m for m in at_stage(metrics, TEST, FLAT_FIELD) if metric(m).checkerboard_verdict]

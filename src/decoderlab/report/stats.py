"""The comparison table: per decoder, mean and 95% Student-t confidence interval over seeds."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from decoderlab.report.sweep import Job

CONFIDENCE = 0.95
SECONDS_PER_EPOCH = "s/epoch"
PARAMS = "params"
LEADING_TEST_METRICS = ("test/loss", "test/mse", "test/psnr", "test/ssim")


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
    """Mean ± t_{(1+confidence)/2, n-1} · s / sqrt(n), s the sample standard deviation."""
    x = np.asarray(values, dtype=float)
    n = len(x)
    if n == 0:
        return Estimate(math.nan, math.nan, 0)
    mean = float(x.mean())
    if n < 2:
        return Estimate(mean, math.nan, 1)
    t = float(stats.t.ppf((1 + confidence) / 2, df=n - 1))
    return Estimate(mean, t * float(x.std(ddof=1)) / math.sqrt(n), n)


def run_values(record: dict) -> dict[str, float]:
    """The numbers one run contributes: params, every test/* metric, FFCR, seconds per epoch."""
    values: dict[str, float] = {}
    if isinstance(record.get(PARAMS), int | float):
        values[PARAMS] = float(record[PARAMS])
    for group in ("test", "ffcr"):
        for key, value in (record.get(group) or {}).items():
            if isinstance(value, int | float) and math.isfinite(value):
                values[key] = float(value)
    epochs = [s for s in record.get("seconds_per_epoch") or [] if isinstance(s, int | float)]
    if epochs:
        values[SECONDS_PER_EPOCH] = float(np.mean(epochs))
    return values


def _metric_key(name: str) -> tuple:
    """Column order: params, loss/mse/psnr/ssim, other test/* (by period), FFCR, s/epoch."""
    if name == PARAMS:
        return (0,)
    if name in LEADING_TEST_METRICS:
        return (1, LEADING_TEST_METRICS.index(name))
    if name == SECONDS_PER_EPOCH:
        return (4,)
    match = re.fullmatch(r"([a-z/_]*?)(\d+)(/.*)?", name)
    stem, period, suffix = match.groups() if match else (name, "0", "")
    when = {"/init": 0, "/final": 1}.get(suffix or "", 2)
    return (3 if name.startswith("ffcr") else 2, stem, int(period), when, name)


@dataclass
class DecoderSummary:
    """One table row: a decoder's estimates over its successful seeds and its job counts."""

    decoder: str
    estimates: dict[str, Estimate] = field(default_factory=dict)
    seeds_ok: list[int] = field(default_factory=list)
    jobs_total: int = 0

    def get(self, metric: str) -> Estimate | None:
        return self.estimates.get(metric)


def _sweep_point(job: Job) -> frozenset[str]:
    """A job's overrides without its seed: jobs that share it differ only in the seed."""
    return frozenset(o for o in job.overrides if o.partition("=")[0] != "seed")


def decoder_label(job: Job, names: dict[frozenset[str], str]) -> str | None:
    """A job's decoder name; for a job that failed before naming its decoder, the name of a
    successful job at the same sweep point (None when there is none)."""
    return job.decoder or names.get(_sweep_point(job))


def summarise(jobs: Sequence[Job]) -> tuple[list[DecoderSummary], list[str]]:
    """Rows ranked by mean test loss (decoders without a successful run last), and columns.

    A job that failed before naming its decoder, at a sweep point no job completed, has no row;
    the report lists it with the other failures.
    """
    names = {_sweep_point(j): j.decoder for j in jobs if j.decoder}
    rows: dict[str, DecoderSummary] = {}
    per_decoder: dict[str, list[dict[str, float]]] = {}
    for job in jobs:
        label = decoder_label(job, names)
        if label is None:
            continue
        row = rows.setdefault(label, DecoderSummary(label))
        row.jobs_total += 1
        if job.ok:
            row.seeds_ok.append(job.seed)
            per_decoder.setdefault(label, []).append(run_values(job.record))
    metrics = sorted({k for runs in per_decoder.values() for r in runs for k in r}, key=_metric_key)
    for label, runs in per_decoder.items():
        rows[label].estimates = {
            m: mean_ci([r[m] for r in runs if m in r]) for m in metrics if any(m in r for r in runs)
        }

    def rank(row: DecoderSummary) -> tuple:
        loss = row.get("test/loss")
        return (loss is None, loss.mean if loss else 0.0, row.decoder)

    return sorted(rows.values(), key=rank), metrics

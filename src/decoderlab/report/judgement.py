"""The report's judgement of the verdicts: is the budget long enough (budget check), which
decoder to use (recommendation), and, when the sweep covers several tasks, the ranks across
them. Analyses of the loaded sweep, as in ``analysis``: each takes the sweep and the results so
far and returns the results with its part filled in; nothing is read from the directory."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
from omegaconf import OmegaConf

from decoderlab.metrics.registry import VAL, is_declared
from decoderlab.metrics.registry import metric as declared
from decoderlab.report.stats import PARAMS, SECONDS_PER_EPOCH
from decoderlab.report.sweep import Sweep
from decoderlab.stats.across_tasks import compare_across_tasks
from decoderlab.stats.budget import budget_check
from decoderlab.stats.recommendation import Cost, recommend

if TYPE_CHECKING:
    from decoderlab.report.analysis import Results


def validation_twin(name: str, recorded: set[str]) -> str | None:
    """The validation metric of the same family and period as ``name`` among the ``recorded``
    history keys (``test/loss`` -> ``val/loss``), by the registry's declarations."""
    info = declared(name)
    for key in sorted(recorded):
        if is_declared(key):
            other = declared(key)
            if (other.family, other.period, other.stage) == (info.family, info.period, VAL):
                return key
    return None


def budget_analysis(sweep: Sweep, results: Results) -> Results:
    """The budget check of the primary metric's validation twin, from every successful run's
    per-epoch history (``stats.budget.budget_check``), with the paired verdicts' ``alpha``
    and equivalence margin; None when fewer than 2 rows have that history."""
    primary = results.options.metric
    recorded = {k for r in results.rows for j in r.ok_jobs for k in j.record.history}
    name = validation_twin(primary, recorded)
    if name is None:
        return results
    histories = {
        row.decoder: {
            j.seed: j.record.history[name]
            for j in row.ok_jobs
            if j.seed is not None and j.record.history.get(name)
        }
        for row in results.rows
    }
    histories = {d: h for d, h in histories.items() if h}
    if len(histories) < 2:
        return results
    check = budget_check(
        histories,
        name,
        declared(name).higher_is_better,
        results.options.alpha,
        results.options.equivalence_margin,
    )
    return replace(results, budget_check=check)


def recommendation_analysis(sweep: Sweep, results: Results) -> Results:
    """The recommendation (``stats.recommendation.recommend``) from the primary and
    checkerboard verdicts, each row's parameters and mean seconds per epoch; None without
    equivalence tests."""
    primary = results.primary
    if primary is None or primary.best is None or primary.margin is None:
        return results
    costs = {}
    for row in results.rows:
        params, seconds = row.get(PARAMS), row.get(SECONDS_PER_EPOCH)
        costs[row.decoder] = Cost(
            params.mean if params else None, seconds.mean if seconds else None
        )
    return replace(results, recommendation=recommend(primary, results.checkerboard, costs))


def across_tasks_analysis(sweep: Sweep, results: Results) -> Results:
    """When the successful runs cover 2 or more tasks (config ``task.name``): each decoder's
    mean primary metric per task, ranked per task with Friedman's test and Nemenyi's
    critical difference (``stats.across_tasks``); None otherwise, or with fewer than 3
    decoders present in every task."""
    metric = results.options.metric
    per_cell: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for job in sweep.jobs:
        if not job.ok or job.config is None:
            continue
        task = OmegaConf.select(job.config, "task.name", default=None)
        value = job.record.test.get(metric)
        if task is not None and value is not None and job.decoder:
            per_cell[str(task)][job.decoder].append(float(value))
    if len(per_cell) < 2:
        return results
    means = {t: {d: float(np.mean(v)) for d, v in row.items()} for t, row in per_cell.items()}
    decoders_everywhere = set.intersection(*(set(row) for row in means.values()))
    if len(decoders_everywhere) < 3:
        return results
    ranked = compare_across_tasks(means, declared(metric).higher_is_better, results.options.alpha)
    return replace(results, across_tasks=ranked)

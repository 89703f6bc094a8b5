"""The report's analyses: functions of the loaded sweep that return results, nothing written.

``analyse(sweep, options)`` runs ``ANALYSES`` in order; each takes the sweep and the results
of the analyses before it and returns the results with its own part filled in. An analysis
added later (a new statistic for the report) is one more function in that list and one more
field of ``Results``; renderers (``document``, ``verdicts``, ``race``, ``figures``) take the
results and write files, and never go back to the directory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from omegaconf import OmegaConf

from decoderlab.metrics.registry import PRIMARY_METRIC
from decoderlab.report.judgement import (
    across_tasks_analysis,
    budget_analysis,
    recommendation_analysis,
)
from decoderlab.report.pareto import CostQualityFront, cost_quality_front
from decoderlab.report.stats import (
    PARAMS,
    SECONDS_PER_EPOCH,
    DecoderSummary,
    checkerboard_metrics,
    seed_values,
    summarise,
)
from decoderlab.report.sweep import Sweep
from decoderlab.stats.across_tasks import AcrossTasks
from decoderlab.stats.budget import BudgetCheck
from decoderlab.stats.equivalence import EQUIVALENCE_MARGIN
from decoderlab.stats.paired import ALPHA, PairedVerdicts, compare_to_best
from decoderlab.stats.recommendation import Recommendation

DEFAULT_REFERENCE = "resize_conv_nearest"


class UnknownMetricError(ValueError):
    """The metric asked for the paired verdicts is not one the sweep's runs recorded."""


class UnknownReferenceError(ValueError):
    """A requested reference decoder is not a row of the sweep's table."""


def choose_reference(rows: list[DecoderSummary], requested: str | None) -> str | None:
    """The spectrum's reference row: ``requested`` (UnknownReferenceError naming the rows if it
    is none of them), else DEFAULT_REFERENCE if it is a row, else None."""
    labels = [r.decoder for r in rows if r.ok_jobs]
    if requested is None:
        return DEFAULT_REFERENCE if DEFAULT_REFERENCE in labels else None
    if requested not in labels:
        raise UnknownReferenceError(
            f"reference decoder {requested!r} is not in this sweep; choose one of: "
            + ", ".join(labels)
        )
    return requested


@dataclass(frozen=True)
class Options:
    """What the user asked of the report: the primary ``metric`` of the paired verdicts, their
    family-wise level ``alpha``, the ``reference`` decoder of the spectra (None: default) and
    the ``equivalence_margin`` of the primary verdicts, a fraction of the best's mean (None:
    no equivalence tests, no recommendation)."""

    metric: str = PRIMARY_METRIC
    alpha: float = ALPHA
    reference: str | None = None
    equivalence_margin: float | None = EQUIVALENCE_MARGIN


@dataclass(frozen=True)
class Budget:
    """The data subset and epochs the runs used, from the first job config that gives them
    (sizes None: all images of the split)."""

    epochs: int | None
    batch_size: int | None
    train_size: int | None
    val_size: int | None
    test_size: int | None
    # the task (conf/task) and the images: MNIST, scikit-image's photographs or a folder; the
    # side of a patch when the data are patches of photographs (sizes then count patches)
    task: str | None = None
    source: str | None = None
    patch_size: int | None = None


@dataclass(frozen=True)
class Results:
    """Everything the report says, computed once: the table (``rows`` ranked, ``metrics`` its
    columns), the cost-quality ``front``, the spectra's ``reference``, the paired verdicts on
    the primary metric and on each checkerboard metric, and the ``budget``."""

    options: Options
    rows: list[DecoderSummary] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    front: CostQualityFront | None = None
    reference: str | None = None
    primary: PairedVerdicts | None = None
    checkerboard: dict[str, PairedVerdicts] = field(default_factory=dict)
    budget: Budget | None = None
    # the judgement (decoderlab.report.judgement): None where the sweep cannot support it
    budget_check: BudgetCheck | None = None
    recommendation: Recommendation | None = None
    across_tasks: AcrossTasks | None = None


def summary_table(sweep: Sweep, results: Results) -> Results:
    """Per decoder, mean and 95% interval of every metric over its seeds, ranked by the
    primary metric; UnknownMetricError when ``options.metric`` is not among them."""
    rows, metrics = summarise(sweep.jobs)
    metric = results.options.metric
    if metrics and metric not in metrics:
        raise UnknownMetricError(
            f"metric {metric!r} is not in this sweep's records; choose one of: "
            + ", ".join(m for m in metrics if m not in (PARAMS, SECONDS_PER_EPOCH))
        )
    return replace(results, rows=rows, metrics=metrics)


def cost_and_reference(sweep: Sweep, results: Results) -> Results:
    """The cost-quality front and the spectra's reference decoder (UnknownReferenceError when
    the one asked for is not a row)."""
    reference = choose_reference(results.rows, results.options.reference)
    return replace(results, front=cost_quality_front(results.rows), reference=reference)


def paired_verdicts(sweep: Sweep, results: Results) -> Results:
    """Every decoder against the best, paired by seed, on the primary metric and on each
    checkerboard metric the registry marks for verdicts."""
    alpha, metric = results.options.alpha, results.options.metric
    primary = compare_to_best(
        seed_values(results.rows, metric),
        metric,
        alpha,
        equivalence_margin=results.options.equivalence_margin,
    )
    checkerboard = {
        m: compare_to_best(seed_values(results.rows, m), m, alpha)
        for m in checkerboard_metrics(results.metrics)
    }
    return replace(results, primary=primary, checkerboard=checkerboard)


def data_source(target: str, data) -> str | None:
    """The images a data config serves, in words: MNIST, scikit-image's photographs, or the
    folder ``data.path``; None for another data module."""
    name = target.rpartition(".")[2]
    if name == "MNISTDataModule":
        return "MNIST"
    if name == "SkimagePhotographsDataModule":
        return "scikit-image's photographs"
    if name == "ImageFolderDataModule":
        return f"the images in {OmegaConf.select(data, 'path', default='?')}"
    return None


# metrics.json's data entry: the training, validation and test counts a run used
USED_KEYS = (
    ("train_patches_per_epoch", "train_images"),
    ("val_patches", "val_images"),
    ("test_patches", "test_images"),
)


def used_sizes(sweep: Sweep, caps: list[int | None]) -> list[int | None]:
    """Each cap replaced by the count the first successful run recorded (``data``): a cap may
    exceed what the images hold. None (all) stays None; so do caps no run recorded."""
    used = next((j.record.data for j in sweep.jobs if j.ok and j.record.data), {})
    return [
        cap if cap is None else next((used[k] for k in keys if k in used), cap)
        for keys, cap in zip(USED_KEYS, caps, strict=True)
    ]


def budget(sweep: Sweep, results: Results) -> Results:
    """The budget from the first job config that states it with whole numbers."""
    for job in sweep.jobs:
        if job.config is None:
            continue
        try:
            data = OmegaConf.select(job.config, "data", default={}) or {}
            sizes = [
                OmegaConf.select(data, k, default=None)
                for k in ("train_size", "val_size", "test_size")
            ]
            epochs = OmegaConf.select(job.config, "trainer.max_epochs", default=None)
            batch = OmegaConf.select(data, "batch_size", default=None)
            task = OmegaConf.select(job.config, "task.name", default=None)
            patch = OmegaConf.select(data, "patch_size", default=None)
            source = data_source(str(OmegaConf.select(data, "_target_", default="")), data)
        except Exception:  # interpolations that cannot resolve outside the job
            continue
        if all(s is None or isinstance(s, int) for s in sizes):
            sizes = used_sizes(sweep, sizes)
            return replace(results, budget=Budget(epochs, batch, *sizes, task, source, patch))
    return results


Analysis = Callable[[Sweep, Results], Results]
# in order: each may read what the analyses before it found
ANALYSES: list[Analysis] = [
    summary_table,
    cost_and_reference,
    paired_verdicts,
    budget,
    budget_analysis,
    recommendation_analysis,
    across_tasks_analysis,
]


def analyse(sweep: Sweep, options: Options) -> Results:
    """Run ``ANALYSES`` on ``sweep``; ValueError for ``alpha`` outside (0, 1), and the errors
    of each analysis (UnknownMetricError, UnknownReferenceError) before anything is written."""
    if not 0 < options.alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {options.alpha}")
    margin = options.equivalence_margin
    if margin is not None and not 0 < margin < 1:
        raise ValueError(f"equivalence margin must be a fraction in (0, 1), got {margin}")
    results = Results(options)
    for analysis in ANALYSES:
        results = analysis(sweep, results)
    return results

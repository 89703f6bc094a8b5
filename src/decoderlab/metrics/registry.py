"""The metrics a run records, declared once: name, stage, period, direction and label.

A metric family declares itself here (``FAMILIES``): its stages (``val`` and ``test``: the
validation and test images; ``flat_field``: the decoder alone on a constant input, before and
after training), its periods if it is periodic (the checkerboard metrics, one per lattice
period s = 2, 4, 8, ...: ``decoderlab.metrics.lattice_periods``), whether a higher value is
better, and its label. Where a torchmetrics class computes the metric, the direction is that
class's ``higher_is_better``. Every name a record holds (``test/loss``, ``test/cbe2``,
``ffcr4/final``) is built from these declarations, never parsed: ``metric(name)`` looks it up.
Paired verdicts, the race, the report's table, findings and figures take the direction, the
labels and the column order from here, so a new metric is judged the right way round once it
is declared. The checkerboard metrics are defined in ``docs/metrics.md``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from torchmetrics import MeanSquaredError, Metric
from torchmetrics.image import PeakSignalNoiseRatio

from decoderlab.metrics.epoch import CheckerboardScores
from decoderlab.metrics.ssim import StructuralSimilarity

VAL, TEST, FLAT_FIELD = "val", "test", "flat_field"
STAGES = (VAL, TEST, FLAT_FIELD)
INIT, FINAL = "init", "final"  # a flat-field measurement: before or after training
# lattice periods 2**k (lattice_periods stops at the image size): images up to 1024 pixels
PERIODS = tuple(2**k for k in range(1, 11))


class UnknownMetricError(KeyError):
    """A metric name that no family of the registry declares."""

    def __str__(self) -> str:
        return str(self.args[0])


def direction_of(computed_by: type[Metric]) -> bool:
    """A torchmetrics class's ``higher_is_better``; ValueError when the class leaves it None."""
    if computed_by.higher_is_better is None:
        raise ValueError(f"{computed_by.__name__}.higher_is_better is None: declare a direction")
    return bool(computed_by.higher_is_better)


@dataclass(frozen=True)
class MetricInfo:
    """One metric as a record names it: ``name`` (e.g. ``test/cbe2``), its ``family`` (``cbe``),
    ``stage`` (VAL, TEST or FLAT_FIELD), ``period`` (None unless periodic), ``when`` (INIT or
    FINAL for a flat-field metric, else None), ``higher_is_better``, ``label`` (words for a
    reader, e.g. "test periodic checkerboard energy, period 2"), ``quantity`` (its family's
    label, e.g. "periodic checkerboard energy") and whether the report's checkerboard verdicts
    judge it."""

    name: str
    family: str
    stage: str
    period: int | None
    when: str | None
    higher_is_better: bool
    label: str
    quantity: str
    checkerboard_verdict: bool = False

    def best_word(self) -> str:
        """``highest`` or ``lowest``: what the best value of this metric is."""
        return "highest" if self.higher_is_better else "lowest"


@dataclass(frozen=True)
class Family:
    """A metric family: ``key`` (``cbe``), ``label`` (words for one metric of it), the stages
    it is recorded at, ``higher_is_better``, its ``periods`` (empty: not periodic) and, for the
    checkerboard families the report's verdicts judge, ``checkerboard`` (judged on the test
    images, or after training for a flat-field family)."""

    key: str
    label: str
    stages: tuple[str, ...]
    higher_is_better: bool
    periods: tuple[int, ...] = ()
    checkerboard: bool = False

    def metrics(self) -> list[MetricInfo]:
        """Every metric of the family, stage by stage, period by period (init before final)."""
        found = []
        for stage in self.stages:
            for period in self.periods or (None,):
                for when in (INIT, FINAL) if stage == FLAT_FIELD else (None,):
                    found.append(self._metric(stage, period, when))
        return found

    def _metric(self, stage: str, period: int | None, when: str | None) -> MetricInfo:
        suffix = "" if period is None else str(period)
        if stage == FLAT_FIELD:
            name = f"{self.key}{suffix}/{when}"
            label = f"{self.label} {'before' if when == INIT else 'after'} training"
        else:
            name = f"{stage}/{self.key}{suffix}"
            label = f"{stage} {self.label}"
        if period is not None:
            label += f", period {period}"
        judged = self.checkerboard and (stage == TEST or when == FINAL)
        return MetricInfo(
            name, self.key, stage, period, when, self.higher_is_better, label, self.label, judged
        )


IMAGE_STAGES = (VAL, TEST)
# Declaration order is the report's column order.
FAMILIES = (
    Family("loss", "loss", IMAGE_STAGES, higher_is_better=False),  # the training loss's mean
    Family("mse", "MSE", IMAGE_STAGES, direction_of(MeanSquaredError)),
    Family("psnr", "PSNR", IMAGE_STAGES, direction_of(PeakSignalNoiseRatio)),
    Family("ssim", "SSIM", IMAGE_STAGES, direction_of(StructuralSimilarity)),
    Family("psnr_y", "PSNR on luma", IMAGE_STAGES, direction_of(PeakSignalNoiseRatio)),
    Family("ssim_y", "SSIM on luma", IMAGE_STAGES, direction_of(StructuralSimilarity)),
    # the bicubic floor of a super-resolution task (tasks.super_resolution.BicubicBaseline)
    Family("bicubic_psnr_y", "bicubic PSNR on luma", (TEST,), direction_of(PeakSignalNoiseRatio)),
    Family("bicubic_ssim_y", "bicubic SSIM on luma", (TEST,), direction_of(StructuralSimilarity)),
    Family(
        "cbe",
        "periodic checkerboard energy",
        IMAGE_STAGES,
        direction_of(CheckerboardScores),
        PERIODS,
        checkerboard=True,
    ),
    Family(
        "pace",
        "phase-affine checkerboard energy",
        IMAGE_STAGES,
        direction_of(CheckerboardScores),
        PERIODS,
        checkerboard=True,
    ),
    # a share of the error that falls when broadband error grows: read beside CBE, not judged
    Family(
        "prf",
        "periodic residual fraction",
        IMAGE_STAGES,
        direction_of(CheckerboardScores),
        PERIODS,
    ),
    # computed by a function (metrics.flat_field.field_periodic_ratio), 0 is perfect
    Family(
        "ffcr",
        "flat-field checkerboard ratio",
        (FLAT_FIELD,),
        higher_is_better=False,
        periods=PERIODS,
        checkerboard=True,
    ),
)

_REGISTRY: dict[str, MetricInfo] = {}
_ORDER: dict[str, int] = {}


def register(family: Family) -> None:
    """Declare ``family``'s metrics; ValueError when a name is declared already."""
    for info in family.metrics():
        if info.name in _REGISTRY:
            raise ValueError(f"metric {info.name!r} is declared twice")
        _ORDER[info.name] = len(_ORDER)
        _REGISTRY[info.name] = info


def unregister(family: Family) -> None:
    """Remove ``family``'s metrics (a test that declared one for itself)."""
    for info in family.metrics():
        _REGISTRY.pop(info.name, None)
        _ORDER.pop(info.name, None)


for _family in FAMILIES:
    register(_family)

# the report's and the race's default metric
PRIMARY_METRIC = "test/loss"


def metric(name: str) -> MetricInfo:
    """The declared metric ``name``; UnknownMetricError naming it otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownMetricError(
            f"metric {name!r} is not declared in decoderlab.metrics.registry (a family's "
            "name, stage and period, e.g. test/loss, test/cbe2, ffcr2/final)"
        ) from None


def is_declared(name: str) -> bool:
    return name in _REGISTRY


def at_stage(names: Iterable[str], *stages: str) -> list[str]:
    """The declared names among ``names`` recorded at one of ``stages``, in their order."""
    return [n for n in names if n in _REGISTRY and _REGISTRY[n].stage in stages]


def column_order(name: str) -> int:
    """A declared metric's place in the report's columns (declaration order)."""
    return _ORDER[name]

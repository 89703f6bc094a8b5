"""Image metrics: checkerboard metrics and SSIM, as functions and as torchmetrics classes."""

from decoderlab.metrics.checkerboard import (
    flat_field_ratio,
    flat_field_response,
    periodic_energy,
    periodic_fraction,
    phase_affine_energy,
    residual_spectrum,
)
from decoderlab.metrics.epoch import CheckerboardScores, ResidualSpectrum
from decoderlab.metrics.phases import lattice_periods
from decoderlab.metrics.ssim import StructuralSimilarity, structural_similarity

__all__ = [
    "CheckerboardScores",
    "ResidualSpectrum",
    "StructuralSimilarity",
    "flat_field_ratio",
    "flat_field_response",
    "lattice_periods",
    "periodic_energy",
    "periodic_fraction",
    "phase_affine_energy",
    "residual_spectrum",
    "structural_similarity",
]

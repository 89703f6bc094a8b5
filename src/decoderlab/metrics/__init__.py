"""Checkerboard metrics: the functional API and the torchmetrics classes that accumulate it."""

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

__all__ = [
    "CheckerboardScores",
    "ResidualSpectrum",
    "flat_field_ratio",
    "flat_field_response",
    "lattice_periods",
    "periodic_energy",
    "periodic_fraction",
    "phase_affine_energy",
    "residual_spectrum",
]

"""The s x s lattice phases the checkerboard metrics average over, and their checks.

Phase (a, b) of pixel (i, j) is ((i - offset[0]) mod s, (j - offset[1]) mod s). An offset only
renames the phases, so no metric value depends on it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from lightning_utilities.core.rank_zero import WarningCache

# emits each distinct warning message once per process (on global rank 0)
once = WarningCache()


def warn_once_if(flags: torch.Tensor, message: str) -> None:
    """RuntimeWarning ``message`` (once per process) if any of ``flags`` is set; syncs a device."""
    if bool(flags.any()):
        once.warn(message, category=RuntimeWarning)


def check_period(
    period: int, height: int | None = None, width: int | None = None, what: str = "image"
) -> None:
    """ValueError unless ``period`` is an integer >= 2 and, given a size, <= min(height, width)."""
    if not isinstance(period, int) or isinstance(period, bool) or period < 2:
        raise ValueError(f"checkerboard period must be an integer >= 2, got {period!r}")
    if height is not None and width is not None and period > min(height, width):
        raise ValueError(f"checkerboard period {period} is larger than the {what}")


def check_pair(recon: torch.Tensor, target: torch.Tensor, periods: Sequence[int]) -> None:
    """ValueError, with the shapes, unless recon and target are equal 4D shapes fitting periods."""
    shapes = f"recon {tuple(recon.shape)} and target {tuple(target.shape)}"
    if recon.ndim != 4 or target.ndim != 4:
        raise ValueError(f"checkerboard metrics need 4D (N, C, H, W) images; got {shapes}")
    if recon.shape != target.shape:
        raise ValueError(f"checkerboard metrics need equal shapes; got {shapes}")
    for period in periods:
        check_period(period, *target.shape[-2:], what=f"images ({shapes})")


def phase_indicator(
    height: int,
    width: int,
    periods: Sequence[int],
    offset: Sequence[int] = (0, 0),
    *,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """One-hot phase membership (H*W, sum of s*s), the periods' blocks side by side.

    Within the block of period s, column a*s + b marks the pixels of phase (a, b), so
    ``images.flatten(-2) @ phase_indicator(...)`` sums every phase of every period in one pass.
    """
    rows = torch.arange(height, device=device)[:, None] - offset[0]
    cols = torch.arange(width, device=device)[None, :] - offset[1]
    blocks = [F.one_hot(((rows % s) * s + cols % s).flatten(), s * s).to(dtype) for s in periods]
    return torch.cat(blocks, dim=1)


def split_phases(values: torch.Tensor, periods: Sequence[int]) -> tuple[torch.Tensor, ...]:
    """Split the last dimension (sum of s*s) into one (..., s*s) tensor per period."""
    return torch.split(values, [s * s for s in periods], dim=-1)


def lattice_periods(stages: int, height: int, width: int) -> tuple[int, ...]:
    """Periods of a decoder's upsampling lattice: 2**k for k = 1..stages, up to the image size.

    A decoder without 2x stages (``stages=0``) has no lattice; it still gets period 2 as a
    control, where a score reflects borders and content, not the architecture's checkerboard.
    """
    return tuple(2**k for k in range(1, max(stages, 1) + 1) if 2**k <= min(height, width))

"""FFCR, the flat-field checkerboard ratio: a decoder's own checkerboard, independent of data.

A constant input goes through the decoder alone; past the border effects a decoder without
checkerboard answers with a constant (per channel), and any s-periodic pattern left is the
architecture's own.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn

from decoderlab.metrics.phases import check_period, phase_indicator, warn_once_if

ZERO_FLAT_FIELD_WARNING = (
    "flat_field_ratio: the decoder's flat-field output is zero in a channel (mean(y^2) = 0), "
    "so FFCR is undefined there and comes back NaN"
)


def _check_in_shape(in_shape: Sequence[int]) -> tuple[int, int, int]:
    if len(in_shape) != 3 or any(int(d) < 1 for d in in_shape):
        raise ValueError(
            f"flat field in_shape must be (C, H, W) with positive sizes, got {tuple(in_shape)}"
        )
    return tuple(int(d) for d in in_shape)


def _flat_output(decoder: nn.Module, shape: Sequence[int], value: float) -> torch.Tensor:
    parameter = next(decoder.parameters(), None)
    device = parameter.device if parameter is not None else None
    return decoder(torch.full((1, *shape), value, dtype=torch.float64, device=device))[0]


def border_margin(inner: torch.Tensor, outer: torch.Tensor) -> int:
    """Smallest margin (pixels) past which ``inner`` (C, H, W) equals the centre of ``outer``.

    ``outer`` is the decoder's response to a larger flat input; where the two differ, the
    border of the smaller input reaches.
    """
    (h, w), (big_h, big_w) = inner.shape[-2:], outer.shape[-2:]
    if (big_h - h) % 2 or (big_w - w) % 2:
        raise ValueError(
            f"flat field: outputs {h}x{w} and {big_h}x{big_w} of nested flat inputs are not "
            "centred on each other, so the border effects cannot be located; pass margin="
        )
    top, left = (big_h - h) // 2, (big_w - w) // 2
    centre = outer[:, top : top + h, left : left + w]
    tolerance = 1e-9 * outer.abs().amax().clamp_min(torch.finfo(outer.dtype).tiny)
    differs = ((inner - centre).abs() > tolerance).any(0)
    rows = torch.arange(h, device=inner.device)
    cols = torch.arange(w, device=inner.device)
    depth = torch.minimum(
        torch.minimum(rows, h - 1 - rows)[:, None], torch.minimum(cols, w - 1 - cols)[None, :]
    )
    return int(depth[differs].max()) + 1 if bool(differs.any()) else 0


def flat_field_response(
    decoder: nn.Module, in_shape: Sequence[int], margin: int | None = None, value: float = 1.0
) -> tuple[torch.Tensor, int]:
    """The decoder's float64 output (C, H', W') for a constant input, border cropped; the margin.

    Runs a float64 copy of ``decoder`` in eval mode without gradients on a (1, *in_shape) input
    filled with ``value``. ``margin=None`` finds the border effects by comparing with the
    response to a flat input padded by half its size on every side, and crops just past them
    (exact when the border effects reach less than half-way in, else a ValueError).
    """
    channels, height, width = _check_in_shape(in_shape)
    probe = copy.deepcopy(decoder).double().eval()
    with torch.no_grad():
        response = _flat_output(probe, (channels, height, width), value)
        if margin is None:
            padded = (channels, height + 2 * -(-height // 2), width + 2 * -(-width // 2))
            margin = border_margin(response, _flat_output(probe, padded, value))
    h, w = response.shape[-2:]
    if margin < 0 or 2 * margin >= min(h, w):
        raise ValueError(
            f"flat field: a margin of {margin} px does not leave an interior of the {h}x{w} "
            f"output for a constant input of shape {tuple(in_shape)}; use a larger in_shape"
        )
    return response[:, margin : h - margin, margin : w - margin], margin


def field_periodic_ratio(field: torch.Tensor, period: int) -> float:
    """FFCR_s of a cropped flat-field response ``field`` (C, H, W).

    Per channel: mean over phases of (m_ab - mean m)^2, divided by mean(y^2); averaged over
    channels. 0 for a decoder without checkerboard; NaN (one-time warning) for an all-zero
    channel.
    """
    check_period(period, *field.shape[-2:], what=f"flat-field interior {tuple(field.shape)}")
    onehot = phase_indicator(*field.shape[-2:], [period], dtype=field.dtype, device=field.device)
    means = (field.flatten(1) @ onehot) / onehot.sum(0)
    periodic = (means - means.mean(-1, keepdim=True)).square().mean(-1)
    power = field.square().mean(dim=(-2, -1))
    dead = power <= torch.finfo(field.dtype).tiny
    warn_once_if(dead, ZERO_FLAT_FIELD_WARNING)
    ratio = torch.where(dead, torch.nan, periodic / torch.where(dead, 1.0, power))
    return float(ratio.mean())


def flat_field_ratio(
    decoder: nn.Module,
    in_shape: Sequence[int],
    period: int,
    margin: int | None = None,
    *,
    value: float = 1.0,
) -> float:
    """FFCR_s: the decoder's own s-periodic pattern for a constant input, relative to its power.

    ``in_shape`` is (C, H, W) of the decoder's input; choose it large enough that an interior
    of at least one period survives the border crop (see flat_field_response).
    """
    field, _ = flat_field_response(decoder, in_shape, margin, value)
    return field_periodic_ratio(field, period)

"""Weight initialisers: ICNR for sub-pixel convolution and Keras' defaults."""

from __future__ import annotations

import math

import torch
from torch import nn


@torch.no_grad()
def icnr_(conv: nn.Conv2d, scale: int = 2) -> nn.Conv2d:
    """ICNR (Aitken et al. 2017) for a conv feeding ``nn.PixelShuffle(scale)``.

    A kernel W0 of shape (C_out, C_in, k, k) is drawn with the conv's default
    initialiser and repeated ``scale**2`` times along the output channels with
    ``repeat_interleave``: PixelShuffle sends channel ``c * s**2 + i * s + j`` to
    output channel ``c`` at sub-pixel offset (i, j), so every offset of a channel
    gets the same kernel and the block starts as nearest-neighbour resize-conv.
    The bias is zeroed.
    """
    out_channels = conv.out_channels // scale**2
    if out_channels * scale**2 != conv.out_channels:
        raise ValueError(
            f"icnr_ needs out_channels divisible by scale**2={scale**2}, got {conv.out_channels}"
        )
    base = torch.empty(
        out_channels, *conv.weight.shape[1:], dtype=conv.weight.dtype, device=conv.weight.device
    )
    nn.init.kaiming_uniform_(base, a=math.sqrt(5))
    conv.weight.copy_(base.repeat_interleave(scale**2, dim=0))
    if conv.bias is not None:
        conv.bias.zero_()
    return conv


@torch.no_grad()
def keras_init_(module: nn.Module, kernel: str) -> nn.Module:
    """Keras initialisers on a conv's kernel, bias zero.

    ``kernel``: ``glorot_uniform`` (Keras' default), ``he_uniform`` or ``he_normal``
    (a normal truncated at 2 std, std = sqrt(2 / fan_in) / 0.8796). PyTorch's fan
    computation matches Keras' for Conv2D and Conv2DTranspose kernels.
    """
    weight = module.weight
    if kernel == "glorot_uniform":
        nn.init.xavier_uniform_(weight)
    elif kernel == "he_uniform":
        nn.init.kaiming_uniform_(weight, nonlinearity="relu")
    elif kernel == "he_normal":
        fan_in = nn.init._calculate_fan_in_and_fan_out(weight)[0]
        std = math.sqrt(2.0 / fan_in) / 0.87962566103423978
        nn.init.trunc_normal_(weight, std=std, a=-2 * std, b=2 * std)
    else:
        raise ValueError(
            f"unknown Keras initialiser {kernel!r}; allowed: glorot_uniform, he_uniform, he_normal"
        )
    if module.bias is not None:
        module.bias.zero_()
    return module

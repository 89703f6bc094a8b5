"""TensorFlow/Keras 'same' padding for any kernel size and stride."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def tf_same_pad_amounts(size: int, kernel_size: int, stride: int) -> tuple[int, int]:
    """(before, after) padding that TF's 'same' adds along one axis of length ``size``.

    Total pad = max((ceil(size / stride) - 1) * stride + kernel_size - size, 0); the odd
    pixel goes after (bottom/right), as TensorFlow does.
    """
    total = max((math.ceil(size / stride) - 1) * stride + kernel_size - size, 0)
    return total // 2, total - total // 2


def tf_same_pad(x: torch.Tensor, kernel_size: int, stride: int, value: float = 0.0) -> torch.Tensor:
    """Pad (N, C, H, W) so that a window of ``kernel_size``/``stride`` gives ceil(H/stride)."""
    top, bottom = tf_same_pad_amounts(x.shape[-2], kernel_size, stride)
    left, right = tf_same_pad_amounts(x.shape[-1], kernel_size, stride)
    if top == bottom == left == right == 0:
        return x
    return F.pad(x, (left, right, top, bottom), value=value)


class Conv2dSame(nn.Conv2d):
    """Conv2d with TF 'same' padding: (N, C_in, H, W) -> (N, C_out, ceil(H/s), ceil(W/s))."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        bias: bool = True,
    ) -> None:
        super().__init__(
            in_channels, out_channels, kernel_size, stride=stride, padding=0, bias=bias
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(tf_same_pad(x, self.kernel_size[0], self.stride[0]))


class MaxPool2dSame(nn.MaxPool2d):
    """MaxPool2d with TF 'same' padding (padded cells never win): H -> ceil(H/s)."""

    def __init__(self, kernel_size: int = 2, stride: int | None = None) -> None:
        super().__init__(kernel_size, stride=stride or kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(tf_same_pad(x, self.kernel_size, self.stride, value=-math.inf))

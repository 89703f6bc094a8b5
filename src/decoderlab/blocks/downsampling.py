"""Encoder downsampling blocks: (N, C_in, H, W) -> (N, C_out, H // 2, W // 2)."""

from __future__ import annotations

from torch import nn

from decoderlab.blocks.validation import check_choice

DOWN_KERNELS = (3, 5)


class ConvPoolDown(nn.Sequential):
    """'same' Conv2d + ReLU + MaxPool2d(2), the seed article's encoder stage."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3) -> None:
        check_choice("conv_pool", "kernel_size", kernel_size, DOWN_KERNELS)
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )


class StridedConvDown(nn.Sequential):
    """Stride-2 Conv2d + ReLU (learned downsampling)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3) -> None:
        check_choice("strided_conv", "kernel_size", kernel_size, DOWN_KERNELS)
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, stride=2, padding=kernel_size // 2),
            nn.ReLU(inplace=True),
        )

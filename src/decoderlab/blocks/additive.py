"""Bilinear additive upsampling (Wojna et al. 2019, IJCV, "The Devil is in the Decoder").

Bilinear x2 upsampling, then the sum of every ``n`` consecutive channels (a parameter-free
channel reduction by ``n``: out channel c = sum_{i < n} up(x)[c * n + i]), then a 'same'
convolution to C_out channels.
"""

from __future__ import annotations

import torch
from torch import nn

from decoderlab.blocks.determinism import relax_strict_determinism
from decoderlab.blocks.registry import register_decoder
from decoderlab.blocks.upsampling import RESIZE_KERNELS, UpsamplingBlock
from decoderlab.blocks.validation import check_choice

GROUP_SIZES = (1, 2, 4, 8)


class ChannelGroupSum(nn.Module):
    """(N, C, H, W) -> (N, C / n, H, W): the sum of each group of ``n`` consecutive channels."""

    def __init__(self, group_size: int) -> None:
        super().__init__()
        self.group_size = group_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        return x.reshape(n, c // self.group_size, self.group_size, h, w).sum(2)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}"


@register_decoder(
    knobs={"group_size": GROUP_SIZES, "kernel_size": RESIZE_KERNELS},
    variants={"bilinear_additive_n2": {"group_size": 2}},
    source="Wojna et al. 2019, IJCV ('The Devil is in the Decoder'), bilinear additive upsampling",
)
class BilinearAdditiveUp(UpsamplingBlock):
    """Bilinear x2 (align_corners=False), sum of ``group_size`` consecutive channels, Conv2d.

    The channel sum runs before the interpolation: both are linear and act on different axes,
    so the order does not change the result and the interpolation touches n times fewer
    channels. Raises ValueError unless ``in_channels`` is a multiple of ``group_size``.
    """

    family = "bilinear_additive"

    def __init__(
        self, in_channels: int, out_channels: int, group_size: int = 2, kernel_size: int = 3
    ) -> None:
        check_choice("bilinear_additive", "group_size", group_size, GROUP_SIZES)
        check_choice("bilinear_additive", "kernel_size", kernel_size, RESIZE_KERNELS)
        if in_channels % group_size:
            raise ValueError(
                f"bilinear_additive: in_channels={in_channels} is not a multiple of "
                f"group_size={group_size}; choose a group_size that divides it"
            )
        super().__init__(
            nn.Sequential(
                ChannelGroupSum(group_size),
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                nn.Conv2d(
                    in_channels // group_size, out_channels, kernel_size, padding=kernel_size // 2
                ),
            )
        )
        self.group_size = group_size

    @property
    def variant(self) -> str:
        return f"n{self.group_size}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        relax_strict_determinism(x.device, "bilinear_additive (bilinear upsampling)")
        return super().forward(x)

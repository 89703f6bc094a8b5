"""Factored transposed convolutions (Wojna et al. 2019, IJCV, "The Devil is in the Decoder").

A stride-2 k x k transposed convolution W (C_out, C_in, k, k) factored into cheaper parts:

- ``spatial`` (Wojna et al.'s decomposed transposed convolution): a k x 1 transposed
  convolution (stride 2 along H) to C_out channels, then a 1 x k one (stride 2 along W):
  W[o, i, y, x] = sum_m V[o, m, x] U[m, i, y]; k C_out (C_in + C_out) weights instead of
  k^2 C_in C_out.
- ``depthwise``: a depthwise k x k transposed convolution (one kernel per input channel),
  then a 1 x 1 convolution to C_out (depthwise-separable, as in MobileNets and Xception).
"""

from __future__ import annotations

from torch import nn

from decoderlab.blocks.registry import register_decoder
from decoderlab.blocks.upsampling import TRANSPOSED_KERNELS, TRANSPOSED_PADDING, UpsamplingBlock
from decoderlab.blocks.validation import check_choice

FACTORINGS = ("spatial", "depthwise")


def _factored(in_channels: int, out_channels: int, kernel_size: int, factoring: str) -> nn.Module:
    padding, output_padding = TRANSPOSED_PADDING[kernel_size]
    if factoring == "spatial":
        return nn.Sequential(
            nn.ConvTranspose2d(
                in_channels,
                out_channels,
                (kernel_size, 1),
                stride=(2, 1),
                padding=(padding, 0),
                output_padding=(output_padding, 0),
                bias=False,
            ),
            nn.ConvTranspose2d(
                out_channels,
                out_channels,
                (1, kernel_size),
                stride=(1, 2),
                padding=(0, padding),
                output_padding=(0, output_padding),
            ),
        )
    return nn.Sequential(
        nn.ConvTranspose2d(
            in_channels,
            in_channels,
            kernel_size,
            stride=2,
            padding=padding,
            output_padding=output_padding,
            groups=in_channels,
            bias=False,
        ),
        nn.Conv2d(in_channels, out_channels, 1),
    )


@register_decoder(
    knobs={"factoring": FACTORINGS, "kernel_size": TRANSPOSED_KERNELS},
    variants={"separable_transposed_conv_spatial_k3": {"factoring": "spatial", "kernel_size": 3}},
    source="Wojna et al. 2019, IJCV ('The Devil is in the Decoder'), decomposed transposed conv",
)
class SeparableTransposedConvUp(UpsamplingBlock):
    """A stride-2 transposed convolution factored ``spatial``-ly (k x 1 then 1 x k) or
    ``depthwise`` (depthwise k x k then 1 x 1); padding as TransposedConvUp's, so H -> 2H."""

    family = "separable_transposed_conv"

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        factoring: str = "spatial",
    ) -> None:
        check_choice("separable_transposed_conv", "factoring", factoring, FACTORINGS)
        check_choice("separable_transposed_conv", "kernel_size", kernel_size, TRANSPOSED_KERNELS)
        super().__init__(_factored(in_channels, out_channels, kernel_size, factoring))
        self.factoring, self.kernel_size = factoring, kernel_size

    @property
    def variant(self) -> str:
        return f"{self.factoring}_k{self.kernel_size}"

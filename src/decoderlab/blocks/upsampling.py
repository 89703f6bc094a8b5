"""Decoder upsampling blocks: (N, C_in, H, W) -> (N, C_out, 2H, 2W), exactly.

Each block is linear (no activation); the decoder stack adds the nonlinearity.
``name`` is the readable identifier used in run names, metrics.json and reports.
``smooth`` (order d) follows the block with the fixed smoothing H_d of
:mod:`decoderlab.blocks.smooth`; d = 1 is the 2x2 zero-order-hold blur (name suffix ``_blur``),
d >= 2 adds ``_smooth{d}``.
"""

from __future__ import annotations

import torch
from torch import nn

from decoderlab.blocks.determinism import relax_strict_determinism
from decoderlab.blocks.init import icnr_
from decoderlab.blocks.registry import register_decoder
from decoderlab.blocks.smooth import SMOOTH_ORDERS, FixedSmoothing
from decoderlab.blocks.validation import check_choice

RESIZE_MODES = ("nearest", "bilinear", "bicubic")
RESIZE_KERNELS = (1, 3, 5)
TRANSPOSED_KERNELS = (2, 3, 4)
PIXEL_SHUFFLE_INITS = ("default", "icnr")
PIXEL_SHUFFLE_KERNELS = (1, 3, 5)
SMOOTHING_SOURCE = (
    "smooth: Sugawara et al. 2019 (APSIPA TSIP); Kinoshita & Kiya 2020, arXiv 2002.02117"
)

# (padding, output_padding) that make ConvTranspose2d(k, stride=2) map H -> 2H.
TRANSPOSED_PADDING = {2: (0, 0), 3: (1, 1), 4: (1, 0)}


def smoothing_suffix(order: int) -> str:
    """The name suffix of a fixed smoothing of ``order``: '', '_blur' (d = 1) or '_smooth{d}'."""
    return {0: "", 1: "_blur"}.get(order, f"_smooth{order}")


class UpsamplingBlock(nn.Module):
    """Base: an ``upsample`` module, then the fixed smoothing of order ``smooth``."""

    family: str = ""

    def __init__(self, upsample: nn.Module, smooth: int = 0) -> None:
        super().__init__()
        check_choice(self.family or type(self).__name__, "smooth", smooth, SMOOTH_ORDERS)
        self.upsample = upsample
        self.smooth = FixedSmoothing(smooth)

    @property
    def variant(self) -> str:
        """The knob values that tell this block apart from others of its family."""
        raise NotImplementedError

    @property
    def name(self) -> str:
        return f"{self.family}_{self.variant}{smoothing_suffix(self.smooth.order)}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.smooth(self.upsample(x))


@register_decoder(
    knobs={"mode": RESIZE_MODES, "kernel_size": RESIZE_KERNELS, "smooth": SMOOTH_ORDERS},
    variants={
        "resize_conv_nearest": {"mode": "nearest"},
        "resize_conv_bilinear": {"mode": "bilinear"},
    },
    source="Odena et al. 2016, Distill ('Deconvolution and Checkerboard Artifacts')",
)
class ResizeConvUp(UpsamplingBlock):
    """nn.Upsample(scale 2, ``mode``) then a stride-1 'same' Conv2d ("resize-convolution")."""

    family = "resize_conv"

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        mode: str = "nearest",
        kernel_size: int = 3,
        smooth: int = 0,
    ) -> None:
        check_choice("resize_conv", "mode", mode, RESIZE_MODES)
        check_choice("resize_conv", "kernel_size", kernel_size, RESIZE_KERNELS)
        align = None if mode == "nearest" else False
        super().__init__(
            nn.Sequential(
                nn.Upsample(scale_factor=2, mode=mode, align_corners=align),
                nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2),
            ),
            smooth,
        )
        self.mode = mode

    @property
    def variant(self) -> str:
        return self.mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode != "nearest":
            relax_strict_determinism(x.device, f"resize_conv ({self.mode} upsampling)")
        return super().forward(x)


@register_decoder(
    knobs={"kernel_size": TRANSPOSED_KERNELS, "smooth": SMOOTH_ORDERS},
    variants={
        "transposed_conv_k2": {"kernel_size": 2},
        "transposed_conv_k3": {"kernel_size": 3},
        "transposed_conv_k4": {"kernel_size": 4},
        "transposed_conv_k3_blur": {"kernel_size": 3, "smooth": 1},
        "transposed_conv_k3_smooth3": {"kernel_size": 3, "smooth": 3},
    },
    source="Dumoulin & Visin 2016, arXiv 1603.07285 (transposed convolution arithmetic); "
    + SMOOTHING_SOURCE,
)
class TransposedConvUp(UpsamplingBlock):
    """nn.ConvTranspose2d(stride 2) with padding/output_padding chosen so H -> 2H."""

    family = "transposed_conv"

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int = 3, smooth: int = 0
    ) -> None:
        check_choice("transposed_conv", "kernel_size", kernel_size, TRANSPOSED_KERNELS)
        padding, output_padding = TRANSPOSED_PADDING[kernel_size]
        super().__init__(
            nn.ConvTranspose2d(
                in_channels,
                out_channels,
                kernel_size,
                stride=2,
                padding=padding,
                output_padding=output_padding,
            ),
            smooth,
        )
        self.kernel_size = kernel_size

    @property
    def variant(self) -> str:
        return f"k{self.kernel_size}"


@register_decoder(
    knobs={
        "init": PIXEL_SHUFFLE_INITS,
        "kernel_size": PIXEL_SHUFFLE_KERNELS,
        "smooth": SMOOTH_ORDERS,
    },
    variants={
        "pixel_shuffle_default": {"init": "default"},
        "pixel_shuffle_icnr": {"init": "icnr"},
    },
    source="Shi et al. 2016, CVPR (ESPCN, sub-pixel convolution); ICNR: Aitken et al. 2017; "
    + SMOOTHING_SOURCE,
)
class PixelShuffleUp(UpsamplingBlock):
    """Sub-pixel convolution: 'same' Conv2d to 4*C_out channels, then nn.PixelShuffle(2).

    ``init="icnr"`` ties the four sub-pixel kernels at init (no checkerboard at start).
    """

    family = "pixel_shuffle"

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        init: str = "default",
        smooth: int = 0,
    ) -> None:
        check_choice("pixel_shuffle", "init", init, PIXEL_SHUFFLE_INITS)
        check_choice("pixel_shuffle", "kernel_size", kernel_size, PIXEL_SHUFFLE_KERNELS)
        conv = nn.Conv2d(in_channels, out_channels * 4, kernel_size, padding=kernel_size // 2)
        if init == "icnr":
            icnr_(conv, scale=2)
        super().__init__(nn.Sequential(conv, nn.PixelShuffle(2)), smooth)
        self.init = init

    @property
    def variant(self) -> str:
        return self.init

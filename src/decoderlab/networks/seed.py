"""The seed articles' Keras MNIST autoencoders, reproduced layer for layer.

Each child of a stack is one Keras layer, so iterating the children gives the article's
shape sequence. Decoders end in logits; the LightningModule applies the sigmoid (Keras
computes binary cross-entropy on a sigmoid output from its logits, too).
"""

from __future__ import annotations

from torch import nn

from decoderlab.blocks import Conv2dSame, MaxPool2dSame, keras_init_
from decoderlab.blocks.validation import check_choice

SEED_INTERPOLATIONS = ("bilinear", "nearest")


class KerasConv2D(nn.Sequential):
    """Keras Conv2D(filters, kernel, strides, padding, activation, initializer); bias zero."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        stride: int = 1,
        padding: str = "same",
        relu: bool = True,
        init: str = "glorot_uniform",
    ) -> None:
        check_choice("KerasConv2D", "padding", padding, ("same", "valid"))
        if padding == "same":
            conv = Conv2dSame(in_channels, out_channels, kernel_size, stride=stride)
        else:
            conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride)
        keras_init_(conv, init)
        super().__init__(conv, *([nn.ReLU(inplace=True)] if relu else []))


class KerasConv2DTranspose(nn.Sequential):
    """Keras Conv2DTranspose(filters, 3, strides=1, padding='valid', relu, he_normal)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3) -> None:
        conv = nn.ConvTranspose2d(in_channels, out_channels, kernel_size)
        keras_init_(conv, "he_normal")
        super().__init__(conv, nn.ReLU(inplace=True))


class UpSampling2DSeedEncoder(nn.Sequential):
    """(N, 1, 28, 28) -> (N, 8, 4, 4): Conv 2x2 same, pool, conv, pool, stride-2 conv."""

    def __init__(self, in_channels: int = 1) -> None:
        super().__init__(
            KerasConv2D(in_channels, 8, 2, init="he_uniform"),
            MaxPool2dSame(2),
            KerasConv2D(8, 8, 2, init="he_uniform"),
            MaxPool2dSame(2),
            KerasConv2D(8, 8, 2, stride=2, init="he_uniform"),
        )
        self.out_channels = 8


class UpSampling2DSeedDecoder(nn.Sequential):
    """(N, 8, 4, 4) -> (N, 1, 28, 28) logits via UpSampling2D(``interpolation``) + Conv2D."""

    def __init__(
        self, in_channels: int = 8, out_channels: int = 1, interpolation: str = "bilinear"
    ) -> None:
        check_choice("seed_upsampling2d", "interpolation", interpolation, SEED_INTERPOLATIONS)
        align = None if interpolation == "nearest" else False

        def upsampling() -> nn.Upsample:
            return nn.Upsample(scale_factor=2, mode=interpolation, align_corners=align)

        super().__init__(
            KerasConv2D(in_channels, 8, 2, init="he_uniform"),
            upsampling(),
            KerasConv2D(8, 8, 2, padding="valid"),
            upsampling(),
            KerasConv2D(8, 8, 2, init="he_uniform"),
            upsampling(),
            KerasConv2D(8, out_channels, 2, relu=False),
        )
        self.name = f"seed_upsampling2d_{interpolation}"
        self.stages = 3


class Conv2DTransposeSeedEncoder(nn.Sequential):
    """(N, 1, 28, 28) -> (N, 8, 22, 22): three 3x3 valid convs (32, 16, 8), he_normal."""

    def __init__(self, in_channels: int = 1) -> None:
        super().__init__(
            KerasConv2D(in_channels, 32, 3, padding="valid", init="he_normal"),
            KerasConv2D(32, 16, 3, padding="valid", init="he_normal"),
            KerasConv2D(16, 8, 3, padding="valid", init="he_normal"),
        )
        self.out_channels = 8


class Conv2DTransposeSeedDecoder(nn.Sequential):
    """(N, 8, 22, 22) -> (N, 1, 28, 28) logits: Conv2DTranspose 8, 16, 32 then a 3x3 same conv."""

    def __init__(self, in_channels: int = 8, out_channels: int = 1) -> None:
        super().__init__(
            KerasConv2DTranspose(in_channels, 8),
            KerasConv2DTranspose(8, 16),
            KerasConv2DTranspose(16, 32),
            KerasConv2D(32, out_channels, 3, relu=False),
        )
        self.name = "seed_conv2dtranspose"
        self.stages = 0

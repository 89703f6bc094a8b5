"""Encoder and decoder blocks, initialisers and TF-'same' padding."""

from decoderlab.blocks.downsampling import ConvPoolDown, StridedConvDown
from decoderlab.blocks.init import icnr_, keras_init_
from decoderlab.blocks.padding import Conv2dSame, MaxPool2dSame, tf_same_pad, tf_same_pad_amounts
from decoderlab.blocks.upsampling import (
    PixelShuffleUp,
    ResizeConvUp,
    TransposedConvUp,
    UpsamplingBlock,
    ZeroOrderHoldBlur,
)

__all__ = [
    "Conv2dSame",
    "ConvPoolDown",
    "MaxPool2dSame",
    "PixelShuffleUp",
    "ResizeConvUp",
    "StridedConvDown",
    "TransposedConvUp",
    "UpsamplingBlock",
    "ZeroOrderHoldBlur",
    "icnr_",
    "keras_init_",
    "tf_same_pad",
    "tf_same_pad_amounts",
]

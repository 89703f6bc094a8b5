"""Encoder and decoder blocks, the decoder registry, initialisers and TF-'same' padding.

Importing this package registers the built-in decoder families (upsampling.py's first: every
other family module imports it).
"""

from decoderlab.blocks.additive import BilinearAdditiveUp
from decoderlab.blocks.carafe import CarafeUp
from decoderlab.blocks.downsampling import ConvPoolDown, StridedConvDown
from decoderlab.blocks.dysample import DySampleUp
from decoderlab.blocks.init import icnr_, keras_init_
from decoderlab.blocks.padding import Conv2dSame, MaxPool2dSame, tf_same_pad, tf_same_pad_amounts
from decoderlab.blocks.registry import (
    DecoderFamily,
    check_block_contract,
    decoder_families,
    decoder_variants,
    register_decoder,
    register_resolvers,
)
from decoderlab.blocks.separable import SeparableTransposedConvUp
from decoderlab.blocks.smooth import FixedSmoothing
from decoderlab.blocks.upsampling import (
    PixelShuffleUp,
    ResizeConvUp,
    TransposedConvUp,
    UpsamplingBlock,
)

__all__ = [
    "BilinearAdditiveUp",
    "CarafeUp",
    "DySampleUp",
    "FixedSmoothing",
    "SeparableTransposedConvUp",
    "Conv2dSame",
    "ConvPoolDown",
    "DecoderFamily",
    "MaxPool2dSame",
    "PixelShuffleUp",
    "ResizeConvUp",
    "StridedConvDown",
    "TransposedConvUp",
    "UpsamplingBlock",
    "check_block_contract",
    "decoder_families",
    "decoder_variants",
    "register_decoder",
    "register_resolvers",
    "icnr_",
    "keras_init_",
    "tf_same_pad",
    "tf_same_pad_amounts",
]

"""Encoder and decoder blocks, the decoder registry, initialisers and TF-'same' padding."""

from decoderlab.blocks.downsampling import ConvPoolDown, StridedConvDown
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
    "DecoderFamily",
    "MaxPool2dSame",
    "PixelShuffleUp",
    "ResizeConvUp",
    "StridedConvDown",
    "TransposedConvUp",
    "UpsamplingBlock",
    "ZeroOrderHoldBlur",
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

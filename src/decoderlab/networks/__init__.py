"""Encoder and decoder stacks built from blocks: the comparison model and the seed models."""

from decoderlab.networks.comparison import ConvEncoder, UpsamplingDecoder
from decoderlab.networks.seed import (
    Conv2DTransposeSeedDecoder,
    Conv2DTransposeSeedEncoder,
    UpSampling2DSeedDecoder,
    UpSampling2DSeedEncoder,
)

__all__ = [
    "Conv2DTransposeSeedDecoder",
    "Conv2DTransposeSeedEncoder",
    "ConvEncoder",
    "UpSampling2DSeedDecoder",
    "UpSampling2DSeedEncoder",
    "UpsamplingDecoder",
]

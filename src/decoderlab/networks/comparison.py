"""The matched comparison architecture: one encoder, decoders that differ only in the upsampling op.

Encoder: ``len(widths)`` down blocks (H -> H / 2**stages) and a 1x1 conv to ``latent_channels``.
Decoder: a 3x3 conv from the latent to ``widths[-1]``, then ``len(widths)`` up blocks walking the
widths back down (each followed by ReLU), and a 3x3 conv to ``out_channels`` logits. An up block
is any module ``up(c_in, c_out)`` that keeps the size contract (checked when the decoder is
built): a built-in family's or a user's own.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence

from torch import nn

from decoderlab.blocks import check_block_contract

DownFactory = Callable[[int, int], nn.Module]
UpFactory = Callable[[int, int], nn.Module]


class ConvEncoder(nn.Sequential):
    """(N, in_channels, H, W) -> (N, latent_channels, H / 2**len(widths), W / 2**len(widths))."""

    def __init__(
        self,
        in_channels: int,
        down: DownFactory,
        widths: Sequence[int] = (8, 16),
        latent_channels: int = 4,
    ) -> None:
        if not widths:
            raise ValueError("ConvEncoder: widths must list at least one stage width, got []")
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        channels = in_channels
        for i, width in enumerate(widths):
            layers[f"down{i + 1}"] = down(channels, width)
            channels = width
        layers["latent"] = nn.Conv2d(channels, latent_channels, 1)
        super().__init__(layers)
        self.out_channels = latent_channels


class UpsamplingDecoder(nn.Sequential):
    """(N, in_channels, h, w) -> (N, out_channels, h * 2**len(widths), w * 2**len(widths)) logits.

    ``widths`` are the encoder's, so stage k of the decoder mirrors stage k of the encoder.
    Each ``up(c_in, c_out)`` block must map (N, c_in, H, W) to (N, c_out, 2H, 2W) exactly
    (``check_block_contract``; ValueError otherwise). ``name`` is the first block's ``name``,
    else its ``family``, else its class name.
    """

    def __init__(
        self, in_channels: int, out_channels: int, up: UpFactory, widths: Sequence[int] = (8, 16)
    ) -> None:
        if not widths:
            raise ValueError("UpsamplingDecoder: widths must list at least one stage width, got []")
        mirrored = list(reversed(widths))
        layers: OrderedDict[str, nn.Module] = OrderedDict(
            {
                "entry": nn.Sequential(
                    nn.Conv2d(in_channels, mirrored[0], 3, padding=1), nn.ReLU(inplace=True)
                ),
            }
        )
        targets = mirrored[1:] + mirrored[-1:]
        for i, (c_in, c_out) in enumerate(zip(mirrored, targets, strict=True)):
            block = up(c_in, c_out)
            check_block_contract(block, c_in, c_out)
            layers[f"up{i + 1}"] = nn.Sequential(block, nn.ReLU(inplace=True))
        layers["head"] = nn.Conv2d(targets[-1], out_channels, 3, padding=1)
        super().__init__(layers)
        self.name = block_name(layers["up1"][0])
        self.stages = len(widths)

    def upsampling_blocks(self) -> list[nn.Module]:
        """The up blocks, in order (what FFCR and the probes inspect)."""
        return [getattr(self, f"up{i + 1}")[0] for i in range(self.stages)]


def block_name(block: nn.Module) -> str:
    """What runs report a block as: its ``name``, else its ``family``, else its class name."""
    for attribute in ("name", "family"):
        value = getattr(block, attribute, None)
        if isinstance(value, str) and value:
            return value
    return type(block).__name__

"""DySample (Liu et al., ICCV 2023, "Learning to Upsample by Learning to Sample").

A 1x1 convolution predicts, for each of the 4 sub-pixel positions of every input pixel and for
each of ``groups`` channel groups, an offset O (in input pixels) from the bilinear x2 sampling
point; ``F.grid_sample`` reads the input there (bilinear, border padding). The paper's
static scope O = 0.25 * linear(x) ("DySample", the authors' ``lp`` style); dynamic scope
O = 0.5 * sigmoid(linear_1(x)) * linear_2(x) ("DySample+"). As the authors' code does, the
offset convolution starts from N(0, 0.001^2) weights and a zero bias and the scope's from
zeros. Written from the paper and the authors' code (github.com/tiny-smart/dysample), with
these differences:

- the sampling point of output pixel (Y, X) is its centre in input coordinates,
  ((X + 0.5) / 2 - 0.5, (Y + 0.5) / 2 - 0.5), plus O: the authors' ``init_pos`` of +-0.25
  around each input pixel centre, written so that O = 0 is ``F.interpolate(bilinear,
  align_corners=False)`` exactly;
- DySample keeps the channel count, so a 'same' convolution (``kernel_size``) projects to
  C_out afterwards, as the convolution after the upsampling in the paper's detectors does;
- ``groups`` defaults to the authors' 4 (their code's default); at the comparison's 8-16
  channels that is 2-4 channels per group (the paper's 256-channel FPN: 64). Kept rather than
  lowered: the offsets cost only a few hundred weights, and fewer groups would make it a
  different design from the one the paper evaluates. ``in_channels`` must be a multiple.

On CUDA under strict deterministic mode, a training forward warns and relaxes the process to
warn-only (:mod:`decoderlab.blocks.determinism`): ``grid_sample``'s CUDA backward has no
deterministic kernel.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from decoderlab.blocks.determinism import relax_strict_determinism
from decoderlab.blocks.registry import register_decoder
from decoderlab.blocks.upsampling import RESIZE_KERNELS, UpsamplingBlock
from decoderlab.blocks.validation import check_choice

SCOPES = ("static", "dynamic")
GROUPS = (1, 2, 4, 8)


class DynamicSampler(nn.Module):
    """(N, C, H, W) -> (N, C, 2H, 2W): the input read by ``grid_sample`` at predicted points."""

    def __init__(self, channels: int, groups: int, scope: str) -> None:
        super().__init__()
        self.groups = groups
        self.offset = nn.Conv2d(channels, 2 * groups * 4, 1)
        nn.init.normal_(self.offset.weight, std=0.001)
        nn.init.zeros_(self.offset.bias)
        self.scope = None
        if scope == "dynamic":
            self.scope = nn.Conv2d(channels, 2 * groups * 4, 1, bias=False)
            nn.init.zeros_(self.scope.weight)

    def offsets(self, x: torch.Tensor) -> torch.Tensor:
        """O (N, 2 * groups * 4, H, W), in input pixels: channel (group, x|y, sub-pixel)."""
        if self.scope is None:
            return 0.25 * self.offset(x)
        return 0.5 * torch.sigmoid(self.scope(x)) * self.offset(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        relax_strict_determinism(x.device, "DySample (grid_sample)")
        # (N * groups, 2, 2H, 2W): sub-pixel channel i * 2 + j goes to output (2y + i, 2x + j)
        offsets = F.pixel_shuffle(self.offsets(x).reshape(n * self.groups, 8, h, w), 2)
        # grid_sample's normalised coordinates (align_corners=False) of the output pixel centres
        xs = (torch.arange(2 * w, dtype=x.dtype, device=x.device) + 0.5) / w - 1
        ys = (torch.arange(2 * h, dtype=x.dtype, device=x.device) + 0.5) / h - 1
        centres = torch.stack((xs.expand(2 * h, -1), ys[:, None].expand(-1, 2 * w)))
        per_pixel = torch.tensor([2 / w, 2 / h], dtype=x.dtype, device=x.device).view(1, 2, 1, 1)
        grid = (centres + offsets * per_pixel).permute(0, 2, 3, 1)
        sampled = F.grid_sample(
            x.reshape(n * self.groups, c // self.groups, h, w),
            grid,
            mode="bilinear",
            padding_mode="border",
            align_corners=False,
        )
        return sampled.reshape(n, c, 2 * h, 2 * w)


@register_decoder(
    knobs={"groups": GROUPS, "scope": SCOPES, "kernel_size": RESIZE_KERNELS},
    variants={"dysample_static_g4": {"groups": 4, "scope": "static"}},
    source="Liu et al. 2023, ICCV ('Learning to Upsample by Learning to Sample'), DySample",
)
class DySampleUp(UpsamplingBlock):
    """DySample (point sampling at predicted offsets), then a 'same' Conv2d to C_out.

    Raises ValueError unless ``in_channels`` is a multiple of ``groups``.
    """

    family = "dysample"

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        groups: int = 4,
        scope: str = "static",
        kernel_size: int = 3,
    ) -> None:
        check_choice("dysample", "groups", groups, GROUPS)
        check_choice("dysample", "scope", scope, SCOPES)
        check_choice("dysample", "kernel_size", kernel_size, RESIZE_KERNELS)
        if in_channels % groups:
            raise ValueError(
                f"dysample: in_channels={in_channels} is not a multiple of groups={groups}; "
                "choose groups that divide it"
            )
        super().__init__(
            nn.Sequential(
                DynamicSampler(in_channels, groups, scope),
                nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2),
            )
        )
        self.groups, self.scope = groups, scope

    @property
    def variant(self) -> str:
        return f"{self.scope}_g{self.groups}"

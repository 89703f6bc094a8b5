"""CARAFE, content-aware reassembly of features (Wang et al., ICCV 2019).

For every output pixel l' = (2y + i, 2x + j) a kernel W_l' of k_up x k_up weights is predicted
from the input (kernel prediction: a 1x1 channel compressor to C_m channels, a k_enc x k_enc
content encoder to k_up^2 * 4 channels, one k_up^2 kernel per sub-pixel position (i, j), and a
softmax over the k_up^2 taps), then the output is the reassembly

    X'_l' = sum_{n, m = -r..r} W_l'(n, m) X(y + n, x + m),   r = k_up // 2,

over the zero-padded input neighbourhood of the source pixel l = (y, x).
Written from the paper and mmcv's ``CARAFEPack`` (open-mmlab/mmcv, ``mmcv/ops/carafe.py``) with
``F.unfold`` instead of mmcv's CUDA op, and the same initialisation (Xavier-uniform compressor,
N(0, 0.001^2) encoder, zero biases: nearly uniform kernels at init). CARAFE keeps the channel
count, so a 'same' convolution (``kernel_size``) projects to C_out afterwards, as the
convolution after the upsampling in the paper's FPN does. The paper uses C_m = 64 for 256
channels (C / 4); the default ``compressed_channels`` = 4 is that ratio at 16 channels. The
paper's best setting is k_up = 5, k_enc = 3; the comparison runs k_up = 3, k_enc = 1 (the
paper's rule k_enc = k_up - 2), as the reassembly's cost grows with k_up^2 and at k_up = 5
CARAFE took several times a transposed convolution's training time on a CPU.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from decoderlab.blocks.registry import register_decoder
from decoderlab.blocks.upsampling import RESIZE_KERNELS, UpsamplingBlock
from decoderlab.blocks.validation import check_choice

UP_KERNELS = (3, 5, 7)
ENCODER_KERNELS = (1, 3, 5)
COMPRESSED_CHANNELS = (4, 8, 16, 32, 64)


class ContentAwareReassembly(nn.Module):
    """(N, C, H, W) -> (N, C, 2H, 2W): each output pixel a predicted convex combination of the
    ``up_kernel`` x ``up_kernel`` neighbourhood of its source pixel."""

    def __init__(
        self, channels: int, up_kernel: int, encoder_kernel: int, compressed_channels: int
    ) -> None:
        super().__init__()
        self.up_kernel = up_kernel
        self.compressor = nn.Conv2d(channels, compressed_channels, 1)
        self.encoder = nn.Conv2d(
            compressed_channels, up_kernel**2 * 4, encoder_kernel, padding=encoder_kernel // 2
        )
        nn.init.xavier_uniform_(self.compressor.weight)
        nn.init.normal_(self.encoder.weight, std=0.001)
        nn.init.zeros_(self.compressor.bias)
        nn.init.zeros_(self.encoder.bias)

    def kernels(self, x: torch.Tensor) -> torch.Tensor:
        """W (N, k_up^2, 4, H, W): per sub-pixel position i * 2 + j, softmax over the taps."""
        n, _, h, w = x.shape
        logits = self.encoder(self.compressor(x))
        return logits.reshape(n, self.up_kernel**2, 4, h, w).softmax(dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        k = self.up_kernel
        neighbourhoods = F.unfold(x, k, padding=k // 2).reshape(n, c, k * k, 1, h, w)
        # a broadcast product summed over the taps: on CPU about twice as fast as the einsum
        # (per-pixel matrix products of k_up^2 x 4 are too small for bmm)
        out = (neighbourhoods * self.kernels(x)[:, None]).sum(dim=2)
        return F.pixel_shuffle(out.reshape(n, c * 4, h, w), 2)


@register_decoder(
    knobs={
        "up_kernel": UP_KERNELS,
        "encoder_kernel": ENCODER_KERNELS,
        "compressed_channels": COMPRESSED_CHANNELS,
        "kernel_size": RESIZE_KERNELS,
    },
    variants={"carafe_k3_enc1": {"up_kernel": 3, "encoder_kernel": 1}},
    source="Wang et al. 2019, ICCV ('CARAFE: Content-Aware ReAssembly of FEatures')",
)
class CarafeUp(UpsamplingBlock):
    """CARAFE x2 (k_up = ``up_kernel``, k_enc = ``encoder_kernel``), then a 'same' Conv2d."""

    family = "carafe"

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        up_kernel: int = 5,
        encoder_kernel: int = 3,
        compressed_channels: int = 4,
        kernel_size: int = 3,
    ) -> None:
        check_choice("carafe", "up_kernel", up_kernel, UP_KERNELS)
        check_choice("carafe", "encoder_kernel", encoder_kernel, ENCODER_KERNELS)
        check_choice("carafe", "compressed_channels", compressed_channels, COMPRESSED_CHANNELS)
        check_choice("carafe", "kernel_size", kernel_size, RESIZE_KERNELS)
        super().__init__(
            nn.Sequential(
                ContentAwareReassembly(in_channels, up_kernel, encoder_kernel, compressed_channels),
                nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2),
            )
        )
        self.up_kernel, self.encoder_kernel = up_kernel, encoder_kernel

    @property
    def variant(self) -> str:
        return f"k{self.up_kernel}_enc{self.encoder_kernel}"

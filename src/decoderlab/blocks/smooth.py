"""Fixed smoothing of order d: the 2x2 zero-order-hold kernel convolved with itself d times.

Sugawara, Shiota & Kiya 2019 ("Checkerboard artifacts free convolutional neural networks",
APSIPA Trans. Signal Inf. Process.) follow a learned stride-2 upsampling with the zero-order-hold
kernel H_0 = [1, 1] (x) [1, 1] / 4; Kinoshita & Kiya 2020 ("Fixed smooth convolutional layer for
avoiding checkerboard artifacts in CNNs", arXiv 2002.02117) with H_0 convolved d times,
H_d = H_0 * ... * H_0: a separable binomial kernel of d + 1 taps per axis, b_d[k] = C(d, k) / 2^d.
d = 3 is StyleGAN2's ``[1, 3, 3, 1]`` resample filter (Karras et al. 2020), normalised:
``[1, 3, 3, 1] (x) [1, 3, 3, 1] / 64``. Any 2-periodic field averaged by H_0 becomes constant, so
order d >= 1 removes the checkerboard of a constant input whatever the learned weights before
it are.
"""

from __future__ import annotations

from math import comb

import torch
import torch.nn.functional as F
from torch import nn

from decoderlab.blocks.validation import check_choice

SMOOTH_ORDERS = (0, 1, 2, 3)


def binomial_taps(order: int) -> torch.Tensor:
    """b_d = [C(d, 0), ..., C(d, d)] / 2^d (float64): H_0's 1-D factor convolved d times."""
    return torch.tensor([comb(order, k) for k in range(order + 1)], dtype=torch.float64) / 2**order


class FixedSmoothing(nn.Module):
    """Depthwise H_d = b_d (x) b_d with replication padding; (N, C, H, W) -> (N, C, H, W).

    The padding is ceil(d/2) rows/columns before and floor(d/2) after, so d = 1 is the
    zero-order-hold blur ``ReplicationPad2d((1, 0, 1, 0)) + AvgPool2d(2, stride=1)``. Order 0
    is the identity. The kernel is a buffer: it follows ``.to()`` and never trains.
    """

    def __init__(self, order: int) -> None:
        super().__init__()
        check_choice("FixedSmoothing", "order", order, SMOOTH_ORDERS)
        self.order = order
        taps = binomial_taps(order).float()
        self.register_buffer("kernel", torch.outer(taps, taps)[None, None], persistent=False)
        before, after = (order + 1) // 2, order // 2
        self.padding = (before, after, before, after)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.order == 0:
            return x
        channels = x.shape[1]
        kernel = self.kernel.to(x.dtype).expand(channels, 1, -1, -1)
        return F.conv2d(F.pad(x, self.padding, mode="replicate"), kernel, groups=channels)

    def extra_repr(self) -> str:
        return f"order={self.order}"

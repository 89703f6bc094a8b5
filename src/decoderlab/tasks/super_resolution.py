"""x4 super-resolution: the network's input, the papers' PSNR/SSIM, and the bicubic floor.

Input: the patch downscaled by ``factor`` with torch's antialiased bicubic resampling,
``F.interpolate(mode="bicubic", antialias=True, align_corners=False)``: Keys' cubic kernel with
a = -0.5 stretched by the factor (the antialiasing PIL's ``Image.resize(BICUBIC)`` and MATLAB's
``imresize`` do), clipped to [0, 1]. The network upsamples it back to the patch.

Quality as super-resolution papers report it (EDSR, Lim et al. 2017; RCAN; BasicSR's
``calculate_psnr``/``calculate_ssim`` with ``test_y_channel=True``): on the luma Y of ITU-R
BT.601 (MATLAB's ``rgb2ycbcr``), with a border of ``factor`` pixels cropped from every side;
PSNR per image (data range 1 on the [0, 1] scale, i.e. 255 on 8-bit Y), then the mean over
images; SSIM as Wang et al. 2004 over valid 11x11 Gaussian windows (``decoderlab.metrics.ssim``),
the mean over images. Grey images are their own luma.

The floor every learned decoder must beat: the same input upsampled back by bicubic
interpolation (same kernel), scored the same way (``BicubicBaseline``: ``test/bicubic_psnr_y``,
``test/bicubic_ssim_y``).
"""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import Metric, MetricCollection
from torchmetrics.image import PeakSignalNoiseRatio
from torchmetrics.wrappers import LambdaInputTransformer

from decoderlab.metrics.ssim import StructuralSimilarity

# ITU-R BT.601 luma for R, G, B in [0, 1]: Y = (16 + 65.481 R + 128.553 G + 24.966 B) / 255,
# in [16/255, 235/255] (MATLAB rgb2ycbcr; scikit-image's rgb2ycbcr divided by 255)
BT601_WEIGHTS = (65.481, 128.553, 24.966)
BT601_OFFSET = 16.0


def bicubic_resize(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, *size) by antialiased bicubic resampling (a = -0.5), not clipped."""
    return F.interpolate(images, size=size, mode="bicubic", antialias=True, align_corners=False)


class BicubicDownscale(nn.Module):
    """(N, C, H, W) in [0, 1] -> (N, C, H / factor, W / factor): ``bicubic_resize`` clipped to
    [0, 1]. H and W must be multiples of ``factor`` (ValueError otherwise). No parameters."""

    def __init__(self, factor: int = 4) -> None:
        super().__init__()
        if not isinstance(factor, int) or factor < 2:
            raise ValueError(f"BicubicDownscale: factor={factor!r} must be an integer >= 2")
        self.factor = factor

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        height, width = images.shape[-2:]
        if height % self.factor or width % self.factor:
            raise ValueError(
                f"BicubicDownscale: a {height}x{width} image is not a multiple of the factor "
                f"{self.factor}: choose data.patch_size divisible by {self.factor}"
            )
        small = bicubic_resize(images, (height // self.factor, width // self.factor))
        return small.clamp(0.0, 1.0)

    def extra_repr(self) -> str:
        return f"factor={self.factor}"


def bt601_luma(images: torch.Tensor) -> torch.Tensor:
    """Luma Y (N, 1, H, W) of RGB images (N, 3, H, W) in [0, 1], ITU-R BT.601 as above; a
    grey image (N, 1, H, W) is returned as it is."""
    if images.shape[1] == 1:
        return images
    if images.shape[1] != 3:
        raise ValueError(f"bt601_luma: expected 1 or 3 channels, got {tuple(images.shape)}")
    weights = images.new_tensor(BT601_WEIGHTS).view(1, 3, 1, 1)
    return ((images * weights).sum(1, keepdim=True) + BT601_OFFSET) / 255.0


def luma_cropped(images: torch.Tensor, border: int) -> torch.Tensor:
    """``bt601_luma`` with ``border`` pixels cut from every side: (N, 1, H - 2b, W - 2b)."""
    luma = bt601_luma(images)
    return luma[..., border : luma.shape[-2] - border, border : luma.shape[-1] - border]


def luma_metrics(border: int) -> dict[str, Metric]:
    """``psnr_y`` (mean over images of each image's PSNR) and ``ssim_y`` (mean SSIM) on
    ``luma_cropped(x, border)``, as super-resolution papers report them."""
    if not isinstance(border, int) or border < 0:
        raise ValueError(f"luma_border={border!r} must be a non-negative integer")

    def on_luma(metric: Metric) -> Metric:
        def crop(x: torch.Tensor) -> torch.Tensor:
            return luma_cropped(x, border)

        return LambdaInputTransformer(metric, transform_pred=crop, transform_target=crop)

    return {
        "psnr_y": on_luma(PeakSignalNoiseRatio(data_range=1.0, dim=(1, 2, 3))),
        "ssim_y": on_luma(StructuralSimilarity(data_range=1.0)),
    }


class BicubicBaseline(L.Callback):
    """The bicubic floor on the test patches: the network's input (``pl_module.inputs``)
    upsampled back to the patch by ``bicubic_resize``, clipped to [0, 1], scored by
    ``luma_metrics(border)``; logged as ``test/bicubic_psnr_y`` and ``test/bicubic_ssim_y``
    (so metrics.json's ``test`` holds them beside the decoder's own)."""

    def __init__(self, border: int = 4) -> None:
        self.metrics = MetricCollection(luma_metrics(border), prefix="test/bicubic_")

    def on_test_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.metrics.to(pl_module.device).reset()

    def on_test_batch_end(
        self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0
    ) -> None:
        small = pl_module.inputs(batch)
        self.metrics.update(bicubic_resize(small, batch.shape[-2:]).clamp(0.0, 1.0), batch)

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # compute() pools the DDP processes' states: every process logs the same values
        values = {name: value.float() for name, value in self.metrics.compute().items()}
        pl_module.log_dict(values, sync_dist=True)

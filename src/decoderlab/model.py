"""AutoEncoder LightningModule: encoder + decoder built from config, loss, optimizer, metrics."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MeanMetric, MeanSquaredError, MetricCollection
from torchmetrics.image import PeakSignalNoiseRatio

from decoderlab.blocks.validation import check_choice
from decoderlab.metrics.ssim import StructuralSimilarity
from decoderlab.tasks.super_resolution import luma_metrics

LOSSES = ("bce", "mse")
MEMORY_FORMATS = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}
# torch.compile modes; reduce-overhead adds CUDA graphs (they pay for small models on a GPU)
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


class ArchitectureError(ValueError):
    """decoder(encoder(x)) does not have the input's shape."""


class DivergenceError(FloatingPointError):
    """The training loss became NaN or infinite; ``step`` is the global step where it did."""

    def __init__(self, step: int, value: float) -> None:
        super().__init__(f"training loss is {value} at global step {step}: the run diverged")
        self.step, self.value = step, value


def stage_shapes(net: nn.Sequential, x: torch.Tensor, prefix: str) -> list[tuple[str, tuple]]:
    """Run ``x`` through each child of ``net``; return [(name, output shape without batch)]."""
    shapes = []
    for name, child in net.named_children():
        x = child(x)
        shapes.append((f"{prefix}.{name}", tuple(x.shape[1:])))
    return shapes


def check_round_trip(
    encoder: nn.Module,
    decoder: nn.Sequential,
    in_shape: Sequence[int],
    inputs: nn.Module | None = None,
) -> list[tuple[str, tuple]]:
    """Trace a (1, *in_shape) image through the task's ``inputs`` (the network's input made
    from the image; none: the image itself), every encoder stage and every decoder stage;
    raise ArchitectureError when the output's shape is not the image's."""
    x = torch.zeros(1, *in_shape)
    with torch.no_grad():
        shapes = []
        if inputs is not None:
            x = inputs(x)
            shapes.append(("inputs", tuple(x.shape[1:])))
        shapes += stage_shapes(encoder, x, "encoder")
        latent = encoder(x)
        shapes += stage_shapes(decoder, latent, "decoder")
    if shapes[-1][1] != tuple(in_shape):
        listing = "\n".join(
            f"  {name}: {shape}" for name, shape in [("input", tuple(in_shape))] + shapes
        )
        raise ArchitectureError(
            f"decoder(encoder(x)) has shape {shapes[-1][1]} but the input is {tuple(in_shape)}; "
            f"stage output shapes (C, H, W):\n{listing}"
        )
    return shapes


def image_metrics(prefix: str, luma_border: int | None = None) -> MetricCollection:
    """MSE, PSNR and SSIM of reconstructions in [0, 1] over a split, keys ``{prefix}mse`` etc.;
    with ``luma_border`` also ``psnr_y`` and ``ssim_y`` as super-resolution papers report them
    (``decoderlab.tasks.super_resolution.luma_metrics``).

    ``mse`` is the mean squared error over every pixel of the split; ``psnr`` is
    ``10 log10(1 / mse)`` in dB from that pooled MSE (torchmetrics' PSNR with its default
    reduction), not a mean of per-image PSNRs; ``ssim`` is the mean over images of Wang et
    al.'s SSIM over valid 11x11 Gaussian windows (``decoderlab.metrics.ssim``).
    """
    metrics = {
        "mse": MeanSquaredError(),
        "psnr": PeakSignalNoiseRatio(data_range=1.0),
        "ssim": StructuralSimilarity(data_range=1.0),
    }
    if luma_border is not None:
        metrics.update(luma_metrics(luma_border))
    return MetricCollection(metrics, prefix=prefix)


def init_seeds(seed: int | None) -> tuple[int | None, int | None]:
    """Independent seeds for the encoder's and the decoder's initial weights, derived from the
    run's ``seed`` with numpy's SeedSequence (spawn keys 0 and 1); (None, None) for None.

    The encoder's initial weights then depend on the seed alone, not on what was drawn
    before it or on the decoder: under one seed every decoder starts from the same encoder.
    """
    if seed is None:
        return None, None
    encoder, decoder = np.random.SeedSequence(seed).spawn(2)
    return int(encoder.generate_state(1)[0]), int(decoder.generate_state(1)[0])


class AutoEncoder(L.LightningModule):
    """Image model x (N, C, H, W) in [0, 1] -> an image of the same shape, trained to give x.

    The task decides what the network is given: x itself (reconstruction; ``inputs`` None) or
    ``inputs(x)``, a fixed module such as a x4 bicubic downscale (super-resolution; then
    ``encoder`` is usually None and the decoder alone upsamples the small image).
    ``encoder(in_channels=C)`` and ``decoder(in_channels=encoder.out_channels, out_channels=C)``
    are factories (Hydra ``_partial_``), so the decoder's input is derived from the encoder
    (without an encoder, from the network's input: C channels). ``luma_border`` adds the
    super-resolution papers' ``psnr_y`` and ``ssim_y`` to the validation and test metrics
    (``decoderlab.tasks.super_resolution.luma_metrics``).
    The decoder returns logits; ``forward`` applies the sigmoid. ``memory_format`` lays out the
    4-D weights (``channels_last`` is faster on CPU for some decoders; results are unchanged
    to float rounding). ``compile`` (true or a torch.compile mode) compiles the encoder and
    decoder in place when the Trainer sets the model up; checkpoints stay interchangeable.
    ``init_seed`` (the run's seed) draws the encoder's and the decoder's initial weights from
    two streams of their own (``init_seeds``), which is what makes a seed a block of the
    paired comparison; None draws them from torch's global generator in construction order.
    """

    def __init__(
        self,
        encoder: Callable[..., nn.Module] | None,
        decoder: Callable[..., nn.Module],
        in_shape: Sequence[int] = (1, 28, 28),
        inputs: nn.Module | None = None,
        luma_border: int | None = None,
        loss: str = "bce",
        optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        scheduler: Callable[..., Any] | None = None,
        memory_format: str = "contiguous",
        compile: bool | str = False,
        init_seed: int | None = None,
    ) -> None:
        super().__init__()
        check_choice("AutoEncoder", "loss", loss, LOSSES)
        check_choice("AutoEncoder", "memory_format", memory_format, MEMORY_FORMATS)
        check_choice("AutoEncoder", "compile", compile, (False, True, *COMPILE_MODES))
        self.compile_mode = "default" if compile is True else compile or None
        self._compiled = False
        channels = in_shape[0]
        encoder_seed, decoder_seed = init_seeds(init_seed)
        with torch.random.fork_rng(devices=[], enabled=init_seed is not None):
            if encoder_seed is not None:
                torch.manual_seed(encoder_seed)
            self.encoder = encoder(in_channels=channels) if encoder else nn.Sequential()
            latent_channels = self.encoder.out_channels if encoder else channels
            if decoder_seed is not None:
                torch.manual_seed(decoder_seed)
            self.decoder = decoder(in_channels=latent_channels, out_channels=channels)
        self.inputs = inputs
        self.in_shape = tuple(in_shape)
        self.stage_shapes = check_round_trip(self.encoder, self.decoder, in_shape, inputs)
        self.loss_name = loss
        self.optimizer_factory = optimizer or (lambda params: torch.optim.Adam(params, lr=1e-3))
        self.scheduler_factory = scheduler
        # The epoch loss is the mean of the images' losses, a Metric: DDP processes pool their
        # sums and image counts. (Lightning's self.log(..., sync_dist=True) averages the counts
        # over processes and gloo truncates that to an integer: off for shards of unequal size.)
        # NaN stays NaN, so a diverged run shows it.
        self.val_loss = MeanMetric(nan_strategy="disable")
        self.test_loss = MeanMetric(nan_strategy="disable")
        self.val_metrics = image_metrics("val/", luma_border)
        self.test_metrics = image_metrics("test/", luma_border)
        self.to(memory_format=MEMORY_FORMATS[memory_format])
        self._reset_train_loss()

    def configure_model(self) -> None:
        """Compile the encoder and decoder once (Lightning calls this in every stage's setup)."""
        if self.compile_mode and not self._compiled:
            self.encoder.compile(mode=self.compile_mode)
            self.decoder.compile(mode=self.compile_mode)
            self._compiled = True

    @property
    def decoder_name(self) -> str:
        return self.decoder.name

    @property
    def latent_shape(self) -> tuple[int, ...]:
        """(C, h, w) of the decoder's input: the encoder's output (or the network's input)."""
        before_decoder = [s for name, s in self.stage_shapes if not name.startswith("decoder.")]
        return before_decoder[-1] if before_decoder else self.in_shape

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def network_input(self, x: torch.Tensor) -> torch.Tensor:
        """What the network is given for the image batch x: x, or ``inputs(x)``."""
        return x if self.inputs is None else self.inputs(x)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(self.network_input(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(x))

    def loss(self, logits: torch.Tensor, x: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        """BCE on logits (as Keras does for a sigmoid output) or MSE: the mean over pixels, or
        with ``reduction="none"`` each pixel's (N, C, H, W)."""
        if self.loss_name == "bce":
            return F.binary_cross_entropy_with_logits(logits, x, reduction=reduction)
        return F.mse_loss(torch.sigmoid(logits), x, reduction=reduction)

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        loss = self.loss(self.logits(batch), batch)
        if not torch.isfinite(loss):
            raise DivergenceError(self.global_step, loss.item())
        # Summed on the device and logged once per epoch: self.log per step costs ~10% of a
        # step of these small models on CPU (benchmarks/throughput.py).
        self._train_loss_sum += loss.detach() * len(batch)
        self._train_samples += len(batch)
        return loss

    def _reset_train_loss(self) -> None:
        self._train_loss_sum = torch.zeros((), device=self.device)
        self._train_samples = 0

    def on_train_epoch_start(self) -> None:
        self._reset_train_loss()

    def on_train_epoch_end(self) -> None:
        # Under DDP each process summed its own shard: pool the sums and counts of all of them
        # (a mean of the processes' means is off when their shards differ in size). The result
        # is the same in every process; sync_dist=True says so to Lightning. (reduce is in place.)
        reduce = self.trainer.strategy.reduce
        samples = reduce(torch.tensor(self._train_samples, device=self.device), reduce_op="sum")
        if samples:
            loss = reduce(self._train_loss_sum.clone(), reduce_op="sum") / samples
            self.log("train/loss", loss, sync_dist=True)

    def _evaluate(
        self, batch: torch.Tensor, stage: str, loss_metric: MeanMetric, metrics: MetricCollection
    ) -> torch.Tensor:
        logits = self.logits(batch)
        # no weights: torchmetrics 1.9's MeanMetric ignores them when nan_strategy="disable"
        loss_metric.update(self.loss(logits, batch, reduction="none").flatten(1).mean(1))
        self.log(f"{stage}/loss", loss_metric, on_epoch=True, prog_bar=stage == "val")
        # standard layout for the metrics (torchmetrics views (N, C, H, W) flat; a channels_last
        # output of several channels cannot be viewed so; one channel is unchanged)
        recon = torch.sigmoid(logits).contiguous()
        metrics.update(recon, batch)
        self.log_dict(metrics, on_epoch=True, batch_size=len(batch))
        return recon

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        """Returns the reconstruction (N, C, H, W) for callbacks (e.g. CheckerboardMetrics)."""
        return self._evaluate(batch, "val", self.val_loss, self.val_metrics)

    def test_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        """Returns the reconstruction (N, C, H, W) for callbacks (e.g. CheckerboardMetrics)."""
        return self._evaluate(batch, "test", self.test_loss, self.test_metrics)

    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_factory(self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": self.scheduler_factory(optimizer), "monitor": "val/loss"},
        }

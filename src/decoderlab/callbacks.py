"""Callbacks: run statistics, the reconstruction grid and the checkerboard probes.

The grid and the probes also keep the raw arrays of the report's figures in the run
directory's ``figures.npz`` (``save_figure_arrays``).
"""

from __future__ import annotations

import time
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from torchvision.utils import make_grid

from decoderlab.metrics import CheckerboardScores, ResidualSpectrum, lattice_periods
from decoderlab.metrics.flat_field import field_periodic_ratio, flat_field_response
from decoderlab.metrics.registry import INIT, VAL, at_stage, metric
from decoderlab.pictures import flat_field_rgb, spectrum_figure
from decoderlab.records import (
    DIGITS_ARRAY,
    FIGURES_FILE,
    FLAT_FIELD_ARRAYS,
    RECONSTRUCTIONS_ARRAY,
    RESIDUAL_SPECTRUM_ARRAY,
    read_arrays,
    write_npz_atomic,
)


def device_clock(device: torch.device) -> float:
    """``time.perf_counter()`` (s) once the work queued on ``device`` is done (a CUDA sync)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


class RunStats(L.Callback):
    """Per-epoch wall time, training throughput and the validation history.

    ``epoch_seconds`` is each training epoch's wall time (s) including its validation;
    ``epoch_train_seconds`` excludes validation, so ``samples_per_second`` is training alone.
    Under DDP the times are the global rank 0's and the samples those of every process.
    ``history`` maps each ``val/*`` metric to its per-epoch values (sanity checks excluded).
    """

    def __init__(self) -> None:
        self.epoch_seconds: list[float] = []
        self.epoch_train_seconds: list[float] = []
        self.epoch_samples: list[int] = []
        self.history: dict[str, list[float]] = {}
        self._epoch_start = self._validation_start = self._validation_seconds = 0.0
        self._samples = 0

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # A mid-epoch resume skips on_train_epoch_start: time the rest of that epoch from here.
        self.on_train_epoch_start(trainer, pl_module)

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._epoch_start = device_clock(pl_module.device)
        self._validation_seconds = 0.0
        self._samples = 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._samples += len(batch)

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._validation_start = device_clock(pl_module.device)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._validation_seconds += device_clock(pl_module.device) - self._validation_start

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        seconds = device_clock(pl_module.device) - self._epoch_start
        self.epoch_seconds.append(seconds)
        self.epoch_train_seconds.append(seconds - self._validation_seconds)
        samples = torch.tensor(self._samples, device=pl_module.device)
        self.epoch_samples.append(int(trainer.strategy.reduce(samples, reduce_op="sum")))

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        metrics = trainer.callback_metrics
        for key in at_stage(metrics, VAL):
            self.history.setdefault(key, []).append(float(metrics[key]))

    @property
    def samples_per_second(self) -> float:
        """Training samples per second of training time (validation excluded)."""
        seconds = sum(self.epoch_train_seconds)
        return sum(self.epoch_samples) / seconds if seconds > 0 else float("nan")

    def state_dict(self) -> dict:
        return {
            "epoch_seconds": self.epoch_seconds,
            "epoch_train_seconds": self.epoch_train_seconds,
            "epoch_samples": self.epoch_samples,
            "history": self.history,
        }

    def load_state_dict(self, state_dict: dict) -> None:
        self.epoch_seconds = list(state_dict["epoch_seconds"])
        self.epoch_train_seconds = list(state_dict["epoch_train_seconds"])
        self.epoch_samples = list(state_dict["epoch_samples"])
        self.history = {k: list(v) for k, v in state_dict["history"].items()}


def _tensorboard(trainer: L.Trainer):
    """The logger's SummaryWriter, or None when there is no image-capable logger or this is
    not the global rank 0 (under DDP only that process writes events)."""
    if not trainer.is_global_zero:
        return None
    experiment = getattr(trainer.logger, "experiment", None)
    return experiment if hasattr(experiment, "add_image") else None


def save_figure_arrays(trainer: L.Trainer, arrays: dict[str, torch.Tensor]) -> None:
    """Merge ``arrays`` into ``figures.npz`` of the run directory (``default_root_dir``),
    replacing arrays of the same name; written atomically, by the global rank 0 only."""
    if not trainer.is_global_zero:
        return
    path = Path(trainer.default_root_dir) / FIGURES_FILE
    merged = read_arrays(path) if path.exists() else {}
    merged.update({name: a.detach().cpu().numpy() for name, a in arrays.items()})
    write_npz_atomic(path, merged)


def zoomed_centre(images: torch.Tensor, zoom: int) -> torch.Tensor:
    """The centre ``1/zoom`` of each image (N, C, H, W) blown up to (H, W) by pixel repetition
    (nearest; each pixel ``zoom`` times when ``zoom`` divides H and W), so that a period of 2 or
    4 pixels shows."""
    height, width = images.shape[-2:]
    h, w = max(1, height // zoom), max(1, width // zoom)
    top, left = (height - h) // 2, (width - w) // 2
    crop = images[..., top : top + h, left : left + w]
    return F.interpolate(crop, size=(height, width), mode="nearest")


class ReconstructionGrid(L.Callback):
    """Fixed test images and their reconstructions after each validation epoch, in colour for
    colour images.

    They go to ``figures.npz`` (``digits`` and ``reconstructions``, (count, C, H, W), the last
    epoch's kept) and to TensorBoard as one grid: the images; for a task that gives the network
    something else (super-resolution), that input at the images' size (nearest); the
    reconstructions; and the centre of each reconstruction zoomed ``zoom`` times (pixels
    repeated), where a checkerboard of period 2 or 4 shows.
    """

    def __init__(self, count: int = 8, tag: str = "reconstructions", zoom: int = 4) -> None:
        if zoom < 1:
            raise ValueError(f"ReconstructionGrid: zoom={zoom} must be >= 1")
        self.count, self.tag, self.zoom = count, tag, zoom

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        images = trainer.datamodule.preview_images(self.count).to(pl_module.device)
        was_training = pl_module.training
        pl_module.eval()
        with torch.no_grad():
            recon = pl_module(images)
            given = getattr(pl_module, "inputs", None)
            rows = [images]
            if given is not None:
                rows.append(F.interpolate(given(images), size=images.shape[-2:], mode="nearest"))
        pl_module.train(was_training)
        save_figure_arrays(trainer, {DIGITS_ARRAY: images, RECONSTRUCTIONS_ARRAY: recon})
        writer = _tensorboard(trainer)
        if writer is not None:
            rows += [recon, zoomed_centre(recon, self.zoom)]
            grid = make_grid(torch.cat(rows).cpu(), nrow=len(images), padding=2, pad_value=1.0)
            writer.add_image(self.tag, grid, global_step=trainer.current_epoch)


def decoder_periods(pl_module: L.LightningModule) -> tuple[int, ...]:
    """Checkerboard periods of the module's decoder lattice for its (C, H, W) ``in_shape``."""
    return lattice_periods(getattr(pl_module.decoder, "stages", 0), *pl_module.in_shape[-2:])


class CheckerboardMetrics(L.Callback):
    """Log ``{stage}/cbe{s}``, ``prf{s}`` and ``pace{s}`` every validation and test epoch.

    The periods are those of the decoder's lattice (``decoder_periods``). The module's
    ``validation_step``/``test_step`` must return the reconstruction (N, C, H, W). With
    ``spectrum``, each validation epoch also measures the residual power spectrum: saved to
    ``figures.npz`` (``residual_spectrum``, the last epoch's kept) and drawn in TensorBoard
    (log scale, lattice frequencies marked).
    """

    def __init__(self, spectrum: bool = True, spectrum_tag: str = "residual_spectrum") -> None:
        self.draw_spectrum, self.spectrum_tag = spectrum, spectrum_tag
        self.scores: CheckerboardScores | None = None
        self.spectrum: ResidualSpectrum | None = None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self.scores is None:
            self.scores = CheckerboardScores(decoder_periods(pl_module))
            self.spectrum = ResidualSpectrum(*pl_module.in_shape[-2:])

    def _start(self, pl_module: L.LightningModule) -> None:
        self.scores.to(pl_module.device).reset()
        self.spectrum.to(pl_module.device).reset()

    def _update(
        self, stage: str, trainer: L.Trainer, recon: torch.Tensor, batch: torch.Tensor
    ) -> None:
        if trainer.sanity_checking:
            return
        self.scores.update(recon, batch)
        if stage == "val" and self.draw_spectrum:
            self.spectrum.update(recon, batch)

    def _finish(self, stage: str, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        scores = self.scores.compute()
        # compute() pooled the DDP processes' states, so every process logs the same values:
        # sync_dist=True says so to Lightning (it averages equal values)
        pl_module.log_dict(
            {f"{stage}/{name}": value.float() for name, value in scores.items()}, sync_dist=True
        )
        self.scores.reset()

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start(pl_module)

    def on_test_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start(pl_module)

    def on_validation_batch_end(
        self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0
    ) -> None:
        self._update("val", trainer, outputs, batch)

    def on_test_batch_end(
        self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0
    ) -> None:
        self._update("test", trainer, outputs, batch)

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._finish("val", trainer, pl_module)
        if trainer.sanity_checking or not self.draw_spectrum:
            return
        power = self.spectrum.compute()
        save_figure_arrays(trainer, {RESIDUAL_SPECTRUM_ARRAY: power})
        writer = _tensorboard(trainer)
        if writer is not None:
            title = f"residual power, val epoch {trainer.current_epoch}"
            figure = spectrum_figure(power.cpu().numpy(), title, self.scores.periods)
            writer.add_figure(self.spectrum_tag, figure, global_step=trainer.current_epoch)

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._finish("test", trainer, pl_module)


class FlatFieldProbe(L.Callback):
    """FFCR of the decoder before training (``ffcr{s}/init``) and after it (``ffcr{s}/final``).

    The decoder gets a constant input of the latent's channels and ``scale`` times its size,
    so an interior free of border effects survives the crop. Values go to ``self.ffcr``
    (read into metrics.json) and the logger as scalars; the cropped response goes to
    ``figures.npz`` (``flat_field_init``, ``flat_field_final``) and to TensorBoard as
    ``flat_field/{when}`` images on the report's scale (``decoderlab.pictures``).
    """

    def __init__(self, scale: int = 4, value: float = 1.0) -> None:
        if scale < 1:
            raise ValueError(f"FlatFieldProbe: scale={scale} must be >= 1")
        self.scale, self.value = scale, value
        self.ffcr: dict[str, float] = {}

    def flat_input_shape(self, pl_module: L.LightningModule) -> tuple[int, int, int]:
        channels, height, width = pl_module.latent_shape
        return channels, height * self.scale, width * self.scale

    def measure(self, trainer: L.Trainer, pl_module: L.LightningModule, when: str) -> None:
        field, _ = flat_field_response(
            pl_module.decoder, self.flat_input_shape(pl_module), value=self.value
        )
        values = {
            f"ffcr{s}/{when}": field_periodic_ratio(field, s) for s in decoder_periods(pl_module)
        }
        self.ffcr.update(values)
        if trainer.logger is not None:
            trainer.logger.log_metrics(values, step=trainer.global_step)
        save_figure_arrays(trainer, {FLAT_FIELD_ARRAYS[when]: field})
        writer = _tensorboard(trainer)
        if writer is not None:
            image = flat_field_rgb(field.cpu().numpy())
            writer.add_image(f"flat_field/{when}", image, global_step=trainer.global_step)

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not any(metric(key).when == INIT for key in self.ffcr):
            self.measure(trainer, pl_module, "init")

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.measure(trainer, pl_module, "final")

    def state_dict(self) -> dict:
        return {"ffcr": dict(self.ffcr)}

    def load_state_dict(self, state_dict: dict) -> None:
        self.ffcr = dict(state_dict["ffcr"])

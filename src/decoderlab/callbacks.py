"""Callbacks: run statistics for metrics.json and the reconstruction image grid."""

from __future__ import annotations

import time

import lightning as L
import torch
from torchvision.utils import make_grid


class RunStats(L.Callback):
    """Per-epoch wall time, training throughput and the validation history.

    ``history`` maps each ``val/*`` metric to its per-epoch values (sanity checks excluded).
    """

    def __init__(self) -> None:
        self.epoch_seconds: list[float] = []
        self.train_samples = 0
        self.history: dict[str, list[float]] = {}
        self._epoch_start = 0.0

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._epoch_start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.train_samples += len(batch)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.epoch_seconds.append(time.perf_counter() - self._epoch_start)

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        for key, value in trainer.callback_metrics.items():
            if key.startswith("val/"):
                self.history.setdefault(key, []).append(float(value))

    @property
    def samples_per_second(self) -> float:
        total = sum(self.epoch_seconds)
        return self.train_samples / total if total > 0 else float("nan")

    def state_dict(self) -> dict:
        return {"epoch_seconds": self.epoch_seconds, "train_samples": self.train_samples,
                "history": self.history}

    def load_state_dict(self, state_dict: dict) -> None:
        self.epoch_seconds = list(state_dict["epoch_seconds"])
        self.train_samples = int(state_dict["train_samples"])
        self.history = {k: list(v) for k, v in state_dict["history"].items()}


class ReconstructionGrid(L.Callback):
    """Log fixed test digits (top row) above their reconstructions (bottom row) each val epoch."""

    def __init__(self, count: int = 8, tag: str = "reconstructions") -> None:
        self.count, self.tag = count, tag

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or trainer.logger is None:
            return
        images = trainer.datamodule.preview_images(self.count).to(pl_module.device)
        was_training = pl_module.training
        pl_module.eval()
        with torch.no_grad():
            recon = pl_module(images)
        pl_module.train(was_training)
        grid = make_grid(torch.cat([images, recon]).cpu(), nrow=len(images), padding=2,
                         pad_value=1.0)
        trainer.logger.experiment.add_image(self.tag, grid, global_step=trainer.current_epoch)

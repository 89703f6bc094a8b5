"""A callback for end-to-end tests: the model's weights when training ends, saved to a file."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch


class SaveFinalWeights(L.Callback):
    """Save ``pl_module.state_dict()`` (CPU copies) to ``path`` once ``fit`` ends; chosen with
    ``+callbacks.final_weights._target_=tests.weights.SaveFinalWeights``."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        torch.save(
            {k: v.detach().cpu().clone() for k, v in pl_module.state_dict().items()}, self.path
        )

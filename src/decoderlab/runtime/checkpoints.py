"""The run directory's ``checkpoints/`` folder: ``last.ckpt`` and the best by the monitored metric,
also after a resume from a run directory that was moved; every checkpoint written whole or not
at all, and only complete ones chosen to resume from.

Lightning's ``ModelCheckpoint`` restores which files it wrote (the last, the best k) only when
the checkpoint's folder is the same path as now; otherwise it warns and forgets them, so a
resumed run writes ``last-v1.ckpt`` beside a stale ``last.ckpt`` and keeps a second "best".
``RunCheckpoint`` first moves that record to the folder it now uses, keeping the files that are
there, so a resumed run (in place or moved) ends like an uninterrupted one.

Lightning writes a checkpoint to a temporary file of the system's temporary folder and moves it
into place, which across file systems is a copy: a full disk leaves a partial file under the
checkpoint's name (Lightning issue #688). ``AtomicCheckpointIO`` writes into a temporary file
beside the checkpoint, syncs it to disk and renames it over the checkpoint; on an error (e.g.
``ENOSPC``) the temporary file is removed and the previous checkpoint is untouched.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins import TorchCheckpointIO
from lightning.pytorch.callbacks import ModelCheckpoint

from decoderlab.records import replaced_atomically

PATH_KEYS = ("best_model_path", "kth_best_model_path", "last_model_path")


def relocated_state(state: dict[str, Any], dirpath: str | Path) -> dict[str, Any]:
    """``ModelCheckpoint.state_dict()`` ``state`` as if written to ``dirpath``.

    Every path to a file in the saved ``dirpath`` is replaced by the same file name in
    ``dirpath`` when that file exists there, else dropped (``""``; and from ``best_k_models``).
    """
    saved, dirpath = Path(state["dirpath"]), Path(dirpath)

    def moved(path: str | None) -> str:
        if not path or Path(path).parent != saved or not (dirpath / Path(path).name).is_file():
            return ""
        return str(dirpath / Path(path).name)

    best_k = {moved(p): score for p, score in state.get("best_k_models", {}).items()}
    return {
        **state,
        **{key: moved(state.get(key)) for key in PATH_KEYS if key in state},
        "best_k_models": {p: score for p, score in best_k.items() if p},
        "dirpath": str(dirpath),
    }


class RunCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` that, on resume, takes over the files of its folder wherever the run
    directory now is (``relocated_state``); otherwise the same."""

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        saved = state_dict.get("dirpath")
        if saved and self.dirpath and Path(saved) != Path(self.dirpath):
            state_dict = relocated_state(state_dict, self.dirpath)
        super().load_state_dict(state_dict)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's ``TorchCheckpointIO`` that saves a local checkpoint atomically: a temporary
    file in the checkpoint's folder, fsync, rename (``decoderlab.records.replaced_atomically``).
    Readers see the old file or the new one, never part of one; an ``OSError`` while writing
    (a full disk) propagates after the temporary file is removed."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None:
            raise TypeError(
                f"{type(self).__name__} takes no storage_options (local checkpoints only)"
            )
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with replaced_atomically(path, "wb") as f:
            torch.save(checkpoint, f)
            f.flush()
            os.fsync(f.fileno())

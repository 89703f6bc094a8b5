"""The run directory's ``checkpoints/`` folder: ``last.ckpt`` and the best by the monitored metric,
also after a resume from a run directory that was moved.

Lightning's ``ModelCheckpoint`` restores which files it wrote (the last, the best k) only when
the checkpoint's folder is the same path as now; otherwise it warns and forgets them, so a
resumed run writes ``last-v1.ckpt`` beside a stale ``last.ckpt`` and keeps a second "best".
``RunCheckpoint`` first moves that record to the folder it now uses, keeping the files that are
there, so a resumed run (in place or moved) ends like an uninterrupted one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lightning.pytorch.callbacks import ModelCheckpoint

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

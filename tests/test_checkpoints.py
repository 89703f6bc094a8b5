"""RunCheckpoint's record of its files follows the run directory to where it now is."""

from __future__ import annotations

from decoderlab.runtime.checkpoints import RunCheckpoint, relocated_state


def checkpoint_state(folder) -> dict:
    """ModelCheckpoint.state_dict() after epoch 1 of a run writing to ``folder``."""
    return {
        "monitor": "val/loss",
        "best_model_score": 0.5,
        "best_model_path": str(folder / "epoch001.ckpt"),
        "current_score": 0.5,
        "dirpath": str(folder),
        "best_k_models": {str(folder / "epoch001.ckpt"): 0.5},
        "kth_best_model_path": str(folder / "epoch001.ckpt"),
        "kth_value": 0.5,
        "last_model_path": str(folder / "last.ckpt"),
    }


def test_a_moved_folder_keeps_its_files(tmp_path):
    old, new = tmp_path / "old" / "checkpoints", tmp_path / "new" / "checkpoints"
    new.mkdir(parents=True)
    for name in ("epoch001.ckpt", "last.ckpt"):
        (new / name).touch()
    assert relocated_state(checkpoint_state(old), new) == checkpoint_state(new)


def test_files_missing_from_the_new_folder_are_forgotten(tmp_path):
    """ckpt_path=<another run's checkpoint> into a fresh directory: nothing there to take over."""
    other, fresh = tmp_path / "other", tmp_path / "fresh"
    fresh.mkdir()
    state = relocated_state(checkpoint_state(other), fresh)
    assert state["dirpath"] == str(fresh)
    assert state["best_model_path"] == state["kth_best_model_path"] == ""
    assert state["last_model_path"] == "" and state["best_k_models"] == {}
    assert state["best_model_score"] == 0.5 and state["monitor"] == "val/loss"


def test_run_checkpoint_restores_the_relocated_record(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    new.mkdir()
    for name in ("epoch001.ckpt", "last.ckpt"):
        (new / name).touch()
    callback = RunCheckpoint(dirpath=new, monitor="val/loss", save_last=True)
    callback.load_state_dict(checkpoint_state(old))
    assert callback.last_model_path == str(new / "last.ckpt")
    assert callback.best_k_models == {str(new / "epoch001.ckpt"): 0.5}
    assert callback.best_model_path == str(new / "epoch001.ckpt")

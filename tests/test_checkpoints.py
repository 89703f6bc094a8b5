"""Checkpoints: RunCheckpoint's record of its files follows the run directory to where it now
is; a checkpoint is written whole or not at all (a full disk), and resuming skips one that is
not whole."""

from __future__ import annotations

import errno
import io
import logging
import os
from dataclasses import replace

import pytest
import torch

from decoderlab.records import RunRecord, read_run_record, write_run_record
from decoderlab.runtime import full_disk
from decoderlab.runtime.checkpoints import AtomicCheckpointIO, RunCheckpoint, relocated_state
from decoderlab.runtime.interrupt import INTERRUPT_CHECKPOINT
from decoderlab.runtime.resume import (
    UnreadableCheckpointError,
    checkpoint_to_resume,
    latest_checkpoint,
    unreadable_reason,
)
from tests.cli_runs import BUDGET, read_metrics, run_in_process
from tests.conftest import SHIPPED_DATA


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


# --- a full disk: checkpoints are whole or absent, resuming skips a partial one -------------


class DiskFillsAfter:
    """``torch.save`` whose first ``saves_ok`` calls work; later ones write half the bytes and
    raise ENOSPC, as a disk that fills mid-write does."""

    def __init__(self, saves_ok: int) -> None:
        self.saves_ok, self.calls, self.save = saves_ok, 0, torch.save

    def __call__(self, obj, f, *args, **kwargs) -> None:
        self.calls += 1
        if self.calls <= self.saves_ok:
            return self.save(obj, f, *args, **kwargs)
        buffer = io.BytesIO()
        self.save(obj, buffer)
        f.write(buffer.getvalue()[: buffer.tell() // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_save_that_fills_the_disk_leaves_the_previous_checkpoint_and_no_partial_file(
    tmp_path, monkeypatch
):
    path = tmp_path / "checkpoints" / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"step": 1}, path)
    monkeypatch.setattr(torch, "save", DiskFillsAfter(saves_ok=0))
    with pytest.raises(OSError, match="No space left on device") as raised:
        AtomicCheckpointIO().save_checkpoint({"step": 2}, path)
    assert raised.value.errno == errno.ENOSPC
    assert [p.name for p in path.parent.iterdir()] == ["last.ckpt"]
    assert torch.load(path, weights_only=True) == {"step": 1}


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"", "an empty file"), (b"PK\x03\x04 half a zip", "not a complete checkpoint")],
)
def test_resuming_skips_a_newer_unreadable_checkpoint_and_names_it(
    tmp_path, caplog, content, reason
):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    torch.save({"step": 4}, folder / "last.ckpt")
    broken = folder / INTERRUPT_CHECKPOINT
    broken.write_bytes(content)
    os.utime(folder / "last.ckpt", (1, 1))  # the good one is older
    assert unreadable_reason(broken).startswith(reason)
    assert unreadable_reason(folder / "last.ckpt") is None
    with caplog.at_level(logging.WARNING):
        assert latest_checkpoint(tmp_path) == folder / "last.ckpt"
    assert f"skipping {broken}: {reason}" in caplog.text


def test_no_readable_checkpoint_is_none(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.ckpt").write_bytes(b"")
    assert latest_checkpoint(tmp_path) is None


@pytest.mark.slow
@pytest.mark.usefixtures("one_torch_thread")
def test_a_full_disk_fails_the_run_on_its_error_and_the_run_resumes_from_the_last_whole_checkpoint(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("DECODERLAB_DATA_DIR", str(SHIPPED_DATA))
    monkeypatch.setenv("DECODERLAB_OUTPUT_DIR", str(tmp_path / "outputs"))
    run_dir, folder = tmp_path / "run", tmp_path / "run" / "checkpoints"
    command = (*BUDGET, "trainer.max_epochs=2", f"hydra.run.dir={run_dir}")
    # epoch 0 saves its best and last.ckpt; the disk fills while epoch 1 saves
    monkeypatch.setattr(torch, "save", DiskFillsAfter(saves_ok=2))
    full = run_in_process(*command)
    monkeypatch.undo()
    assert full.returncode == 1
    record = read_metrics(run_dir)
    assert record["status"] == "failed"
    assert record["error"] == "OSError: [Errno 28] No space left on device"
    assert sorted(p.name for p in folder.iterdir()) == ["epoch000.ckpt", "last.ckpt"]
    assert torch.load(folder / "last.ckpt", weights_only=True)["global_step"] == 4
    # what an older decoderlab left on a full disk: an empty interrupt checkpoint, newer
    (folder / INTERRUPT_CHECKPOINT).write_bytes(b"")
    monkeypatch.setenv("DECODERLAB_DATA_DIR", str(SHIPPED_DATA))
    monkeypatch.setenv("DECODERLAB_OUTPUT_DIR", str(tmp_path / "outputs"))
    resumed = run_in_process(*command, "ckpt_path=last")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    printed = resumed.stdout + resumed.stderr
    assert f"skipping {folder / INTERRUPT_CHECKPOINT}: an empty file" in printed
    assert f"resuming from {folder / 'last.ckpt'}" in (run_dir / "train.log").read_text()
    record = read_metrics(run_dir)
    assert record["status"] == "ok" and record["epochs"] == 2
    assert torch.load(folder / "last.ckpt", weights_only=True)["global_step"] == 8


def test_a_partial_checkpoint_given_by_path_is_refused_naming_it(tmp_path):
    partial = tmp_path / "epoch003.ckpt"
    partial.write_bytes(b"PK\x03\x04 half a zip")
    with pytest.raises(UnreadableCheckpointError, match=rf"ckpt_path={partial}: not a complete"):
        checkpoint_to_resume(str(partial), False, tmp_path)
    whole = tmp_path / "whole.ckpt"
    torch.save({"step": 1}, whole)
    assert checkpoint_to_resume(str(whole), False, tmp_path) == str(whole)


def test_on_a_full_disk_the_final_record_is_written_in_place_and_says_failed(tmp_path, monkeypatch):
    running = RunRecord(status="running", seed=1, config_hash="abc", versions={"torch": "x"})
    write_run_record(tmp_path, running)

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(full_disk, "write_run_record", disk_full)
    error = "OSError: [Errno 28] No space left on device"
    failed = replace(running, status="failed", error=error, traceback="x" * 100_000)
    full_disk.write_final_record(tmp_path, failed)
    record = read_run_record(tmp_path)
    assert (record.status, record.error, record.seed, record.config_hash) == (
        "failed",
        error,
        1,
        "abc",
    )
    assert record.traceback is None  # left out: the record keeps to the blocks it had


def test_a_disk_error_is_told_from_others_through_its_cause():
    full = OSError(errno.ENOSPC, "No space left on device")
    try:
        try:
            raise full
        except OSError as err:
            raise RuntimeError("saving failed") from err
    except RuntimeError as wrapped:
        assert full_disk.is_disk_full(wrapped)
    assert not full_disk.is_disk_full(OSError(errno.EACCES, "Permission denied"))
    assert not full_disk.is_disk_full(ValueError("x"))

"""Files written for others get a plain write's permissions; records carry software versions."""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import stat
from pathlib import Path

import pytest

from decoderlab.records import (
    read_run_record,
    replaced_atomically,
    software_versions,
    write_json_atomic,
)
from decoderlab.train import train
from tests.cli_runs import BUDGET


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def plain_write_mode(folder: Path) -> int:
    """The mode ``open(path, "w")`` gives a new file in ``folder`` now (umask, default ACLs)."""
    probe = folder / "plain-write-probe"
    probe.write_text("")
    mode = mode_of(probe)
    probe.unlink()
    return mode


def test_json_gets_a_plain_writes_permissions(tmp_path, umask):
    path = write_json_atomic(tmp_path / "out" / "metrics.json", {"loss": float("nan")})
    assert mode_of(path) == 0o666 & ~umask == plain_write_mode(path.parent)
    assert json.loads(path.read_text()) == {"loss": None}
    assert [p.name for p in path.parent.iterdir()] == ["metrics.json"]


def test_replacing_keeps_the_old_file_when_writing_fails(tmp_path, umask):
    path = tmp_path / "figure.png"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError), replaced_atomically(path, "wb") as f:
        f.write(b"half")
        raise RuntimeError("renderer crashed")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["figure.png"]
    with replaced_atomically(path, "wb") as f:
        f.write(b"new")
    assert path.read_bytes() == b"new" and mode_of(path) == 0o666 & ~umask


def test_a_folder_that_cannot_be_written_is_named(tmp_path):
    with pytest.raises(FileNotFoundError) as info, replaced_atomically(tmp_path / "no" / "x.json"):
        pass
    assert info.value.filename == str(tmp_path / "no" / "x.json")


def test_versions_are_the_installed_ones():
    versions = software_versions()
    assert list(versions) == ["python", "torch", "lightning", "torchmetrics", "decoderlab"]
    assert versions["python"] == platform.python_version()
    # torch's own version string adds the build (e.g. +cu124, +cpu) to the package's
    assert versions["torch"].split("+")[0] == importlib.metadata.version("torch")
    for name in ("lightning", "torchmetrics", "decoderlab"):
        assert versions[name] == importlib.metadata.version(name)


@pytest.mark.slow
def test_a_runs_record_carries_versions_and_is_readable_by_others(make_cfg):
    before = os.umask(0o002)
    try:
        cfg = make_cfg("+trainer.fast_dev_run=true", *BUDGET)
        record = train(cfg)
    finally:
        os.umask(before)
    path = Path(cfg.paths.output_dir) / "metrics.json"
    assert mode_of(path) == 0o664
    written = json.loads(path.read_text())
    assert (written["producer"], written["schema_version"]) == ("decoderlab", 2)
    assert written["status"] == "ok" and written["versions"] == record["versions"]
    assert read_run_record(path.parent).versions == software_versions()

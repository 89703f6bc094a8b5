"""Tiny sweeps through the ``decoderlab-train`` console script, shared by the sweep tests.

``tiny_sweep`` runs 2 decoders x 2 seeds once per test session (a few batches each) and
hands every caller the same directory.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# a few batches: 100 training images (4 batches of 25), 50 validation and 50 test images
TINY = (
    "data.train_size=100",
    "data.val_size=50",
    "data.test_size=50",
    "trainer.max_epochs=1",
    "callbacks.progress_bar=null",
)
DECODERS = ("resize_conv_nearest", "transposed_conv_k3")
SEEDS = (1, 2)

_done: dict[str, tuple[Path, subprocess.CompletedProcess]] = {}


def console_script(name: str) -> str:
    """The venv's console script beside the running interpreter."""
    return str(Path(sys.executable).with_name(name))


def run_sweep(sweep_dir: Path, *overrides: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """``decoderlab-train -m`` with the tiny budget into ``sweep_dir``; outputs and data fixed."""
    env = {
        **os.environ,
        "DECODERLAB_DATA_DIR": str(REPO / "data"),
        "DECODERLAB_OUTPUT_DIR": str(sweep_dir.parent / "outputs"),
    }
    return subprocess.run(
        [
            console_script("decoderlab-train"),
            "-m",
            *TINY,
            *overrides,
            f"hydra.sweep.dir={sweep_dir}",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def tiny_sweep(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """2 decoders x 2 seeds with the basic launcher, run once per session."""
    if "basic" not in _done:
        sweep_dir = tmp_path_factory.mktemp("tiny") / "sweep"
        result = run_sweep(
            sweep_dir, f"model/decoder={','.join(DECODERS)}", f"seed={','.join(map(str, SEEDS))}"
        )
        _done["basic"] = (sweep_dir, result)
    return _done["basic"]

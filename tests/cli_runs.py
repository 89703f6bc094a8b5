"""``decoderlab-train`` runs for the reliability tests: in a subprocess, or in this process.

A subprocess shows the real exit status (signals, SystemExit); running ``main()`` in this
process skips the ~15 s of imports and gives the same Hydra handling of errors. Both run from
the repository root so ``data._target_=tests.faults.<Class>`` imports.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from unittest.mock import patch

from hydra.core.global_hydra import GlobalHydra

from decoderlab.train import main

REPO = Path(__file__).resolve().parents[1]
# 100 training images (4 batches of 25), 50 validation and 50 test images, one torch thread
# (the same in every process, so float results compare exactly)
BUDGET = (
    "data.train_size=100",
    "data.val_size=50",
    "data.test_size=50",
    "callbacks.progress_bar=null",
    "threads=1",
)
TIMING_KEYS = ("wall_s", "seconds_per_epoch", "train_samples_per_s")


def run_subprocess(*args: str, env: dict[str, str], timeout: int = 300):
    """``python -m decoderlab.train *args`` from the repository root."""
    return subprocess.run(
        [sys.executable, "-m", "decoderlab.train", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_in_process(*args: str) -> subprocess.CompletedProcess:
    """``decoderlab-train *args`` as ``main()`` here; exit status as a shell would see it."""
    GlobalHydra.instance().clear()
    out, err = io.StringIO(), io.StringIO()
    with (
        patch.object(sys, "argv", ["decoderlab-train", *args]),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        try:
            main()
            status: Any = 0
        except SystemExit as exit_:
            status = exit_.code
    if isinstance(status, str):  # Python prints the message and exits with 1
        err.write(status + "\n")
        status = 1
    return subprocess.CompletedProcess(args, status or 0, out.getvalue(), err.getvalue())


def read_metrics(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "metrics.json").read_text())


def results_of(record: dict[str, Any]) -> dict[str, Any]:
    """A metrics.json record without its timing fields: what must repeat exactly."""
    return {k: v for k, v in record.items() if k not in TIMING_KEYS}

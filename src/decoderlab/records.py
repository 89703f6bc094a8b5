"""Run records and the files a run writes for others: written atomically, readable as usual.

``metrics.json`` (every run directory ends with one) records what the run measured and the
versions of the software that measured it; ``figures.npz`` holds the raw arrays the report's
figures are drawn from. Every file decoderlab writes by renaming a
temporary file into place goes through :func:`replaced_atomically`, which gives it the
permissions a plain ``open(path, "w")`` would (``0o666`` minus the umask), not the
owner-only ``0o600`` of ``tempfile.mkstemp``: data folders, run directories and reports are
often shared between users (a cluster, a Docker volume written by another UID).
"""

from __future__ import annotations

import json
import math
import os
import platform
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np

METRICS_FILE = "metrics.json"
FIGURES_FILE = "figures.npz"
# The arrays of figures.npz (float NumPy arrays; a run has those its callbacks made):
# the decoder's flat-field response (C, H, W), border cropped, before and after training;
FLAT_FIELD_ARRAYS = {"init": "flat_field_init", "final": "flat_field_final"}
# the validation residual's mean power spectrum (H, W), DC centred, after the last epoch;
RESIDUAL_SPECTRUM_ARRAY = "residual_spectrum"
# fixed test digits and their reconstructions after the last validation epoch (N, C, H, W).
DIGITS_ARRAY, RECONSTRUCTIONS_ARRAY = "digits", "reconstructions"


def software_versions() -> dict[str, str]:
    """The versions a record's numbers depend on: python, torch, lightning, torchmetrics and
    decoderlab, e.g. ``{"python": "3.11.7", "torch": "2.5.1+cu124", "lightning": "2.5.0",
    "torchmetrics": "1.6.0", "decoderlab": "0.1.0"}`` (torch's with its build tag).

    The packages are imported here, not at module level: a run has imported them already, and
    readers of records (the report) need not pay for them.
    """
    import lightning
    import torch
    import torchmetrics

    import decoderlab

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "lightning": lightning.__version__,
        "torchmetrics": torchmetrics.__version__,
        "decoderlab": decoderlab.__version__,
    }


@contextmanager
def replaced_atomically(path: str | Path, mode: str = "w") -> Iterator[IO]:
    """Open a new temporary file beside ``path``; when the block ends, rename it over ``path``.

    Readers see the old file or the complete new one, never a partial write; if the block
    raises, the temporary file is removed and ``path`` is untouched. The file is created with
    mode ``0o666`` and the kernel applies the umask (and a default ACL, if the folder has one),
    exactly as for a plain ``open``. ``mode`` is ``"w"`` or ``"wb"``. An ``OSError`` creating
    the file (e.g. a folder the user may not write to) names ``path``.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"replaced_atomically: mode {mode!r} is not 'w' or 'wb'")
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as err:
        raise type(err)(err.errno, err.strerror, str(path)) from err
    try:
        with os.fdopen(fd, mode) as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _finite_or_none(value: Any) -> Any:
    """JSON has no NaN/inf: store them as null so every reader parses the file."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite_or_none(v) for v in value]
    return value


def write_json_atomic(path: str | Path, payload: Any) -> Path:
    """Write ``payload`` (dicts, lists, numbers, strings) as JSON to ``path`` atomically,
    creating its folder; NaN and inf become null. Returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with replaced_atomically(path) as f:
        json.dump(_finite_or_none(payload), f, indent=2, sort_keys=False)
        f.write("\n")
    return path


def write_npz_atomic(path: str | Path, arrays: dict[str, np.ndarray]) -> Path:
    """Write ``arrays`` as an uncompressed ``.npz`` file to ``path`` atomically; returns it."""
    path = Path(path)
    with replaced_atomically(path, "wb") as f:
        np.savez(f, **arrays)
    return path


def read_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file (no pickles); OSError or ValueError if unreadable."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    except zipfile.BadZipFile as err:
        raise ValueError(f"{path}: not a readable .npz file ({err})") from err


def read_record(run_dir: str | Path) -> dict:
    """Load ``run_dir/metrics.json``; raises OSError or ValueError naming the file if unreadable."""
    path = Path(run_dir) / METRICS_FILE
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from err

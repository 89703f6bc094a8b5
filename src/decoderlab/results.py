"""Run records: the ``metrics.json`` every run directory ends with, written atomically."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

METRICS_FILE = "metrics.json"


def _finite_or_none(value: Any) -> Any:
    """JSON has no NaN/inf: store them as null so every reader parses the file."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite_or_none(v) for v in value]
    return value


def write_json_atomic(path: str | Path, payload: dict) -> Path:
    """Write ``payload`` as JSON to a temporary file beside ``path``, then rename over it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(_finite_or_none(payload), f, indent=2, sort_keys=False)
            f.write("\n")
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; results are for every reader
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_record(run_dir: str | Path) -> dict:
    """Load ``run_dir/metrics.json``; raises OSError or ValueError naming the file if unreadable."""
    path = Path(run_dir) / METRICS_FILE
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from err

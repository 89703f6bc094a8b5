"""Under DDP, the error a failed run records is the one that started the failure.

When one process (rank) raises, the others fail in their next collective with the backend's
own error (gloo: ``Connection closed by peer``), and the global rank 0, which writes
``metrics.json``, would record that. So a rank other than 0 that fails notes its error in the
run directory (``.rank<N>-failure.json``) before it exits, and rank 0, when it fails, records
the earliest failure noted before its own, as ``rank N: <error>``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from decoderlab.records import write_json_atomic

# rank 0 looks this long for a note written before its own failure (on a shared file system
# another host's note may appear late; on one machine it is there before rank 0's error)
NOTE_WAIT_S = 2.0


def _note_path(output_dir: Path, rank: int) -> Path:
    return output_dir / f".rank{rank}-failure.json"


def note_failure(output_dir: str | Path, rank: int, error: str, traceback: str) -> None:
    """Note the failure of ``rank`` (not 0) for rank 0 to record."""
    write_json_atomic(
        _note_path(Path(output_dir), rank),
        {"rank": rank, "error": error, "traceback": traceback, "time": time.time()},
    )


def first_failure(output_dir: str | Path, failed_at: float) -> dict[str, Any] | None:
    """The earliest note of another rank's failure from before ``failed_at`` (``time.time()``
    of rank 0's own), waiting up to NOTE_WAIT_S for one; every note is removed. None if no
    rank failed first."""
    output_dir = Path(output_dir)
    deadline = time.monotonic() + NOTE_WAIT_S
    while True:
        notes = []
        for path in output_dir.glob(".rank*-failure.json"):
            try:
                notes.append(json.loads(path.read_text()))
            except (OSError, ValueError):
                continue
        earlier = [n for n in notes if isinstance(n.get("time"), float) and n["time"] < failed_at]
        if earlier or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    for path in output_dir.glob(".rank*-failure.json"):
        path.unlink(missing_ok=True)
    return min(earlier, key=lambda n: n["time"], default=None)


def failure_fields(
    output_dir: str | Path, rank: int, fields: dict[str, Any], failed_at: float
) -> dict[str, Any]:
    """The record fields of a failed DDP process: a rank other than 0 notes ``fields``
    (``error``, ``traceback``) and changes nothing; rank 0 replaces its ``error`` and
    ``traceback`` by those of the rank that failed first, if one did."""
    if rank != 0:
        note_failure(output_dir, rank, fields["error"], fields.get("traceback", ""))
        return {}
    first = first_failure(output_dir, failed_at)
    if first is None:
        return {}
    return {"error": f"rank {first['rank']}: {first['error']}", "traceback": first["traceback"]}

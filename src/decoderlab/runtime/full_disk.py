"""A full disk: the run's record still says how it ended.

When the disk fills during a run (``ENOSPC``, or ``EDQUOT`` over a quota), every further file
may fail, the final ``metrics.json`` too: written atomically it needs room for a second copy,
and the record would stay ``running``. ``write_final_record`` then rewrites ``metrics.json`` in
place, inside the disk blocks the ``running`` record already holds, as a compact record (no
traceback, no per-epoch history), so the run directory says ``failed`` with the disk error.
``InterruptCheckpoint`` saves nothing on a full disk: the space is the record's, and the last
epoch's checkpoint is the resume point.
"""

from __future__ import annotations

import errno
import json
import os
from dataclasses import replace
from pathlib import Path

from decoderlab.records import METRICS_FILE, RunRecord, _finite_or_none, write_run_record

DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def is_disk_full(error: BaseException | None) -> bool:
    """Whether ``error`` (or the error it was raised from) is a full disk or quota."""
    while error is not None:
        if isinstance(error, OSError) and error.errno in DISK_FULL:
            return True
        error = error.__cause__ or error.__context__
    return False


def write_final_record(run_dir: str | Path, record: RunRecord) -> None:
    """Write ``record`` as ``run_dir/metrics.json`` atomically; on a full disk, rewrite the
    existing file in place as a compact record that fits the bytes the file system gave it
    (``st_blocks``). Raises the disk error when not even that fits."""
    try:
        write_run_record(run_dir, record)
    except OSError as err:
        if not is_disk_full(err):
            raise
        path = Path(run_dir) / METRICS_FILE
        compact = replace(record, traceback=None, history={}, seconds_per_epoch=[])
        text = json.dumps(_finite_or_none(compact.to_json()), indent=1) + "\n"
        room = max(path.stat().st_blocks * 512, path.stat().st_size) if path.exists() else 0
        if len(text.encode()) > room:
            raise
        with open(path, "r+") as f:
            f.write(text)
            f.truncate()
            f.flush()
            os.fsync(f.fileno())

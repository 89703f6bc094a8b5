"""What this machine can run at once: the ``parallel_jobs`` config resolver for launchers."""

from __future__ import annotations

import psutil
from omegaconf import OmegaConf

# Peak resident memory of one default-preset job (torch, Lightning, MNIST as float32):
# 1.09 GB measured with /usr/bin/time -v; 1.5 GB leaves room for the larger presets.
JOB_MEMORY_BYTES = 1_500_000_000


def usable_cores() -> int:
    """CPU cores this process may use: its affinity mask (psutil), else all logical cores."""
    try:
        return len(psutil.Process().cpu_affinity())
    except (AttributeError, psutil.Error):  # no affinity on this platform (macOS)
        return psutil.cpu_count() or 1


def available_memory() -> int:
    """Bytes of memory available to new processes without swapping (psutil's
    ``virtual_memory().available``, Linux's MemAvailable)."""
    return psutil.virtual_memory().available


def parallel_jobs(threads_per_job: int = 1) -> int:
    """Jobs to run at once: every core busy (jobs x threads <= cores) and memory for each.

    ValueError unless ``threads_per_job`` is a positive integer (``auto`` cannot size a pool).
    """
    if isinstance(threads_per_job, bool) or not isinstance(threads_per_job, int):
        raise ValueError(
            f"threads={threads_per_job!r} cannot size a launcher's pool of parallel jobs: give "
            "a positive integer (jobs x threads <= cores), e.g. threads=1"
        )
    jobs = max(1, usable_cores() // max(1, threads_per_job))
    return min(jobs, max(1, available_memory() // JOB_MEMORY_BYTES))


def register_resolvers() -> None:
    """``${parallel_jobs:THREADS}`` in configs (e.g. the joblib launcher's n_jobs)."""
    if not OmegaConf.has_resolver("parallel_jobs"):
        OmegaConf.register_new_resolver("parallel_jobs", parallel_jobs)

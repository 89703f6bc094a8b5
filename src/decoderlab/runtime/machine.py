"""What this machine can run at once: the ``parallel_jobs`` config resolver for launchers."""

from __future__ import annotations

import os

from omegaconf import OmegaConf

# Peak resident memory of one default-preset job (torch, Lightning, MNIST as float32):
# 1.09 GB measured with /usr/bin/time -v; 1.5 GB leaves room for the larger presets.
JOB_MEMORY_BYTES = 1_500_000_000


def usable_cores() -> int:
    """CPU cores this process may use: its affinity mask, or all of os.cpu_count()."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def available_memory() -> int | None:
    """Bytes of memory available to new processes (Linux MemAvailable), None if unknown."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


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
    memory = available_memory()
    if memory is not None:
        jobs = min(jobs, max(1, memory // JOB_MEMORY_BYTES))
    return jobs


def register_resolvers() -> None:
    """``${parallel_jobs:THREADS}`` in configs (e.g. the joblib launcher's n_jobs)."""
    if not OmegaConf.has_resolver("parallel_jobs"):
        OmegaConf.register_new_resolver("parallel_jobs", parallel_jobs)

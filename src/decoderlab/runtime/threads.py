"""How many torch threads a run trains with: the ``threads`` config key.

``threads: auto`` (the default) gives torch one intra-op thread per core this process may use
(its affinity mask) that no other process kept busy over a short window at start. Torch's own
default is one OpenMP thread per core, and every operation ends at a barrier where the threads
wait for each other: when another process takes one of the cores, each barrier waits for the
descheduled thread, and a 2-thread run on 2 cores with one core busy trained at a third of the
1-thread rate here (benchmarks/busy.py). ``threads: N`` forces N; ``threads: null`` leaves
torch's default.
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import asdict, dataclass
from typing import Any

import psutil
import torch

from decoderlab.runtime.machine import usable_cores

log = logging.getLogger(__name__)

# A core counts as free when other processes used at most this share of it in the window.
FREE_CORE_SLACK = 0.25
# Seconds over which other processes' CPU use is read at start.
LOAD_WINDOW_S = 0.3


@dataclass(frozen=True)
class ThreadChoice:
    """A run's torch intra-op thread count and why (metrics.json's ``threads`` field).

    ``setting`` is the config value (``auto``, an int, or None); ``usable_cores`` and
    ``busy_cores`` are the readings ``auto`` decided from (None when not read).
    """

    setting: str | int | None
    threads: int
    reason: str
    usable_cores: int | None = None
    busy_cores: float | None = None

    def as_record(self) -> dict[str, Any]:
        return asdict(self)


def parse_setting(value: Any) -> str | int | None:
    """The ``threads`` key as ``"auto"``, a positive int or None; ValueError otherwise."""
    if value is None or value == "auto":
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    raise ValueError(
        f"threads={value!r} is not allowed: use auto (threads for the cores no other process "
        "is using), a positive integer (that many torch threads), or null (torch's default)"
    )


def choose_threads(
    setting: Any,
    usable_cores: int,
    busy_cores: float,
    omp_num_threads: int | None = None,
    processes: int = 1,
) -> ThreadChoice:
    """Decide the thread count for ``setting`` from the readings (no side effects).

    ``usable_cores``: cores in this process's affinity mask; ``busy_cores``: cores' worth of
    CPU time other processes used per second of the window (0.0-``usable_cores``);
    ``omp_num_threads``: the ``OMP_NUM_THREADS`` environment value, an upper bound for ``auto``;
    ``processes``: this run's processes on this machine (DDP), which share the free cores.
    ``auto`` takes ``floor(usable - busy + FREE_CORE_SLACK) // processes`` threads, at least 1.
    """
    setting = parse_setting(setting)
    if setting is None:
        return ThreadChoice(None, torch.get_num_threads(), "threads=null: torch's own setting")
    if setting != "auto":
        return ThreadChoice(setting, setting, f"threads={setting} forces it")
    free = min(usable_cores, math.floor(usable_cores - busy_cores + FREE_CORE_SLACK))
    threads = max(1, free // processes)
    reason = (
        f"auto: {usable_cores} usable cores, {busy_cores:.2f} busy with other processes at start"
    )
    if processes > 1:
        reason += f", shared by this run's {processes} processes"
    if omp_num_threads is not None and omp_num_threads < threads:
        threads = omp_num_threads
        reason += f", capped by OMP_NUM_THREADS={omp_num_threads}"
    return ThreadChoice("auto", threads, reason, usable_cores, round(busy_cores, 3))


def _busy_seconds(times: Any) -> float:
    """CPU seconds a ``psutil.cpu_times`` entry spent running anything (not idle, not iowait)."""
    idle = times.idle + getattr(times, "iowait", 0.0)
    total = sum(times) - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0)
    return total - idle


def other_processes_busy_cores(window_s: float = LOAD_WINDOW_S) -> float:
    """Cores' worth of CPU time that processes other than this one used on this process's
    cores over ``window_s`` seconds (all CPUs' busy time from /proc/stat via psutil, minus this
    process's own user and system time)."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    me = psutil.Process()

    def reading() -> tuple[float, float, float]:
        per_cpu = psutil.cpu_times(percpu=True)
        mine = [per_cpu[i] for i in cpus if i < len(per_cpu)] if cpus else per_cpu
        own = me.cpu_times()
        return time.monotonic(), sum(map(_busy_seconds, mine)), own.user + own.system

    start, busy_start, own_start = reading()
    time.sleep(window_s)
    end, busy_end, own_end = reading()
    others = (busy_end - busy_start) - (own_end - own_start)
    return max(0.0, others / (end - start))


def _omp_num_threads() -> int | None:
    value = os.environ.get("OMP_NUM_THREADS", "")
    return int(value) if value.isdigit() and int(value) >= 1 else None


def apply_threads(setting: Any, processes: int = 1) -> ThreadChoice:
    """Choose the thread count for the ``threads`` key, set it in torch and log it once.

    With several processes (DDP) the count is also exported as ``OMP_NUM_THREADS`` unless it is
    set: Lightning's DDP launcher then keeps it instead of its own cores // processes, and the
    processes it starts inherit it.
    """
    setting = parse_setting(setting)
    if setting == "auto":
        choice = choose_threads(
            setting, usable_cores(), other_processes_busy_cores(), _omp_num_threads(), processes
        )
    else:
        choice = choose_threads(setting, usable_cores(), 0.0)
    torch.set_num_threads(choice.threads)
    if processes > 1 and setting is not None:
        os.environ.setdefault("OMP_NUM_THREADS", str(choice.threads))
    log.info("torch threads: %d (%s)", choice.threads, choice.reason)
    return choice

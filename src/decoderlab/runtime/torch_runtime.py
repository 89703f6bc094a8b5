"""Process-wide torch settings that cost training time and buy nothing in these runs."""

from __future__ import annotations

import os

import torch


def skip_idle_runtime_work(device: torch.device) -> None:
    """Turn off two per-step costs of small models (measured by benchmarks/throughput.py).

    - Deterministic mode (``trainer.deterministic``) fills every new tensor with NaN so that a
      read of uninitialised memory is reproducible; no op these models use reads it, so results
      stay bit for bit the same, and the fill no longer costs ~3% of a CPU step.
    - ``Adam.step`` asks for the GPU count on every step. Until CUDA is initialised, a CUDA
      build of torch asks NVML, which on a machine without GPUs is a failed ``dlopen`` of
      libnvidia-ml per step (~0.3 ms, ~3% of the seed model's CPU step). On such a machine
      ``CUDA_VISIBLE_DEVICES`` is set to the empty list it already is in effect.
    """
    torch.utils.deterministic.fill_uninitialized_memory = False
    if (
        device.type == "cpu"
        and "CUDA_VISIBLE_DEVICES" not in os.environ
        and not torch.cuda.is_available()
    ):
        os.environ["CUDA_VISIBLE_DEVICES"] = ""

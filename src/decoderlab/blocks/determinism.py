"""Blocks whose CUDA backward has no deterministic kernel, under strict deterministic mode.

``F.grid_sample`` (DySample) and bilinear/bicubic ``F.interpolate`` (bilinear additive
upsampling, resize-convolution) accumulate their CUDA gradients with atomic adds, so
``torch.use_deterministic_algorithms(True)`` (``trainer.deterministic=true``) makes their
backward raise a RuntimeError. These blocks call :func:`relax_strict_determinism` in a training
forward instead: on CUDA it warns once and switches the process to ``warn_only=True``, what
``trainer.deterministic=warn`` (the GPU default) sets anyway; results on a GPU are then
reproducible to float rounding only. CPU kernels are deterministic and nothing changes there.
"""

from __future__ import annotations

import warnings

import torch


def relax_strict_determinism(device: torch.device, op: str) -> bool:
    """On CUDA under strict deterministic mode, warn naming ``op`` and switch to warn-only;
    True if it did."""
    strict = (
        torch.are_deterministic_algorithms_enabled()
        and not torch.is_deterministic_algorithms_warn_only_enabled()
    )
    if device.type != "cuda" or not strict or not torch.is_grad_enabled():
        return False
    warnings.warn(
        f"{op}: its CUDA backward has no deterministic implementation; strict deterministic "
        "mode (trainer.deterministic=true) is relaxed to "
        "torch.use_deterministic_algorithms(True, warn_only=True) for this process",
        stacklevel=3,
    )
    torch.use_deterministic_algorithms(True, warn_only=True)
    return True

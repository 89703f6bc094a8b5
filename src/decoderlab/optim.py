"""Keras' Adam update rule as a torch optimizer, for faithful ports of Keras models."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch


class KerasAdam(torch.optim.Adam):
    """Adam exactly as Keras updates: epsilon is added to the uncorrected sqrt(v).

    Keras 2.x (``keras/optimizers/adam.py``) and 3.x (``keras/src/optimizers/adam.py``),
    ``Adam.update_step``, at step t = 1, 2, ... for gradient g:

        m <- m + (1 - beta_1) (g - m),   v <- v + (1 - beta_2) (g^2 - v)
        theta <- theta - lr sqrt(1 - beta_2^t) / (1 - beta_1^t) * m / (sqrt(v) + eps)

    ``torch.optim.Adam`` instead steps by ``lr / (1 - beta_1^t) * m / (sqrt(v) /
    sqrt(1 - beta_2^t) + eps)``, adding eps to the bias-corrected sqrt(v); with Keras' eps of
    1e-7 the two drift apart (the seed model's weights, float64, same init and batches: 7e-4
    apart after one step, 7e-2 after 100).
    Dividing Keras' numerator and denominator by sqrt(1 - beta_2^t) gives torch's update with
    eps replaced by ``eps / sqrt(1 - beta_2^t)``, so each step runs torch's own Adam kernels
    (per parameter, foreach or fused) with that epsilon, and the state dict is torch Adam's.

    Args (torch's names; Keras' in brackets): ``lr`` [learning_rate] 1e-3, ``betas``
    [beta_1, beta_2] (0.9, 0.999), ``eps`` [epsilon] 1e-7 (Keras' default, kept in
    ``param_groups``), ``amsgrad`` (Keras' variant: the running maximum of v), ``foreach``,
    ``fused``. Keras' decoupled ``weight_decay`` and torch's ``capturable`` (the step count
    must be known on the host) are not offered. t is the step count of the first parameter of
    a group that has a gradient; parameters of a group step together in these models.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-7,
        amsgrad: bool = False,
        *,
        foreach: bool | None = None,
        fused: bool | None = None,
    ) -> None:
        super().__init__(
            params, lr=lr, betas=betas, eps=eps, amsgrad=amsgrad, foreach=foreach, fused=fused
        )

    def _next_step(self, group: dict[str, Any]) -> int | None:
        """The step t this update takes for ``group`` (None if no parameter has a gradient)."""
        for param in group["params"]:
            if param.grad is not None:
                state = self.state.get(param)
                return int(state["step"]) + 1 if state else 1
        return None

    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """One Keras Adam update of every parameter with a gradient; returns the closure's loss."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        keras_eps = [group["eps"] for group in self.param_groups]
        try:
            for group in self.param_groups:
                t = self._next_step(group)
                if t is not None:
                    group["eps"] = group["eps"] / math.sqrt(1 - group["betas"][1] ** t)
            super().step()
        finally:
            for group, eps in zip(self.param_groups, keras_eps, strict=True):
                group["eps"] = eps
        return loss

"""Fault injection for end-to-end tests, chosen per run with ``data._target_=tests.faults.<Class>``.

Each data module serves MNIST exactly as ``MNISTDataModule`` does; its training loader adds one
fault at batch ``at_batch`` (1-based) of epoch ``at_epoch``. A run resumed past that batch does
not meet the fault again, so it completes.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from typing import Any

import torch

from decoderlab.tasks.mnist import MNISTDataModule, TensorBatches


class InjectedFault(RuntimeError):
    """The failure ``LoaderFailsMidEpoch`` raises."""


class _FaultyBatches(TensorBatches):
    def __init__(self, loader: TensorBatches, at_epoch: int, at_batch: int) -> None:
        super().__init__(loader.images, loader.batch_size, loader.sampler)
        self.at_epoch, self.at_batch = at_epoch, at_batch

    def at_fault(self) -> bool:
        """Whether the batch just taken from TensorBatches is the faulty one."""
        return (self.sampler.epoch, self.served) == (self.at_epoch, self.at_batch)


class _SignalingBatches(_FaultyBatches):
    signal = signal.SIGTERM

    def __iter__(self) -> Iterator[torch.Tensor]:
        for batch in super().__iter__():
            if self.at_fault():
                os.kill(os.getpid(), self.signal)
            yield batch


class _FailingBatches(_FaultyBatches):
    def __iter__(self) -> Iterator[torch.Tensor]:
        for batch in super().__iter__():
            yield batch
            if self.at_fault():
                raise InjectedFault(
                    f"injected loader failure after batch {self.at_batch} of epoch {self.at_epoch}"
                )


class _NaNBatches(_FaultyBatches):
    def __iter__(self) -> Iterator[torch.Tensor]:
        for batch in super().__iter__():
            yield torch.full_like(batch, float("nan")) if self.at_fault() else batch


class _FaultyDataModule(MNISTDataModule):
    """``on_rank``: the DDP process (global rank) that meets the fault; None: every process."""

    loader_class: type[_FaultyBatches]

    def __init__(
        self, at_epoch: int = 0, at_batch: int = 2, on_rank: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.at_epoch, self.at_batch, self.on_rank = at_epoch, at_batch, on_rank

    def train_dataloader(self) -> TensorBatches:
        loader = super().train_dataloader()
        if self.on_rank is not None and self.trainer.global_rank != self.on_rank:
            return loader
        return self.loader_class(loader, self.at_epoch, self.at_batch)


class SignalMidEpoch(_FaultyDataModule):
    """Sends ``signal_name`` to its own process while serving the faulty batch: Lightning
    trains that batch, then the run stops as if the signal had come from outside."""

    loader_class = _SignalingBatches

    def __init__(self, signal_name: str = "SIGTERM", at_epoch: int = 1, **kwargs: Any) -> None:
        super().__init__(at_epoch=at_epoch, **kwargs)
        self.signal = signal.Signals[signal_name]

    def train_dataloader(self) -> TensorBatches:
        loader = super().train_dataloader()
        loader.signal = self.signal
        return loader


class LoaderFailsMidEpoch(_FaultyDataModule):
    """The training loader raises InjectedFault after serving the faulty batch."""

    loader_class = _FailingBatches


class NaNBatch(_FaultyDataModule):
    """The faulty batch is all NaN, so its loss is NaN: the run must stop as diverged."""

    loader_class = _NaNBatches

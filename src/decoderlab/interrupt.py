"""Stopping a run cleanly: SIGTERM or a first Ctrl-C end training after the current batch.

Lightning turns SIGTERM into ``SIGTERMException`` once the running batch is done. ``StopSignals``
routes the first SIGINT (Ctrl-C) the same way, so both stop at a batch boundary, where
``InterruptCheckpoint`` saves a checkpoint that resumes exactly; a second Ctrl-C interrupts at
once. ``stop_signal`` tells which signal ended a run, the exit status is 128 + its number.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import lightning as L
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities import rank_zero_only
from lightning.pytorch.utilities.exceptions import SIGTERMException

from decoderlab.model import DivergenceError

INTERRUPT_CHECKPOINT = "last-interrupted.ckpt"


class StopSignals:
    """While active (a context manager), the first SIGINT asks Lightning to stop as SIGTERM does.

    Lightning's SIGTERM handler is installed only during ``fit``/``test``; elsewhere, and on a
    second SIGINT, KeyboardInterrupt is raised as usual. ``received`` is the signal number of
    the SIGINT once one came. Signal handlers exist only in the main thread; elsewhere this
    does nothing.
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: Any = None

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._on_sigint)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        first = self.received is None
        self.received = signum
        lightning_handler = signal.getsignal(signal.SIGTERM)
        if not first or not callable(lightning_handler):
            raise KeyboardInterrupt
        if rank_zero_only.rank == 0:  # under DDP every process gets the terminal's Ctrl-C
            print("\nStopping after the current batch (Ctrl-C again: at once).", file=sys.stderr)
        lightning_handler(signum, frame)


def stop_signal(error: BaseException, stops: StopSignals) -> signal.Signals | None:
    """The signal that ended the run with ``error`` (SIGINT or SIGTERM), None for a failure."""
    if isinstance(error, SIGTERMException):
        return signal.Signals(stops.received or signal.SIGTERM)
    if isinstance(error, KeyboardInterrupt) or isinstance(error.__context__, KeyboardInterrupt):
        return signal.SIGINT  # Lightning turns KeyboardInterrupt into sys.exit(1)
    return None


class InterruptCheckpoint(L.Callback):
    """Save ``dirpath/last-interrupted.ckpt`` when ``fit`` stops early; delete it once fit ends.

    Saved on a stop signal or an error after at least one optimizer step; not on a
    DivergenceError (its weights are what diverged) nor a hard KeyboardInterrupt (it may land
    inside an optimizer step). Its name matches Lightning's ``last*.ckpt``, so ``ckpt_path=last``
    picks it when it is the newest.
    """

    def __init__(self, dirpath: str | Path) -> None:
        self.dirpath = Path(dirpath)

    @property
    def path(self) -> Path:
        return self.dirpath / INTERRUPT_CHECKPOINT

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        if (
            trainer.state.fn != TrainerFn.FITTING
            or trainer.sanity_checking
            or trainer.fast_dev_run
            or trainer.global_step == 0
            or isinstance(exception, DivergenceError | KeyboardInterrupt)
        ):
            return
        trainer.save_checkpoint(self.path, weights_only=False)

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage == TrainerFn.FITTING:
            trainer.strategy.remove_checkpoint(self.path)

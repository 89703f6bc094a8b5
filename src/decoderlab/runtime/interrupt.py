"""Stopping a run cleanly: SIGTERM or a first Ctrl-C end training after the current batch.

Lightning turns SIGTERM into ``SIGTERMException`` once the running batch is done. ``StopSignals``
routes the first SIGINT (Ctrl-C) the same way, so both stop at a batch boundary, where
``InterruptCheckpoint`` saves a checkpoint that resumes exactly; a second Ctrl-C interrupts at
once. ``stop_signal`` tells which signal ended a run, the exit status is 128 + its number.
Under DDP ``DistributedStop`` replaces Lightning's SIGTERM handler, so that every process stops
after the same batch.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import OnExceptionCheckpoint
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities import rank_zero_only
from lightning.pytorch.utilities.exceptions import SIGTERMException

from decoderlab.model import DivergenceError
from decoderlab.runtime.full_disk import is_disk_full

log = logging.getLogger(__name__)

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


class DistributedStop(L.Callback):
    """Under DDP, stop every process after the same training batch when a stop signal came.

    Lightning's SIGTERM handler broadcasts from inside the signal handler; when the signal lands
    while another process waits in a different collective, the two pair up wrongly and the run
    hangs or dies (seen here with gloo in about half of the tries). While a stage of a DDP run
    is running, this callback's handler takes SIGTERM instead (and, through ``StopSignals``,
    the first SIGINT) and only notes it. After each training batch the processes agree, with
    one all-reduce (max) of a flag, whether any of them got one, and all raise Lightning's
    ``SIGTERMException`` together, so ``InterruptCheckpoint`` saves with every process present.
    A signal during validation or test takes effect after the next training batch, or not at
    all after the last one (the run then finishes). One process keeps Lightning's own handling.
    """

    def __init__(self) -> None:
        self.received: int | None = None

    def _take_over(self, trainer: L.Trainer) -> None:
        """Replace the handler Lightning installed for this stage (it restores its predecessor
        when the stage ends); signal handlers exist in the main thread only."""
        if trainer.world_size > 1 and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._note)

    def _note(self, signum: int, frame: FrameType | None) -> None:
        self.received = signum

    def on_sanity_check_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._take_over(trainer)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._take_over(trainer)

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._take_over(trainer)

    def on_test_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._take_over(trainer)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.world_size == 1:
            return
        flag = torch.tensor(int(self.received is not None), device=pl_module.device)
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
        if flag.item():
            raise SIGTERMException


class InterruptCheckpoint(OnExceptionCheckpoint):
    """Lightning's ``OnExceptionCheckpoint`` as ``dirpath/last-interrupted.ckpt``, saved only
    when it resumes well; deleted once a fit ends (Lightning's teardown).

    Saved on a stop signal or an error after at least one optimizer step; not on a
    DivergenceError (its weights are what diverged) nor a hard KeyboardInterrupt (it may land
    inside an optimizer step) nor a full disk (``decoderlab.runtime.full_disk``). Under DDP
    only on a stop signal: saving needs every process, and all of them stop together on a
    signal (``DistributedStop``), while an error may have hit one process alone. A save that
    fails is logged and the run's own error stands. Its name matches Lightning's
    ``last*.ckpt``, so ``ckpt_path=last`` picks it when it is the newest.
    """

    def __init__(self, dirpath: str | Path) -> None:
        super().__init__(dirpath, filename=Path(INTERRUPT_CHECKPOINT).stem)

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        if (
            trainer.state.fn != TrainerFn.FITTING
            or trainer.sanity_checking
            or trainer.fast_dev_run
            or trainer.global_step == 0
            or isinstance(exception, DivergenceError | KeyboardInterrupt)
            or (trainer.world_size > 1 and not isinstance(exception, SIGTERMException))
            or is_disk_full(exception)  # the room left is the run record's
        ):
            return
        try:
            super().on_exception(trainer)
        except OSError as err:
            log.error("no interrupt checkpoint: saving %s failed (%s)", self.ckpt_path, err)

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage == TrainerFn.FITTING:
            super().teardown(trainer)

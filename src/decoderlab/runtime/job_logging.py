"""What a run prints on the terminal; everything else goes to its log file.

Hydra configures Python logging in every job's own process (``hydra.job_logging`` in
``conf/hydra/default.yaml``; joblib's and submitit's workers too): the file handler writes every
record at INFO and above to ``<run dir>/train.log``, the console handler only what
``ConsoleFilter`` lets through. Lightning's messages ("GPU available", "`Trainer.fit` stopped")
are INFO records of the ``lightning.pytorch`` logger, and Python warnings become WARNING records
of ``py.warnings`` once ``CaptureWarnings`` has run, so both are routed like any other record.
decoderlab's own INFO records are shown (``skipped: ...``), except those of the loggers
``conf/hydra/default.yaml`` names quiet (the threads each job chose). ``hydra.verbose=true``
(or a logger name) shows everything on the terminal again.
"""

from __future__ import annotations

import fcntl
import logging
import sysconfig
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback

# in a multirun's directory: the text of each warning shown on the terminal, one a line
SHOWN_WARNINGS_FILE = "warnings.log"


class ConsoleFilter(logging.Filter):
    """Let through decoderlab's records at INFO and above (``skipped: ...``, ``resuming from
    ...``) and other loggers' at ``level`` and above; a WARNING only the first time its text
    is seen in this run or sweep (errors every time). Everything when ``verbose`` is set.

    Args:
        level: the lowest level shown from other loggers, a ``logging`` level name.
        verbose: ``hydra.verbose``: anything but false shows every record that reaches the
            handler.
        shown_file: a file shared by a sweep's jobs (in any process) that lists the warnings
            already shown; None keeps the list in this filter only.
        own: the loggers (and their children) whose INFO records are shown (``__main__``:
            ``python -m decoderlab.train``)...
        quiet: ... except these, held to ``level`` like other loggers.
    Raises:
        ValueError: ``level`` is not a level name.
    """

    def __init__(
        self,
        level: str = "WARNING",
        verbose: Any = False,
        shown_file: str | None = None,
        own: tuple[str, ...] = ("decoderlab", "__main__"),
        quiet: tuple[str, ...] = (),
    ) -> None:
        super().__init__()
        levelno = logging.getLevelName(str(level).upper())
        if not isinstance(levelno, int):
            raise ValueError(
                f"ConsoleFilter: unknown level {level!r}; use DEBUG, INFO, WARNING or ERROR"
            )
        self.levelno = levelno
        self.verbose = bool(verbose)
        self.shown_file = Path(shown_file) if shown_file else None
        self.own, self.quiet = tuple(own), tuple(quiet)
        self._shown: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.verbose:
            return True
        own = _under(record.name, self.own) and not _under(record.name, self.quiet)
        if record.levelno < (min(logging.INFO, self.levelno) if own else self.levelno):
            return False
        return record.levelno != logging.WARNING or self._first_time(record.getMessage())

    def _first_time(self, text: str) -> bool:
        if text in self._shown:
            return False
        self._shown.add(text)
        if self.shown_file is None:
            return True
        # one line per warning; the lock keeps two jobs from both showing the same one
        entry = text.replace("\\", "\\\\").replace("\n", "\\n")
        with open(self.shown_file, "a+", encoding="utf-8") as shown:
            fcntl.flock(shown, fcntl.LOCK_EX)
            shown.seek(0)
            if any(line.rstrip("\n") == entry for line in shown):
                return False
            shown.write(entry + "\n")
        return True


def _under(name: str, loggers: tuple[str, ...]) -> bool:
    return any(name == n or name.startswith(n + ".") for n in loggers)


def console_filter(
    level: str = "WARNING",
    verbose: Any = False,
    mode: Any = None,
    output_dir: str | None = None,
    quiet: tuple[str, ...] = (),
) -> ConsoleFilter:
    """The job console's filter (``hydra.job_logging.filters.console``), showing decoderlab's
    INFO records but those of ``quiet``. In a multirun (``mode``: ``hydra.mode``) the warnings
    already shown are listed in the sweep directory, the parent of the job's ``output_dir``, so
    each is shown once per sweep."""
    multirun = str(getattr(mode, "name", mode)) == "MULTIRUN"
    shown = Path(output_dir).parent / SHOWN_WARNINGS_FILE if multirun and output_dir else None
    return ConsoleFilter(level, verbose, str(shown) if shown else None, quiet=tuple(quiet))


class ConsoleFormatter(logging.Formatter):
    """One record as the terminal shows it: installed packages' paths relative to
    site-packages (``lightning/pytorch/loops/fit_loop.py:321: ...``), no trailing blank line."""

    def __init__(self, fmt: str | None = None) -> None:
        super().__init__(fmt)
        self.prefixes = sorted(
            {str(Path(sysconfig.get_paths()[k])) + "/" for k in ("purelib", "platlib")},
            key=len,
            reverse=True,
        )

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        for prefix in self.prefixes:
            text = text.replace(prefix, "")
        return text.rstrip()


class HideJobListing(logging.Filter):
    """Drop the launchers' per-job lines (``#3 : model/decoder=... seed=2``) from Hydra's
    console unless ``verbose``: each job's own result line names its decoder, seed and
    directory, and ``multirun.yaml`` and every job's ``.hydra/overrides.yaml`` keep the list."""

    def __init__(self, verbose: Any = False) -> None:
        super().__init__()
        self.verbose = bool(verbose)

    def filter(self, record: logging.LogRecord) -> bool:
        return self.verbose or not record.getMessage().lstrip().startswith("#")


class CaptureWarnings(Callback):
    """Hydra callback: route Python warnings into logging (``logging.captureWarnings``), in the
    job's process, after Hydra has configured its logging."""

    def on_job_start(self, config: Any, **kwargs: Any) -> None:
        # captureWarnings(True) does nothing while logging holds an earlier capture, even one
        # whose hook something else (warnings.catch_warnings, an earlier in-process job) has
        # since replaced: release it first, so this job's warnings reach this job's log
        logging.captureWarnings(False)
        logging.captureWarnings(True)

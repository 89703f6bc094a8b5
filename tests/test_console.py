"""What runs print on the terminal (conf/hydra/default.yaml's logging,
decoderlab.runtime.job_logging): each job's result line, the progress line and the report's
path; Lightning's messages and library warnings go to the job's log file, a warning once per
sweep on the terminal."""

from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.utils import configure_log

from decoderlab.runtime.job_logging import SHOWN_WARNINGS_FILE, CaptureWarnings
from decoderlab.train import config_dir
from tests.tiny_sweep import DECODERS, SEEDS, tiny_sweep

# a job's result line: decoder, seed, parameters, test loss, time, device, run directory
RESULT_LINE = re.compile(r"^(\S+) seed (\d+): [\d,]+ params, test/loss [\d.]+, [\d.]+ s on \S+ -> ")
LIGHTNING_INFO = "GPU available: False, used: False"
LIBRARY_WARNING = "a library's deprecation, raised in every job"
THREADS = "torch threads: 1 (threads=1 forces it)"
SKIPPED = "skipped: a finished run (resume=true)"


@pytest.fixture
def restore_logging():
    """Give back the logging set-up a test's configure_log replaces."""
    names = ("", "lightning", "lightning.pytorch", "lightning.fabric", "py.warnings", "decoderlab")
    saved = {
        n: (lg.handlers[:], lg.level, lg.propagate)
        for n in names
        for lg in [logging.getLogger(n or None)]
    }
    yield
    logging.captureWarnings(False)
    for name, (handlers, level, propagate) in saved.items():
        logger = logging.getLogger(name or None)
        for handler in logger.handlers[:]:
            logger.removeHandler(handler)
            if handler not in handlers:
                handler.close()
        for handler in handlers:
            logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


def start_job(output_dir: Path, *overrides: str) -> None:
    """Set up logging as Hydra does in a multirun job's process (``run_job``), with its
    callbacks' ``on_job_start``."""
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[
                f"hydra.runtime.output_dir={output_dir}",
                "hydra.mode=MULTIRUN",
                "hydra.job.name=train",
                *overrides,
            ],
            return_hydra_config=True,
        )
    output_dir.mkdir(parents=True)
    configure_log(cfg.hydra.job_logging, cfg.hydra.verbose)
    CaptureWarnings().on_job_start(cfg)


def job_chatter() -> None:
    """What a training job logs besides its result: Lightning's and decoderlab's INFO lines
    and a warning."""
    logging.getLogger("lightning.pytorch.utilities.rank_zero").info(LIGHTNING_INFO)
    logging.getLogger("decoderlab.runtime.threads").info(THREADS)
    logging.getLogger("decoderlab.train").info(SKIPPED)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn(LIBRARY_WARNING, DeprecationWarning, stacklevel=1)


def test_library_chatter_goes_to_the_job_log_and_a_warning_to_the_terminal_once_per_sweep(
    tmp_path, capsys, restore_logging
):
    sweep = tmp_path / "sweep"
    shown = []
    for job in ("0", "1"):
        start_job(sweep / job)
        job_chatter()
        logging.getLogger("decoderlab.runtime.hydra_callbacks").error("job %s failed", job)
        printed = capsys.readouterr()
        assert LIBRARY_WARNING not in printed.out  # Python's warnings go to stderr
        shown.append(printed.out + printed.err)
        log = (sweep / job / "train.log").read_text()
        assert all(text in log for text in (LIGHTNING_INFO, LIBRARY_WARNING, THREADS, SKIPPED))
    first, second = shown
    assert LIGHTNING_INFO not in first + second and THREADS not in first + second
    assert SKIPPED in first and SKIPPED in second
    assert first.count(LIBRARY_WARNING) == 1 and LIBRARY_WARNING not in second
    # errors are never held back
    assert "job 0 failed" in first and "job 1 failed" in second
    assert LIBRARY_WARNING in (sweep / SHOWN_WARNINGS_FILE).read_text()
    # paths inside installed packages are shown relative to site-packages; no blank lines
    assert "site-packages" not in first and "\n\n" not in first


def test_hydra_verbose_shows_everything_again(tmp_path, capsys, restore_logging):
    start_job(tmp_path / "sweep" / "0", "hydra.verbose=true")
    job_chatter()
    printed = capsys.readouterr()
    out = printed.out + printed.err
    assert all(text in out for text in (LIGHTNING_INFO, LIBRARY_WARNING, THREADS, SKIPPED))


@pytest.mark.slow
def test_a_sweep_prints_a_few_lines_per_job(tmp_path_factory):
    sweep_dir, result = tiny_sweep(tmp_path_factory)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    jobs = len(DECODERS) * len(SEEDS)
    results = [m.groups() for m in map(RESULT_LINE.match, lines) if m]
    assert sorted(results) == sorted((d, str(s)) for d in DECODERS for s in SEEDS)
    assert sum(line.startswith("sweep: ") for line in lines) == jobs
    assert lines[-1] == f"Report: {sweep_dir / 'report.md'}"
    # per job a result and a progress line; Hydra's launch line and the report's path once
    assert len(lines) <= 2 * jobs + 2, result.stdout
    # each warning of the sweep once, on stderr as Python prints warnings
    warned = [line for line in result.stderr.splitlines() if line.startswith("WARNING ")]
    assert len(set(warned)) == len(warned), result.stderr
    assert "GPU available" not in result.stdout
    assert "GPU available" in (sweep_dir / "0" / "train.log").read_text()

"""threads: auto picks one torch thread per core no other process is using; N forces N."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from decoderlab.runtime import threads as thread_policy
from decoderlab.runtime.machine import parallel_jobs
from decoderlab.runtime.threads import ThreadChoice, choose_threads, other_processes_busy_cores
from decoderlab.train import train
from tests.cli_runs import BUDGET


@pytest.mark.parametrize(
    ("usable", "busy", "expected"),
    [
        (2, 0.0, 2),  # quiet: every core
        (2, 0.2, 2),  # a core 20% used by others still counts as free
        (2, 0.3, 1),
        (2, 0.97, 1),  # one core kept busy: one thread
        (2, 2.0, 1),  # all busy: never fewer than one
        (2, 5.0, 1),
        (1, 0.0, 1),
        (16, 0.0, 16),
        (16, 3.5, 12),
        (16, 3.8, 12),
    ],
)
def test_auto_takes_the_cores_other_processes_leave_free(usable, busy, expected):
    choice = choose_threads("auto", usable_cores=usable, busy_cores=busy)
    assert choice.threads == expected
    assert (choice.setting, choice.usable_cores, choice.busy_cores) == ("auto", usable, busy)
    assert f"{usable} usable cores" in choice.reason and f"{busy:.2f} busy" in choice.reason


@pytest.mark.parametrize(
    ("usable", "busy", "processes", "expected"),
    [(2, 0.0, 2, 1), (16, 0.0, 4, 4), (16, 6.0, 4, 2), (2, 1.0, 2, 1)],
)
def test_a_run_of_several_processes_shares_the_free_cores(usable, busy, processes, expected):
    choice = choose_threads("auto", usable, busy, processes=processes)
    assert choice.threads == expected
    assert f"shared by this run's {processes} processes" in choice.reason


def test_omp_num_threads_caps_auto():
    choice = choose_threads("auto", usable_cores=16, busy_cores=0.0, omp_num_threads=4)
    assert choice.threads == 4 and "OMP_NUM_THREADS=4" in choice.reason
    assert choose_threads("auto", 2, 0.0, omp_num_threads=8).threads == 2


@pytest.mark.parametrize("forced", [1, 3, 8])
def test_an_explicit_count_wins_over_any_reading(forced):
    for usable, busy in ((2, 0.0), (2, 1.9), (16, 15.0)):
        choice = choose_threads(forced, usable_cores=usable, busy_cores=busy)
        assert choice == ThreadChoice(forced, forced, f"threads={forced} forces it")


def test_null_leaves_torch_as_it_is():
    before = torch.get_num_threads()
    assert choose_threads(None, 2, 1.5).threads == before


@pytest.mark.parametrize("bad", ["many", "2x", 0, -1, 1.5, True])
def test_other_values_are_refused_with_what_is_allowed(bad):
    with pytest.raises(ValueError, match=r"threads=.* is not allowed: use auto .* integer"):
        choose_threads(bad, 2, 0.0)


def test_a_pool_of_parallel_jobs_needs_a_number_of_threads():
    with pytest.raises(ValueError, match="threads='auto' cannot size a launcher's pool"):
        parallel_jobs("auto")


def test_a_busy_process_on_our_cores_is_read_as_about_one_core():
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)  # past the interpreter's start-up
        busy = other_processes_busy_cores(window_s=1.0)
    finally:
        spinner.kill()
        spinner.wait()
    assert 0.7 <= busy <= 1.3


def test_this_process_own_work_is_not_counted():
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            pass

    worker = threading.Thread(target=spin)
    worker.start()
    try:
        busy = other_processes_busy_cores(window_s=1.0)
    finally:
        stop.set()
        worker.join()
    assert busy < 0.5


@pytest.mark.parametrize(
    ("setting", "busy", "expected"), [("auto", 0.96, 1), ("auto", 0.0, 2), (2, 0.96, 2)]
)
def test_the_run_sets_the_choice_and_records_it(
    make_cfg, monkeypatch, one_torch_thread, setting, busy, expected
):
    """With the readings injected: torch's thread count and metrics.json's threads field."""
    monkeypatch.setattr(thread_policy, "usable_cores", lambda: 2)
    monkeypatch.setattr(thread_policy, "other_processes_busy_cores", lambda: busy)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    overrides = [o for o in BUDGET if not o.startswith("threads=")]
    cfg = make_cfg(*overrides, "trainer.max_epochs=1", f"threads={setting}")
    train(cfg)
    assert torch.get_num_threads() == expected
    record = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert record["threads"]["setting"] == setting
    assert record["threads"]["threads"] == expected
    if setting == "auto":
        assert (record["threads"]["usable_cores"], record["threads"]["busy_cores"]) == (2, busy)
    else:
        assert record["threads"]["reason"] == "threads=2 forces it"

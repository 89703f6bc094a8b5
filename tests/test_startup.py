"""The start-up benchmark times every phase of a real decoderlab-train process."""

from __future__ import annotations

import json

import pytest
from benchmarks.startup import PHASES

from tests.conftest import run_benchmark


@pytest.mark.slow
def test_startup_benchmark_reports_each_phase_in_order(tmp_path):
    out = tmp_path / "startup.json"
    result = run_benchmark("startup.py", "--cold", "--reps", "1", "--json", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    seconds = [report["seconds_since_start"][phase] for phase in PHASES]
    assert list(report["seconds_since_start"]) == list(PHASES)
    assert seconds[0] > 0 and seconds == sorted(seconds)
    assert report["cold_first_run_s"] == report["seconds_since_start"]
    assert report["import_decoderlab_train_s"] > 0

"""A real TensorBoard server on the tiny sweep: every job is a run with the expected data."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from tests.tiny_sweep import DECODERS, SEEDS, console_script, tiny_sweep

pytestmark = pytest.mark.slow

SCALARS = ("train/loss", "val/loss", "val/psnr", "val/cbe2", "test/loss", "test/ssim", "ffcr2/init")
IMAGES = ("reconstructions", "residual_spectrum", "flat_field/init", "flat_field/final")
STARTUP_S = 90


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def wait_until_loaded(base: str, expected: int, server: subprocess.Popen) -> list[str]:
    """Poll until ``expected`` runs are listed, each with its last scalar (test/loss) loaded;
    fail past STARTUP_S seconds or if the server exits."""
    deadline, runs = time.monotonic() + STARTUP_S, []
    while time.monotonic() < deadline:
        assert server.poll() is None, f"tensorboard exited with {server.returncode}"
        try:
            runs = get_json(f"{base}/data/runs")
            tags = get_json(f"{base}/data/plugin/scalars/tags")
        except (urllib.error.URLError, ConnectionError):
            runs, tags = [], {}
        if len(runs) >= expected and all("test/loss" in tags.get(run, {}) for run in runs):
            return runs
        time.sleep(0.5)
    pytest.fail(f"TensorBoard listed {runs} after {STARTUP_S} s; expected {expected} loaded runs")


@pytest.fixture(scope="module")
def tensorboard(tmp_path_factory):
    sweep_dir, result = tiny_sweep(tmp_path_factory)
    assert result.returncode == 0, result.stderr[-3000:]
    port = free_port()
    log = (sweep_dir.parent / "tensorboard.log").open("w")
    server = subprocess.Popen(
        [
            console_script("tensorboard"),
            "--logdir",
            str(sweep_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--load_fast=false",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        runs = wait_until_loaded(base, len(DECODERS) * len(SEEDS), server)
        yield base, runs
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        log.close()


def test_every_job_is_a_run_named_by_decoder_and_seed(tensorboard):
    _, runs = tensorboard
    expected = {f"{name}_seed{seed}" for name in DECODERS for seed in SEEDS}
    assert {run.split("/")[-1] for run in runs} == expected
    assert len({run.split("/")[0] for run in runs}) == len(runs)  # one job directory each


def test_every_run_has_the_scalar_tags(tensorboard):
    base, runs = tensorboard
    tags = get_json(f"{base}/data/plugin/scalars/tags")
    for run in runs:
        assert set(SCALARS) <= set(tags[run]), (run, sorted(tags[run]))


def test_every_run_has_the_images(tensorboard):
    base, runs = tensorboard
    tags = get_json(f"{base}/data/plugin/images/tags")
    for run in runs:
        assert set(IMAGES) <= set(tags[run]), (run, sorted(tags[run]))


def test_hparams_tab_lists_decoder_seed_and_final_metrics(tensorboard):
    base, _ = tensorboard
    request = urllib.request.Request(
        f"{base}/data/plugin/hparams/experiment",
        data=json.dumps({"experimentName": ""}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        experiment = json.load(response)
    assert {"decoder", "seed", "params"} <= {h["name"] for h in experiment["hparamInfos"]}
    metrics = {m["name"]["tag"] for m in experiment["metricInfos"]}
    assert {"test/loss", "test/cbe2", "val/loss"} <= metrics

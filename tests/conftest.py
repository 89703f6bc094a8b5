"""Shared fixtures: composed Hydra configs with temporary output dirs, tiny IDX files."""

from __future__ import annotations

import gc
import gzip
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from decoderlab.train import config_dir

REPO = Path(__file__).resolve().parents[1]
SHIPPED_DATA = REPO / "data"


def run_benchmark(
    script: str, *args: str, timeout: int = 600, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """``python benchmarks/<script> *args`` from the repository root, output captured."""
    return subprocess.run(
        [sys.executable, f"benchmarks/{script}", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


@pytest.fixture
def make_cfg(tmp_path: Path) -> Callable[..., DictConfig]:
    """Compose conf/train.yaml with overrides; outputs go to a fresh folder under tmp_path."""
    counter = iter(range(1000))

    def _compose(*overrides: str) -> DictConfig:
        out = tmp_path / f"run{next(counter)}"
        with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
            return compose(
                "train",
                overrides=[f"paths.output_dir={out}", f"paths.data_dir={SHIPPED_DATA}", *overrides],
            )

    return _compose


def write_idx(path: Path, array: torch.Tensor, magic: int, compress: bool = True) -> Path:
    """Write a uint8 tensor as an IDX file (big-endian header), gzipped if ``compress``."""
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    payload = header + array.to(torch.uint8).contiguous().numpy().tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        with gzip.open(path, "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)
    return path


@pytest.fixture
def tiny_mnist(tmp_path: Path) -> Path:
    """A data dir with four small, valid gzipped IDX files (80 train and 20 test digits)."""
    raw = tmp_path / "tiny" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    generator = torch.Generator().manual_seed(0)
    for prefix, count in (("train", 80), ("t10k", 20)):
        images = torch.randint(0, 256, (count, 28, 28), generator=generator)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images, 2051)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", torch.arange(count) % 10, 2049)
    return tmp_path / "tiny"


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """Environment for console-script subprocesses: outputs under tmp_path, shipped data."""
    return {
        **os.environ,
        "DECODERLAB_OUTPUT_DIR": str(tmp_path / "outputs"),
        "DECODERLAB_DATA_DIR": str(SHIPPED_DATA),
    }


@pytest.fixture(params=[0o022, 0o002], ids=["umask022", "umask002"])
def umask(request) -> int:
    """Runs the test under a umask of 0o022 and of 0o002 (the process's is restored after)."""
    before = os.umask(request.param)
    yield request.param
    os.umask(before)


@pytest.fixture
def one_torch_thread():
    """Runs in this process use one torch thread, as the subprocesses do (threads=1)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def quick_gc():
    """statsmodels' ``multipletests(method="holm")`` calls ``gc.collect()`` on every call (up to
    0.2 s in a process holding torch and scipy); freezing the objects alive now keeps the
    thousands of calls of the simulations fast. Results are unaffected."""
    import decoderlab.stats.paired  # noqa: F401 - imported before the freeze

    gc.freeze()
    yield
    gc.unfreeze()

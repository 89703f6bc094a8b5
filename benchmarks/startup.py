"""Whole-process cost: seconds from starting ``decoderlab-train`` to its first training step.

Starts the console script as a fresh process, as a user would (a default run of the given
overrides, full data), with one extra callback, ``PhaseClock``, that writes the wall-clock
time at each setup phase to a JSON file and stops training after the first step. Printed
per phase (seconds since the process was started, median over repetitions):

  imports+config   interpreter, imports, Hydra composition, instantiating data and model
  data             the Trainer, prepare_data (verify; decompress if needed), setup (tensors)
  fit setup        model setup, optimizers, callbacks' on_fit_start (the FFCR probe at init)
  sanity check     Lightning's validation sanity check
  first step       the first training batch has started

``--cold`` runs the first repetition on a fresh copy of the gzipped MNIST (decompression and
verification included); later repetitions use the cached files.

    python benchmarks/startup.py                       # default run, 3 repetitions
    python benchmarks/startup.py experiment=seed_upsampling2d --reps 5
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import lightning as L

REPO = Path(__file__).resolve().parents[1]
PHASES = {
    "imports+config": "instantiated",
    "data": "setup",
    "fit setup": "sanity_check_start",
    "sanity check": "sanity_check_end",
    "first step": "first_step",
}


class PhaseClock(L.Callback):
    """Writes ``{phase: unix time}`` to ``path`` and stops fit after the first training step."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.times: dict[str, float] = {}
        self._mark("instantiated")  # callbacks are built after the data module and the model

    def _mark(self, phase: str) -> None:
        self.times.setdefault(phase, time.time())
        self.path.write_text(json.dumps(self.times))

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        # Lightning's order: prepare_data, the data module's setup, then the callbacks' setup
        self._mark("setup")

    def on_sanity_check_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._mark("sanity_check_start")

    def on_sanity_check_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._mark("sanity_check_end")

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._mark("first_step")
        trainer.should_stop = True


def one_run(overrides: list[str], data_dir: Path, work: Path) -> dict[str, float]:
    """Start decoderlab-train once; return {phase: seconds since the process was started}."""
    clock = work / "phases.json"
    clock.unlink(missing_ok=True)
    command = [
        str(Path(sys.executable).with_name("decoderlab-train")),
        *overrides,
        f"paths.data_dir={data_dir}",
        f"hydra.run.dir={work / 'run'}",
        "callbacks.progress_bar=null",
        f"+callbacks.phase_clock={{_target_: startup.PhaseClock, path: '{clock}'}}",
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "benchmarks"), *sys.path])}
    started = time.time()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0 or not clock.exists():
        sys.exit(f"decoderlab-train failed (exit {result.returncode}):\n{result.stderr[-3000:]}")
    marks = json.loads(clock.read_text())
    shutil.rmtree(work / "run", ignore_errors=True)
    return {name: marks[key] - started for name, key in PHASES.items()}


def fresh_data_copy(work: Path) -> Path:
    """A data dir holding only the shipped .gz files (nothing decompressed yet)."""
    raw = work / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for gz in (REPO / "data" / "MNIST" / "raw").glob("*.gz"):
        shutil.copy(gz, raw / gz.name)
    return work / "data"


def import_seconds() -> float:
    """Wall time of a fresh ``python -c 'import decoderlab.train'``."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import decoderlab.train"], check=True)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("overrides", nargs="*", help="decoderlab-train overrides")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--cold", action="store_true", help="first repetition decompresses")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data_dir = fresh_data_copy(work) if args.cold else REPO / "data"
        runs = [one_run(args.overrides, data_dir, work) for _ in range(args.reps)]
        imports = [import_seconds() for _ in range(args.reps)]
    warm = runs[1:] if args.cold and len(runs) > 1 else runs
    result = {
        "overrides": args.overrides,
        "reps": args.reps,
        "import_decoderlab_train_s": round(statistics.median(imports), 2),
        "seconds_since_start": {
            name: round(statistics.median(r[name] for r in warm), 2) for name in PHASES
        },
    }
    if args.cold:
        result["cold_first_run_s"] = {name: round(v, 2) for name, v in runs[0].items()}
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

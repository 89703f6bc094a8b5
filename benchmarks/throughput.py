"""Training throughput: the framework's default run against the plain PyTorch loop.

In one process, alternating repetitions, for the seed model (batch 25) and the comparison
model with each decoder family, it measures training samples per second of

  (a) the loop a user would write: the same model, data already in one tensor, Adam, the same
      batch size, NCHW, torch's default threads, no Lightning;
  (a') the same loop in the framework's layout: the model's configured memory format and
      optimizer (channels_last, fused Adam), so b/a' is what Lightning and the callbacks cost;
  (b) the framework: ``Trainer.fit`` with the project's DataModule, callbacks, metrics and
      TensorBoard logging exactly as ``decoderlab-train`` configures them (validation time is
      excluded from (b), as it is absent from (a));

and prints a table with the median ratios b/a and b/a' per row, also written as JSON: to
``outputs/benchmarks/throughput-DEVICE.json`` (under ``$DECODERLAB_OUTPUT_DIR`` if set), or
with ``--update-committed`` to the repository's ``benchmarks/throughput-DEVICE.json``, the
figures the README's table is from.

    python benchmarks/throughput.py                 # the README's table (minutes on CPU)
    python benchmarks/throughput.py --update-committed   # ... and replace the committed JSON
    python benchmarks/throughput.py --quick         # a few steps, for CI
    python benchmarks/throughput.py --device cuda   # on a GPU
    python benchmarks/throughput.py --rows seed_upsampling2d callbacks.progress_bar=null
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table

from decoderlab.results import write_json_atomic
from decoderlab.train import build_run, config_dir

REPO = Path(__file__).resolve().parents[1]
ROWS = {
    "seed_upsampling2d": ["experiment=seed_upsampling2d"],
    "resize_conv": ["model/decoder=resize_conv"],
    "transposed_conv": ["model/decoder=transposed_conv"],
    "pixel_shuffle": ["model/decoder=pixel_shuffle"],
}


def compose_row(overrides: list[str], steps: int, device: str, out: Path) -> DictConfig:
    """The row's default-run config, with one training epoch of ``steps`` batches."""
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[*overrides, f"paths.output_dir={out}", f"paths.data_dir={REPO / 'data'}"],
        )
    batch = cfg.data.batch_size
    cfg.data.train_size = steps * batch
    cfg.data.val_size = 500  # validation runs as configured but is not timed: keep it short
    cfg.trainer.max_epochs = 2  # epoch 1 warms up; epoch 2 is timed
    cfg.trainer.accelerator = device
    return cfg


def plain_loop(
    cfg: DictConfig, images: torch.Tensor, steps: int, device: str, tuned: bool = False
) -> float:
    """Samples/s of a hand-written loop over ``steps`` batches (after ``steps`` warm-up): (a),
    NCHW and a default Adam; ``tuned``: (a'), the model's memory format and optimizer as
    configured."""
    torch.manual_seed(cfg.seed)
    model = instantiate(cfg.model, in_shape=tuple(images.shape[1:]))
    if tuned:
        model = model.to(device=device)
        optimizer = instantiate(cfg.model.optimizer)(model.parameters())
    else:
        model = model.to(device=device, memory_format=torch.contiguous_format)
        optimizer = torch.optim.Adam(
            model.parameters(), lr=cfg.model.optimizer.lr, eps=cfg.model.optimizer.eps
        )
    data = images.to(device)
    batch = cfg.data.batch_size
    order = torch.randperm(len(data), device=device)

    def epoch() -> None:
        for start in range(0, steps * batch, batch):
            x = data[order[start : start + batch]]
            loss = F.binary_cross_entropy_with_logits(model.logits(x), x)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if device == "cuda":
            torch.cuda.synchronize()

    epoch()
    started = time.perf_counter()
    epoch()
    return steps * batch / (time.perf_counter() - started)


@contextmanager
def process_state_restored() -> Iterator[None]:
    """Undo what a run sets process-wide (deterministic algorithms, the uninitialised-memory
    fill, CUDA_VISIBLE_DEVICES), so that the plain loop after it runs as in a fresh process."""
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    fill = torch.utils.deterministic.fill_uninitialized_memory
    environ = dict(os.environ)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
        torch.utils.deterministic.fill_uninitialized_memory = fill
        os.environ.clear()
        os.environ.update(environ)


def framework(cfg: DictConfig) -> float:
    """(b): samples/s of the second training epoch of a default run's ``Trainer.fit``."""
    with process_state_restored():
        run = build_run(cfg)
        run.trainer.fit(run.model, datamodule=run.datamodule)
    return run.stats.epoch_samples[-1] / run.stats.epoch_train_seconds[-1]


def measure(rows: dict[str, list[str]], steps: int, reps: int, device: str) -> list[dict]:
    default_threads = torch.get_num_threads()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, overrides in rows.items():
            cfg = compose_row(overrides, steps, device, Path(tmp) / name)
            datamodule = instantiate(cfg.data)
            datamodule.prepare_data()
            datamodule.setup("fit")
            images = datamodule.parts["train"]
            plain, tuned, fw = [], [], []
            for _ in range(reps):
                torch.set_num_threads(default_threads)
                plain.append(plain_loop(cfg, images, steps, device))
                tuned.append(plain_loop(cfg, images, steps, device, tuned=True))
                fw.append(framework(cfg))
            a, a_tuned, b = (statistics.median(v) for v in (plain, tuned, fw))
            results.append(
                {
                    "model": name,
                    "device": device,
                    "batch_size": cfg.data.batch_size,
                    "steps": steps,
                    "reps": reps,
                    "plain_samples_per_s": round(a, 1),
                    "tuned_loop_samples_per_s": round(a_tuned, 1),
                    "framework_samples_per_s": round(b, 1),
                    "ratio": round(b / a, 3),
                    "ratio_to_tuned_loop": round(b / a_tuned, 3),
                    "plain_runs": [round(v, 1) for v in plain],
                    "tuned_loop_runs": [round(v, 1) for v in tuned],
                    "framework_runs": [round(v, 1) for v in fw],
                }
            )
    torch.set_num_threads(default_threads)
    return results


def print_table(results: list[dict]) -> None:
    table = Table(
        title=f"training samples/s ({results[0]['device']}, median of "
        f"{results[0]['reps']} repetitions, {results[0]['steps']} steps each)"
    )
    columns = (
        "model",
        "batch",
        "plain loop (a)",
        "tuned loop (a')",
        "framework (b)",
        "b/a",
        "b/a'",
    )
    table.add_column(columns[0], no_wrap=True)
    for column in columns[1:]:
        table.add_column(column, justify="right")
    for r in results:
        table.add_row(
            r["model"],
            str(r["batch_size"]),
            f"{r['plain_samples_per_s']:,.0f}",
            f"{r['tuned_loop_samples_per_s']:,.0f}",
            f"{r['framework_samples_per_s']:,.0f}",
            f"{r['ratio']:.2f}",
            f"{r['ratio_to_tuned_loop']:.2f}",
        )
    Console().print(table)


def json_path(args: argparse.Namespace) -> Path:
    """Where the results go: ``--json``, the committed file, or the outputs folder."""
    name = f"throughput-{args.device}.json"
    if args.json:
        return args.json
    if args.update_committed:
        return REPO / "benchmarks" / name
    return Path(os.environ.get("DECODERLAB_OUTPUT_DIR", "outputs")) / "benchmarks" / name


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--steps", type=int, default=400, help="timed batches per measurement")
    parser.add_argument("--reps", type=int, default=3, help="alternating repetitions per row")
    parser.add_argument("--rows", default=",".join(ROWS), help=f"subset of {','.join(ROWS)}")
    parser.add_argument("--quick", action="store_true", help="8 steps, 1 repetition (CI)")
    parser.add_argument(
        "overrides",
        nargs="*",
        help="Hydra overrides for every row, as decoderlab-train takes them "
        "(e.g. callbacks.progress_bar=null: what the bar costs)",
    )
    destination = parser.add_mutually_exclusive_group()
    destination.add_argument(
        "--json",
        type=Path,
        default=None,
        help="where to write the JSON (default: $DECODERLAB_OUTPUT_DIR or outputs, then "
        "benchmarks/throughput-DEVICE.json)",
    )
    destination.add_argument(
        "--update-committed",
        action="store_true",
        help="write the repository's benchmarks/throughput-DEVICE.json (the README's figures)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    names = args.rows.split(",")
    unknown = sorted(set(names) - set(ROWS))
    if unknown:
        parser.error(f"unknown rows {unknown}; choose from {', '.join(ROWS)}")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available here")
    steps, reps = (8, 1) if args.quick else (args.steps, args.reps)
    rows = {n: [*ROWS[n], *args.overrides] for n in names}
    results = [
        {**row, "overrides": args.overrides} for row in measure(rows, steps, reps, args.device)
    ]
    print_table(results)
    print(write_json_atomic(json_path(args), results))
    return 0


if __name__ == "__main__":
    sys.exit(main())

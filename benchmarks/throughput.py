"""Training throughput: the framework's default run against the plain PyTorch loop.

In one process, in alternating blocks, for the seed model (batch 25) and the comparison
model with each decoder family, it measures training samples per second of

  (a) the loop a user would write: the same model, data already in one tensor, Adam, the same
      batch size, NCHW, torch's default threads, no Lightning;
  (a') the same loop in the framework's layout: the model's configured memory format and
      optimizer (channels_last, fused Adam), so b/a' is what Lightning and the callbacks cost;
  (b) the framework: ``Trainer.fit`` with the project's DataModule, callbacks, metrics and
      TensorBoard logging exactly as ``decoderlab-train`` configures them (validation time is
      excluded from (b), as it is absent from (a)), with ``threads: auto`` as a default run has;

Each block measures (a), (a') and (b) once, one after another; blocks run until the 95%
intervals of b/a and b/a' (geometric mean of the blocks' ratios, decoderlab.stats.speed_ratio) are
at most ``--half-width`` (0.05) on each side. It prints a table with medians and the ratios
with their intervals, also written as JSON: to
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
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table

from decoderlab.records import write_json_atomic
from decoderlab.runtime.threads import ThreadChoice
from decoderlab.stats.speed_ratio import RatioInterval, measure_until_narrow, paired_ratio
from decoderlab.train import build_run, config_dir

REPO = Path(__file__).resolve().parents[1]
ROWS = {
    "seed_upsampling2d": ["experiment=seed_upsampling2d"],
    "resize_conv": ["model/decoder=resize_conv"],
    "transposed_conv": ["model/decoder=transposed_conv"],
    "pixel_shuffle": ["model/decoder=pixel_shuffle"],
}


def compose_row(
    overrides: list[str], steps: int, device: str, out: Path, timed_epochs: int = 1
) -> DictConfig:
    """The row's default-run config: epochs of ``steps`` batches, one to warm up and
    ``timed_epochs`` to time."""
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[*overrides, f"paths.output_dir={out}", f"paths.data_dir={REPO / 'data'}"],
        )
    batch = cfg.data.batch_size
    cfg.data.train_size = steps * batch
    cfg.data.val_size = 500  # validation runs as configured but is not timed: keep it short
    cfg.trainer.max_epochs = 1 + timed_epochs
    cfg.trainer.accelerator = device
    return cfg


def plain_loop(
    cfg: DictConfig,
    images: torch.Tensor,
    steps: int,
    device: str,
    tuned: bool = False,
    timed_epochs: int = 1,
) -> float:
    """Samples/s of a hand-written loop over ``timed_epochs`` epochs of ``steps`` batches
    (after one such epoch of warm-up): (a), NCHW and a default Adam; ``tuned``: (a'), the
    model's memory format and optimizer as configured."""
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
    for _ in range(timed_epochs):
        epoch()
    return timed_epochs * steps * batch / (time.perf_counter() - started)


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


def framework(cfg: DictConfig) -> tuple[float, ThreadChoice]:
    """(b): samples/s of a default run's ``Trainer.fit`` over its training epochs after the
    first (validation not timed), and the run's thread choice."""
    with process_state_restored():
        run = build_run(cfg)
        run.trainer.fit(run.model, datamodule=run.datamodule)
    timed = slice(1, None)
    rate = sum(run.stats.epoch_samples[timed]) / sum(run.stats.epoch_train_seconds[timed])
    return rate, run.threads


def training_images(cfg: DictConfig) -> torch.Tensor:
    """The row's training images, as the plain loops take them."""
    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")
    return datamodule.parts["train"]


def measure_row(
    name: str, overrides: list[str], device: str, args: argparse.Namespace, out: Path
) -> dict:
    """Blocks of (a), (a'), (b), one after another, until both ratios are narrow enough."""
    default_threads = torch.get_num_threads()
    cfg = compose_row(overrides, args.steps, device, out, args.timed_epochs)
    images = training_images(cfg)
    plain, tuned, fw = [], [], []

    def block() -> None:
        torch.set_num_threads(default_threads)
        plain.append(plain_loop(cfg, images, args.steps, device, False, args.timed_epochs))
        tuned.append(plain_loop(cfg, images, args.steps, device, True, args.timed_epochs))
        fw.append(framework(cfg)[0])
        torch.set_num_threads(default_threads)

    def intervals() -> list[RatioInterval]:
        return [paired_ratio(fw, plain), paired_ratio(fw, tuned)]

    measure_until_narrow(block, intervals, args.half_width, args.min_blocks, args.max_blocks, name)
    to_plain, to_tuned = intervals()
    return {
        "model": name,
        "device": device,
        "batch_size": cfg.data.batch_size,
        "steps": args.steps,
        "timed_epochs": args.timed_epochs,
        "blocks": len(fw),
        "plain_samples_per_s": round(statistics.median(plain), 1),
        "tuned_loop_samples_per_s": round(statistics.median(tuned), 1),
        "framework_samples_per_s": round(statistics.median(fw), 1),
        "ratio": to_plain.as_record(),
        "ratio_to_tuned_loop": to_tuned.as_record(),
        "plain_runs": list(plain),
        "tuned_loop_runs": list(tuned),
        "framework_runs": list(fw),
    }


def interval_text(record: dict) -> str:
    """A ratio record as ``1.23 [1.19, 1.27]``."""
    return f"{record['ratio']:.2f} [{record['low']:.2f}, {record['high']:.2f}]"


def blocks_title(first: dict) -> str:
    """What a table's figures are: medians of blocks, ratios with their interval."""
    return (
        f"training samples/s ({first['device']}): medians of alternating blocks of "
        f"{first['steps']} steps; ratios: geometric mean of the blocks' ratios "
        f"[{first['ratio']['confidence']:.0%} interval]"
    )


def wide_console() -> Console:
    """A console at least 150 columns wide (rich takes 80 when output is not a terminal), so
    the tables' cells stay on one line in logs."""
    return Console(width=max(Console().width, 150))


def print_table(results: list[dict]) -> None:
    table = Table(title=blocks_title(results[0]))
    table.add_column("model", no_wrap=True)
    for column in ("batch", "plain loop (a)", "tuned loop (a')", "framework (b)"):
        table.add_column(column, justify="right")
    for column in ("b/a", "b/a'", "blocks"):
        table.add_column(column, justify="right", no_wrap=True)
    for r in results:
        table.add_row(
            r["model"],
            str(r["batch_size"]),
            f"{r['plain_samples_per_s']:,.0f}",
            f"{r['tuned_loop_samples_per_s']:,.0f}",
            f"{r['framework_samples_per_s']:,.0f}",
            interval_text(r["ratio"]),
            interval_text(r["ratio_to_tuned_loop"]),
            str(r["blocks"]),
        )
    wide_console().print(table)


def json_path(args: argparse.Namespace, stem: str = "throughput") -> Path:
    """Where the results go: ``--json``, the committed file, or the outputs folder."""
    name = f"{stem}-{args.device}.json"
    if args.json:
        return args.json
    if args.update_committed:
        return REPO / "benchmarks" / name
    return Path(os.environ.get("DECODERLAB_OUTPUT_DIR", "outputs")) / "benchmarks" / name


def add_block_arguments(parser: argparse.ArgumentParser, stem: str) -> None:
    """Options both benchmarks share: device, block size and count, rows, where JSON goes."""
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--steps", type=int, default=100, help="batches per epoch")
    parser.add_argument(
        "--timed-epochs", type=int, default=2, help="epochs timed per measurement, after one"
    )
    parser.add_argument(
        "--half-width",
        type=float,
        default=0.05,
        help="blocks run until every ratio's 95%% interval is at most this wide on each side",
    )
    parser.add_argument("--min-blocks", type=int, default=8)
    parser.add_argument("--max-blocks", type=int, default=80)
    parser.add_argument("--rows", default=",".join(ROWS), help=f"subset of {','.join(ROWS)}")
    parser.add_argument("--quick", action="store_true", help="8 steps, 2 blocks (CI)")
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
        f"benchmarks/{stem}-DEVICE.json)",
    )
    destination.add_argument(
        "--update-committed",
        action="store_true",
        help=f"write the repository's benchmarks/{stem}-DEVICE.json (the README's figures)",
    )


def parse_block_arguments(
    parser: argparse.ArgumentParser, argv: list[str] | None
) -> tuple[argparse.Namespace, dict[str, list[str]]]:
    """The parsed options (``--quick`` applied) and the rows' overrides; exits 2 on bad input."""
    args = parser.parse_args(argv)
    progress = logging.getLogger("decoderlab.stats.speed_ratio")
    progress.setLevel(logging.INFO)
    progress.addHandler(logging.StreamHandler())
    names = args.rows.split(",")
    unknown = sorted(set(names) - set(ROWS))
    if unknown:
        parser.error(f"unknown rows {unknown}; choose from {', '.join(ROWS)}")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available here")
    if args.quick:
        args.steps, args.timed_epochs, args.min_blocks, args.max_blocks = 8, 1, 2, 2
    if (
        args.steps < 1
        or args.timed_epochs < 1
        or args.half_width <= 0
        or not 2 <= args.min_blocks <= args.max_blocks
    ):
        parser.error(
            "need --steps >= 1, --timed-epochs >= 1, --half-width > 0 and "
            "2 <= --min-blocks <= --max-blocks; got "
            f"{args.steps}, {args.timed_epochs}, {args.half_width}, {args.min_blocks}, "
            f"{args.max_blocks}"
        )
    return args, {n: [*ROWS[n], *args.overrides] for n in names}


def measure_rows(
    rows: dict[str, list[str]],
    args: argparse.Namespace,
    measure: Callable[[str, list[str], str, argparse.Namespace, Path], dict],
    path: Path,
) -> list[dict]:
    """Each row's record from ``measure``, the JSON at ``path`` rewritten (atomically) after
    every row, so that a long run stopped part way keeps the rows it finished."""
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, overrides in rows.items():
            record = measure(name, overrides, args.device, args, Path(tmp) / name)
            results.append({**record, "overrides": args.overrides})
            write_json_atomic(path, results)
    return results


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_block_arguments(parser, "throughput")
    return parser


def main(argv: list[str] | None = None) -> int:
    args, rows = parse_block_arguments(build_parser(), argv)
    results = measure_rows(rows, args, measure_row, json_path(args))
    print_table(results)
    print(json_path(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())

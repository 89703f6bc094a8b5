"""Training speed on a busy machine: torch's default threads, one thread and ``threads: auto``.

In one process, in alternating blocks, for the seed model and one comparison model
(pixel_shuffle), it measures the training samples per second of a default run ((b) of
benchmarks/throughput.py: ``Trainer.fit`` as ``decoderlab-train`` configures it) under six
conditions, one after another in every block:

  quiet, with ``threads=null`` (torch's default: one thread per core), ``threads=1`` and
  ``threads=auto``; then with one core kept busy by a child process (``while True: pass``)
  that this benchmark starts before and stops after the busy runs, with ``threads=null`` and
  ``threads=auto`` (which takes one thread there: the table shows what each run chose).

Blocks run until the 95% interval of every ratio below (geometric mean of the blocks' ratios,
decoderlab.stats.speed_ratio) is at most ``--half-width`` (0.05) on each side:

  auto busy / 1 thread quiet       the default run on a busy machine (target >= 0.8)
  auto quiet / default quiet       what the policy costs on a quiet machine (target >= 0.95)
  default busy / 1 thread quiet    torch's default on a busy machine (no target)

After ``--min-blocks``, a block measures only the conditions of the ratios still wider than
that (the slow busy default run drops out once its ratio is known). It prints a table and
writes JSON like benchmarks/throughput.py (``--json``,
``--update-committed`` for the README's ``benchmarks/busy-DEVICE.json``).

    python benchmarks/busy.py                    # the README's table (tens of minutes on CPU)
    python benchmarks/busy.py --quick            # a few steps, 2 blocks (CI)
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from rich.table import Table

from decoderlab.stats.speed_ratio import RatioInterval, measure_until_narrow, paired_ratio
from throughput import (
    add_block_arguments,
    compose_row,
    framework,
    interval_text,
    json_path,
    measure_rows,
    parse_block_arguments,
    wide_console,
)

SETTINGS = {"default": "null", "1 thread": "1", "auto": "auto"}
# busy with threads=1 would only repeat busy auto, which takes one thread there
CONDITIONS = [
    ("quiet", "default"),
    ("quiet", "1 thread"),
    ("quiet", "auto"),
    ("busy", "default"),
    ("busy", "auto"),
]
# ratio name: (numerator condition, denominator condition, target or None)
RATIOS = {
    "auto busy / 1 thread quiet": (("busy", "auto"), ("quiet", "1 thread"), 0.8),
    "auto quiet / default quiet": (("quiet", "auto"), ("quiet", "default"), 0.95),
    "default busy / 1 thread quiet": (("busy", "default"), ("quiet", "1 thread"), None),
}
BUSY_LOOP = "while True: pass"
# seconds the busy child runs before the first busy measurement (its interpreter's start-up)
BUSY_WARMUP_S = 0.5


@contextmanager
def one_core_busy() -> Iterator[subprocess.Popen]:
    """A child process that keeps one core busy until the block's busy runs are done."""
    child = subprocess.Popen([sys.executable, "-c", BUSY_LOOP])
    try:
        time.sleep(BUSY_WARMUP_S)
        yield child
    finally:
        child.kill()
        child.wait()


def paired(
    numerators: list[float | None], denominators: list[float | None]
) -> tuple[list[float], list[float]]:
    """The blocks that measured both conditions: their two rates."""
    both = [(n, d) for n, d in zip(numerators, denominators, strict=True) if None not in (n, d)]
    return [n for n, _ in both], [d for _, d in both]


def label(condition: tuple[str, str]) -> str:
    """A condition's key in the JSON and the tables: ``busy auto``."""
    return " ".join(condition)


def verdict(interval: RatioInterval, target: float | None) -> str:
    """Whether a ratio meets its target: by its whole interval, by its estimate, or not."""
    if target is None:
        return ""
    if interval.low >= target:
        return "met"
    return "met by the estimate" if interval.ratio >= target else "not met"


def measure_row(
    name: str, overrides: list[str], device: str, args: argparse.Namespace, out: Path
) -> dict:
    default_threads = torch.get_num_threads()
    configs = {
        setting: compose_row(
            [*overrides, f"threads={value}"], args.steps, device, out / setting, args.timed_epochs
        )
        for setting, value in SETTINGS.items()
    }
    # one entry per block; None where a block left the condition out
    rates: dict[tuple[str, str], list[float | None]] = {c: [] for c in CONDITIONS}
    chosen: dict[tuple[str, str], list[int | None]] = {c: [] for c in CONDITIONS}

    def intervals() -> list[RatioInterval]:
        return [paired_ratio(*paired(rates[n], rates[d])) for n, d, _ in RATIOS.values()]

    def wanted() -> set[tuple[str, str]]:
        """Every condition until --min-blocks; then those of the ratios still too wide."""
        if len(rates["quiet", "auto"]) < args.min_blocks:
            return set(CONDITIONS)
        wide = [
            (n, d)
            for (n, d, _), i in zip(RATIOS.values(), intervals(), strict=True)
            if i.half_width > args.half_width
        ]
        return {c for pair in wide for c in pair}

    def run(load: str, conditions: set[tuple[str, str]]) -> None:
        for condition in CONDITIONS:
            if condition[0] != load:
                continue
            rate, threads = None, None
            if condition in conditions:
                torch.set_num_threads(default_threads)  # threads=null: torch's default count
                rate, choice = framework(configs[condition[1]])
                threads = choice.threads
            rates[condition].append(rate)
            chosen[condition].append(threads)
        torch.set_num_threads(default_threads)

    def block() -> None:
        conditions = wanted()
        run("quiet", conditions)
        if any(load == "busy" for load, _ in conditions):
            with one_core_busy():
                run("busy", conditions)
        else:
            run("busy", conditions)

    measure_until_narrow(block, intervals, args.half_width, args.min_blocks, args.max_blocks, name)
    ratios = {}
    for (ratio_name, (_, _, target)), interval in zip(RATIOS.items(), intervals(), strict=True):
        ratios[ratio_name] = {**interval.as_record(), "target": target}
        ratios[ratio_name]["verdict"] = verdict(interval, target)
    return {
        "model": name,
        "device": device,
        "batch_size": configs["auto"].data.batch_size,
        "steps": args.steps,
        "timed_epochs": args.timed_epochs,
        "blocks": len(rates["quiet", "auto"]),
        "torch_default_threads": default_threads,
        "samples_per_s": {
            label(c): round(statistics.median(x for x in v if x is not None), 1)
            for c, v in rates.items()
        },
        "runs": {label(c): list(v) for c, v in rates.items()},
        "threads_chosen": {label(c): v for c, v in chosen.items()},
        "ratios": ratios,
    }


def print_tables(results: list[dict]) -> None:
    first = results[0]
    rates = Table(
        title=f"training samples/s ({first['device']}), medians of {first['steps']}-step "
        "blocks; threads: what the runs chose"
    )
    rates.add_column("model", no_wrap=True)
    for load, setting in CONDITIONS:
        rates.add_column(f"{load}, {setting}", justify="right", no_wrap=True)
    for r in results:
        cells = []
        for load, setting in CONDITIONS:
            key = label((load, setting))
            threads = sorted({t for t in r["threads_chosen"][key] if t is not None})
            cells.append(f"{r['samples_per_s'][key]:,.0f} ({'/'.join(map(str, threads))} thr)")
        rates.add_row(r["model"], *cells)
    ratios = Table(
        title="ratios: geometric mean of the blocks' ratios [95% interval], and their targets"
    )
    for column in ("model", "ratio", "value [95% interval]", "target", "verdict", "blocks"):
        ratios.add_column(column, no_wrap=True)
    for r in results:
        for ratio_name, record in r["ratios"].items():
            target = "" if record["target"] is None else f">= {record['target']}"
            ratios.add_row(
                r["model"],
                ratio_name,
                interval_text(record),
                target,
                record["verdict"],
                str(r["blocks"]),
            )
    console = wide_console()
    console.print(rates)
    console.print(ratios)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_block_arguments(parser, "busy")
    parser.set_defaults(rows="seed_upsampling2d,pixel_shuffle")
    return parser


def main(argv: list[str] | None = None) -> int:
    args, rows = parse_block_arguments(build_parser(), argv)
    results = measure_rows(rows, args, measure_row, json_path(args, "busy"))
    print_tables(results)
    print(json_path(args, "busy"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``decoderlab-probe``: FFCR at init of every decoder block variant, no training needed.

For each registered decoder variant (``decoderlab.blocks.decoder_variants()``; a variant without
smoothing is probed with and without the zero-order-hold blur, ``smooth=1``, where its family
has that knob) and
several random inits, it measures the flat-field checkerboard ratio of the block alone
(period 2) and of the comparison decoder built from it (every period of its lattice), prints
mean and std as a table and writes them to CSV.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import torch
from omegaconf import OmegaConf
from rich.console import Console
from rich.table import Table

from decoderlab.blocks import UpsamplingBlock, decoder_families
from decoderlab.metrics import lattice_periods
from decoderlab.metrics.flat_field import field_periodic_ratio, flat_field_response
from decoderlab.networks import UpsamplingDecoder
from decoderlab.train import config_dir

BlockFactory = Callable[[int, int], UpsamplingBlock]
# the task's image (MNIST's by default): the decoder's lattice periods and output channels
IMAGE_SIZE, CHANNELS = 28, 1


def block_variants() -> list[BlockFactory]:
    """Every registered variant; one without smoothing also with the zero-order-hold blur
    (``smooth=1``) where its family has the knob."""
    factories: list[BlockFactory] = []
    for family in decoder_families().values():
        for settings in family.variants.values():
            factories.append(partial(family.block, **settings))
            if "smooth" in family.knobs and not settings.get("smooth", 0):
                factories.append(partial(family.block, **{**settings, "smooth": 1}))
    return factories


def comparison_architecture() -> tuple[list[int], int]:
    """(encoder widths, latent channels) of conf/model/comparison.yaml."""
    model = OmegaConf.load(Path(config_dir()) / "model" / "comparison.yaml")
    return list(model.encoder.widths), int(model.encoder.latent_channels)


def probe_variant(
    make_block: BlockFactory,
    widths: Sequence[int],
    latent: int,
    size: int,
    inits: int,
    seed: int,
    image_size: int = IMAGE_SIZE,
    channels: int = CHANNELS,
) -> tuple[str, dict[str, list[float]]]:
    """FFCR of one block variant over ``inits`` seeded inits: (block name, {column: values}).
    The decoder gives ``channels`` output channels; its periods are those of an
    ``image_size`` image's lattice."""
    periods = lattice_periods(len(widths), image_size, image_size)
    values: dict[str, list[float]] = {"block ffcr2": []}
    values.update({f"decoder ffcr{s}": [] for s in periods})
    name = ""
    for i in range(inits):
        torch.manual_seed(seed + i)
        block = make_block(widths[-1], widths[-1])
        name = block.name
        field, _ = flat_field_response(block, (widths[-1], size, size))
        values["block ffcr2"].append(field_periodic_ratio(field, 2))
        decoder = UpsamplingDecoder(latent, channels, make_block, widths)
        field, _ = flat_field_response(decoder, (latent, size, size))
        for s in periods:
            values[f"decoder ffcr{s}"].append(field_periodic_ratio(field, s))
    return name, values


def summarise(name: str, values: dict[str, list[float]]) -> dict[str, object]:
    """One CSV row: the block's name and the mean and std of every column."""
    row: dict[str, object] = {"block": name, "inits": len(next(iter(values.values())))}
    for column, samples in values.items():
        key = column.replace(" ", "_")
        row[f"{key}_mean"] = statistics.fmean(samples)
        row[f"{key}_std"] = statistics.stdev(samples) if len(samples) > 1 else 0.0
    return row


def _cell(mean: float, std: float) -> str:
    if abs(mean) < 1e-12:
        return "0 (<1e-12)"
    return f"{mean:.3g} ± {std:.2g}"


def render(rows: list[dict[str, object]], title: str) -> Table:
    """A rich table of the probe rows, one ``mean ± std`` cell per FFCR column."""
    columns = [key[: -len("_mean")] for key in rows[0] if key.endswith("_mean")]
    table = Table(title=title)
    table.add_column("block")
    for column in columns:
        table.add_column(column.replace("_", " ").replace("ffcr", "FFCR_"), justify="right")
    for row in rows:
        cells = [_cell(row[f"{c}_mean"], row[f"{c}_std"]) for c in columns]
        table.add_row(str(row["block"]), *cells)
    return table


def write_csv(rows: list[dict[str, object]], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be >= 1")
    return value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    widths, latent = comparison_architecture()
    default_out = Path(os.environ.get("DECODERLAB_OUTPUT_DIR", "outputs")) / "probe" / "ffcr.csv"
    parser = argparse.ArgumentParser(
        prog="decoderlab-probe",
        description="FFCR at init of every decoder block, with and without blur (no training).",
    )
    parser.add_argument("--inits", type=_positive, default=8, help="random inits per block")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first init")
    parser.add_argument(
        "--size", type=_positive, default=12, help="side of the constant input, in its pixels"
    )
    parser.add_argument(
        "--widths", type=_positive, nargs="+", default=widths, help="decoder stage widths"
    )
    parser.add_argument("--latent", type=_positive, default=latent, help="latent channels")
    parser.add_argument(
        "--image-size", type=_positive, default=IMAGE_SIZE, help="the task's image side (pixels)"
    )
    parser.add_argument(
        "--channels", type=_positive, default=CHANNELS, help="the task's image channels"
    )
    parser.add_argument("--out", type=Path, default=default_out, help="CSV file to write")
    args = parser.parse_args(argv)
    if 2 ** len(args.widths) > args.image_size:
        parser.error(f"--widths: {len(args.widths)} stages do not fit a {args.image_size}px image")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Console script ``decoderlab-probe``; returns the exit status."""
    args = parse_args(argv)
    errors = Console(stderr=True)
    started = time.perf_counter()
    try:
        rows = [
            summarise(
                *probe_variant(
                    make,
                    args.widths,
                    args.latent,
                    args.size,
                    args.inits,
                    args.seed,
                    args.image_size,
                    args.channels,
                )
            )
            for make in block_variants()
        ]
    except ValueError as err:
        errors.print(f"decoderlab-probe: {err} (try a larger --size)", style="red")
        return 2
    try:
        path = write_csv(rows, args.out)
    except OSError as err:
        errors.print(f"decoderlab-probe: cannot write {args.out}: {err}", style="red")
        return 1
    title = (
        f"FFCR at init, mean ± std over {args.inits} inits (block alone: "
        f"{args.widths[-1]} channels; decoder: widths {args.widths}, latent {args.latent})"
    )
    console = Console()
    console.print(render(rows, title))
    console.print(f"wrote {path} in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

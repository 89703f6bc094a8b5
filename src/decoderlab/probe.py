"""``decoderlab-probe``: FFCR at init of every decoder block variant, no training needed.

For each registered decoder variant (``decoderlab.blocks.decoder_variants()``; a variant without
smoothing is probed with and without the zero-order-hold blur, ``smooth=1``, where its family
has that knob) and
several random inits, it measures the flat-field checkerboard ratio of the block alone
(period 2) and of the comparison decoder built from it (every period of its lattice), prints
mean and std as a table and writes them to CSV.

``--module pkg.mod:Name`` (a class or factory, ``--kwarg key=value`` for its arguments) or
``--checkpoint run/checkpoints/last.ckpt`` (the decoder of a ``decoderlab-train`` run) probes
one decoder as it is, untrained or trained: its FFCR per lattice period (CSV and table), the
flat-field picture (its deviation from flat, ``flat_field.png``) and the spectrum of that
deviation (``spectrum.png``), without training anything.
"""

from __future__ import annotations

import argparse
import ast
import csv
import importlib
import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import numpy as np
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import OmegaConf
from rich.console import Console
from rich.table import Table
from torch import nn

from decoderlab.blocks import UpsamplingBlock, decoder_families
from decoderlab.metrics import lattice_periods
from decoderlab.metrics.flat_field import field_periodic_ratio, flat_field_response
from decoderlab.networks import UpsamplingDecoder
from decoderlab.networks.comparison import block_name
from decoderlab.pictures import flat_field_deviation, spectrum_figure
from decoderlab.report.figures.flat_field import FlatFieldRow, flat_field_figure
from decoderlab.report.figures.output import save
from decoderlab.train import config_dir

BlockFactory = Callable[[int, int], UpsamplingBlock]
# the task's image (MNIST's by default): the decoder's lattice periods and output channels
IMAGE_SIZE, CHANNELS = 28, 1


def block_variants() -> list[BlockFactory]:
    """Every registered variant; one without smoothing also with the zero-order-hold blur
    (``smooth=1``) where its family has the knob, unless that is a registered variant too."""
    factories: list[BlockFactory] = []
    for family in decoder_families().values():
        registered = [dict(s) for s in family.variants.values()]
        for settings in family.variants.values():
            factories.append(partial(family.block, **settings))
            blurred = {**settings, "smooth": 1}
            unsmoothed = "smooth" in family.knobs and not settings.get("smooth", 0)
            if unsmoothed and blurred not in registered:
                factories.append(partial(family.block, **blurred))
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


def import_decoder(spec: str, kwargs: dict[str, object]) -> nn.Module:
    """``spec`` = ``package.module:Name``; ``Name(**kwargs)`` must give an nn.Module (a class
    or a factory). Raises ValueError naming what was wrong."""
    module_name, colon, attribute = spec.partition(":")
    if not (colon and module_name and attribute):
        raise ValueError(f"--module {spec!r}: write it as package.module:ClassOrFactory")
    try:
        target = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"--module {spec!r}: cannot import it ({err})") from err
    try:
        built = target(**kwargs)
    except TypeError as err:
        raise ValueError(f"--module {spec!r}: {attribute}(**{kwargs}) failed: {err}") from err
    if not isinstance(built, nn.Module):
        raise ValueError(
            f"--module {spec!r}: {attribute}(...) gave a {type(built).__name__}, not an nn.Module"
        )
    return built


def checkpoint_decoder(path: Path) -> tuple[nn.Module, int, str]:
    """(decoder, its input channels, its name) of a ``decoderlab-train`` checkpoint.

    The model is rebuilt from the run's ``.hydra/config.yaml`` (in the checkpoint's folder or
    up to two above it: runs keep checkpoints in ``<run>/checkpoints``) and loaded with the
    checkpoint's weights. Checkpoints are pickles: probe only files you trust. Raises
    ValueError when the file or the run's config is missing or does not fit.
    """
    if not path.is_file():
        raise ValueError(f"--checkpoint {path}: no such file")
    configs = [d / ".hydra" / "config.yaml" for d in path.resolve().parents[:3]]
    config = next((c for c in configs if c.is_file()), None)
    if config is None:
        raise ValueError(
            f"--checkpoint {path}: no .hydra/config.yaml of its run in {path.parent} or the two "
            "folders above it (decoderlab-train keeps checkpoints in <run>/checkpoints)"
        )
    cfg = OmegaConf.load(config)
    try:
        model = instantiate(cfg.model, in_shape=instantiate(cfg.data).image_shape)
    except InstantiationException as err:
        message = f"--checkpoint {path}: cannot rebuild its model from {config}: {err}"
        raise ValueError(message) from err
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)["state_dict"]
        model.load_state_dict(state)
    except (KeyError, RuntimeError, OSError) as err:
        raise ValueError(
            f"--checkpoint {path}: not a checkpoint of {config}'s model: {err}"
        ) from err
    return model.decoder, model.latent_shape[0], model.decoder_name


def probe_decoder(
    decoder: nn.Module, in_channels: int, size: int
) -> tuple[torch.Tensor, dict[int, float]]:
    """The flat-field response (C, H', W') of ``decoder`` to an ``in_channels`` x ``size`` x
    ``size`` constant input, border cropped to whole lattice cells, and its FFCR per lattice
    period: 2, 4, ... up to the decoder's scale when that is a power of 2 (else period 2 only,
    as a control)."""
    field, margin = flat_field_response(decoder, (in_channels, size, size))
    scale = (field.shape[-1] + 2 * margin) / size
    stages = round(math.log2(scale)) if scale >= 2 and math.log2(scale).is_integer() else 0
    periods = lattice_periods(stages, *field.shape[-2:])
    # whole lattice cells only, so every period's ratio sees each phase equally often
    h, w = (n - n % max(periods) for n in field.shape[-2:])
    field = field[:, :h, :w]
    return field, {s: field_periodic_ratio(field, s) for s in periods}


def deviation_spectrum(field: torch.Tensor) -> np.ndarray:
    """DC-centred power spectrum (H, W) of the flat-field deviation from its channel means,
    |FFT|^2 / (H W) averaged over channels."""
    h, w = field.shape[-2:]
    deviation = (field - field.mean(dim=(-2, -1), keepdim=True)).numpy()
    power = np.square(np.abs(np.fft.fft2(deviation))).mean(axis=0) / (h * w)
    return np.fft.fftshift(power)


def write_probe(
    name: str, field: torch.Tensor, ratios: dict[int, float], out_dir: Path
) -> list[Path]:
    """ffcr.csv (one row: the decoder and FFCR per period), flat_field.png, spectrum.png."""
    out_dir.mkdir(parents=True, exist_ok=True)
    row = {"decoder": name, **{f"ffcr{s}": value for s, value in ratios.items()}}
    csv_path = write_csv([row], out_dir / "ffcr.csv")
    label = ", ".join(f"FFCR_{s} {_cell(value, 0.0).split(' ±')[0]}" for s, value in ratios.items())
    deviation = flat_field_deviation(field.numpy())
    picture = flat_field_figure(
        [FlatFieldRow(name, {"flat field": deviation}, {"flat field": label})], ("flat field",)
    )
    spectrum = spectrum_figure(
        deviation_spectrum(field),
        name,
        list(ratios),
    )
    return [
        csv_path,
        save(picture, out_dir / "flat_field.png"),
        save(spectrum, out_dir / "spectrum.png"),
    ]


def _keyword(text: str) -> tuple[str, object]:
    """``key=value``: the value as a Python literal (3, 0.5, True, (2, 2)), else a string."""
    key, equals, value = text.partition("=")
    if not (equals and key.isidentifier()):
        raise argparse.ArgumentTypeError(f"{text!r} is not key=value")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value


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
    one = parser.add_mutually_exclusive_group()
    one.add_argument(
        "--module",
        metavar="PKG.MOD:NAME",
        help="probe this decoder instead: an nn.Module class or a factory, by import path",
    )
    one.add_argument(
        "--checkpoint", type=Path, help="probe the decoder of this decoderlab-train checkpoint"
    )
    parser.add_argument(
        "--kwarg",
        type=_keyword,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a keyword argument of --module's class or factory (a Python literal, else a string)",
    )
    parser.add_argument(
        "--in-channels", type=_positive, help="--module's input channels (required with it)"
    )
    parser.add_argument(
        "--out-dir",
        type=Path,
        help="folder for one decoder's ffcr.csv, flat_field.png and spectrum.png "
        "(default: the --out folder / the decoder's name)",
    )
    args = parser.parse_args(argv)
    if args.module and args.in_channels is None:
        parser.error("--module needs --in-channels (the channels of the module's input)")
    if (args.kwarg or args.in_channels) and not args.module:
        parser.error("--kwarg and --in-channels go with --module")
    if 2 ** len(args.widths) > args.image_size:
        parser.error(f"--widths: {len(args.widths)} stages do not fit a {args.image_size}px image")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Console script ``decoderlab-probe``; returns the exit status."""
    args = parse_args(argv)
    errors = Console(stderr=True)
    if args.module or args.checkpoint:
        return probe_one(args, errors)
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


def probe_one(args: argparse.Namespace, errors: Console) -> int:
    """``--module`` or ``--checkpoint``: probe that one decoder; the exit status."""
    name, in_channels = args.module or str(args.checkpoint), args.in_channels
    try:
        if args.module:
            torch.manual_seed(args.seed)
            decoder = import_decoder(args.module, dict(args.kwarg))
            in_channels, name = args.in_channels, block_name(decoder)
            if name == type(decoder).__name__:  # neither a name nor a family: the spec's
                name = args.module.partition(":")[2]
        else:
            decoder, in_channels, name = checkpoint_decoder(args.checkpoint)
        field, ratios = probe_decoder(decoder, in_channels, args.size)
    except ValueError as err:
        errors.print(f"decoderlab-probe: {err}", style="red")
        return 2
    except RuntimeError as err:  # the module refused the input
        errors.print(
            f"decoderlab-probe: {name} on a constant ({in_channels}, {args.size}, {args.size}) "
            f"input: {err}",
            style="red",
        )
        return 2
    out_dir = args.out_dir or args.out.parent / name
    try:
        paths = write_probe(name, field, ratios, out_dir)
    except OSError as err:
        errors.print(f"decoderlab-probe: cannot write {out_dir}: {err}", style="red")
        return 1
    table = Table(
        title=f"{name}: FFCR", caption=f"constant ({in_channels}, {args.size}, {args.size}) input"
    )
    for s in ratios:
        table.add_column(f"FFCR_{s}", justify="right")
    table.add_row(*(_cell(value, 0.0).split(" ±")[0] for value in ratios.values()))
    console = Console()
    console.print(table)
    console.print("wrote " + ", ".join(str(p) for p in paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())

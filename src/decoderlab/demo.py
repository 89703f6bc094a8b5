"""``decoderlab-demo``: the seed article's first picture, a 2x2 image upsampled 32x."""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

SOURCE = torch.tensor([[0.0, 0.5], [1.0, 1.5]])
MODES = ("bilinear", "nearest")


def upsample(image: torch.Tensor, mode: str, factor: int = 32) -> torch.Tensor:
    """(H, W) -> (factor*H, factor*W) with nn.Upsample (align_corners=False, as Keras)."""
    layer = nn.Upsample(
        scale_factor=factor, mode=mode, align_corners=None if mode == "nearest" else False
    )
    return layer(image[None, None])[0, 0]


def render(out: Path, factor: int = 32) -> Path:
    """Draw the original and each mode's result side by side; write a PNG at ``out``."""
    panels = [("original 2x2", SOURCE)] + [
        (f"nn.Upsample {mode} x{factor}", upsample(SOURCE, mode, factor)) for mode in MODES
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 4.4))
    for ax, (title, image) in zip(axes, panels, strict=True):
        ax.imshow(image.numpy(), cmap="viridis", vmin=0.0, vmax=1.5, interpolation="nearest")
        ax.set_title(title)
        ax.axis("off")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp.png")
    fig.savefig(tmp, dpi=80)
    plt.close(fig)
    tmp.replace(out)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("outputs/demo/upsampling.png"),
        help="PNG to write (default: %(default)s)",
    )
    parser.add_argument("--factor", type=int, default=32, help="upsampling factor (default 32)")
    args = parser.parse_args(argv)
    if args.factor < 1:
        parser.error(f"--factor must be a positive integer, got {args.factor}")
    print(render(args.out, args.factor))


if __name__ == "__main__":
    main()

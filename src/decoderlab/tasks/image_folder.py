"""The user's own photographs: every PNG and JPEG file under a folder, any size, grey or colour.

``data=image_folder data.path=DIR`` reads ``*.png``, ``*.jpg`` and ``*.jpeg`` (any case) under
DIR and its subfolders; other files are ignored. Split by image: if DIR holds ``train/``,
``val/`` and ``test/`` subfolders they are the splits; otherwise the files (sorted by path) are
shuffled by ``split_seed`` (fixed, not the run's seed: the same split for every run) and
``val_fraction`` and ``test_fraction`` of them (at least one each) go to validation and test.

What is refused, before a run writes anything, with the file and what is allowed: a missing
or empty folder, a file Pillow cannot decode (unreadable, truncated or corrupt), another format
behind a PNG/JPEG name, an image smaller than the patch on either side, fewer than three
images. Grey and colour mixed: the grey images are converted to RGB (their grey value in all
three channels), said once; an alpha channel is dropped. 16-bit grey is scaled to 8 bits.
An image of more than ``max_pixels`` pixels is cut to its centre, ``max_pixels`` at most:
a JPEG is first decoded at a reduced scale (libjpeg's DCT scaling, 1/2, 1/4 or 1/8, through
Pillow's ``Image.draft``) so the whole never sits in memory; other formats cannot be decoded in
part, so the whole is decoded once, then cut.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lightning.pytorch.utilities import rank_zero_only
from PIL import Image, UnidentifiedImageError

from decoderlab.tasks.patches import PatchDataModule
from decoderlab.tasks.sizes import DataConfigError

log = logging.getLogger(__name__)

SUFFIXES = (".png", ".jpg", ".jpeg")
FORMATS = ("PNG", "JPEG")
GREY_MODES = ("1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N")
SPLIT_FOLDERS = ("train", "val", "test")
# 4096 x 4096: a 12-megapixel photograph fits whole; 48 MiB as 8-bit RGB
MAX_PIXELS = 4096 * 4096


class ImageFolderError(DataConfigError):
    """The folder, or a file in it, cannot be used; the message names it and what is allowed."""


@dataclass
class FolderImage:
    """One image file: its path, size (width, height) and whether it is grey."""

    path: Path
    size: tuple[int, int]
    grey: bool


def image_files(folder: Path) -> list[Path]:
    """PNG and JPEG files under ``folder`` (recursively, hidden ones skipped), sorted by path."""
    return sorted(
        p
        for p in folder.rglob("*")
        if p.suffix.lower() in SUFFIXES
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def _pixels(image: Image.Image, grey: bool) -> np.ndarray:
    """uint8 (H, W) for a grey image (16-bit scaled to 8 bits), (H, W, 3) for a colour one."""
    if not grey:
        return np.asarray(image.convert("RGB"))
    if image.mode.startswith("I"):
        values = np.asarray(image, dtype=np.float64)
        return np.clip(np.round(values * 255.0 / 65535.0), 0, 255).astype(np.uint8)
    return np.asarray(image.convert("L"))


def centre_box(width: int, height: int, max_pixels: int) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the centred box of the image's aspect ratio holding at most
    ``max_pixels`` pixels (the whole image if it fits)."""
    if width * height <= max_pixels:
        return (0, 0, width, height)
    shrink = math.sqrt(max_pixels / (width * height))
    w, h = max(1, int(width * shrink)), max(1, int(height * shrink))
    left, top = (width - w) // 2, (height - h) // 2
    return (left, top, left + w, top + h)


def read_image(entry: FolderImage, channels: int, max_pixels: int) -> torch.Tensor:
    """The image as uint8 (channels, H, W): grey replicated to 3 channels when ``channels`` is
    3, cut to at most ``max_pixels`` (module docstring). Raises ImageFolderError naming it."""
    try:
        with Image.open(entry.path) as image:
            width, height = image.size
            if width * height > max_pixels and image.format == "JPEG":
                factor = math.sqrt(width * height / max_pixels)
                image.draft(image.mode, (math.ceil(width / factor), math.ceil(height / factor)))
                width, height = image.size
            image.load()
            image = image.crop(centre_box(width, height, max_pixels))
            pixels = _pixels(image, entry.grey)
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        raise ImageFolderError(
            f"{entry.path}: cannot be decoded ({type(err).__name__}: {err}); the file is "
            "truncated or corrupt. Replace or remove it: every PNG or JPEG in the folder is used"
        ) from err
    array = torch.from_numpy(np.array(pixels))  # a writable copy (Pillow's is read-only)
    array = array.unsqueeze(0) if entry.grey else array.permute(2, 0, 1)
    return array.expand(3, -1, -1).contiguous() if channels == 3 and entry.grey else array


def scan(path: Path, patch_size: int, max_pixels: int) -> list[FolderImage]:
    """Every image file under ``path`` with its size and kind, read from its header only.

    Raises ImageFolderError for a missing or empty folder, a file Pillow cannot identify or that
    is neither PNG nor JPEG inside, and an image (after the ``max_pixels`` cut) smaller than
    ``patch_size`` on a side.
    """
    if not path.is_dir():
        what = "is not a folder" if path.exists() else "does not exist"
        raise ImageFolderError(f"data.path={path} {what}: give a folder of PNG or JPEG images")
    files = image_files(path)
    if not files:
        raise ImageFolderError(
            f"data.path={path} holds no image: expected PNG or JPEG files "
            f"({', '.join(SUFFIXES)}, any case), in the folder or its subfolders"
        )
    entries = []
    for file in files:
        try:
            with Image.open(file) as image:
                found, size, mode = image.format, image.size, image.mode
        except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as err:
            raise ImageFolderError(
                f"{file}: not a readable image ({type(err).__name__}: {err}). Allowed: PNG or "
                "JPEG files; replace or remove it"
            ) from err
        if found not in FORMATS:
            raise ImageFolderError(f"{file}: a {found} image; allowed: {' or '.join(FORMATS)}")
        left, top, right, bottom = centre_box(*size, max_pixels)
        if min(right - left, bottom - top) < patch_size:
            cut = f" cut to {right - left}x{bottom - top} (max_pixels)" if left or top else ""
            raise ImageFolderError(
                f"{file}: {size[0]}x{size[1]} pixels{cut} "
                f"is smaller than the {patch_size}x{patch_size} patch: every image must be at "
                f"least data.patch_size={patch_size} on both sides (remove it or lower "
                "task.patch_size)"
            )
        entries.append(FolderImage(file, size, mode in GREY_MODES))
    return entries


def split_images(
    path: Path,
    entries: list[FolderImage],
    val_fraction: float,
    test_fraction: float,
    split_seed: int,
) -> dict[str, list[FolderImage]]:
    """Train, val and test images: the ``train/``, ``val/``, ``test/`` subfolders if all three
    exist, else a shuffle by ``split_seed`` cut by the fractions (at least one image each)."""
    if all((path / name).is_dir() for name in SPLIT_FOLDERS):
        splits = {
            name: [e for e in entries if e.path.is_relative_to(path / name)]
            for name in SPLIT_FOLDERS
        }
        for name, found in splits.items():
            if not found:
                raise ImageFolderError(f"{path / name} holds no PNG or JPEG image")
        return splits
    if len(entries) < 3:
        raise ImageFolderError(
            f"data.path={path} holds {len(entries)} image(s): at least 3 are needed, one each "
            "for training, validation and test (a photograph lends patches to one split only)"
        )
    order = torch.randperm(len(entries), generator=torch.Generator().manual_seed(split_seed))
    shuffled = [entries[i] for i in order.tolist()]
    n_val = max(1, round(val_fraction * len(entries)))
    n_test = max(1, round(test_fraction * len(entries)))
    if n_val + n_test >= len(entries):
        raise ImageFolderError(
            f"val_fraction={val_fraction} and test_fraction={test_fraction} leave no training "
            f"image of the {len(entries)} in {path}: lower them"
        )
    return {
        "val": shuffled[:n_val],
        "test": shuffled[n_val : n_val + n_test],
        "train": shuffled[n_val + n_test :],
    }


class ImageFolderDataModule(PatchDataModule):
    """Patches of the images under ``path`` (module docstring): 3 channels if any image has
    colour, else 1. ``max_pixels`` bounds each image's decoded size. Other knobs as
    ``PatchDataModule``. The folder is scanned (headers only) when the module is built."""

    def __init__(
        self,
        path: str | Path,
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
        split_seed: int = 0,
        max_pixels: int = MAX_PIXELS,
        **patch_knobs: Any,
    ) -> None:
        super().__init__(**patch_knobs)
        for name, fraction in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
            if not 0.0 < fraction < 1.0:
                raise ImageFolderError(f"data.{name}={fraction} must lie in (0, 1)")
        if not isinstance(max_pixels, int) or max_pixels < self.patch_size**2:
            raise ImageFolderError(
                f"data.max_pixels={max_pixels!r} must be an integer of at least "
                f"patch_size^2 = {self.patch_size**2}"
            )
        self.path, self.max_pixels = Path(path).expanduser(), max_pixels
        entries = scan(self.path, self.patch_size, max_pixels)
        self.splits = split_images(self.path, entries, val_fraction, test_fraction, split_seed)
        self.grey = [e.path for e in entries if e.grey]
        self._channels = 1 if len(self.grey) == len(entries) else 3

    @classmethod
    def check_config(cls, data: Mapping[str, Any]) -> None:
        """Build the module from ``cfg.data`` and decode every image, so that a bad folder is
        refused before a run writes anything (each image is decoded again in ``setup``)."""
        knobs = {k: v for k, v in data.items() if not str(k).startswith("_")}
        module = cls(**knobs)
        for entries in module.splits.values():
            for entry in entries:
                read_image(entry, module.channels, module.max_pixels)

    @property
    def channels(self) -> int:
        return self._channels

    def load_images(self) -> dict[str, list[torch.Tensor]]:
        if self.grey and self._channels == 3:
            self._say_converted()
        self._say_cut()
        return {
            split: [read_image(e, self._channels, self.max_pixels) for e in entries]
            for split, entries in self.splits.items()
        }

    @rank_zero_only
    def _say_cut(self) -> None:
        large = [
            e.path.name
            for entries in self.splits.values()
            for e in entries
            if e.size[0] * e.size[1] > self.max_pixels
        ]
        if large:
            log.warning(
                "%d image(s) of more than max_pixels=%d pixels cut to their centre (a JPEG "
                "decoded at a reduced scale first): %s",
                len(large),
                self.max_pixels,
                ", ".join(large[:3]) + (", ..." if len(large) > 3 else ""),
            )

    @rank_zero_only
    def _say_converted(self) -> None:
        names = ", ".join(p.name for p in self.grey[:3]) + (", ..." if len(self.grey) > 3 else "")
        log.warning(
            "%s mixes grey and colour images: %d grey image(s) (%s) converted to RGB, the grey "
            "value in all three channels",
            self.path,
            len(self.grey),
            names,
        )

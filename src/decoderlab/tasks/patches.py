"""Square patches of photographs: random training crops, fixed evaluation patches.

Photographs are split into train, validation and test **by image** (a photograph lends patches
to one split only). Validation and test patches are fixed: a grid of non-overlapping patches
over each image, a subset of it evenly spaced when capped, the same for every seed and decoder.
Patches with a constant channel are left out of them (nothing to measure an error against).
Training patches are random crops with random horizontal flips, drawn afresh each epoch from a
generator seeded by (run seed, epoch) (``EpochPermutation.generator``): under one seed every
decoder sees the same patches in the same order, a resumed run the same as an unbroken one.
"""

from __future__ import annotations

from collections.abc import Sequence

import lightning as L
import torch

from decoderlab.tasks.mnist import EpochPermutation, TensorBatches
from decoderlab.tasks.sizes import check_cap, check_count

SPLITS = ("train", "val", "test")


def grid_positions(height: int, width: int, patch: int) -> list[tuple[int, int]]:
    """Top-left corners (y, x) of the non-overlapping ``patch`` x ``patch`` grid that fits an
    image, centred (the leftover margin split between the sides), in row-major order."""
    rows, cols = height // patch, width // patch
    top, left = (height - rows * patch) // 2, (width - cols * patch) // 2
    return [(top + i * patch, left + j * patch) for i in range(rows) for j in range(cols)]


def evenly_spaced(total: int, count: int | None) -> torch.Tensor:
    """``count`` indices spread evenly over 0..total-1 (all of them for None or count >= total)."""
    if count is None or count >= total:
        return torch.arange(total)
    return torch.linspace(0, total - 1, count).round().long()


def has_content(crop: torch.Tensor) -> bool:
    """Whether no channel of a crop (C, h, w) is constant: a constant one has no error to
    measure relative to (CBE and PACE are undefined, a perfect PSNR infinite)."""
    flat = crop.flatten(1)
    return bool(torch.all(flat.amax(1) > flat.amin(1)))


def grid_patches(images: Sequence[torch.Tensor], patch: int, count: int | None) -> torch.Tensor:
    """The fixed patches of uint8 images (C, H, W): (count, C, patch, patch) float32 in [0, 1].

    The grid patches of every image in order, those with a constant channel left out
    (``has_content``), or ``count`` of them evenly spaced over that list (so every image keeps
    its share); no randomness. Raises ValueError when no patch is left.
    """
    crops = [
        crop
        for image in images
        for y, x in grid_positions(*image.shape[-2:], patch)
        if has_content(crop := image[:, y : y + patch, x : x + patch])
    ]
    if not crops:
        raise ValueError(f"no {patch}x{patch} patch with content in these images")
    chosen = evenly_spaced(len(crops), count).tolist()
    return torch.stack([crops[i] for i in chosen]).float().div_(255.0)


class EpochCrops:
    """One epoch's random crops of uint8 images (C, H, W); ``[start:stop]`` returns those crops
    as a float32 batch (stop - start, C, patch, patch) in [0, 1], cut when asked.

    Each crop picks an image with probability proportional to its number of crop positions
    (every pixel about equally likely to be seen), a uniform position, and a horizontal flip
    with probability 1/2, all from ``generator``.
    """

    def __init__(
        self,
        images: Sequence[torch.Tensor],
        patch: int,
        count: int,
        generator: torch.Generator,
    ) -> None:
        self.images, self.patch = images, patch
        heights = torch.tensor([im.shape[-2] - patch + 1 for im in images], dtype=torch.float64)
        widths = torch.tensor([im.shape[-1] - patch + 1 for im in images], dtype=torch.float64)
        self.which = torch.multinomial(
            heights * widths, count, replacement=True, generator=generator
        )
        self.y = (
            torch.rand(count, generator=generator, dtype=torch.float64) * heights[self.which]
        ).long()
        self.x = (
            torch.rand(count, generator=generator, dtype=torch.float64) * widths[self.which]
        ).long()
        self.flip = torch.rand(count, generator=generator) < 0.5

    def __getitem__(self, index: slice) -> torch.Tensor:
        p = self.patch
        crops = []
        for i in range(*index.indices(len(self.which))):
            y, x = int(self.y[i]), int(self.x[i])
            crop = self.images[int(self.which[i])][:, y : y + p, x : x + p]
            crops.append(crop.flip(-1) if self.flip[i] else crop)
        return torch.stack(crops).float().div_(255.0)


class RandomPatches(TensorBatches):
    """Training batches of random crops (``EpochCrops``), drawn per epoch from
    ``sampler.generator()``; batching, DDP shards and mid-epoch resume as ``TensorBatches``."""

    def __init__(
        self,
        images: Sequence[torch.Tensor],
        patch: int,
        batch_size: int,
        sampler: EpochPermutation,
    ) -> None:
        super().__init__(images, batch_size, sampler)
        self.patch = patch

    def epoch_samples(self) -> EpochCrops:
        return EpochCrops(self.images, self.patch, len(self.sampler), self.sampler.generator())


class PatchDataModule(L.LightningDataModule):
    """Patches (B, C, patch_size, patch_size), float32 in [0, 1], of photographs split by image.

    Subclasses provide ``load_images()``: for each split a list of uint8 tensors (C, H, W) with
    the same C, each at least ``patch_size`` on both sides. ``train_size`` is the number of
    random training crops per epoch (null: as many as the training images' grid holds);
    ``val_size`` and ``test_size`` cap the fixed evaluation patches (null: the whole grid).
    Images are kept as uint8 on the Trainer's device; patches are cut per batch.
    """

    def __init__(
        self,
        patch_size: int = 32,
        batch_size: int = 16,
        eval_batch_size: int = 500,
        train_size: int | None = None,
        val_size: int | None = None,
        test_size: int | None = None,
        seed: int = 1,
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        for name, cap in (
            ("train_size", train_size),
            ("val_size", val_size),
            ("test_size", test_size),
        ):
            check_cap(owner, name, cap)
        for name, count in (
            ("patch_size", patch_size),
            ("batch_size", batch_size),
            ("eval_batch_size", eval_batch_size),
        ):
            check_count(owner, name, count)
        self.patch_size, self.batch_size, self.eval_batch_size = (
            patch_size,
            batch_size,
            eval_batch_size,
        )
        self.sizes = {"train": train_size, "val": val_size, "test": test_size}
        self.seed = seed
        self.images: dict[str, list[torch.Tensor]] = {}
        self.parts: dict[str, torch.Tensor] = {}
        self.train_count = 0

    def load_images(self) -> dict[str, list[torch.Tensor]]:
        """uint8 images (C, H, W) of each split ("train", "val", "test")."""
        raise NotImplementedError

    @property
    def channels(self) -> int:
        raise NotImplementedError

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.channels, self.patch_size, self.patch_size)

    def setup(self, stage: str | None = None) -> None:
        if self.images:
            return
        device = self.trainer.strategy.root_device if self.trainer else torch.device("cpu")
        loaded = self.load_images()
        self.images = {name: [im.to(device) for im in loaded[name]] for name in SPLITS}
        for name in ("val", "test"):
            self.parts[name] = grid_patches(self.images[name], self.patch_size, self.sizes[name])
        grid = sum(
            len(grid_positions(*im.shape[-2:], self.patch_size)) for im in self.images["train"]
        )
        self.train_count = self.sizes["train"] or grid

    @property
    def used_sizes(self) -> dict[str, int]:
        """Images and patches of each split once set up, and the patch side (metrics.json's
        ``data`` entry)."""
        sizes = {f"{name}_images": len(self.images[name]) for name in SPLITS}
        sizes.update(
            train_patches_per_epoch=self.train_count,
            val_patches=len(self.parts["val"]),
            test_patches=len(self.parts["test"]),
            patch_size=self.patch_size,
        )
        return sizes

    def preview_images(self, count: int = 8) -> torch.Tensor:
        """``count`` fixed test patches (count, C, patch, patch), evenly spaced over the test
        images: the same pictures in every run's grid."""
        test = self.parts["test"]
        return test[evenly_spaced(len(test), count).to(test.device)]

    def _shard(self) -> dict[str, int]:
        if self.trainer is None:
            return {"rank": 0, "num_replicas": 1}
        return {"rank": self.trainer.global_rank, "num_replicas": self.trainer.world_size}

    def train_dataloader(self) -> RandomPatches:
        order = EpochPermutation(self.train_count, shuffle=True, seed=self.seed, **self._shard())
        return RandomPatches(self.images["train"], self.patch_size, self.batch_size, order)

    def _eval_loader(self, part: str) -> TensorBatches:
        patches = self.parts[part]
        order = EpochPermutation(len(patches), shuffle=False, **self._shard())
        return TensorBatches(patches, self.eval_batch_size, order)

    def val_dataloader(self) -> TensorBatches:
        return self._eval_loader("val")

    def test_dataloader(self) -> TensorBatches:
        return self._eval_loader("test")

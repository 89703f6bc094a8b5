"""Patches of photographs: split by image, fixed evaluation patches, seeded training crops and
flips, resumable and sharded like the MNIST batches; scikit-image's bundled photographs."""

from __future__ import annotations

import pytest
import torch

from decoderlab.tasks.mnist import EpochPermutation
from decoderlab.tasks.patches import (
    PatchDataModule,
    RandomPatches,
    evenly_spaced,
    grid_patches,
    grid_positions,
)
from decoderlab.tasks.sizes import SizeError
from decoderlab.tasks.skimage_images import (
    PHOTOGRAPHS,
    SkimageImagesError,
    SkimagePhotographsDataModule,
    load_photograph,
)


def coordinate_image(index: int, height: int, width: int) -> torch.Tensor:
    """A (3, H, W) int64 "image" whose pixel (y, x) holds (y, x, 1000 index + y + x): a crop
    shows where it was cut from, and no channel of it is constant."""
    ys, xs = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    return torch.stack([ys, xs, 1000 * index + ys + xs])


class Coordinates(PatchDataModule):
    """Images of known content: train 0 and 1, val 2, test 3 (various sizes)."""

    sizes_hw = {"train": [(40, 50), (24, 70)], "val": [(33, 33)], "test": [(64, 48)]}

    @property
    def channels(self) -> int:
        return 3

    def load_images(self):
        images, index = {}, 0
        for split, shapes in self.sizes_hw.items():
            images[split] = []
            for h, w in shapes:
                images[split].append(coordinate_image(index, h, w))
                index += 1
        return images


def origin(patch: torch.Tensor) -> tuple[int, int, int, bool]:
    """(image index, y, x, flipped) of a coordinate patch (C, p, p) cut from a coordinate image,
    after checking it is one contiguous window, mirrored left-right when flipped."""
    ys, xs, code = patch.long()
    index = (code - ys - xs) // 1000
    p = patch.shape[-1]
    assert torch.all(index == index[0, 0])
    assert torch.equal(ys, ys[:, :1] + torch.zeros_like(ys))
    assert torch.equal(ys[:, 0], ys[0, 0] + torch.arange(p))
    flipped = bool(xs[0, 0] > xs[0, -1])
    row = xs[0].flip(0) if flipped else xs[0]
    assert torch.equal(row, row[0] + torch.arange(p))
    assert torch.equal(xs, xs[:1].expand(p, p))
    return int(index[0, 0]), int(ys[0, 0]), int(row[0]), flipped


def raw(batch: torch.Tensor) -> torch.Tensor:
    """Undo the /255 of a batch of coordinate patches."""
    return (batch * 255).round()


def set_up(**knobs) -> Coordinates:
    data = Coordinates(patch_size=8, batch_size=4, eval_batch_size=7, **knobs)
    data.setup()
    return data


def test_grid_positions_are_centred_and_do_not_overlap():
    assert grid_positions(20, 9, 8) == [(2, 0), (10, 0)]
    assert grid_positions(7, 30, 8) == []
    corners = grid_positions(35, 35, 8)
    assert len(corners) == 16 and corners[0] == (1, 1) and corners[-1] == (25, 25)


def test_evenly_spaced_keeps_the_ends_and_caps():
    assert evenly_spaced(10, None).tolist() == list(range(10))
    assert evenly_spaced(10, 3).tolist() == [0, 4, 9]  # linspace 0, 4.5, 9 rounds half to even
    assert evenly_spaced(3, 8).tolist() == [0, 1, 2]


def test_evaluation_patches_come_from_their_split_only_and_are_fixed():
    one, two = set_up(seed=1), set_up(seed=2, val_size=5)
    val = [origin(p) for p in raw(one.parts["val"])]
    test = [origin(p) for p in raw(one.parts["test"])]
    assert {v[0] for v in val} == {2} and {t[0] for t in test} == {3}
    assert len(val) == 16 and len(test) == 48  # the whole 4x4 and 8x6 grids
    assert not any(v[3] for v in val + test)  # never flipped
    assert torch.equal(one.parts["test"], two.parts["test"])  # another seed: the same patches
    assert torch.equal(two.parts["val"], one.parts["val"][[0, 4, 8, 11, 15]])


def test_training_crops_are_windows_of_training_images_drawn_by_the_seed():
    data = set_up(seed=3, train_size=40)
    batches = [raw(b) for b in data.train_dataloader()]
    assert [len(b) for b in batches] == [4] * 10
    origins = [origin(p) for b in batches for p in b]
    assert {o[0] for o in origins} <= {0, 1} and len({o[0] for o in origins}) == 2
    assert 5 < sum(o[3] for o in origins) < 35  # some flipped, some not
    for index, y, x, _ in origins:
        h, w = Coordinates.sizes_hw["train"][index]
        assert 0 <= y <= h - 8 and 0 <= x <= w - 8
    again = [raw(b) for b in set_up(seed=3, train_size=40).train_dataloader()]
    other = [raw(b) for b in set_up(seed=4, train_size=40).train_dataloader()]
    assert all(torch.equal(a, b) for a, b in zip(batches, again, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(batches, other, strict=True))


def test_each_epoch_draws_new_crops_and_null_means_the_grid():
    data = set_up(seed=1)
    assert data.train_count == 5 * 6 + 3 * 8  # the training images' grid patches
    loader = data.train_dataloader()
    first = torch.cat(list(loader))
    loader.sampler.set_epoch(1)
    assert not torch.equal(first, torch.cat(list(loader)))
    assert data.used_sizes == {
        "train_images": 2,
        "val_images": 1,
        "test_images": 1,
        "train_patches_per_epoch": 54,
        "val_patches": 16,
        "test_patches": 48,
        "patch_size": 8,
    }


def test_a_resumed_epoch_serves_the_batches_not_yet_seen():
    data = set_up(seed=5, train_size=24)
    loader = data.train_dataloader()
    loader.sampler.set_epoch(2)
    iterator = iter(loader)
    seen = [next(iterator) for _ in range(2)]
    state = loader.state_dict()
    rest = list(iterator)
    resumed = data.train_dataloader()
    resumed.sampler.set_epoch(2)
    resumed.load_state_dict(state)
    assert len(seen) + len(rest) == 6
    assert all(torch.equal(a, b) for a, b in zip(resumed, rest, strict=True))


def test_two_processes_serve_together_the_batches_of_one():
    data = set_up(seed=2, train_size=20)
    images = data.images["train"]

    def batches(rank, replicas, batch_size):
        order = EpochPermutation(20, shuffle=True, seed=2, rank=rank, num_replicas=replicas)
        return list(RandomPatches(images, 8, batch_size, order))

    single = batches(0, 1, 4)
    ranks = [batches(r, 2, 2) for r in (0, 1)]
    for step, together in enumerate(single):
        assert torch.equal(torch.cat([ranks[0][step], ranks[1][step]]), together)


def test_size_knobs_are_checked_by_the_patch_module():
    with pytest.raises(SizeError, match=r"Coordinates\.patch_size=0"):
        Coordinates(patch_size=0)
    with pytest.raises(SizeError, match=r"Coordinates\.train_size=-1"):
        Coordinates(train_size=-1)


def test_grid_patches_scale_to_unit_range_and_leave_out_flat_ones():
    image = torch.full((2, 16, 16), 255, dtype=torch.uint8)
    image[:, 0, 0] = 0  # the top-left patch has content in both channels
    image[1, 9, 9] = 0  # the bottom-right one in one channel only: left out
    patches = grid_patches([image], 8, None)
    assert patches.shape == (1, 2, 8, 8) and patches.dtype == torch.float32
    assert patches[0, 0, 0, 0] == 0.0 and patches[0, 0, 1, 1] == 1.0
    with pytest.raises(ValueError, match="no 8x8 patch with content"):
        grid_patches([torch.zeros(1, 16, 16, dtype=torch.uint8)], 8, None)


@pytest.mark.parametrize("name", PHOTOGRAPHS)
def test_every_bundled_photograph_loads_as_rgb(name):
    image = load_photograph(name)
    assert image.dtype == torch.uint8 and image.shape[0] == 3 and min(image.shape[1:]) >= 300


def test_the_photographs_are_split_by_image():
    data = SkimagePhotographsDataModule(patch_size=32, val_size=20, test_size=30)
    assert data.image_shape == (3, 32, 32)
    names = data.names
    assert not set(names["train"]) & set(names["val"] + names["test"])
    assert not set(names["val"]) & set(names["test"])
    data.setup()
    (val_image,) = [load_photograph(n) for n in names["val"]]
    corners = grid_positions(*val_image.shape[-2:], 32)
    first_y, first_x = corners[0]
    expected = val_image[:, first_y : first_y + 32, first_x : first_x + 32].float() / 255
    assert torch.equal(data.parts["val"][0], expected)
    assert data.used_sizes["val_patches"] == 20 and data.used_sizes["test_patches"] == 30


def test_a_photograph_in_two_splits_or_unknown_is_refused():
    with pytest.raises(SkimageImagesError, match="'astronaut' is in both train_images and test"):
        SkimagePhotographsDataModule(train_images=["astronaut", "rocket"])
    with pytest.raises(SkimageImagesError, match="'lena' is not one of the bundled"):
        SkimagePhotographsDataModule(val_images=["lena"])
    with pytest.raises(SkimageImagesError, match="val_images is empty"):
        SkimagePhotographsDataModule(val_images=[])

"""data.subset_seed: a training subset drawn per seed that keeps the paired design."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate

from decoderlab.tasks.mnist import MNISTDataModule


def train_part(root, **kwargs) -> torch.Tensor:
    dm = MNISTDataModule(root, verify_checksums=False, download=False, val_split=0.25, **kwargs)
    dm.prepare_data()
    dm.setup()
    return dm.parts["train"]


def test_the_subset_depends_on_subset_seed_only(tiny_mnist):
    """80 training digits, 20 of them validation (tail): 10 drawn from the first 60."""
    first = train_part(tiny_mnist, train_size=10)
    pool = train_part(tiny_mnist)
    a = train_part(tiny_mnist, train_size=10, subset_seed=3, seed=1)
    assert torch.equal(first, pool[:10])  # default: the first train_size
    assert torch.equal(a, train_part(tiny_mnist, train_size=10, subset_seed=3, seed=2))
    assert not torch.equal(a, train_part(tiny_mnist, train_size=10, subset_seed=4))
    assert not torch.equal(a, first)
    drawn = torch.randperm(60, generator=torch.Generator().manual_seed(3))[:10]
    assert torch.equal(a, pool[drawn])  # from the training images, never validation


def test_every_decoder_of_one_seed_gets_the_same_subset(make_cfg, tiny_mnist):
    """The composed configs of two decoders under seed 5 draw their subset with the same
    seed; another seed draws another subset."""
    subsets = {}
    for decoder, seed in (("resize_conv", 5), ("pixel_shuffle", 5), ("resize_conv", 6)):
        cfg = make_cfg(
            f"model/decoder={decoder}",
            f"seed={seed}",
            "data.subset_seed=${seed}",
            "data.train_size=10",
            f"data.data_dir={tiny_mnist}",
            "data.verify_checksums=false",
            "data.download=false",
        )
        dm = instantiate(cfg.data)
        assert dm.subset_seed == seed
        dm.prepare_data()
        dm.setup()
        subsets[decoder, seed] = dm.parts["train"]
    assert torch.equal(subsets["resize_conv", 5], subsets["pixel_shuffle", 5])
    assert not torch.equal(subsets["resize_conv", 5], subsets["resize_conv", 6])


def test_a_subset_seed_that_is_not_an_integer_is_refused():
    with pytest.raises(ValueError, match="subset_seed='x' must be an integer"):
        MNISTDataModule("data", subset_seed="x")

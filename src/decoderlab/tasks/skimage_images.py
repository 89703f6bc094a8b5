"""Colour photographs that ship inside scikit-image's wheel: natural images with no download.

The images, with their source and licence as scikit-image's ``skimage.data`` documents them
(scikit-image 0.26; each loads from the installed package, without pooch's cache or a
network):

============================  ===========  ===================================================
name (``skimage.data``)        size (HxW)   source, licence
============================  ===========  ===================================================
astronaut                      512 x 512    Eileen Collins, NASA Great Images; public domain
chelsea                        300 x 451    Chelsea the cat, Stefan van der Walt; CC0
coffee                         400 x 600    coffee cup, Rachel Michetti (Pikolo Espresso Bar); CC0
rocket                         427 x 640    DSCOVR launch on Falcon 9, SpaceX; public domain
hubble_deep_field              872 x 1000   Hubble eXtreme Deep Field, NASA; public domain
retina                         1411 x 1411  fundus photograph, Mikael Häggström; CC0 1.0
immunohistochemistry           512 x 512    IHC-stained colonic glands, CMMI; no known
                                            copyright restrictions
============================  ===========  ===================================================

Left out: ``cat`` (the same photograph as ``chelsea``), ``stereo_motorcycle`` (Middlebury
2014, no licence stated), ``colorwheel`` and ``logo`` (drawings), and the grey images.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from decoderlab.tasks.patches import PatchDataModule

PHOTOGRAPHS = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "hubble_deep_field",
    "retina",
    "immunohistochemistry",
)


class SkimageImagesError(ValueError):
    """An unknown photograph name, or one given to two splits."""


def load_photograph(name: str) -> torch.Tensor:
    """scikit-image's bundled photograph ``name`` as uint8 (3, H, W)."""
    import skimage.data

    return torch.from_numpy(getattr(skimage.data, name)()).permute(2, 0, 1).contiguous()


class SkimagePhotographsDataModule(PatchDataModule):
    """RGB patches of scikit-image's bundled photographs (``PHOTOGRAPHS``), split by image:
    ``train_images``, ``val_images`` and ``test_images`` name them; no name in two splits.
    Other knobs as ``PatchDataModule``."""

    def __init__(
        self,
        train_images: Sequence[str] = (
            "rocket",
            "hubble_deep_field",
            "retina",
            "immunohistochemistry",
        ),
        val_images: Sequence[str] = ("chelsea",),
        test_images: Sequence[str] = ("astronaut", "coffee"),
        **patch_knobs,
    ) -> None:
        super().__init__(**patch_knobs)
        self.names = {
            "train": list(train_images),
            "val": list(val_images),
            "test": list(test_images),
        }
        seen: dict[str, str] = {}
        for split, names in self.names.items():
            if not names:
                raise SkimageImagesError(
                    f"{split}_images is empty: name at least one of {', '.join(PHOTOGRAPHS)}"
                )
            for name in names:
                if name not in PHOTOGRAPHS:
                    raise SkimageImagesError(
                        f"{split}_images: {name!r} is not one of the bundled photographs "
                        f"{', '.join(PHOTOGRAPHS)}"
                    )
                if name in seen:
                    raise SkimageImagesError(
                        f"{name!r} is in both {seen[name]}_images and {split}_images: a photograph "
                        "belongs to one split only"
                    )
                seen[name] = split

    @property
    def channels(self) -> int:
        return 3

    def load_images(self) -> dict[str, list[torch.Tensor]]:
        return {split: [load_photograph(n) for n in names] for split, names in self.names.items()}

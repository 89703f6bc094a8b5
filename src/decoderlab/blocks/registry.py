"""The decoder registry: each upsampling block family declares itself once.

A family is a block class with a ``family`` name, its knobs (keyword arguments and their allowed
values) and its named variants: the knob settings a comparison sweeps, each named as its runs
report it (``block.name``) and each with a config ``conf/model/decoder/<variant>.yaml``. Configs,
the probe, the block tests and the comparison list are derived from the registry or checked
against it (tests/test_registry.py), as timm's ``register_model`` / ``list_models`` do.

    @register_decoder(
        knobs={"kernel_size": (2, 3, 4), "blur": (False, True)},
        variants={"transposed_conv_k3": {"kernel_size": 3}},
        source="Dumoulin & Visin 2016, arXiv 1603.07285",
    )
    class TransposedConvUp(UpsamplingBlock):
        family = "transposed_conv"

A block of a user's own package registers the same way when its module is imported (a config's
``_target_`` imports it); :func:`check_block_contract` holds every block to the size contract.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, TypeVar

import torch
from omegaconf import OmegaConf
from torch import nn

from decoderlab.blocks.validation import check_choice

Block = TypeVar("Block", bound=type[nn.Module])


@dataclass(frozen=True)
class DecoderFamily:
    """One registered family: ``block(in_channels, out_channels, **knobs)`` builds a member."""

    name: str
    block: type[nn.Module]
    knobs: Mapping[str, tuple[Any, ...]]
    variants: Mapping[str, Mapping[str, Any]]
    source: str

    def check_knobs(self, **values: Any) -> None:
        """Raise ValueError naming the family, the knob and its allowed values for a bad value."""
        for knob, value in values.items():
            if knob not in self.knobs:
                raise ValueError(
                    f"{self.name}: unknown knob {knob!r}; its knobs are {', '.join(self.knobs)}"
                )
            check_choice(self.name, knob, value, self.knobs[knob])

    def build(self, variant: str, in_channels: int, out_channels: int) -> nn.Module:
        """The block of the named variant, (N, in_channels, H, W) -> (N, out_channels, 2H, 2W)."""
        return self.block(in_channels, out_channels, **self.variants[variant])


_FAMILIES: dict[str, DecoderFamily] = {}


def register_decoder(
    *,
    knobs: Mapping[str, Collection[Any]],
    variants: Mapping[str, Mapping[str, Any]],
    source: str,
) -> Callable[[Block], Block]:
    """Class decorator: register the class's ``family`` with its knobs, variants and source.

    Raises ValueError when the class has no ``family``, when another class already registered
    that family name, or when a variant names a knob or value the family does not allow.
    """

    def register(cls: Block) -> Block:
        name = getattr(cls, "family", "")
        if not name:
            raise ValueError(f"register_decoder: {cls.__qualname__} has no 'family' name")
        known = _FAMILIES.get(name)
        if known is not None and known.block.__qualname__ != cls.__qualname__:
            raise ValueError(
                f"register_decoder: family {name!r} is registered already "
                f"({known.block.__module__}.{known.block.__qualname__})"
            )
        family = DecoderFamily(
            name=name,
            block=cls,
            knobs=MappingProxyType({k: tuple(v) for k, v in knobs.items()}),
            variants=MappingProxyType({v: MappingProxyType(dict(s)) for v, s in variants.items()}),
            source=source,
        )
        for settings in family.variants.values():
            family.check_knobs(**settings)
        _FAMILIES[name] = family
        return cls

    return register


def decoder_families() -> dict[str, DecoderFamily]:
    """Every registered family by name: the built-in ones, then those of imported user code.

    Every module of the ``decoderlab.blocks`` package is imported first, so a new family's
    module registers itself without being listed anywhere else.
    """
    package = importlib.import_module("decoderlab.blocks")
    for module in pkgutil.iter_modules(package.__path__, prefix=f"{package.__name__}."):
        importlib.import_module(module.name)
    return dict(_FAMILIES)


def decoder_variants() -> dict[str, DecoderFamily]:
    """Every named variant (the comparison's decoders, in registration order) -> its family."""
    return {v: f for f in decoder_families().values() for v in f.variants}


def register_resolvers() -> None:
    """Register ``${decoder_variants:}``: every registered variant, comma-separated, the value a
    sweep's ``model/decoder`` parameter takes to compare them all (conf/experiment)."""
    if not OmegaConf.has_resolver("decoder_variants"):
        OmegaConf.register_new_resolver("decoder_variants", lambda: ",".join(decoder_variants()))


def check_block_contract(block: nn.Module, in_channels: int, out_channels: int) -> None:
    """Raise ValueError unless ``block`` maps (N, C_in, H, W) to (N, C_out, 2H, 2W) exactly.

    Checked on an odd and an even size in eval mode without gradients, so running statistics
    and the random number generators are left as they were.
    """
    was_training = block.training
    block.eval()
    try:
        with torch.no_grad():
            for h, w in ((5, 6), (4, 7)):
                out = block(torch.zeros(1, in_channels, h, w))
                expected = (1, out_channels, 2 * h, 2 * w)
                if tuple(out.shape) != expected:
                    raise ValueError(
                        f"{type(block).__qualname__}: an upsampling block must map "
                        f"(1, {in_channels}, {h}, {w}) to {expected}, got {tuple(out.shape)}"
                    )
    finally:
        block.train(was_training)

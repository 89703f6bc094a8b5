"""The decoder registry against the configs, the comparison list and its own rules."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from torch import nn

from decoderlab.blocks import (
    check_block_contract,
    decoder_families,
    decoder_variants,
    register_decoder,
    registry,
)
from decoderlab.train import config_dir

DECODER_CONFIGS = Path(config_dir()) / "model" / "decoder"


@pytest.mark.parametrize("variant", decoder_variants())
def test_every_variant_has_a_config_that_builds_it(make_cfg, variant):
    """The config named after a variant builds a block reporting that name and those knobs."""
    assert (DECODER_CONFIGS / f"{variant}.yaml").is_file()
    model = instantiate(make_cfg(f"model/decoder={variant}").model, in_shape=(1, 28, 28))
    (block, *_) = model.decoder.upsampling_blocks()
    family = decoder_variants()[variant]
    assert isinstance(block, family.block)
    assert block.name == model.decoder_name == variant
    up = make_cfg(f"model/decoder={variant}").model.decoder.up
    assert {k: up[k] for k in family.variants[variant]} == dict(family.variants[variant])


def test_every_decoder_config_is_a_variant_or_a_family_base():
    names = {p.stem for p in DECODER_CONFIGS.glob("*.yaml")}
    unknown = names - set(decoder_variants()) - set(decoder_families())
    assert not unknown, f"decoder configs the registry does not know: {sorted(unknown)}"


def test_family_base_configs_build_their_family(make_cfg):
    for name in decoder_families():
        if (DECODER_CONFIGS / f"{name}.yaml").is_file():
            up = make_cfg(f"model/decoder={name}").model.decoder.up
            assert instantiate(up)(4, 4).family == name


def test_the_comparison_sweeps_every_registered_variant():
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose("train", ["experiment=compare_decoders"], return_hydra_config=True)
    assert cfg.hydra.sweeper.params["model/decoder"].split(",") == list(decoder_variants())


class _Doubler(nn.Module):
    family = "test_doubler"

    def __init__(self, in_channels: int, out_channels: int, mode: str = "nearest") -> None:
        super().__init__()
        self.up = nn.Upsample(scale_factor=2, mode=mode)
        self.conv = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.up(x))


@pytest.fixture
def families(monkeypatch):
    """The registry's table, restored after the test."""
    table = dict(registry._FAMILIES)
    monkeypatch.setattr(registry, "_FAMILIES", table)
    return table


def test_a_registered_family_is_listed_with_its_variants(families):
    register_decoder(
        knobs={"mode": ("nearest", "bilinear")},
        variants={"test_doubler_nearest": {"mode": "nearest"}},
        source="a test",
    )(_Doubler)
    assert decoder_families()["test_doubler"].block is _Doubler
    assert list(decoder_variants())[-1] == "test_doubler_nearest"
    block = decoder_variants()["test_doubler_nearest"].build("test_doubler_nearest", 2, 3)
    assert block(torch.zeros(1, 2, 3, 5)).shape == (1, 3, 6, 10)


def test_registration_refuses_a_bad_variant_a_taken_name_and_a_nameless_class(families):
    with pytest.raises(ValueError, match=r"test_doubler: mode='bicubic' is not allowed.*'nearest'"):
        register_decoder(
            knobs={"mode": ("nearest",)}, variants={"v": {"mode": "bicubic"}}, source="-"
        )(_Doubler)
    with pytest.raises(ValueError, match="test_doubler: unknown knob 'kernel'; its knobs are mode"):
        register_decoder(knobs={"mode": ("nearest",)}, variants={"v": {"kernel": 3}}, source="-")(
            _Doubler
        )
    taken = type("Taken", (_Doubler,), {"family": "transposed_conv"})
    with pytest.raises(ValueError, match="family 'transposed_conv' is registered already"):
        register_decoder(knobs={}, variants={}, source="-")(taken)
    with pytest.raises(ValueError, match="has no 'family' name"):
        register_decoder(knobs={}, variants={}, source="-")(type("Nameless", (nn.Module,), {}))


def test_the_contract_check_names_the_block_and_the_shapes():
    check_block_contract(_Doubler(2, 3), 2, 3)
    with pytest.raises(ValueError, match=r"Conv2d: .* must map \(1, 2, 5, 6\) to \(1, 3, 10, 12\)"):
        check_block_contract(nn.Conv2d(2, 3, 1), 2, 3)


def test_the_contract_check_leaves_training_mode_and_random_state_alone():
    block = nn.Sequential(_Doubler(2, 3), nn.BatchNorm2d(3), nn.Dropout(0.5))
    before = torch.random.get_rng_state()
    check_block_contract(block, 2, 3)
    assert block.training
    assert torch.equal(torch.random.get_rng_state(), before)
    assert torch.equal(block[1].running_mean, torch.zeros(3))


def test_the_readme_lists_every_registered_variant_with_its_parameters():
    """The README's table is what ``docs/_hooks/decoder_table.py`` generates from the registry."""
    path = Path(__file__).resolve().parents[1] / "docs" / "_hooks" / "decoder_table.py"
    spec = importlib.util.spec_from_file_location("decoder_table", path)
    table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(table)
    readme = table.README.read_text()
    assert table.readme_with_table(readme) == readme, "run: python docs/_hooks/decoder_table.py"
    for variant in decoder_variants():
        assert f"| `{variant}` |" in readme
    # 3,725: transposed_conv_k3's count in the landed main's reports, computed without the table
    assert "| `transposed_conv_k3` | 3,725 |" in readme


def test_a_new_family_module_in_the_blocks_package_registers_itself(
    families, tmp_path, monkeypatch
):
    """Adding a family is its module and its configs: nothing lists the module."""
    import decoderlab.blocks

    (tmp_path / "test_tripler_family.py").write_text(
        "from torch import nn\n"
        "from decoderlab.blocks.registry import register_decoder\n\n\n"
        "@register_decoder(knobs={}, variants={'test_tripler_plain': {}}, source='a test')\n"
        "class TriplerUp(nn.Module):\n"
        "    family = 'test_tripler'\n"
    )
    monkeypatch.setattr(decoderlab.blocks, "__path__", [*decoderlab.blocks.__path__, str(tmp_path)])
    monkeypatch.delitem(sys.modules, "decoderlab.blocks.test_tripler_family", raising=False)
    assert "test_tripler" in decoder_families()
    assert "test_tripler_plain" in decoder_variants()

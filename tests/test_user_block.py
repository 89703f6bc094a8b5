"""A user's own decoder block, from their own package and config directory, end to end."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import textwrap

import pytest

from tests.tiny_sweep import REPO, TINY, console_script, run_sweep

BLOCKS = '''
"""A user's decoder blocks (none of them knows decoderlab)."""
import torch.nn.functional as F
from torch import nn


class NearestConvUp(nn.Module):
    """Nearest x2, then a 'same' conv: (N, C_in, H, W) -> (N, C_out, 2H, 2W); no name."""

    def __init__(self, in_channels, out_channels, kernel_size=3):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class CroppingUp(NearestConvUp):
    """Breaks the size contract: one row short."""

    def forward(self, x):
        return super().forward(x)[..., 1:, :]
'''


def decoder_config(target: str) -> str:
    return textwrap.dedent(
        f"""\
        _target_: decoderlab.networks.UpsamplingDecoder
        _partial_: true
        widths: ${{model.encoder.widths}}
        up:
          _target_: {target}
          _partial_: true
        """
    )


@pytest.fixture
def user_setup(tmp_path, monkeypatch):
    """A package ``userblocks`` on PYTHONPATH and a config directory with its decoders."""
    package = tmp_path / "site" / "userblocks"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(BLOCKS)
    decoders = tmp_path / "userconf" / "model" / "decoder"
    decoders.mkdir(parents=True)
    (decoders / "user_nearest.yaml").write_text(decoder_config("userblocks.NearestConvUp"))
    (decoders / "user_cropping.yaml").write_text(decoder_config("userblocks.CroppingUp"))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "site"))
    return f"hydra.searchpath=[file://{tmp_path / 'userconf'}]"


@pytest.mark.slow
def test_a_user_block_runs_in_the_race_and_the_report_like_a_built_in_one(tmp_path, user_setup):
    sweep_dir = tmp_path / "sweep"
    result = run_sweep(
        sweep_dir,
        "experiment=race_decoders",
        "model/decoder=user_nearest,transposed_conv_k3",
        "hydra.sweeper.initial_seeds=2",
        "hydra.sweeper.max_seeds=2",
        user_setup,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    records = [json.loads(p.read_text()) for p in sweep_dir.rglob("metrics.json")]
    by_decoder = {}
    for record in records:
        by_decoder.setdefault(record["decoder"], []).append(record)
    assert sorted(by_decoder) == ["NearestConvUp", "transposed_conv_k3"]
    assert [r["status"] for r in by_decoder["NearestConvUp"]] == ["ok"] * 2
    # the same model but for the up blocks: k3 conv weights after nearest instead of k3
    # transposed conv weights, so the parameter counts agree
    assert {r["params"] for r in records} == {3725}
    race = json.loads((sweep_dir / "race.json").read_text())
    assert "NearestConvUp" in json.dumps(race)
    report = subprocess.run(
        [console_script("decoderlab-report"), str(sweep_dir)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert report.returncode == 0, report.stderr[-3000:]
    with (sweep_dir / "report.csv").open() as f:
        rows = {row["decoder"]: row for row in csv.DictReader(f)}
    assert float(rows["NearestConvUp"]["params_mean"]) == 3725


@pytest.mark.slow
def test_a_user_block_that_breaks_the_size_contract_stops_the_run_at_build(tmp_path, user_setup):
    out = tmp_path / "out"
    result = subprocess.run(
        [
            console_script("decoderlab-train"),
            *TINY,
            "model/decoder=user_cropping",
            user_setup,
            f"hydra.run.dir={out}",
        ],
        cwd=REPO,
        env={**os.environ, "DECODERLAB_DATA_DIR": str(REPO / "data")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0
    message = result.stdout + result.stderr
    assert "CroppingUp: an upsampling block must map (1, 16, 5, 6) to (1, 8, 10, 12)" in message
    assert not list(out.rglob("*.ckpt"))


def test_unknown_user_decoder_names_the_search_path(tmp_path, user_setup):
    result = subprocess.run(
        [console_script("decoderlab-train"), "model/decoder=user_missing", user_setup],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "user_nearest" in result.stderr  # Hydra lists the group's options, the user's too

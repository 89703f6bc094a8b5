"""``decoderlab-probe --module`` and ``--checkpoint``: any decoder, untrained or trained."""

from __future__ import annotations

import csv
import textwrap

import numpy as np
import pytest
import torch
from PIL import Image

from decoderlab import probe
from decoderlab.blocks import TransposedConvUp
from decoderlab.networks import UpsamplingDecoder
from tests.tiny_sweep import tiny_sweep

USER_MODULE = '''
import torch.nn.functional as F
from torch import nn


class NearestConvUp(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size=3):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


def two_transposed(channels=4):
    """x4: two stride-2 kernel-3 transposed convs (a period-2 and a period-4 checkerboard)."""
    return nn.Sequential(
        nn.ConvTranspose2d(channels, channels, 3, stride=2, padding=1, output_padding=1),
        nn.ReLU(),
        nn.ConvTranspose2d(channels, 2, 3, stride=2, padding=1, output_padding=1),
    )
'''


def hand_ffcr(field: np.ndarray, period: int) -> float:
    """FFCR_s by hand: per channel, the variance over the s x s phases of their means,
    over the mean square; averaged over channels (a corner of whole periods)."""
    c, h, w = field.shape
    h, w = h - h % period, w - w % period
    cells = field[:, :h, :w].reshape(c, h // period, period, w // period, period)
    phase_means = cells.mean(axis=(1, 3)).reshape(c, -1)
    periodic = ((phase_means - phase_means.mean(1, keepdims=True)) ** 2).mean(1)
    return float((periodic / (field[:, :h, :w] ** 2).mean(axis=(1, 2))).mean())


def stderr(capsys) -> str:
    """What the probe printed to stderr, rich's line wrapping undone."""
    return " ".join(capsys.readouterr().err.split())


def read_row(path) -> dict[str, str]:
    with path.open() as f:
        (row,) = csv.DictReader(f)
    return row


def looks_like_a_picture(path) -> None:
    image = np.asarray(Image.open(path).convert("L"), dtype=float)
    assert image.shape[0] > 100 and image.shape[1] > 100
    assert image.std() > 10  # not blank


@pytest.fixture
def user_package(tmp_path, monkeypatch):
    package = tmp_path / "site" / "probeusers"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent(USER_MODULE))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    return "probeusers"


def test_a_user_factory_is_probed_per_period_with_pictures(tmp_path, user_package, capsys):
    out = tmp_path / "probe"
    args = ["--module", f"{user_package}:two_transposed", "--kwarg", "channels=3"]
    assert probe.main([*args, "--in-channels", "3", "--seed", "5", "--out-dir", str(out)]) == 0
    row = read_row(out / "ffcr.csv")
    assert row["decoder"] == "two_transposed"
    # the same module, built under the same seed, on a larger constant input: the FFCR of a
    # periodic interior is that of any window of whole periods away from the borders
    torch.manual_seed(5)
    module = __import__(user_package).two_transposed(channels=3).double()
    with torch.no_grad():
        full = module(torch.ones(1, 3, 24, 24, dtype=torch.float64))[0].numpy()
    interior = full[:, 16:-16, 16:-16]
    for period in (2, 4):
        assert float(row[f"ffcr{period}"]) == pytest.approx(hand_ffcr(interior, period), rel=1e-6)
        assert float(row[f"ffcr{period}"]) > 1e-3
    looks_like_a_picture(out / "flat_field.png")
    looks_like_a_picture(out / "spectrum.png")
    assert "FFCR_4" in capsys.readouterr().out


def test_a_user_class_without_checkerboard_scores_zero(tmp_path, user_package):
    out = tmp_path / "probe"
    args = [
        "--module",
        f"{user_package}:NearestConvUp",
        "--kwarg",
        "in_channels=4",
        "--kwarg",
        "out_channels=2",
        "--in-channels",
        "4",
        "--out-dir",
        str(out),
    ]
    assert probe.main(args) == 0
    row = read_row(out / "ffcr.csv")
    assert row["decoder"] == "NearestConvUp" and float(row["ffcr2"]) < 1e-20


@pytest.mark.slow
def test_a_checkpoint_of_a_tiny_run_is_probed_with_its_trained_weights(tmp_path_factory):
    sweep_dir, result = tiny_sweep(tmp_path_factory)
    assert result.returncode == 0, result.stderr[-3000:]
    (checkpoint,) = [
        p
        for p in sweep_dir.rglob("last.ckpt")
        if "transposed_conv_k3" in (p.parent.parent / ".hydra" / "overrides.yaml").read_text()
        and "seed=1" in (p.parent.parent / ".hydra" / "overrides.yaml").read_text()
    ]
    out = tmp_path_factory.mktemp("probe")
    assert probe.main(["--checkpoint", str(checkpoint), "--out-dir", str(out)]) == 0
    row = read_row(out / "ffcr.csv")
    assert row["decoder"] == "transposed_conv_k3"
    # independently: the comparison decoder built by hand, the checkpoint's decoder weights
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)["state_dict"]
    decoder = UpsamplingDecoder(4, 1, TransposedConvUp, (8, 16)).double()
    decoder.load_state_dict({k[len("decoder.") :]: v for k, v in state.items() if "decoder." in k})
    with torch.no_grad():
        full = decoder(torch.ones(1, 4, 24, 24, dtype=torch.float64))[0].numpy()
    for period in (2, 4):
        expected = hand_ffcr(full[:, 16:-16, 16:-16], period)
        assert float(row[f"ffcr{period}"]) == pytest.approx(expected, rel=1e-6)
    looks_like_a_picture(out / "flat_field.png")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--module", "probeusers.two_transposed", "--in-channels", "3"], "package.module:"),
        (["--module", "probeusers:missing", "--in-channels", "3"], "cannot import it"),
        (["--module", "probeusers:NearestConvUp", "--in-channels", "3"], "failed"),
    ],
)
def test_bad_modules_exit_2_with_a_message(tmp_path, user_package, capsys, args, message):
    assert probe.main([*args, "--out-dir", str(tmp_path / "out")]) == 2
    assert message in stderr(capsys)
    assert not (tmp_path / "out").exists()


def test_bad_checkpoints_exit_2_naming_the_file(tmp_path, capsys):
    assert probe.main(["--checkpoint", str(tmp_path / "none.ckpt")]) == 2
    assert "none.ckpt: no such file" in stderr(capsys)
    loose = tmp_path / "loose.ckpt"
    torch.save({"state_dict": {}}, loose)
    assert probe.main(["--checkpoint", str(loose)]) == 2
    assert "no .hydra/config.yaml" in stderr(capsys)


def test_module_needs_its_input_channels(capsys):
    with pytest.raises(SystemExit) as exit_info:
        probe.main(["--module", "probeusers:NearestConvUp"])
    assert exit_info.value.code == 2
    assert "--module needs --in-channels" in stderr(capsys)

"""decoderlab-report on another Hydra application's multirun: refused with nothing written, and
another program's metrics.json beside decoderlab runs named and left out."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from decoderlab.report import main
from tests.test_report import fake_job, read_table

# A Hydra application that is not decoderlab: each job writes a metrics.json of its own kind
# (a string where decoderlab records a number), the second job only.
APP = """
import json
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig


@hydra.main(version_base=None)
def main(cfg):
    if cfg.lr == 0.2:
        out = Path(HydraConfig.get().runtime.output_dir)
        record = {"decoder": "unet", "test": {"test/loss": "0.5"}}
        (out / "metrics.json").write_text(json.dumps(record))


if __name__ == "__main__":
    main()
"""


@pytest.fixture(scope="module")
def foreign_multirun(tmp_path_factory) -> Path:
    """``app.py -m +lr=0.1,0.2``: multirun.yaml, 0/.hydra/ without a metrics.json, 1/.hydra/
    with the app's own metrics.json."""
    folder = tmp_path_factory.mktemp("other_app")
    (folder / "app.py").write_text(APP)
    sweep = folder / "multirun"
    result = subprocess.run(
        [sys.executable, "app.py", "-m", "+lr=0.1,0.2", f"hydra.sweep.dir={sweep}"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert (sweep / "multirun.yaml").is_file() and (sweep / "0" / ".hydra").is_dir()
    assert json.loads((sweep / "1" / "metrics.json").read_text())["decoder"] == "unet"
    return sweep


def snapshot(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_another_hydra_apps_multirun_is_refused_and_nothing_is_written(
    foreign_multirun, tmp_path, capsys
):
    sweep = shutil.copytree(foreign_multirun, tmp_path / "multirun")
    before = snapshot(sweep)

    assert main([str(sweep)]) == 2

    err = capsys.readouterr().err
    assert f"{sweep}: not a decoderlab sweep: none of its 2 run directories holds" in err
    assert "nothing written" in err
    assert snapshot(sweep) == before  # no report.md, report.csv, paired.csv, figure


@pytest.mark.slow
def test_a_foreign_metrics_json_beside_decoderlab_runs_is_named_and_left_out(
    foreign_multirun, tmp_path, capsys
):
    sweep, num = tmp_path / "sweep", iter(range(100))
    for decoder, losses in {"a": (0.10, 0.12), "b": (0.20, 0.25)}.items():
        for seed, loss in zip((1, 2), losses, strict=True):
            fake_job(sweep, next(num), decoder, seed, loss)
    shutil.copytree(foreign_multirun / "1", sweep / "9")

    assert main([str(sweep)]) == 0  # every decoderlab job succeeded

    err = capsys.readouterr().err
    assert f"left out {sweep / '9'}: not a decoderlab run: {sweep / '9' / 'metrics.json'}" in err
    assert set(read_table(sweep)) == {"a", "b"}  # no row for the other app's "unet"
    report = (sweep / "report.md").read_text()
    left_out = report.split("## Left out: not decoderlab runs")[1]
    assert "| `9` | not a decoderlab run:" in left_out
    assert "diverged" not in report and "jobs failed" not in report
    assert "4 of 4 jobs succeeded" in report

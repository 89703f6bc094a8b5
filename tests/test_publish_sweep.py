"""docs/publish_sweep.py: the published results are rewritten from a real sweep's report."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from tests.tiny_sweep import REPO, tiny_sweep

START, END = "<!-- sweep-results:start -->", "<!-- sweep-results:end -->"


def block(text: str) -> str:
    assert text.count(START) == 1 and text.count(END) == 1
    return text.split(START)[1].split(END)[0]


@pytest.mark.slow
def test_the_readme_and_the_results_page_come_from_the_sweeps_report(tmp_path_factory, tmp_path):
    sweep_dir, result = tiny_sweep(tmp_path_factory)
    assert result.returncode == 0, result.stderr[-3000:]
    (tmp_path / "docs").mkdir()
    for name in ("README.md", "docs/results.md", "docs/publish_sweep.py"):
        shutil.copyfile(REPO / name, tmp_path / name)
    before = (tmp_path / "README.md").read_text()
    published = subprocess.run(
        [sys.executable, str(tmp_path / "docs" / "publish_sweep.py"), str(sweep_dir)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert published.returncode == 0, published.stderr
    report = (sweep_dir / "report.md").read_text()
    readme, page = (tmp_path / "README.md").read_text(), (tmp_path / "docs/results.md").read_text()
    # only the blocks change
    assert readme.split(START)[0] == before.split(START)[0]
    assert readme.split(END)[1] == before.split(END)[1]
    # the verdict table, verbatim from report.md, in both; the full table on the page only
    verdicts = report.split("## Verdicts on")[1].split("\n\n")[1]
    assert verdicts.startswith("| decoder | verdict |")
    assert verdicts in block(readme) and verdicts in block(page)
    ranked = report.split("## Results, ranked by test loss\n\n")[1].split("\n\n")[0]
    assert ranked in block(page) and ranked not in block(readme)
    assert "![Paired differences to the best](docs/sweep_forest.png)" in block(readme)
    # the page names the sweep's CSV files but links nothing outside the documentation
    assert not re.search(r"\]\((?!sweep_)[^)]*\)", block(page))
    for picture, source in (
        ("sweep_forest.png", "forest.png"),
        ("sweep_reconstructions.png", "reconstructions.png"),
    ):
        assert f"]({picture})" in block(page)
        assert (tmp_path / "docs" / picture).read_bytes() == (sweep_dir / source).read_bytes()


@pytest.mark.slow
def test_a_tasks_race_is_published_into_its_block_of_the_tasks_page(tmp_path_factory, tmp_path):
    sweep_dir, result = tiny_sweep(tmp_path_factory)
    assert result.returncode == 0, result.stderr[-3000:]
    (tmp_path / "docs").mkdir()
    for name in ("docs/tasks.md", "docs/publish_sweep.py"):
        shutil.copyfile(REPO / name, tmp_path / name)
    before = (tmp_path / "docs/tasks.md").read_text()
    start, end = "<!-- task-results:sr_x4:start -->", "<!-- task-results:sr_x4:end -->"
    published = subprocess.run(
        [sys.executable, str(tmp_path / "docs" / "publish_sweep.py"), "--task", "sr_x4"]
        + [str(sweep_dir), "a quiet machine"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert published.returncode == 0, published.stderr
    page = (tmp_path / "docs/tasks.md").read_text()
    assert page.split(start)[0] == before.split(start)[0]
    assert page.split(end)[1] == before.split(end)[1]
    published_block = page.split(start)[1].split(end)[0]
    report = (sweep_dir / "report.md").read_text()
    verdicts = report.split("## Verdicts on")[1].split("\n\n")[1]
    checkerboard = report.split("## Checkerboard verdicts")[1].split("\n\n")[1]
    assert verdicts in published_block and checkerboard in published_block
    assert "(a quiet machine)" in published_block
    assert "task-results:reconstruction:start" in page  # the other task's block is left alone


def test_help_and_a_directory_without_a_report(tmp_path):
    script = str(REPO / "docs" / "publish_sweep.py")
    shown = subprocess.run([sys.executable, script, "--help"], capture_output=True, text=True)
    assert shown.returncode == 0 and "--task" in shown.stdout and "sweep" in shown.stdout
    refused = subprocess.run(
        [sys.executable, script, str(tmp_path)], capture_output=True, text=True
    )
    assert refused.returncode == 2
    assert f"{tmp_path / 'report.md'} does not exist" in refused.stderr

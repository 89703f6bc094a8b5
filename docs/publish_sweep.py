"""Publish a sweep's report: the documentation's results page and the README's results block.

    .venv/bin/python docs/publish_sweep.py outputs/multirun/<date>/<time> ["what else ran"]
    .venv/bin/python docs/publish_sweep.py --task sr_x4 <sweep of task=sr_x4> ["what else ran"]

Rewrites, between the two markers below, ``docs/results.md`` (the sweep's budget, findings,
paired verdicts, race, table, forest plot and reconstruction picture) and ``README.md`` (the
budget, the verdict table and the forest plot), with text taken verbatim from the sweep's
``report.md``, and copies the pictures to ``docs/sweep_*.png``. With ``--task NAME`` it
rewrites instead the block ``<!-- task-results:NAME:start -->`` ... ``end`` of
``docs/tasks.md``: the race's time, budget and findings, its verdict table and its checkerboard
verdict table, and the bicubic floor where the report has one. Published results come from this
script, never typed by hand.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
RESULTS = REPO / "docs" / "results.md"
TASKS = REPO / "docs" / "tasks.md"
PICTURE = REPO / "docs" / "sweep_reconstructions.png"
FOREST = REPO / "docs" / "sweep_forest.png"
START, END = "<!-- sweep-results:start -->", "<!-- sweep-results:end -->"
# files of the sweep directory that report.md links to: named, not linked, once published
SWEEP_LINK = re.compile(r"\[([^\]]+\.csv)\]\(\1\)")


def section(markdown: str, title: str, required: bool = True) -> str:
    """The body of the first ``## title...`` section of ``markdown`` (title as a prefix)."""
    match = re.search(rf"^## {re.escape(title)}.*?\n\n(.*?)(?=^## |\Z)", markdown, re.S | re.M)
    if match is None:
        if required:
            raise SystemExit(f"report.md has no '## {title}' section")
        return ""
    return SWEEP_LINK.sub(r"the sweep's `\1`", match.group(1).strip())


def run_time(sweep: Path, conditions: str = "") -> str:
    """How long the sweep ran, from its start (multirun.yaml) to its last record, and under
    what ``conditions`` (what else the machine ran), e.g. ``7.6 minutes``."""
    finished = max(p.stat().st_mtime for p in sweep.glob("*/metrics.json"))
    minutes = (finished - (sweep / "multirun.yaml").stat().st_mtime) / 60
    return f"{minutes:.1f} minutes{f' ({conditions})' if conditions else ''}"


def budget(sweep: Path, report: str, conditions: str = "") -> str:
    """Where and how long the sweep ran, and its budget (report.md's first paragraph)."""
    summary = report.split("\n\n")[1].strip().replace(str(sweep), sweep.name)
    return (
        f"From `make sweep` on a {os.cpu_count()}-core CPU, {run_time(sweep, conditions)} from "
        f"the multirun's start to the end of its last job. {summary}"
    )


def results_page_block(sweep: Path, report: str, conditions: str = "") -> str:
    """docs/results.md's block: everything the README shows, and the race and the table."""
    parts = [
        START,
        budget(sweep, report, conditions),
        section(report, "Findings"),
        "Verdicts on `test/loss`, paired by seed:",
        section(report, "Verdicts on").split("\n\n![")[0],
        f"![Paired differences to the best]({FOREST.name})",
        section(report, "Race", required=False),
        section(report, "Results, ranked by test loss").split("\n\nEach cell")[0],
        "Each cell: mean ± half-width of the 95% Student-t confidence interval over seeds.",
        f"![Reconstructions of every decoder]({PICTURE.name})",
        END,
    ]
    return "\n\n".join(p for p in parts if p)


def readme_block(sweep: Path, report: str, conditions: str = "") -> str:
    """The README's block: the budget, the verdict table and the forest plot."""
    table = section(report, "Verdicts on").split("\n\n")[0]
    parts = [
        START,
        budget(sweep, report, conditions),
        "Verdicts on `test/loss`, paired by seed:",
        table,
        f"![Paired differences to the best]({FOREST.relative_to(REPO)})",
        END,
    ]
    return "\n\n".join(parts)


def task_block(task: str, sweep: Path, report: str, conditions: str = "") -> str:
    """docs/tasks.md's block for one task's race: budget, findings and both verdict tables."""
    summary = report.split("\n\n")[1].strip().replace(str(sweep), sweep.name)
    parts = [
        task_markers(task)[0],
        f"A race of `task={task}` on a {os.cpu_count()}-core CPU, {run_time(sweep, conditions)}."
        f" {summary}",
        section(report, "Findings"),
        "Verdicts on `test/loss`, paired by seed:",
        section(report, "Verdicts on").split("\n\n")[0],
        "Checkerboard verdicts, paired by seed:",
        section(report, "Checkerboard verdicts").split("\n\n")[0],
        section(report, "The bicubic floor", required=False),
        task_markers(task)[1],
    ]
    return "\n\n".join(p for p in parts if p)


def task_markers(task: str) -> tuple[str, str]:
    return f"<!-- task-results:{task}:start -->", f"<!-- task-results:{task}:end -->"


def replace_block(path: Path, block: str, markers: tuple[str, str] = (START, END)) -> None:
    """Rewrite the text between ``markers`` in ``path`` (markers included)."""
    start, end = markers
    text = path.read_text()
    if text.count(start) != 1 or text.count(end) != 1:
        raise SystemExit(f"{path}: needs exactly one {start} ... {end} block")
    head, rest = text.split(start)
    path.write_text(head + block + rest.split(end, 1)[1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("sweep", type=Path, help="the sweep directory (holds report.md)")
    parser.add_argument("conditions", nargs="*", help="what else ran, in words (optional)")
    parser.add_argument("--task", help="publish into docs/tasks.md's block of this task")
    args = parser.parse_args()
    sweep, task, conditions = args.sweep, args.task, " ".join(args.conditions)
    if not (sweep / "report.md").is_file():
        parser.error(f"{sweep / 'report.md'} does not exist: give a sweep directory with a report")
    report = (sweep / "report.md").read_text()
    if task:
        replace_block(TASKS, task_block(task, sweep, report, conditions), task_markers(task))
        print(f"results of task {task} from {sweep} in {TASKS}")
        return
    page = results_page_block(sweep, report, conditions)
    readme = readme_block(sweep, report, conditions)
    shutil.copyfile(sweep / "reconstructions.png", PICTURE)
    shutil.copyfile(sweep / "forest.png", FOREST)
    replace_block(RESULTS, page)
    replace_block(README, readme)
    print(f"results from {sweep} in {RESULTS} and {README}; pictures in {PICTURE.parent}")


if __name__ == "__main__":
    main()

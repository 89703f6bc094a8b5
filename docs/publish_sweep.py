"""Put a sweep's report into the README: its budget, findings, paired verdicts, race, table,
forest plot and reconstruction picture.

    .venv/bin/python docs/publish_sweep.py outputs/multirun/<date>/<time>

Copies the pictures to ``docs/sweep_*.png`` and rewrites the README block between the two
markers below with text taken verbatim from the sweep's ``report.md``.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
PICTURE = REPO / "docs" / "sweep_reconstructions.png"
FOREST = REPO / "docs" / "sweep_forest.png"
START, END = "<!-- sweep-results:start -->", "<!-- sweep-results:end -->"


def section(markdown: str, title: str, required: bool = True) -> str:
    """The body of the first ``## title...`` section of ``markdown`` (title as a prefix)."""
    match = re.search(rf"^## {re.escape(title)}.*?\n\n(.*?)(?=^## |\Z)", markdown, re.S | re.M)
    if match is None:
        if required:
            raise SystemExit(f"report.md has no '## {title}' section")
        return ""
    return match.group(1).strip()


def results_block(sweep: Path) -> str:
    report = (sweep / "report.md").read_text()
    summary = report.split("\n\n")[1].strip().replace(str(sweep), sweep.name)
    finished = max(p.stat().st_mtime for p in sweep.glob("*/metrics.json"))
    minutes = (finished - (sweep / "multirun.yaml").stat().st_mtime) / 60
    parts = [
        START,
        f"From `make sweep` on a {os.cpu_count()}-core CPU, {minutes:.1f} minutes from the "
        f"multirun's start to the end of its last job. {summary}",
        section(report, "Findings"),
        "Verdicts on `test/loss`, paired by seed:",
        section(report, "Verdicts on").split("\n\n![")[0],
        f"![Paired differences to the best]({FOREST.relative_to(REPO)})",
        section(report, "Race", required=False),
        section(report, "Results, ranked by test loss").split("\n\nEach cell")[0],
        "Each cell: mean ± half-width of the 95% Student-t confidence interval over seeds.",
        f"![Reconstructions of every decoder]({PICTURE.relative_to(REPO)})",
        END,
    ]
    return "\n\n".join(p for p in parts if p)


def main() -> None:
    sweep = Path(sys.argv[1])
    block = results_block(sweep)
    shutil.copyfile(sweep / "reconstructions.png", PICTURE)
    shutil.copyfile(sweep / "forest.png", FOREST)
    readme = README.read_text()
    if readme.count(START) != 1 or readme.count(END) != 1:
        raise SystemExit(f"{README}: needs exactly one {START} ... {END} block")
    head, rest = readme.split(START)
    README.write_text(head + block + rest.split(END, 1)[1])
    print(f"README results from {sweep}; picture in {PICTURE}")


if __name__ == "__main__":
    main()

"""report.html (decoderlab.report.html): one page with report.md's content in its order, every
figure and table file it names embedded, no reference to anything outside the page."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest

from decoderlab.report.html import MissingFileError, write_html
from tests.tiny_sweep import tiny_sweep

# Markdown's own syntax, read here without the library that renders it
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6} (.+)$", re.M)
# attributes through which a page loads or points to something
REFERENCES = {"src", "href", "srcset", "poster", "data", "action", "background"}


class Page(HTMLParser):
    """Every tag's reference attributes, the headings' text and the number of tables."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.references: list[tuple[str, str, str]] = []
        self.headings: list[str] = []
        self.tables = 0
        self.images: list[str] = []
        self.downloads: dict[str, str] = {}
        self._heading: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.references += [(tag, k, v or "") for k, v in attrs.items() if k in REFERENCES]
        self.tables += tag == "table"
        if tag == "img":
            self.images.append(attrs["src"])
        if tag == "a" and "download" in attrs:
            self.downloads[attrs["download"]] = attrs["href"]
        if re.fullmatch(r"h[1-6]", tag):
            self._heading = []

    def handle_data(self, data):
        if self._heading is not None:
            self._heading.append(data)

    def handle_endtag(self, tag):
        if re.fullmatch(r"h[1-6]", tag) and self._heading is not None:
            self.headings.append("".join(self._heading).strip())
            self._heading = None


def read_page(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return page


def decoded(uri: str) -> bytes:
    assert uri.startswith("data:") and ";base64," in uri, uri[:60]
    return base64.b64decode(uri.split(";base64,", 1)[1], validate=True)


def check_page(markdown_path: Path) -> Page:
    """What every report.html must be, checked against the Markdown beside it."""
    text = markdown_path.read_text()
    page = read_page(markdown_path.with_name("report.html"))
    folder = markdown_path.parent
    # every figure the Markdown shows is in the page, byte for byte, in the same order
    figures = [folder / unquote(f) for f in IMAGE.findall(text)]
    assert [decoded(src) for src in page.images] == [f.read_bytes() for f in figures]
    # every file it links to is a download inside the page
    for name in map(unquote, LINK.findall(text)):
        assert decoded(page.downloads[name]) == (folder / name).read_bytes()
    # nothing loads from or points to anywhere else
    outside = [r for r in page.references if not r[2].startswith(("data:", "#"))]
    assert outside == []
    # the same sections in the same order, and every table
    strip = str.maketrans("", "", "`*")
    assert page.headings == [h.translate(strip) for h in HEADING.findall(text)]
    assert page.tables == len(re.findall(r"^\|[-:| ]+\|$", text, re.M))
    return page


def png(path: Path, seed: int) -> Path:
    from PIL import Image

    Image.new("RGB", (4, 3), (seed, 2 * seed, 3 * seed)).save(path)
    return path


def test_the_page_holds_every_figure_and_table_file_of_the_markdown(tmp_path):
    png(tmp_path / "a.png", 10)
    png(tmp_path / "b b.png", 20)
    (tmp_path / "report.csv").write_text("decoder,loss\nx,0.1\n")
    markdown_path = tmp_path / "report.md"
    markdown_path.write_text(
        "# Decoder comparison: `sweep`\n\nThe table is in [report.csv](report.csv).\n\n"
        "## Verdicts\n\n| a | b |\n|---|--:|\n| 1 | 2 |\n\n![first](b%20b.png)\n\n"
        "## Figures\n\n![second](a.png)\n"
    )
    assert write_html(markdown_path) == tmp_path / "report.html"
    page = check_page(markdown_path)
    assert page.headings == ["Decoder comparison: sweep", "Verdicts", "Figures"]
    assert page.tables == 1 and list(page.downloads) == ["report.csv"]
    assert decoded(page.images[0]) == (tmp_path / "b b.png").read_bytes()


def test_the_check_sees_a_reference_that_leaves_the_page(tmp_path):
    markdown_path = tmp_path / "report.md"
    markdown_path.write_text("# Report\n\nSee [the site](https://example.org/x.png).\n")
    write_html(markdown_path)
    assert ("a", "href", "https://example.org/x.png") in read_page(
        tmp_path / "report.html"
    ).references


def test_a_missing_figure_stops_before_the_page_is_written(tmp_path):
    markdown_path = tmp_path / "report.md"
    markdown_path.write_text("# Report\n\n![gone](gone.png)\n")
    with pytest.raises(MissingFileError, match="gone.png"):
        write_html(markdown_path)
    assert not (tmp_path / "report.html").exists()


@pytest.mark.slow
def test_a_sweep_writes_report_html_beside_report_md(tmp_path_factory):
    sweep_dir, result = tiny_sweep(tmp_path_factory)
    assert result.returncode == 0, result.stderr[-3000:]
    page = check_page(sweep_dir / "report.md")
    assert len(page.images) >= 4 and {"report.csv", "paired.csv"} <= set(page.downloads)

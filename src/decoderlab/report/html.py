"""report.html: the Markdown report as one self-contained web page.

Python-Markdown renders ``report.md`` (with its ``tables`` extension), so the page has the same
content in the same order; a tree processor replaces every reference to a file beside the
report (figures, CSV tables) with a ``data:`` URI, so the page opens on its own, mailed or
copied off a cluster, with no request for any other file.
"""

from __future__ import annotations

import base64
import html
import mimetypes
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import unquote, urlsplit

import markdown
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor

REPORT_HTML = "report.html"
STYLE = """
body { font: 15px/1.5 system-ui, sans-serif; max-width: 75rem; margin: 2rem auto;
       padding: 0 1rem; color: #1b1b1b; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 13px; display: block;
        overflow-x: auto; }
th, td { border: 1px solid #d0d0d0; padding: 0.2rem 0.5rem; }
th { background: #f3f3f3; }
tr:nth-child(even) td { background: #fafafa; }
img { max-width: 100%; }
code { font-size: 90%; background: #f3f3f3; padding: 0 0.2rem; }
"""


class MissingFileError(FileNotFoundError):
    """The Markdown refers to a file that is not beside it, so the page could not hold it."""


def data_uri(path: Path) -> str:
    """``data:<media type>;base64,<content>`` of ``path`` (type from its suffix)."""
    media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"data:{media};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _local(reference: str | None) -> bool:
    """A relative path, not a URL, an in-page anchor or an inline ``data:`` URI."""
    if not reference:
        return False
    parts = urlsplit(reference)
    return not (parts.scheme or parts.netloc or reference.startswith(("#", "/")))


class EmbedFiles(Treeprocessor):
    """Replace ``<img src>`` and ``<a href>`` that name a file beside the report with the file's
    content as a ``data:`` URI (a link also gets ``download`` with the file's name)."""

    def __init__(self, md: markdown.Markdown, folder: Path) -> None:
        super().__init__(md)
        self.folder = folder

    def _embedded(self, reference: str) -> str:
        path = self.folder / unquote(urlsplit(reference).path)
        if not path.is_file():
            raise MissingFileError(
                f"the report refers to {reference}, which is not in {self.folder}"
            )
        return data_uri(path)

    def run(self, root: ET.Element) -> None:
        for image in root.iter("img"):
            if _local(image.get("src")):
                image.set("src", self._embedded(image.get("src", "")))
        for link in root.iter("a"):
            reference = link.get("href")
            if _local(reference):
                link.set("href", self._embedded(reference or ""))
                link.set("download", Path(unquote(urlsplit(reference or "").path)).name)


class EmbedFilesExtension(Extension):
    """Python-Markdown extension registering ``EmbedFiles`` for files in ``folder``."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder

    def extendMarkdown(self, md: markdown.Markdown) -> None:  # noqa: N802 (the library's name)
        # after Python-Markdown's inline processor (priority 20) has made the <img> and <a>
        md.treeprocessors.register(EmbedFiles(md, self.folder), "embed_files", 5)


def render_html(text: str, folder: Path, title: str) -> str:
    """A complete HTML page of the Markdown ``text``, files it names in ``folder`` embedded.

    Raises MissingFileError when ``text`` links or shows a file that ``folder`` lacks."""
    body = markdown.markdown(text, extensions=["tables", EmbedFilesExtension(folder)])
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )


def write_html(markdown_path: Path) -> Path:
    """Write ``report.html`` beside ``markdown_path`` (a report written by
    ``decoderlab.report.build``) and return its path; the page's title is the report's first
    line."""
    text = markdown_path.read_text(encoding="utf-8")
    title = text.splitlines()[0].lstrip("# ").replace("`", "") if text else markdown_path.stem
    path = markdown_path.with_name(REPORT_HTML)
    path.write_text(render_html(text, markdown_path.parent, title), encoding="utf-8")
    return path

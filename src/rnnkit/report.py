"""A small self-contained HTML report: a title and sections of text, a table and a PNG image.

The page is one file: images are embedded as base64 data URIs, the CSS is inline, and there is no
JavaScript and no external resource, so a report can be mailed, archived or opened offline. Every piece of
user text (headings, cells, captions, typed prefixes, model suggestions) is HTML-escaped; only a
section's ``html`` is inserted as it is, so it must be escaped already (as ``rnnkit.explain.to_html``
is). Only the standard library is used (through ``rnnkit.files``, which needs no more).

>>> write_report("runs/lm/report.html", title="Completion demo", sections=[
...     Section("Suggestions", table=Table(["prefix", "suggestion", "p"], [["<b>he", "hello", 0.8123456]])),
...     Section("Loss", image="runs/lm/history.png", text="Training loss per step."),
... ])
PosixPath('runs/lm/report.html')
"""

from __future__ import annotations

import base64
import html
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rnnkit.files import write_atomic

__all__ = ["Section", "Table", "format_number", "render", "write_report"]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; line-height: 1.5;
       color: #222; max-width: 900px; margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.6rem; border-bottom: 2px solid #ddd; padding-bottom: .3rem; }
h2 { font-size: 1.25rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: 1rem 0; }
caption { caption-side: top; text-align: left; font-style: italic; padding-bottom: .3rem; }
th, td { border: 1px solid #bbb; padding: .3rem .6rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; height: auto; }
"""


@dataclass
class Table:
    """A table: a header of ``columns`` names and ``rows`` of cells, one cell per column.

    Strings are shown as given (escaped); floats with 4 significant digits (see ``format_number``); ints
    in full. Raises ValueError when a row's length differs from the number of columns.
    """

    columns: list[str]
    rows: list[list[str | float | int]]
    caption: str | None = None

    def __post_init__(self) -> None:
        for i, row in enumerate(self.rows):
            if len(row) != len(self.columns):
                raise ValueError(f"row {i} has {len(row)} cells, expected {len(self.columns)} (the columns)")


@dataclass
class Section:
    """A section under ``heading``: optional ``text``, ``html``, ``table``, ``image`` and ``audio``, shown in that
    order.

    ``image`` is the path of a PNG file, ``audio`` of a WAV or Ogg file (a player), each embedded in the page;
    ``text`` is split into paragraphs at blank lines.
    ``html`` is raw HTML inserted as is after the text: it is trusted, so anything user-given in it must already
    be escaped (as the output of ``rnnkit.explain.to_html`` is).
    """

    heading: str
    table: Table | None = None
    image: str | Path | None = None
    text: str | None = None
    html: str | None = None
    audio: str | Path | None = None


def write_report(path: str | Path, *, title: str, sections: Sequence[Section]) -> Path:
    """Write the report as one HTML file at ``path`` (atomically, replacing any file there) and return the path.

    The parent directory is created if needed. The page is written with ``rnnkit.files.write_atomic``, so a
    reader never sees half a report and a failure leaves the old report (and no temporary file) behind.
    Raises ValueError if an image is not a PNG or a sound not WAV or Ogg, OSError (naming ``path``) if the file
    cannot be written.
    """
    page = render(title=title, sections=sections)  # before touching the disk: a bad image writes nothing
    return write_atomic(path, page)


def render(*, title: str, sections: Sequence[Section]) -> str:
    """The whole HTML page as a string."""
    body = "\n".join(_section(s) for s in sections)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{_esc(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<h1>{_esc(title)}</h1>\n{body}\n</body>\n</html>\n"
    )


def format_number(x: float | int) -> str:
    """A cell's number as text: ints in full; floats with 4 significant digits, trailing zeros dropped.

    Floats from 1e4 up to 1e15 are rounded to an integer rather than put in exponent form; below 1e-4 and
    from 1e15 exponent form is used. ``nan`` and ``inf`` are shown as such.

    >>> [format_number(x) for x in (3, 0.123456, 2.0, 12345.678, 0.0000123456, float("nan"))]
    ['3', '0.1235', '2', '12346', '1.235e-05', 'nan']
    """
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        return str(x)
    if isinstance(x, numbers.Integral):  # numpy ints too
        return str(int(x))
    x = float(x)  # numpy float32 and friends format like Python floats
    if math.isfinite(x) and 1e4 <= abs(x) < 1e15:
        return f"{x:.0f}"  # a large count or size reads better whole than as 1.235e+04
    return f"{x:.4g}"


def _section(section: Section) -> str:
    parts = [f"<section>\n<h2>{_esc(section.heading)}</h2>"]
    if section.text is not None:
        paragraphs = [p.strip() for p in section.text.split("\n\n") if p.strip()]
        parts += [f"<p>{_esc(p)}</p>" for p in paragraphs]
    if section.html is not None:
        parts.append(section.html)  # trusted: escaped by whoever built it
    if section.table is not None:
        parts.append(_table(section.table))
    if section.image is not None:
        parts.append(f"<img src=\"{_png_data_uri(section.image)}\" alt=\"{_esc(section.heading)}\">")
    if section.audio is not None:
        parts.append(f"<audio controls src=\"{_audio_data_uri(section.audio)}\"></audio>")
    parts.append("</section>")
    return "\n".join(parts)


def _table(table: Table) -> str:
    lines = ["<table>"]
    if table.caption is not None:
        lines.append(f"<caption>{_esc(table.caption)}</caption>")
    lines.append("<thead><tr>" + "".join(f"<th>{_esc(c)}</th>" for c in table.columns) + "</tr></thead>")
    lines.append("<tbody>")
    for row in table.rows:
        lines.append("<tr>" + "".join(_cell(v) for v in row) + "</tr>")
    lines.append("</tbody>\n</table>")
    return "\n".join(lines)


def _cell(value: str | float | int) -> str:
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return f"<td class=\"num\">{_esc(format_number(value))}</td>"
    return f"<td>{_esc(str(value))}</td>"


def _png_data_uri(image: str | Path) -> str:
    data = Path(image).read_bytes()
    if not data.startswith(_PNG_SIGNATURE):
        raise ValueError(f"{image}: not a PNG file (the report embeds PNG images only)")
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _audio_data_uri(sound: str | Path) -> str:
    data = Path(sound).read_bytes()
    if data.startswith(b"RIFF") and data[8:12] == b"WAVE":
        kind = "audio/wav"
    elif data.startswith(b"OggS"):
        kind = "audio/ogg"
    else:
        raise ValueError(f"{sound}: not a WAV or Ogg file (the report embeds those sounds only)")
    return f"data:{kind};base64," + base64.b64encode(data).decode("ascii")


def _esc(text: str) -> str:
    return html.escape(text, quote=True)

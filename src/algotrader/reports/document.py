"""A report: a title and a list of sections (figures, tables, notes) rendered to one HTML file.

Standalone files embed plotly.js from the installed package (no CDN, no network); the dashboard
renders the same sections with :meth:`Report.fragment` under a page that loads plotly.js once.
"""

from __future__ import annotations

import html
import os
import tempfile
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

import plotly.graph_objects as go
import plotly.io as pio
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from algotrader.errors import InvalidInputError
from algotrader.plotting.charts import SYNTHETIC_NOTE

Width = Literal["full", "half"]

PLOTLY_CONFIG: dict[str, Any] = {
    "displaylogo": False,
    "responsive": True,
    "scrollZoom": True,
    "modeBarButtonsToRemove": ["select2d", "lasso2d"],
}


@dataclass(frozen=True)
class FigureSection:
    """A Plotly figure."""

    title: str
    figure: go.Figure
    note: str = ""
    width: Width = "full"


@dataclass(frozen=True)
class TableSection:
    """A table of already formatted cells; ``numeric`` columns are right-aligned and sort as
    numbers (click a header to sort). ``links`` (one address per row, ``""`` for none) turns
    the cells of column ``link_column`` into links (e.g. a run id to its dashboard page)."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numeric: tuple[bool, ...] = ()
    note: str = ""
    width: Width = "full"
    link_column: int = 0
    links: tuple[str, ...] = ()


@dataclass(frozen=True)
class NoteSection:
    """Plain paragraphs (escaped)."""

    title: str
    paragraphs: tuple[str, ...]
    width: Width = "full"


Section = FigureSection | TableSection | NoteSection


@dataclass
class Report:
    """What :func:`~algotrader.reports.backtest_report` and friends return.

    Add sections with :meth:`add`; :meth:`write` saves one self-contained HTML file.
    """

    title: str
    sections: list[Section] = field(default_factory=list)
    subtitle: str = ""
    synthetic: bool = False
    warnings: list[str] = field(default_factory=list)

    def add(self, *sections: Section) -> Report:
        self.sections.extend(sections)
        return self

    def figures(self) -> list[go.Figure]:
        return [s.figure for s in self.sections if isinstance(s, FigureSection)]

    def fragment(self, *, id_prefix: str = "fig") -> str:
        """The report's body (header and sections) for a page that already loads plotly.js."""
        blocks = [_render_section(s, f"{id_prefix}-{k}") for k, s in enumerate(self.sections)]
        return _template("fragment.html.j2").render(report=self, blocks=blocks, note=SYNTHETIC_NOTE)

    def to_html(self) -> str:
        """One self-contained HTML document (plotly.js embedded from the installed package)."""
        return _template("report.html.j2").render(
            report=self, body=Markup(self.fragment()), plotly_js=Markup(plotly_js()),
            css=Markup(report_css()),
        )

    def write(self, path: str | Path) -> Path:
        """Write :meth:`to_html` to ``path`` atomically (never a half-written file)."""
        target = Path(path)
        if target.is_dir():
            raise InvalidInputError(
                f"{str(target)!r} is a folder", "give a file name, e.g. -o run.html"
            )
        document = self.to_html()
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".report-", suffix=".tmp", dir=target.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(document)
            os.replace(tmp, target)
        except OSError as exc:
            raise InvalidInputError(
                f"cannot write the report to {str(target)!r} ({exc.strerror or exc})",
                "choose a writable path with -o FILE",
            ) from None
        return target


def _render_section(section: Section, div_id: str) -> Markup:
    if isinstance(section, FigureSection):
        figure_html = pio.to_html(
            section.figure, full_html=False, include_plotlyjs=False, div_id=div_id,
            config=PLOTLY_CONFIG, default_width="100%",
            default_height=f"{section.figure.layout.height or 450}px",
        )
        return Markup(
            _template("section_figure.html.j2").render(s=section, figure=Markup(figure_html))
        )
    if isinstance(section, TableSection):
        numeric = section.numeric or tuple(False for _ in section.columns)
        body = (_linked_body(section, numeric) if section.links
                else _table_body(section.rows, numeric))
        return Markup(_template("section_table.html.j2").render(
            s=section, numeric=numeric, body=Markup(body)))
    return Markup(_template("section_note.html.j2").render(s=section))


def _table_body(rows: tuple[tuple[str, ...], ...], numeric: tuple[bool, ...]) -> str:
    """The rows as HTML, escaped here: a template loop costs ~1 s per 5,000 trades."""
    opening = ['<td class="num">' if is_num else "<td>" for is_num in numeric]
    return "\n".join(
        "<tr>" + "".join(f"{td}{html.escape(cell, quote=False)}</td>" for td, cell in
                         zip(opening, row, strict=False)) + "</tr>"
        for row in rows
    )


def _linked_body(section: TableSection, numeric: tuple[bool, ...]) -> str:
    """Like :func:`_table_body`, with the cells of ``link_column`` as links."""
    out = []
    for row, href in zip(section.rows, section.links, strict=True):
        cells = []
        for k, (cell, is_num) in enumerate(zip(row, numeric, strict=False)):
            text = html.escape(cell, quote=False)
            if k == section.link_column and href:
                text = f'<a href="{html.escape(href, quote=True)}">{text}</a>'
            cells.append(f'<td class="num">{text}</td>' if is_num else f"<td>{text}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    return "\n".join(out)


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("algotrader.reports", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _template(name: str) -> Any:
    return _environment().get_template(name)


@cache
def plotly_js() -> str:
    """The installed plotly.js bundle (no network)."""
    from plotly.offline import get_plotlyjs

    return str(get_plotlyjs())


@cache
def report_css() -> str:
    return (Path(__file__).with_name("templates") / "report.css").read_text(encoding="utf-8")


def escape(text: str) -> str:
    return html.escape(text, quote=True)

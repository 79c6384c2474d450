"""Rendering of the benchmark's tables: one tidy CSV plus Markdown and HTML views of the same rows."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from busi_curate.fileio import write_csv, write_text


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def html_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """The same table as HTML."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


#: a second, smaller table under the main one: its heading, header and rows
Section = tuple[str, list[str], list[list[str]]]


def write_table(
    out: Path,
    name: str,
    title: str,
    tidy: pd.DataFrame,
    header: list[str],
    rows: list[list[str]],
    notes: Sequence[str],
    after: Section | None = None,
) -> None:
    """``name.csv`` (tidy), ``name.md`` and ``name.html`` (wide, with notes, then the ``after`` section if any)."""
    write_csv(out / f"{name}.csv", tidy)
    md = [
        f"# {title}",
        "",
        *notes,
        "",
        markdown_table(header, rows) if rows else "_no finished run for this table_",
        "",
    ]
    if after is not None:
        md += [f"## {after[0]}", "", markdown_table(after[1], after[2]), ""]
    write_text(out / f"{name}.md", "\n".join(md))
    body = "".join(f"<p>{html.escape(n.lstrip('- '))}</p>" for n in notes)
    tail = f"<h2>{html.escape(after[0])}</h2>{html_table(after[1], after[2])}" if after is not None else ""
    write_text(
        out / f"{name}.html",
        f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<h1>{html.escape(title)}</h1>{body}{html_table(header, rows) if rows else '<p>no finished run</p>'}"
        f"{tail}\n",
    )

"""Findings, HTML renderer: :class:`~busi_curate.findings.document.Block` s to one self-contained page.

Inline CSS, relative links to the report's PNGs and CSVs; every piece of text is escaped with
:func:`html.escape`.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence

from busi_curate.findings.document import Block

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
table{border-collapse:collapse;margin:0.6em 0 1.2em;font-size:0.92em}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f2f2f2}tr:nth-child(even) td{background:#fafafa}
img{max-width:100%;border:1px solid #ddd;margin:0.4em 0 1.2em}
td img{margin:0;border:0}
pre{background:#f6f6f6;padding:0.6em;overflow-x:auto}h1,h2,h3{margin-top:1.4em}
""".strip()

e = html.escape


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    out = ["<table>", "<tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr>"]
    out += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in rows]
    return out + ["</table>"]


def _gallery(header: Sequence[str], rows: Sequence[Sequence[str]], images: Sequence[tuple[str, str]]) -> list[str]:
    out = ["<table>", "<tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr>"]
    for r, (src, alt) in zip(rows, images):
        cells = "".join(f"<td>{e(c)}</td>" for c in r)
        out.append(f'<tr>{cells}<td><img src="{e(src)}" alt="{e(alt)}" loading="lazy"></td></tr>')
    return out + ["</table>"]


_RENDER: dict[str, Callable[..., list[str]]] = {
    "h": lambda level, text: [f"<h{level}>{e(text)}</h{level}>"],
    "p": lambda text: [f"<p>{e(text)}</p>"],
    "table": _table,
    "img": lambda src, alt: [f'<img src="{e(src)}" alt="{e(alt)}">'],
    "links": lambda items: [
        "<ul>" + "".join(f'<li><a href="{e(h)}">{e(label)}</a></li>' for h, label in items) + "</ul>"
    ],
    "code": lambda text: [f"<pre>{e(text)}</pre>"],
    "gallery": _gallery,
}


def render_html(blocks: Sequence[Block], title: str) -> str:
    """A self-contained HTML page (inline CSS, relative links to the PNGs and CSVs); all text escaped."""
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">', f"<title>{e(title)}</title>"]
    out += [f"<style>{_CSS}</style>", "</head>", "<body>"]
    for b in blocks:
        out.extend(_RENDER[b.kind](*b.data))
    out += ["</body>", "</html>", ""]
    return "\n".join(out)

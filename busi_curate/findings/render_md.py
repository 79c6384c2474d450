"""Findings, Markdown renderer: :class:`~busi_curate.findings.document.Block` s to GitHub-flavoured Markdown.

Every piece of text is escaped by :func:`md_escape`; links and image sources are the report's own
relative file names.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from busi_curate.findings.document import Block

_MD_ALWAYS = re.compile(r"([\\`*\[\]|])")
_MD_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
_MD_TAG = re.compile(r"<(?=[A-Za-z/!?])")


def md_escape(text: str) -> str:
    """Escape Markdown syntax in ``text`` (one line): backslash, backtick, ``*``, brackets and ``|`` always;
    ``_`` at word edges, ``<`` that could open an HTML tag, ``#``/``>``/list marks at the start."""
    t = _MD_ALWAYS.sub(r"\\\1", str(text).replace("\r", " ").replace("\n", " "))
    t = _MD_UNDERSCORE.sub(r"\\_", t)
    t = _MD_TAG.sub(r"\\<", t)
    t = re.sub(r"&(?=#?[A-Za-z0-9]+;)", r"\\&", t)
    t = re.sub(r"^(\s*\d+)([.)])(?=\s|$)", r"\1\\\2", t)
    t = re.sub(r"^(\s*)([#+-])(?=\s|$)", r"\1\\\2", t)
    return re.sub(r"^(\s*)>", r"\1\\>", t)


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    out = [_row([md_escape(h) for h in header]), "|" + "|".join("---" for _ in header) + "|"]
    return out + [_row([md_escape(c) for c in r]) for r in rows]


def _gallery(header: Sequence[str], rows: Sequence[Sequence[str]], images: Sequence[tuple[str, str]]) -> list[str]:
    out = [_row([md_escape(h) for h in header]), "|" + "|".join("---" for _ in header) + "|"]
    for r, (src, alt) in zip(rows, images):
        out.append(_row([md_escape(c) for c in r] + [f"![{md_escape(alt)}]({src})"]))
    return out


_RENDER: dict[str, Callable[..., list[str]]] = {
    "h": lambda level, text: ["#" * level + " " + md_escape(text)],
    "p": lambda text: [md_escape(text)],
    "table": _table,
    "img": lambda src, alt: [f"![{md_escape(alt)}]({src})"],
    "links": lambda items: [f"- [{md_escape(label)}]({href})" for href, label in items],
    "code": lambda text: ["```\n" + text.replace("```", "` ` `") + "\n```"],
    "gallery": _gallery,
}


def render_markdown(blocks: Sequence[Block]) -> str:
    """The document as Markdown: one paragraph per block, a blank line after each."""
    out: list[str] = []
    for b in blocks:
        out.extend(_RENDER[b.kind](*b.data))
        out.append("")
    return "\n".join(out)

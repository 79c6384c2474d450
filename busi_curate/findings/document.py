"""Findings, document model: the report as a list of :class:`Block` s, rendered to Markdown
(:mod:`.render_md`) and HTML (:mod:`.render_html`) so both say the same thing.

Text in blocks is plain (never markup); each renderer escapes it in one place.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Block:
    """One piece of the document.

    ``kind`` and ``data``: ``h`` (level, text), ``p`` (text), ``table`` (header, rows), ``img`` (src, alt),
    ``links`` (((href, label), ...),), ``code`` (text), ``gallery`` (header, rows, images): a table whose
    last column shows the images ``((src, alt), ...)`` (one per row).
    """

    kind: str
    data: tuple[Any, ...]


def H(level: int, text: str) -> Block:  # noqa: N802
    return Block("h", (level, text))


def P(text: str) -> Block:  # noqa: N802
    return Block("p", (text,))


def T(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> Block:  # noqa: N802
    return Block("table", (tuple(header), tuple(tuple(fmt_cell(c) for c in r) for r in rows)))


def IMG(src: str, alt: str) -> Block:  # noqa: N802
    return Block("img", (src, alt))


def LINKS(items: Sequence[tuple[str, str]]) -> Block:  # noqa: N802
    return Block("links", (tuple(items),))


def CODE(text: str) -> Block:  # noqa: N802
    return Block("code", (text,))


def GALLERY(header: Sequence[str], rows: Sequence[Sequence[Any]], images: Sequence[tuple[str, str]]) -> Block:  # noqa: N802
    """A table of ``rows`` with one more column (the last of ``header``) showing ``images[i]`` on row ``i``."""
    if len(rows) != len(images):
        raise ValueError(f"{len(rows)} rows but {len(images)} images")
    return Block(
        "gallery",
        (tuple(header), tuple(tuple(fmt_cell(c) for c in r) for r in rows), tuple((s, a) for s, a in images)),
    )


def fmt_cell(v: Any) -> str:
    """A table cell as text: floats with 4 significant decimals, NaN as an en dash."""
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (float, np.floating)):
        return "–" if math.isnan(v) else f"{float(v):.4f}"
    return str(v)


def fmt_p(p: float) -> str:
    """A p-value for text: ``< 1e-300`` when it underflows to 0."""
    if math.isnan(p):
        return "n/a"
    if p == 0.0:
        return "< 1e-300"
    return f"{p:.3g}"


def fmt_table_p(p: float) -> str:
    """A Lilliefors p-value from statsmodels' table, which is clipped to [0.001, 0.2]."""
    if not math.isnan(p) and p <= 0.001 + 1e-9:
        return "<= 0.001"
    if not math.isnan(p) and p >= 0.2 - 1e-9:
        return ">= 0.2"
    return fmt_p(p)


def fmt_pct(v: float) -> str:
    """A percentage with one decimal, NaN as an en dash."""
    return "–" if math.isnan(v) else f"{v:.1f}%"


def ordinal(v: float) -> str:
    """``1`` -> ``1st``, ``99`` -> ``99th``, ``2.5`` -> ``2.5th``."""
    if v != int(v):
        return f"{v:g}th"
    n = int(v)
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"

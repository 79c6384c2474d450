"""How an image is named: ``(class, id)`` keys and the characters ids and class names may hold.

Defined here, at the bottom of the pipeline, because the loader checks them first; the journal,
manifests and splits reuse the same rules.
"""

from __future__ import annotations

import re

#: ``(class, id)``: how journals, manifests and splits name an image.
Key = tuple[str, str]

#: Image ids: 1-128 ASCII letters, digits, space, ``. _ - ( ) +``, not starting or ending with a space.
#: Checked when a dataset is loaded and on every journal line (no line break can hide in one).
ID_RE = re.compile(r"[A-Za-z0-9._()+-](?:[A-Za-z0-9 ._()+-]{0,126}[A-Za-z0-9._()+-])?", re.ASCII)
#: Class names: a lower-case letter, then up to 31 lower-case letters, digits, ``_`` or ``-``.
CLASS_RE = re.compile(r"[a-z][a-z0-9_-]{0,31}", re.ASCII)


def check_id(id_: str) -> str:
    """``id_`` when it is a valid image id (:data:`ID_RE`); raises ValueError otherwise."""
    if not ID_RE.fullmatch(id_):
        raise ValueError(f"id {id_!r} must be 1-128 ASCII letters, digits, spaces or . _ - ( ) +")
    return id_

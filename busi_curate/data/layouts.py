"""The ``folder`` layout (any tree of images, DICOM included) and the registration of every extra layout.

``folder``: every image under the folder, recursively (PNG, JPEG, BMP, TIFF, DICOM: ``.dcm``, ``.dicom``
or a suffix-less file with the DICOM marker). Classes and masks are optional:

* the class is the first sub-folder when it is a class name (``benign/``, ``malignant/``, ``normal/``),
  else ``unlabelled``;
* the id is the relative path without the suffix (and without the class folder), ``/`` written ``+``
  and any character an id may not hold written ``_`` (``patient 7/scan 2.png`` -> ``patient 7+scan 2``);
* a mask is a file ``<stem>_mask.png`` / ``<stem>_mask_<k>.png`` beside its image, or, when the folder holds
  ``images/`` and ``masks/``, the file of the same relative path (or ``<stem>_mask*``) under ``masks/``;
* a multi-frame DICOM file gives one image per frame, id ``<id>+f<n>``, path ``<file>#<n>``; the patient id,
  study, series and instance (and frame) of every DICOM image are recorded as group columns.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from busi_curate.data.dicom import frame_path, is_dicom, read_info
from busi_curate.data.ids import check_id
from busi_curate.errors import DatasetError

_MASK_RE = re.compile(r"^(?P<stem>.+)_mask(?:_(?P<k>[0-9]+))?$", re.IGNORECASE)
_BAD_ID_CHARS = re.compile(r"[^A-Za-z0-9 ._()+-]")


def _visible(name: str) -> bool:
    return not name.startswith(".") and name not in {"Thumbs.db", "desktop.ini"}


def walk_files(base: Path, skip: Path | None = None) -> list[Path]:
    """Visible regular files under ``base`` (recursively, links not followed), sorted; ``skip`` left out."""
    out: list[Path] = []
    for d, dirs, files in os.walk(base):
        dirs[:] = sorted(x for x in dirs if _visible(x) and (skip is None or Path(d, x) != skip))
        out += [Path(d, f) for f in sorted(files) if _visible(f) and Path(d, f).is_file()]
    return out


def id_from_parts(parts: Sequence[str]) -> str:
    """``("patient 7", "scan 2")`` -> ``"patient 7+scan 2"``: an id (:data:`~busi_curate.data.ids.ID_RE`)."""
    return _BAD_ID_CHARS.sub("_", "+".join(parts)).strip()


def _is_image(p: Path) -> bool:
    from busi_curate.data.dataset import IMAGE_SUFFIXES

    return p.suffix.lower() in IMAGE_SUFFIXES or is_dicom(p)


def _mask_files(files: list[Path], base: Path, mask_tree: Path | None) -> tuple[dict[Path, list[Path]], set[Path]]:
    """Image stem path (``folder/stem`` without suffix) -> its mask files; and the set of every mask file."""
    by_stem: dict[Path, list[tuple[int, Path]]] = {}
    all_masks: set[Path] = set()
    for f in files:
        m = _MASK_RE.match(f.stem)
        if m and f.suffix.lower() != ".dcm":
            by_stem.setdefault(f.parent / m["stem"], []).append((int(m["k"] or 0), f))
            all_masks.add(f)
    if mask_tree is not None:
        for f in walk_files(mask_tree):
            rel = f.relative_to(mask_tree)
            m = _MASK_RE.match(f.stem)
            stem = (rel.parent / m["stem"]) if m else rel.with_suffix("")
            by_stem.setdefault(base / stem, []).append((int(m["k"] or 0) if m else 0, f))
            all_masks.add(f)
    return {k: [p for _, p in sorted(v)] for k, v in by_stem.items()}, all_masks


def find_folder(root: Path, classes: Sequence[str], problems: list[tuple[Path, str]]) -> list[Any]:
    """Entries of any folder of images (see the module docstring)."""
    from busi_curate.data.dataset import UNLABELLED, Entry

    has_tree = (root / "images").is_dir() and (root / "masks").is_dir()
    base = root / "images" if has_tree else root
    mask_tree = root / "masks" if has_tree else None
    files = [f for f in walk_files(base) if _is_image(f)]
    masks_of, all_masks = _mask_files(files, base, mask_tree)
    claimed: set[Path] = set()
    found: dict[tuple[str, str], list[Entry]] = {}
    for f in files:
        if f in all_masks:
            continue
        parts = list(f.relative_to(base).with_suffix("").parts)
        cls = UNLABELLED
        if len(parts) > 1 and parts[0].lower() in classes:
            cls, parts = parts[0].lower(), parts[1:]
        id_ = id_from_parts(parts)
        masks = tuple(masks_of.get(f.with_suffix(""), []))
        claimed.update(masks)
        for e in _entries(f, cls, id_, masks, problems):
            found.setdefault((e.cls, e.id), []).append(e)
    for m in sorted(all_masks - claimed):
        problems.append((m, "mask without an image (expected the image beside it, named without '_mask')"))
    out = []
    for key, es in found.items():
        if len(es) > 1:
            names = ", ".join(repr(e.image.relative_to(root).as_posix()) for e in es)
            for e in es:
                problems.append(
                    (e.image, f"{len(es)} files map to {key[0]} id {key[1]!r}: {names}; rename all but one")
                )
        else:
            out.append(es[0])
    if not out and not problems:
        raise DatasetError("no images found (looked for PNG, JPEG, BMP, TIFF and DICOM files, recursively)", root)
    return out


def _entries(f: Path, cls: str, id_: str, masks: tuple[Path, ...], problems: list[tuple[Path, str]]) -> list[Any]:
    """One entry per image of file ``f`` (one per frame of a multi-frame DICOM file)."""
    from busi_curate.data.dataset import Entry

    try:
        check_id(id_)
    except ValueError as exc:
        problems.append((f, f"{exc} (ids come from the relative path; shorten or rename it)"))
        return []
    if not is_dicom(f):
        return [Entry(cls, id_, f, masks, needs_mask=False)]
    try:
        info = read_info(f)
    except DatasetError as exc:
        problems.append((f, exc.message))
        return []
    if info.frames == 1:
        return [Entry(cls, id_, f, masks, info.meta, needs_mask=False)]
    if masks:
        problems.append((f, "masks of a multi-frame DICOM file are not supported (which frame?); remove them"))
        return []
    return [
        Entry(cls, f"{id_}+f{n}", frame_path(f, n), (), (*info.meta, ("frame", str(n))), needs_mask=False)
        for n in range(1, info.frames + 1)
    ]


def register(layouts: dict[str, Callable[..., Any]], detectors: list[tuple[str, Callable[[Path], bool]]]) -> None:
    """Add ``folder`` and the public datasets' layouts (:mod:`.public`) to the registry of the loader."""
    from busi_curate.data import public

    for name, (finder, test) in public.LAYOUTS.items():
        layouts[name] = finder
        detectors.append((name, test))
    layouts["folder"] = find_folder

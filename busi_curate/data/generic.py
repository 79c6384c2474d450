"""The ``generic`` layout: ``images/``, ``masks/`` and ``labels.csv`` (columns ``image, class`` and optionally
``id``, ``masks`` and ``patient``; see the README). Registered in :data:`busi_curate.data.dataset.LAYOUTS`."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from busi_curate.data.dicom import split_frame
from busi_curate.data.ids import check_id
from busi_curate.errors import DatasetError

if TYPE_CHECKING:
    from busi_curate.data.dataset import Entry


def find_generic(root: Path, classes: Sequence[str], problems: list[tuple[Path, str]]) -> list[Entry]:
    """Entries of a generic-layout folder (``images/``, ``masks/``, ``labels.csv``; an optional ``patient``
    (or ``group``) column names each image's patient)."""
    from busi_curate.data.dataset import Entry

    labels = root / "labels.csv"
    img_dir, mask_dir = root / "images", root / "masks"
    if not labels.is_file():
        raise DatasetError("generic layout needs labels.csv beside images/ and masks/", labels)
    rows = _read_labels(labels)
    out: list[Entry] = []
    lines: dict[tuple[str, str], list[int]] = {}
    by_stem: dict[Path, list[Entry]] = {}  # mask file -> entries that found it by their image's stem
    for n, row in enumerate(rows, start=2):
        e = _row_entry(row, n, labels, img_dir, mask_dir, classes, lines, problems)
        if e is None:
            continue
        if not row.get("masks"):
            for mp in e.masks:
                by_stem.setdefault(mp, []).append(Entry(e.cls, e.id, e.image, e.masks))
        out.append(e)
    dup = {k: ns for k, ns in lines.items() if len(ns) > 1}
    for (cls, id_), ns in dup.items():
        problems.append(
            (labels, f"lines {', '.join(map(str, ns))} all name {cls} id {id_!r}; ids must be unique per class")
        )
    # images of one stem in different subfolders of images/ would all take masks/<stem>_mask*.png
    shared = {(e.cls, e.id) for es in by_stem.values() if len(es) > 1 for e in es}
    for mp, es in by_stem.items():
        if len(es) > 1:
            claimants = ", ".join(repr(e.image.relative_to(img_dir).as_posix()) for e in es)
            problems.append(
                (mp, f"mask found by stem for {len(es)} images ({claimants}); list each image's masks in labels.csv")
            )
    return [e for e in out if (e.cls, e.id) not in dup and (e.cls, e.id) not in shared]


def _read_labels(labels: Path) -> list[dict[str, str]]:
    """The rows of ``labels.csv``; DatasetError when it lacks the ``image`` and ``class`` columns or lists none."""
    with open(labels, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        cols = set(reader.fieldnames or [])
        if not {"image", "class"} <= cols:
            raise DatasetError(f"labels.csv needs columns 'image' and 'class' (found {sorted(cols)})", labels)
        rows = list(reader)
    if not rows:
        raise DatasetError("labels.csv lists no images", labels)
    return rows


def _row_entry(
    row: dict[str, str],
    n: int,
    labels: Path,
    img_dir: Path,
    mask_dir: Path,
    classes: Sequence[str],
    lines: dict[tuple[str, str], list[int]],
    problems: list[tuple[Path, str]],
) -> Entry | None:
    """The entry of line ``n`` of labels.csv, or None (and a problem) when it cannot be used; its (class, id)
    is noted in ``lines`` once the id is valid (duplicates are dropped later)."""
    from busi_curate.data.dataset import Entry

    cls = (row.get("class") or "").strip().lower()
    name = (row.get("image") or "").strip()
    where = Path(f"{labels}:{n}")
    if cls not in classes:
        problems.append((where, f"unknown class {cls!r} (expected one of {', '.join(classes)})"))
        return None
    if not _inside(name):
        problems.append((where, f"image {name!r} must be a relative path inside images/ (no absolute path, no '..')"))
        return None
    img = img_dir / name
    if not split_frame(img)[0].is_file():  # a frame of a multi-frame DICOM file is listed as ``cine.dcm#3``
        problems.append((img, f"image listed in labels.csv line {n} does not exist (or is not a regular file)"))
        return None
    base, frame = split_frame(img)
    id_ = (row.get("id") or "").strip() or (base.stem + (f"+f{frame}" if frame else ""))
    try:
        check_id(id_)
    except ValueError as exc:
        problems.append((where, str(exc)))
        return None
    lines.setdefault((cls, id_), []).append(n)
    meta = _generic_meta(img, (row.get("patient") or row.get("group") or "").strip(), problems)
    if meta is None:
        return None
    mpaths = _row_masks(row.get("masks") or "", img, mask_dir, n, where, problems)
    return None if mpaths is None else Entry(cls, id_, img, mpaths, meta)


def _row_masks(
    listed: str, img: Path, mask_dir: Path, n: int, where: Path, problems: list[tuple[Path, str]]
) -> tuple[Path, ...] | None:
    """The masks of image ``img``: those ``listed`` (``;``-separated, under ``masks/``; a missing one is a
    problem but kept) or, when none are listed, ``masks/<stem>*`` found by the image's stem; None (and a
    problem) for a listed name that leaves ``masks/``."""
    from busi_curate.data.dataset import IMAGE_SUFFIXES

    if listed:
        names = [m.strip() for m in listed.split(";") if m.strip()]
        bad = [m for m in names if not _inside(m)]
        if bad:
            problems.append(
                (where, f"mask {bad[0]!r} must be a relative path inside masks/ (no absolute path, no '..')")
            )
            return None
        mpaths = tuple(mask_dir / m for m in names)
        for mp in mpaths:
            if not mp.is_file():
                problems.append((mp, f"mask listed in labels.csv line {n} does not exist"))
        return mpaths
    return tuple(
        sorted(
            p
            for p in mask_dir.glob(f"{img.stem}*")
            if p.suffix.lower() in IMAGE_SUFFIXES and (p.stem == img.stem or p.stem.startswith(f"{img.stem}_mask"))
        )
    )


def _generic_meta(img: Path, patient: str, problems: list[tuple[Path, str]]) -> tuple[tuple[str, str], ...] | None:
    """Group columns of a generic-layout image: a DICOM file's own (patient, study, series, instance, frame),
    the ``patient`` of labels.csv taking precedence; None (and a problem) for an unreadable DICOM header."""
    from busi_curate.data.dicom import is_dicom, read_info

    base, frame = split_frame(img)
    meta: dict[str, str] = {}
    if is_dicom(base):
        try:
            meta = dict(read_info(base).meta)
        except DatasetError as exc:
            problems.append((base, exc.message))
            return None
        if frame is not None:
            meta["frame"] = str(frame)
    if patient:
        meta["patient"] = patient
    return tuple(meta.items())


def _inside(name: str) -> bool:
    """A plain relative path that stays inside its folder."""
    p = Path(name)
    return bool(name) and not p.is_absolute() and ".." not in p.parts and not name.startswith("~")

"""Native layouts of three public breast-ultrasound datasets, as their public descriptions document them.

* ``busbra`` -- BUS-BRA (Gomez-Flores et al., Medical Physics 2024; Zenodo 10.5281/zenodo.8231412):
  ``Images/bus_<NNNN>-<v>.png``, ``Masks/mask_<NNNN>-<v>.png`` and ``bus_data.csv``. Assumed columns
  (from the dataset's description; checked on load, the error names them): ``ID`` (the image stem,
  ``bus_0001-l``), ``Case`` (the patient) and ``Pathology`` (``benign`` / ``malignant``).
* ``busuclm`` -- BUS-UCLM (Vallez et al., Scientific Data 2025): ``images/<PATIENT>_<NNN>.png`` and RGB
  masks of the same name in ``masks/``: green = benign lesion, red = malignant, all black = normal.
  The class comes from the mask's colour, the patient from the file-name prefix.
* ``breast`` -- BrEaST-Lesions_USG (Pawlowska et al., Scientific Data 2024; TCIA 10.7937/9WKK-Q141):
  ``case<NNN>.png`` images with ``case<NNN>_tumor.png`` masks (other ``case<NNN>_*.png`` masks, of other
  findings, are not tumour masks), and the clinical spreadsheet (``.xlsx`` needs openpyxl, or a ``.csv``
  export of it) with ``Image_filename`` (or ``CaseID``), ``Mask_tumor_filename`` (optional: the tumour masks
  are also found by name) and ``Classification`` (benign / malignant / normal). One scan per patient:
  the case is the patient.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from busi_curate.errors import DatasetError

Problems = list[tuple[Path, str]]


def _entry(cls: str, id_: str, image: Path, masks: tuple[Path, ...], patient: str) -> Any:
    from busi_curate.data.dataset import Entry

    return Entry(cls, id_, image, masks, (("patient", patient),) if patient else ())


def _read_table(path: Path, need: Sequence[str]) -> pd.DataFrame:
    try:
        if path.suffix.lower() in (".xlsx", ".xls"):
            try:
                frame = pd.read_excel(path, dtype=str)
            except ImportError as exc:
                raise DatasetError(
                    "reading .xlsx needs openpyxl (pip install openpyxl), or save the sheet as CSV beside it", path
                ) from exc
        else:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except DatasetError:
        raise
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read the table ({exc})", path) from exc
    frame = frame.fillna("")
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in need if c not in frame.columns]
    if missing:
        raise DatasetError(f"needs column(s) {', '.join(missing)} (found {', '.join(frame.columns)})", path)
    return frame


def unique(entries: list[Any], lines: list[int], table: Path, problems: Problems) -> list[Any]:
    """Entries whose ``(class, id)`` no other line of ``table`` names; each collision is a problem."""
    seen: dict[str, list[int]] = {}
    for e, n in zip(entries, lines):
        seen.setdefault(e.id, []).append(n)
    for id_, ns in seen.items():
        if len(ns) > 1:
            problems.append((table, f"lines {', '.join(map(str, ns))} all name id {id_!r}; ids must be unique"))
    return [e for e in entries if len(seen[e.id]) == 1]


def _cls(value: str, classes: Sequence[str], where: Path, problems: Problems) -> str | None:
    cls = value.strip().lower()
    if cls not in classes:
        problems.append((where, f"unknown class {value!r} (expected one of {', '.join(classes)})"))
        return None
    return cls


# --------------------------------------------------------------------------- BUS-BRA


def _busbra_root(root: Path) -> Path:
    return next((d for d in (root, root / "BUSBRA", root / "BUS-BRA") if (d / "bus_data.csv").is_file()), root)


def find_busbra(root: Path, classes: Sequence[str], problems: Problems) -> list[Any]:
    """BUS-BRA: ``bus_data.csv`` (ID, Case, Pathology), ``Images/<ID>.png``, ``Masks/mask_<...>.png``."""
    base = _busbra_root(root)
    table = base / "bus_data.csv"
    if not table.is_file():
        raise DatasetError("BUS-BRA layout needs bus_data.csv", table)
    frame = _read_table(table, ("ID", "Case", "Pathology"))
    out, lines = [], []
    for n, row in enumerate(frame.to_dict("records"), start=2):
        where = Path(f"{table}:{n}")
        id_ = str(row["ID"]).strip()
        cls = _cls(str(row["Pathology"]), classes, where, problems)
        if cls is None:
            continue
        image = base / "Images" / f"{id_}.png"
        mask = base / "Masks" / f"{id_.replace('bus_', 'mask_', 1)}.png"
        if not image.is_file():
            problems.append((image, f"image of bus_data.csv line {n} does not exist"))
            continue
        masks = (mask,) if mask.is_file() else ()
        out.append(_entry(cls, id_, image, masks, str(row["Case"]).strip()))
        lines.append(n)
    return unique(out, lines, table, problems)


# --------------------------------------------------------------------------- BUS-UCLM

_UCLM_RE = re.compile(r"^(?P<patient>[A-Za-z0-9]+)_(?P<n>[0-9]+)\.png$")


def _uclm_class(mask: Path) -> str | tuple[str, str]:
    """``benign`` (green), ``malignant`` (red) or ``normal`` (black); ``("", why)`` when the colours say neither."""
    from PIL import Image

    with Image.open(mask) as img:
        arr = np.asarray(img.convert("RGB"), dtype=np.int16)
    r, g = arr[..., 0], arr[..., 1]
    red, green = int(((r > 127) & (g < 128)).sum()), int(((g > 127) & (r < 128)).sum())
    if red and green:
        return ("", f"mask holds both red (malignant, {red} px) and green (benign, {green} px) pixels")
    if not arr.any():
        return "normal"
    if not red and not green:
        return ("", "mask is neither black, green (benign) nor red (malignant)")
    return "malignant" if red else "benign"


def find_busuclm(root: Path, classes: Sequence[str], problems: Problems) -> list[Any]:
    """BUS-UCLM: ``images/<PATIENT>_<n>.png`` with RGB masks of the same name in ``masks/``."""
    img_dir, mask_dir = root / "images", root / "masks"
    if not img_dir.is_dir() or not mask_dir.is_dir():
        raise DatasetError("BUS-UCLM layout needs images/ and masks/", root)
    out = []
    for image in sorted(p for p in img_dir.iterdir() if p.is_file() and not p.name.startswith(".")):
        m = _UCLM_RE.match(image.name)
        if m is None:
            problems.append((image, "unparseable file name (expected '<PATIENT>_<n>.png')"))
            continue
        mask = mask_dir / image.name
        if not mask.is_file():
            problems.append((image, f"no mask {mask.name} in masks/ (BUS-UCLM's class is the mask's colour)"))
            continue
        try:
            cls = _uclm_class(mask)
        except OSError as exc:
            problems.append((mask, f"cannot decode the mask ({exc})"))
            continue
        if isinstance(cls, tuple):
            problems.append((mask, cls[1]))
            continue
        if _cls(cls, classes, mask, problems) is None:
            continue
        out.append(_entry(cls, image.stem, image, (mask,), m["patient"]))
    return out


def looks_like_busuclm(root: Path) -> bool:
    img_dir, mask_dir = root / "images", root / "masks"
    if not img_dir.is_dir() or not mask_dir.is_dir() or (root / "labels.csv").exists():
        return False
    names = [p.name for p in img_dir.iterdir() if not p.name.startswith(".")]
    paired = sorted(n for n in names if (mask_dir / n).is_file())
    if not names or not paired or not all(_UCLM_RE.match(n) for n in names):
        return False
    from PIL import Image

    with Image.open(mask_dir / paired[0]) as img:
        return img.mode in ("RGB", "RGBA", "P")


# --------------------------------------------------------------------------- BrEaST

_BREAST_DIR = "BrEaST-Lesions_USG-images_and_masks"
_CASE_RE = re.compile(r"^case(?P<n>[0-9]+)\.png$", re.IGNORECASE)


def _breast_table(root: Path) -> Path | None:
    candidates = sorted(p for d in (root, root / _BREAST_DIR) if d.is_dir() for p in d.iterdir())
    tables = [p for p in candidates if p.suffix.lower() in (".csv", ".xlsx") and not p.name.startswith(".")]
    # a CSV export wins over the spreadsheet (no openpyxl needed)
    return min(tables, key=lambda p: (p.suffix.lower() != ".csv", p.name), default=None)


def find_breast(root: Path, classes: Sequence[str], problems: Problems) -> list[Any]:
    """BrEaST: ``case<NNN>.png`` + ``case<NNN>_tumor.png`` and the clinical table (Classification)."""
    images = root / _BREAST_DIR if (root / _BREAST_DIR).is_dir() else root
    table = _breast_table(root)
    if table is None:
        raise DatasetError("BrEaST layout needs the clinical spreadsheet (.xlsx or .csv) with 'Classification'", root)
    frame = _read_table(table, ("Classification",))
    if "Image_filename" not in frame.columns and "CaseID" not in frame.columns:
        raise DatasetError("needs a column Image_filename or CaseID to find each image", table)
    out, lines = [], []
    for n, row in enumerate(frame.to_dict("records"), start=2):
        where = Path(f"{table}:{n}")
        name = str(row.get("Image_filename", "")).strip()
        if not name:
            case = str(row.get("CaseID", "")).strip()
            name = f"case{int(case):03d}.png" if case.isdigit() else ""
        if not _CASE_RE.match(name):
            problems.append((where, f"image file name {name!r} is not case<NNN>.png"))
            continue
        cls = _cls(str(row["Classification"]), classes, where, problems)
        if cls is None:
            continue
        image = images / name
        if not image.is_file():
            problems.append((image, f"image of {table.name} line {n} does not exist"))
            continue
        stem = image.stem
        named = [m.strip() for m in str(row.get("Mask_tumor_filename", "")).split(";") if m.strip()]
        missing = [m for m in named if not (images / m).is_file()]
        if missing:
            problems.append((image, f"its tumour mask {missing[0]!r} ({table.name} line {n}) does not exist"))
            continue
        masks = tuple(sorted({images / m for m in named} | set(images.glob(f"{stem}_tumor*.png"))))
        out.append(_entry(cls, stem, image, masks, stem))
        lines.append(n)
    return unique(out, lines, table, problems)


def looks_like_breast(root: Path) -> bool:
    if (root / _BREAST_DIR).is_dir():
        return True
    return any(p.name.lower().endswith("_tumor.png") for p in root.iterdir()) and _breast_table(root) is not None


#: layout name -> (finder, detector); detectors run after ``generic``'s (labels.csv) and before the fallbacks
LAYOUTS: dict[str, tuple[Callable[[Path, Sequence[str], Problems], list[Any]], Callable[[Path], bool]]] = {
    "busbra": (find_busbra, lambda root: (_busbra_root(root) / "bus_data.csv").is_file()),
    "busuclm": (find_busuclm, looks_like_busuclm),
    "breast": (find_breast, looks_like_breast),
}

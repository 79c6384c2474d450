"""Audit helpers beside duplicate leakage: splits written as file paths, and patient leakage.

* A split file may name its images by path (column ``image`` or ``path``, as the scanned data folder holds
  them: relative to it, or absolute) instead of ``class, id``; :func:`resolve_split_paths` maps them to the
  scan's ``(class, id)``.
* When the scan knows each image's patient (``index.csv``'s ``patient`` column: DICOM PatientID, the generic
  layout's ``patient`` column, BUS-BRA's ``Case``, BUS-UCLM's file-name prefix), :func:`patient_leakage`
  lists every patient with images on both sides of a split: a model tested on a patient it was trained on.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from busi_curate.errors import ManifestError
from busi_curate.scan.run import ScanResult

PATH_COLUMNS = ("image", "path")
PATIENT_LEAKAGE_COLUMNS = ("fold", "patient", "test_images", "train_images", "train_splits")


def path_column(frame: pd.DataFrame) -> str | None:
    """The column naming images by path, when the split has no ``class, id`` (or left them empty)."""
    if {"class", "id"} <= set(frame.columns) and (frame["class"].astype(str) != "").any():
        return None
    return next((c for c in PATH_COLUMNS if c in frame.columns), None)


def resolve_split_paths(split: pd.DataFrame, scan: ScanResult, where: str | Path | None = None) -> pd.DataFrame:
    """``split`` with ``class`` and ``id`` filled from its path column (relative to the data folder or absolute).

    Raises:
        ManifestError: a path the scan does not hold (the first few are named).
    """
    col = path_column(split)
    if col is None:
        return split
    root = Path(scan.data_dir).resolve()
    by_image = {
        str(img): (str(c), str(i)) for img, c, i in zip(scan.index["image"], scan.index["class"], scan.index["id"])
    }
    keys, unknown = [], []
    for raw in split[col]:
        p = Path(raw)
        rel = raw.replace("\\", "/").removeprefix("./")
        if p.is_absolute():
            try:
                rel = p.resolve().relative_to(root).as_posix()
            except ValueError:
                rel = raw
        key = by_image.get(rel)
        if key is None:
            unknown.append(raw)
        keys.append(key or ("", ""))
    if unknown:
        raise ManifestError(
            f"{len(unknown)} path(s) of the split are not images of the scan of {root}, e.g. {unknown[0]!r} "
            "(give paths relative to the data folder, or absolute)",
            where,
        )
    out = split.copy()
    out["class"] = [k[0] for k in keys]
    out["id"] = [k[1] for k in keys]
    return out


def patient_leakage(scan: ScanResult, split: pd.DataFrame) -> pd.DataFrame:
    """One row per (fold, patient) with images in the test split and in another split of the same fold."""
    patients = scan.patients()
    rows = []
    if patients:
        for fold, part in split.groupby("fold", sort=True):
            by_patient: dict[str, dict[str, list[str]]] = {}
            for c, i, s in zip(part["class"], part["id"], part["split"]):
                p = patients.get((c, i))
                if p:
                    by_patient.setdefault(p, {}).setdefault(s, []).append(f"{c} {i}")
            for p, sides in sorted(by_patient.items()):
                others = {s: v for s, v in sides.items() if s != "test"}
                if "test" in sides and others:
                    rows.append(
                        {
                            "fold": fold,
                            "patient": p,
                            "test_images": len(sides["test"]),
                            "train_images": sum(len(v) for v in others.values()),
                            "train_splits": ";".join(sorted(others)),
                        }
                    )
    return pd.DataFrame(rows, columns=list(PATIENT_LEAKAGE_COLUMNS))


def patient_summary(leaks: pd.DataFrame, scan: ScanResult, split: pd.DataFrame) -> str:
    """One sentence for the audit's summary line; empty when the scan knows no patient."""
    patients = scan.patients()
    if not patients:
        return ""
    tested = {
        patients[(c, i)]
        for c, i, s in zip(split["class"], split["id"], split["split"])
        if s == "test" and (c, i) in patients
    }
    n = leaks["patient"].nunique() if len(leaks) else 0
    return f"{n} of {len(tested)} test patients also have images in training"

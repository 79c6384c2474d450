"""Folds keep a patient's images together, joined with duplicate groups in one union-find; the manifest carries a
``patient`` column only when the data has patients (so manifests without patients keep their bytes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from busi_curate.publish.folds import FoldSettings, fold_units, make_folds
from busi_curate.publish.manifest import MANIFEST_COLUMNS, PATIENT_COLUMN, read_manifest


def test_units_join_patients_groups_and_links() -> None:
    keys = [("benign", str(n)) for n in range(6)]
    groups = [None, 1, None, 1, None, None]  # 1 ~ 3 (copies)
    patients = ["A", "B", "A", "", "C", "C"]  # 0 ~ 2 (patient A), 4 ~ 5 (patient C); 1 is patient B
    units = fold_units(keys, groups, [(keys[2], keys[1])], patients)  # 2 ~ 1 (an adjacent frame)
    assert units == [0, 0, 0, 0, 1, 1]  # A and B (and the copy of B's image) are one unit through the link
    assert fold_units(keys, groups, (), patients) == [0, 1, 0, 1, 2, 2]
    assert fold_units(keys, groups) == [0, 1, 2, 1, 3, 4]  # no patients: as before


def test_folds_never_split_a_patient() -> None:
    rng = np.random.default_rng(0)
    keys = [("benign" if n % 3 else "malignant", str(n)) for n in range(60)]
    patients = [f"P{rng.integers(0, 15)}" for _ in keys]
    units = fold_units(keys, [None] * len(keys), (), patients)
    folds = make_folds(keys, [k[0] for k in keys], units, FoldSettings(k=4, seed=3))
    folds["patient"] = patients * 4
    assert folds.groupby(["fold", "patient"])["split"].nunique().eq(1).all()
    assert folds[folds["split"] == "test"].groupby("patient")["fold"].nunique().eq(1).all()


def _generic(root: Path, patients: list[str]) -> Path:
    (root / "images").mkdir(parents=True)
    rows = []
    for n, p in enumerate(patients):
        Image.fromarray(np.random.default_rng(n).integers(0, 256, (24, 24), dtype=np.uint8)).save(
            root / "images" / f"{n}.png"
        )
        rows.append((f"{n}.png", "normal", p))
    pd.DataFrame(rows, columns=["image", "class", "patient"]).to_csv(root / "labels.csv", index=False)
    return root


def test_the_manifest_carries_patients_only_when_there_are_some(tmp_path: Path) -> None:
    from busi_curate.publish.export import export_manifest
    from busi_curate.scan.run import ScanSettings, run_scan

    for name, patients in (("with", ["P1", "P1", "P2", "P2", "P3", "P4", "P5", "P6"]), ("without", [""] * 8)):
        data = _generic(tmp_path / name / "data", patients)
        run_scan(data, tmp_path / name / "scan", ScanSettings(size=32))
        (tmp_path / name / "scan" / "decisions.csv").write_text("")
        export_manifest(tmp_path / name / "scan", tmp_path / name / "m")
        header = (tmp_path / name / "m" / "manifest.csv").read_text().splitlines()[0].split(",")
        m = read_manifest(tmp_path / name / "m" / "manifest.csv")
        if name == "with":
            assert header == [*MANIFEST_COLUMNS, PATIENT_COLUMN] and [r.patient for r in m.rows] == patients
            folds = pd.read_csv(tmp_path / name / "m" / "folds.csv", dtype=str)
            assert folds[folds["id"].isin(["0", "1"])].groupby("fold")["split"].nunique().eq(1).all()
        else:
            assert header == list(MANIFEST_COLUMNS) and all(r.patient == "" for r in m.rows)

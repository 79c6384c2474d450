"""Issue 24's "done when": a plain folder of PNGs (no classes, no masks) and a folder of multi-frame DICOM files,
curated from the command line (scan, automatic review, report, export, audit) and from one Python call."""

from __future__ import annotations

import importlib.util
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli
from PIL import Image
from scipy.ndimage import gaussian_filter

import busi_curate as bc


def _frame(seed: int, h: int = 96, w: int = 112) -> np.ndarray:
    """A speckled, smooth ultrasound-like frame with a dark blob (distinct per seed)."""
    rng = np.random.default_rng(seed)
    field = gaussian_filter(rng.normal(size=(h, w)), 4)
    field = (field - field.min()) / np.ptp(field)
    yy, xx = np.mgrid[:h, :w]
    cy, cx = rng.integers(25, h - 25), rng.integers(25, w - 25)
    field[(yy - cy) ** 2 + (xx - cx) ** 2 < rng.integers(60, 200)] *= 0.25
    return np.clip(field * 220 + rng.normal(0, 6, (h, w)) + 20, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def plain_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``site A/scan 1.png`` ... nested folders, no classes, no masks; ``copies/`` holds an identical copy and a
    re-encoded (JPEG) copy of two frames."""
    root = tmp_path_factory.mktemp("own") / "my images"
    for n in range(10):
        folder = root / ("site A" if n < 5 else "site B") / ("day 1" if n % 2 else "")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(_frame(n)).save(folder / f"scan {n}.png")
    (root / "copies").mkdir()
    shutil.copy(root / "site A" / "scan 0.png", root / "copies" / "again.png")
    Image.fromarray(_frame(6)).save(root / "copies" / "export.jpg", quality=92)
    return root


def test_a_plain_folder_from_the_command_line(plain_folder: Path, tmp_path: Path) -> None:
    scan, report, manifest, audit = (tmp_path / x for x in ("scan", "report", "manifest", "audit"))
    assert run_cli(["scan", str(plain_folder), "--out", str(scan), "--size", "64", "--quiet"]) == 0
    index = pd.read_csv(scan / "index.csv", dtype=str)
    assert set(index["class"]) == {"unlabelled"} and len(index) == 12
    assert {"site A+scan 0", "site B+day 1+scan 7", "copies+again", "copies+export"} <= set(index["id"])
    assert "patient" not in index.columns  # no group columns without patients
    assert run_cli(["review", str(scan), "--auto", "--no-browser"]) == 0
    assert run_cli(["report", str(scan), "--out", str(report), "--dpi", "60"]) == 0
    groups = pd.read_csv(report / "groups.csv", dtype=str)
    pairs = {frozenset(g["id"]) for _, g in groups.groupby("group")}
    assert pairs == {frozenset({"site A+scan 0", "copies+again"}), frozenset({"site B+scan 6", "copies+export"})}
    assert run_cli(["export", str(scan), "--out", str(manifest)]) == 0
    m = bc.read_manifest(manifest / "manifest.csv")
    assert len(m.kept()) == 8 and all(not r.masks for r in m.rows)
    assert run_cli(["verify", str(manifest / "manifest.csv"), str(plain_folder)]) == 0
    # a split kept as file paths (relative to the data folder), leaking one copy
    split = tmp_path / "split.csv"
    rows = [(r.image, "test" if r.id in ("copies+again", "site B+scan 9") else "train") for r in m.rows]
    pd.DataFrame(rows, columns=["image", "split"]).to_csv(split, index=False)
    code = run_cli(["audit", str(plain_folder), "--split", str(split), "--scan", str(scan), "--out", str(audit)])
    leak = pd.read_csv(audit / "leakage.csv", dtype=str)
    assert code == 1 and set(leak["test_id"]) == {"copies+again"} and set(leak["train_id"]) == {"site A+scan 0"}
    # the files made to be shared record no absolute path of this machine
    for shared in ("report/report.json", "report/report.md", "manifest/manifest.json", "audit/audit.json"):
        text = (tmp_path / shared).read_text(encoding="utf-8")
        for absolute in (tmp_path, plain_folder):  # as an absolute path (a relative "../.." one may pass through)
            assert not re.search(r"(^|[\s\"'(=:])" + re.escape(str(absolute)), text), (shared, absolute)


def test_a_plain_folder_in_one_python_call(plain_folder: Path, tmp_path: Path) -> None:
    dups = bc.find_duplicates(plain_folder, out=tmp_path / "scan", settings=bc.ScanSettings(size=64))
    assert isinstance(dups, pd.DataFrame) and list(dups.columns)[:5] == ["group", "size", "grade", "class", "id"]
    assert dups.groupby("group")["id"].apply(frozenset).tolist() == [
        frozenset({"copies+again", "site A+scan 0"}),
        frozenset({"copies+export", "site B+scan 6"}),
    ]
    assert set(dups["grade"]) <= {"identical", "same-frame"} and dups["evidence"].str.len().gt(0).sum() == 2
    html = dups._repr_html_()
    assert html.count("<img src='data:image/png;base64,") == 4 and "group 2" in html and "<table" in html
    fig = bc.plot_duplicates(dups)
    assert len([ax for ax in fig.axes if ax.images]) == 4
    assert "<img" not in dups[["group", "id"]]._repr_html_()  # a selection without the pictures' columns: a table
    assert len([ax for ax in dups.grid().axes if ax.images]) == 4
    # the lock was released: a second call on the scan folder works and decides nothing new
    again = bc.find_duplicates(tmp_path / "scan")
    assert again.drop(columns="evidence").equals(dups.drop(columns="evidence"))


def test_a_folder_of_multi_frame_dicom(tmp_path: Path) -> None:
    pytest.importorskip("pydicom")
    from dicom_fixtures import write_dicom

    data = tmp_path / "dicom"
    a = np.stack([_frame(20), _frame(20), _frame(21), _frame(22)])  # a cine whose first frame is stored twice
    b = np.stack([_frame(30), _frame(31), _frame(32)])
    write_dicom(data / "PT1" / "cine.dcm", a, patient="PT1", study="1.2.1", series="1.2.1.1")
    write_dicom(data / "PT2" / "cine.dcm", b, patient="PT2", study="1.2.2", series="1.2.2.1")
    write_dicom(data / "PT2" / "still.dcm", (_frame(33).astype(np.uint16) * 16), patient="PT2", window=(2000, 4000))
    for n in (3, 4):
        write_dicom(data / f"PT{n}.dcm", _frame(40 + n), patient=f"PT{n}", photometric="MONOCHROME1")
    scan, manifest, audit = tmp_path / "scan", tmp_path / "manifest", tmp_path / "audit"
    assert run_cli(["scan", str(data), "--out", str(scan), "--size", "64", "--quiet"]) == 0
    index = pd.read_csv(scan / "index.csv", dtype=str, keep_default_na=False)
    assert list(index.columns)[-5:] == ["patient", "study", "series", "instance", "frame"]
    assert list(index["image"][:2]) == ["PT1/cine.dcm#1", "PT1/cine.dcm#2"] and len(index) == 10
    dups = bc.find_duplicates(scan)
    assert dups.groupby("group")["id"].apply(frozenset).tolist() == [frozenset({"PT1+cine+f1", "PT1+cine+f2"})]
    assert set(dups["patient"]) == {"PT1"}
    assert run_cli(["export", str(scan), "--out", str(manifest), "--k", "2"]) == 0
    m = bc.read_manifest(manifest / "manifest.csv")
    assert {r.patient for r in m.rows} == {"PT1", "PT2", "PT3", "PT4"}
    assert run_cli(["verify", str(manifest / "manifest.csv"), str(data)]) == 0  # frames verify as images
    test0 = bc.load_split(manifest / "manifest.csv", manifest / "folds.csv", data, fold=0, split="test")
    assert test0["patient"].nunique() >= 1 and all(Path(p.rsplit("#", 1)[0]).is_file() for p in test0["image_path"])
    folds = pd.read_csv(manifest / "folds.csv", dtype=str).merge(
        pd.DataFrame([(r.id, r.patient) for r in m.kept()], columns=["id", "patient"])
    )
    tests = folds[folds["split"] == "test"]
    assert tests.groupby("patient")["fold"].nunique().eq(1).all()  # each patient's images in one test fold
    # a split by image with PT2 on both sides: patient leakage, exit 1
    split = tmp_path / "split.csv"
    rows = [(r.cls, r.id, "test" if r.id in ("PT2+cine+f1", "PT1+cine+f3") else "train") for r in m.kept()]
    pd.DataFrame(rows, columns=["class", "id", "split"]).to_csv(split, index=False)
    code = run_cli(["audit", str(data), "--split", str(split), "--scan", str(scan), "--out", str(audit)])
    patients = pd.read_csv(audit / "patient_leakage.csv", dtype=str)
    assert code == 1 and set(patients["patient"]) == {"PT1", "PT2"}  # PT3, PT4: all their images in training
    assert "2 of 2 test patients also have images in training" in (audit / "leakage.md").read_text()


def test_the_review_page_serves_a_plain_folder_and_dicom_frames(plain_folder: Path, tmp_path: Path) -> None:
    """The page's state, a pair's detail and every picture kind work without classes, masks, or with frames."""
    from busi_curate.review.server import ReviewApp
    from busi_curate.review.session import open_walk
    from busi_curate.scan.run import ScanSettings, run_scan

    data = tmp_path / "data"
    shutil.copytree(plain_folder, data)
    if importlib.util.find_spec("pydicom") is not None:
        from dicom_fixtures import write_dicom

        write_dicom(data / "cine.dcm", np.stack([_frame(50), _frame(51)]), patient="PT9")
    scan = run_scan(data, tmp_path / "scan", ScanSettings(size=64))
    app = ReviewApp(scan, open_walk(scan, []), lambda d: None, "tester")
    state = app.state()
    assert state["question"] is not None  # nothing decided yet: the first pair is asked
    assert app.pair_info(0, 1) is not None
    for row in range(scan.n):
        for kind in ("img", "mask", "thumb", "full", "fullmask"):
            assert app.png(kind, row).startswith(b"\x89PNG")

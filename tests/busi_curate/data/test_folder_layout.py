"""The ``folder`` layout's relaxations (classes and masks optional) and the patient columns of the other layouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from busi_curate.data.dataset import detect_layout, load_dataset
from busi_curate.errors import DatasetError


def _save(path: Path, seed: int, shape: tuple[int, ...] = (20, 24)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)).save(path)
    return path


def test_folder_layout_relaxes(tmp_path: Path) -> None:
    """A tumour class without a mask loads (no tumour pixels); an unknown folder is part of the id, not a class;
    ids keep the relative path; odd characters become ``_``; other files are ignored."""
    root = tmp_path / "d"
    _save(root / "malignant" / "m1.png", 1)
    _save(root / "cyst" / "c1.png", 2)
    _save(root / "a" / "b" / "é scan#1.bmp", 3)
    _save(root / "benign" / "x.tif", 4)
    _save(root / "benign" / "x_mask.png", 5)
    (root / "notes.txt").write_text("not an image")
    assert detect_layout(root) == "folder"
    ds = load_dataset(root)
    got = {r.key: r for r in ds.records}
    assert set(got) == {
        ("malignant", "m1"),
        ("unlabelled", "cyst+c1"),
        ("unlabelled", "a+b+_ scan_1"),
        ("benign", "x"),
    }
    assert got[("malignant", "m1")].tumour_pixels == 0 and got[("malignant", "m1")].masks == ()
    assert got[("benign", "x")].masks == ("benign/x_mask.png",) and got[("benign", "x")].tumour_pixels > 0
    assert got[("unlabelled", "a+b+_ scan_1")].image == "a/b/é scan#1.bmp"


def test_folder_with_images_and_masks_trees(tmp_path: Path) -> None:
    root = tmp_path / "d"
    _save(root / "images" / "p1" / "a.png", 1)
    _save(root / "masks" / "p1" / "a.png", 2)
    _save(root / "images" / "b.png", 3)
    ds = load_dataset(root, layout="folder")
    assert [(r.id, r.masks) for r in ds.records] == [("b", ()), ("p1+a", ("masks/p1/a.png",))]


def test_a_mask_without_its_image_is_named(tmp_path: Path) -> None:
    root = tmp_path / "d"
    _save(root / "a.png", 1)
    orphan = _save(root / "b_mask.png", 2)
    with pytest.raises(DatasetError) as info:
        load_dataset(root)
    assert str(orphan) in str(info.value) and "mask without an image" in str(info.value)


def test_an_empty_tree_says_what_it_looked_for(tmp_path: Path) -> None:
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "sub" / "readme.md").write_text("x")
    with pytest.raises(DatasetError, match="no images found"):
        load_dataset(tmp_path / "d", layout="folder")


def test_generic_labels_take_a_patient_column(tmp_path: Path) -> None:
    root = tmp_path / "g"
    for n in range(3):
        _save(root / "images" / f"{n}.png", n)
    (root / "labels.csv").write_text("image,class,patient\n0.png,normal,P1\n1.png,normal,P1\n2.png,normal,\n")
    ds = load_dataset(root)
    assert [r.patient for r in ds.records] == ["P1", "P1", ""]


def test_bus_bra_case_and_bus_uclm_prefix_are_patients(tmp_path: Path) -> None:
    bra = tmp_path / "bra"
    for n in (1, 2):
        _save(bra / "Images" / f"bus_000{n}-l.png", n)
        _save(bra / "Masks" / f"mask_000{n}-l.png", 10 + n)
    (bra / "bus_data.csv").write_text("ID,Case,Pathology\nbus_0001-l,7,benign\nbus_0002-l,7,malignant\n")
    assert [r.patient for r in load_dataset(bra).records] == ["7", "7"]
    uclm = tmp_path / "uclm"
    _save(uclm / "images" / "ALWI_000.png", 1)
    mask = np.zeros((20, 24, 3), np.uint8)
    mask[5:9, 5:9] = (255, 0, 0)
    (uclm / "masks").mkdir()
    Image.fromarray(mask).save(uclm / "masks" / "ALWI_000.png")
    [rec] = load_dataset(uclm).records
    assert rec.key == ("malignant", "ALWI_000") and rec.patient == "ALWI" and rec.tumour_pixels == 16


def test_breast_reads_its_xlsx_clinical_sheet(tmp_path: Path) -> None:
    pytest.importorskip("openpyxl")
    import pandas as pd

    root = tmp_path / "BrEaST-Lesions-USG"
    images = root / "BrEaST-Lesions_USG-images_and_masks"
    _save(images / "case001.png", 1)
    mask = np.zeros((20, 24), np.uint8)
    mask[2:6, 3:9] = 255
    Image.fromarray(mask).save(images / "case001_tumor.png")
    _save(images / "case001_other1.png", 9)  # another finding's mask: not the tumour
    _save(images / "case002.png", 2)
    sheet = pd.DataFrame(
        {
            "CaseID": [1, 2],
            "Image_filename": ["case001.png", "case002.png"],
            "Mask_tumor_filename": ["case001_tumor.png", None],
            "Classification": ["malignant", "normal"],
        }
    )
    sheet.to_excel(root / "BrEaST-Lesions-USG-clinical-data-Dec-15-2023.xlsx", index=False)
    ds = load_dataset(root)
    assert ds.layout == "breast"
    assert [(r.key, r.masks, r.tumour_pixels, r.patient) for r in ds.records] == [
        (("malignant", "case001"), ("BrEaST-Lesions_USG-images_and_masks/case001_tumor.png",), 24, "case001"),
        (("normal", "case002"), (), 0, "case002"),
    ]

"""DICOM (the ``[dicom]`` extra) and 16-bit images: frames, photometric interpretations, the stated windowing and
the group columns, on files written here with pydicom."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from busi_curate.data.dataset import load_dataset
from busi_curate.data.imageio import read_full_depth, read_gray
from busi_curate.errors import DatasetError

pytest.importorskip("pydicom")
from dicom_fixtures import write_dicom  # noqa: E402

RNG = np.random.default_rng(7)


def _u16(shape: tuple[int, ...], top: int = 4096) -> np.ndarray:
    return RNG.integers(0, top, shape, dtype=np.uint16)


def test_16_bit_is_read_at_full_depth_with_the_file_window(tmp_path: Path) -> None:
    stored = _u16((20, 24))
    path = write_dicom(tmp_path / "a.dcm", stored, window=(1000, 800))
    full = read_full_depth(path)
    assert full.dtype == np.uint16 and np.array_equal(full, stored)
    expected = np.clip(np.round(((stored - 999.5) / 799 + 0.5) * 255), 0, 255).astype(np.uint8)
    assert np.array_equal(read_gray(path), expected)


def test_without_a_window_the_min_max_of_the_values_is_used(tmp_path: Path) -> None:
    stored = _u16((20, 24), top=1024)  # 10-bit values: the top 8 bits of 16 would be nearly black
    gray = read_gray(write_dicom(tmp_path / "a.dcm", stored))
    lo, hi = int(stored.min()), int(stored.max())
    expected = np.round((stored.astype(float) - lo) * 255 / (hi - lo)).astype(np.uint8)
    assert np.array_equal(gray, expected) and gray.max() == 255 and gray.min() == 0


def test_monochrome1_is_inverted(tmp_path: Path) -> None:
    stored = RNG.integers(0, 256, (16, 16), dtype=np.uint8)
    two = read_gray(write_dicom(tmp_path / "m2.dcm", stored))
    one = read_gray(write_dicom(tmp_path / "m1.dcm", stored, photometric="MONOCHROME1"))
    assert np.array_equal(one, 255 - two)


@pytest.mark.parametrize("photometric", ["RGB", "YBR_FULL"])
def test_colour_files_become_the_same_gray_as_a_png(tmp_path: Path, photometric: str) -> None:
    rgb = RNG.integers(0, 256, (18, 22, 3), dtype=np.uint8)
    gray = read_gray(write_dicom(tmp_path / "c.dcm", rgb, photometric=photometric))
    png = np.asarray(Image.fromarray(rgb).convert("L"))
    assert gray.shape == png.shape and int(np.abs(gray.astype(int) - png).max()) <= 1  # YBR round trip


def test_a_multi_frame_file_is_one_image_per_frame_with_group_columns(tmp_path: Path) -> None:
    cine = RNG.integers(0, 256, (4, 20, 24), dtype=np.uint8)
    write_dicom(tmp_path / "data" / "pt7" / "cine.dcm", cine, patient="PT7", study="1.2.3", series="1.2.3.4")
    write_dicom(tmp_path / "data" / "pt8" / "still", cine[0], patient="PT8")  # no suffix: found by its marker
    ds = load_dataset(tmp_path / "data")
    assert ds.layout == "folder"
    keys = [r.key for r in ds.records]
    assert keys == [("unlabelled", f"pt7+cine+f{n}") for n in range(1, 5)] + [("unlabelled", "pt8+still")]
    third = ds.records[2]
    assert third.image == "pt7/cine.dcm#3"
    meta = dict(third.meta)
    assert meta["patient"] == "PT7" and meta["study"] == "1.2.3" and meta["series"] == "1.2.3.4"
    assert meta["frame"] == "3" and meta["instance"]
    assert np.array_equal(read_gray(tmp_path / "data" / third.image), cine[2])
    assert ds.records[4].patient == "PT8" and np.array_equal(read_gray(tmp_path / "data" / "pt8" / "still"), cine[0])


def test_a_frame_number_out_of_range_or_missing_is_refused(tmp_path: Path) -> None:
    path = write_dicom(tmp_path / "cine.dcm", RNG.integers(0, 256, (2, 8, 8), dtype=np.uint8))
    with pytest.raises(DatasetError, match="out of range"):
        read_gray(tmp_path / "cine.dcm#3")
    with pytest.raises(DatasetError, match="multi-frame") as info:
        read_gray(path)
    assert info.value.path == path


def test_a_corrupt_dicom_file_is_a_dataset_error_naming_it(tmp_path: Path) -> None:
    good = RNG.integers(0, 256, (8, 8), dtype=np.uint8)
    Image.fromarray(good).save(tmp_path / "ok.png")
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(b"not a dicom file at all")
    with pytest.raises(DatasetError) as info:
        load_dataset(tmp_path)
    assert str(bad) in str(info.value)
    assert [r.id for r in load_dataset(tmp_path, lenient=True).records] == ["ok"]


def test_16_bit_png_is_read_at_full_depth(tmp_path: Path) -> None:
    stored = _u16((12, 14), top=4096)  # 12-bit values in a 16-bit PNG
    Image.fromarray(stored).save(tmp_path / "a.png")
    assert Image.open(tmp_path / "a.png").mode.startswith("I;16")
    assert np.array_equal(read_full_depth(tmp_path / "a.png"), stored)
    lo, hi = int(stored.min()), int(stored.max())
    gray = read_gray(tmp_path / "a.png")
    assert np.array_equal(gray, ((stored.astype(np.int64) - lo) * 255 // (hi - lo)).astype(np.uint8))
    assert gray.max() == 255  # the top 8 bits of 12-bit data would have stopped at 15


def test_labels_csv_lists_dicom_files_and_frames_with_their_group_columns(tmp_path: Path) -> None:
    root = tmp_path / "g"
    cine = RNG.integers(0, 256, (3, 16, 16), dtype=np.uint8)
    write_dicom(root / "images" / "cine.dcm", cine, patient="PT1", study="9.9")
    write_dicom(root / "images" / "still.dcm", cine[0], patient="PT2")
    (root / "labels.csv").write_text(
        "image,class,patient\ncine.dcm#1,normal,\ncine.dcm#3,normal,\nstill.dcm,normal,override\n", encoding="utf-8"
    )
    recs = load_dataset(root).records
    assert [(r.id, r.image, r.patient) for r in recs] == [
        ("cine+f1", "images/cine.dcm#1", "PT1"),
        ("cine+f3", "images/cine.dcm#3", "PT1"),
        ("still", "images/still.dcm", "override"),  # labels.csv's patient wins over the file's
    ]
    assert dict(recs[1].meta)["frame"] == "3" and dict(recs[1].meta)["study"] == "9.9"
    assert np.array_equal(read_gray(root / recs[1].image), cine[2])

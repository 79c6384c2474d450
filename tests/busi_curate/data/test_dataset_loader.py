"""The loader: bad input fails with the offending file named (exit 2 on the CLI, nothing written), --lenient
skips with a warning, masks are united whatever their PNG mode, pixel hashes survive re-encoding, the
generic layout, and the real BUSI counts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from busi_curate.cli import main
from busi_curate.data.dataset import load_dataset
from busi_curate.data.imageio import read_gray, read_mask, read_mask_union
from busi_curate.errors import DatasetError
from busi_curate.fileio import file_sha256, pixel_sha256


def _img(seed: int, h: int = 40, w: int = 48) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w), dtype=np.uint8)


def _mask(h: int = 40, w: int = 48) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    m[10:20, 12:30] = 255
    return m


def make_busi(root: Path, n: dict[str, int] | None = None) -> Path:
    """A tiny valid BUSI tree: ``n[cls]`` images per class, one mask each."""
    n = n or {"benign": 2, "malignant": 2, "normal": 1}
    base = root / "Dataset_BUSI_with_GT"
    k = 0
    for cls, count in n.items():
        (base / cls).mkdir(parents=True, exist_ok=True)
        for i in range(1, count + 1):
            k += 1
            Image.fromarray(_img(k)).save(base / cls / f"{cls} ({i}).png")
            mask = _mask() if cls != "normal" else np.zeros((40, 48), np.uint8)
            Image.fromarray(mask).save(base / cls / f"{cls} ({i})_mask.png")
    return base


@pytest.fixture()
def busi(tmp_path: Path) -> Path:
    make_busi(tmp_path / "data")
    return tmp_path / "data"


def test_valid_tree_loads(busi: Path) -> None:
    ds = load_dataset(busi, thumbnail_size=16)
    assert [(r.cls, r.id) for r in ds.records] == [
        ("benign", "1"),
        ("benign", "2"),
        ("malignant", "1"),
        ("malignant", "2"),
        ("normal", "1"),
    ]
    assert ds.thumbnails is not None and ds.thumbnails.shape == (5, 16, 16)
    r = ds.records[0]
    assert (r.width, r.height) == (48, 40)
    assert r.image == "Dataset_BUSI_with_GT/benign/benign (1).png"
    assert r.masks == ("Dataset_BUSI_with_GT/benign/benign (1)_mask.png",)
    assert r.tumour_pixels == 10 * 18 and r.bbox == (12, 10, 30, 20)
    assert ds.records[-1].tumour_pixels == 0 and ds.records[-1].bbox is None


def _corrupt(base: Path) -> Path:
    p = base / "benign" / "benign (1).png"
    p.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    return p


def _truncate(base: Path) -> Path:
    p = base / "benign" / "benign (2).png"
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    return p


def _no_mask(base: Path) -> Path:
    (base / "malignant" / "malignant (1)_mask.png").unlink()
    return base / "malignant" / "malignant (1).png"


def _mask_size(base: Path) -> Path:
    p = base / "benign" / "benign (2)_mask.png"
    Image.fromarray(np.zeros((39, 48), np.uint8)).save(p)
    return p


def _unknown_class(base: Path) -> Path:
    p = base / "cyst"
    p.mkdir()
    Image.fromarray(_img(99)).save(p / "cyst (1).png")
    return p


def _empty_class(base: Path) -> Path:
    for f in (base / "normal").iterdir():
        f.unlink()
    return base / "normal"


def _bad_name(base: Path) -> Path:
    p = base / "benign" / "benign_7.png"
    Image.fromarray(_img(7)).save(p)
    return p


def _orphan_mask(base: Path) -> Path:
    p = base / "benign" / "benign (9)_mask.png"
    Image.fromarray(_mask()).save(p)
    return p


BAD_INPUTS = {
    "corrupt png": (_corrupt, "corrupt or truncated"),
    "truncated png": (_truncate, "corrupt or truncated"),
    "tumour image without mask": (_no_mask, "needs at least one mask"),
    "mask size mismatch": (_mask_size, "but its image"),
    "unknown class folder": (_unknown_class, "unknown class folder"),
    "empty class folder": (_empty_class, "empty class folder"),
    "unparseable file name": (_bad_name, "unparseable file name"),
    "mask without image": (_orphan_mask, "mask without an image"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_raises_naming_the_file(busi: Path, case: str) -> None:
    spoil, why = BAD_INPUTS[case]
    bad = spoil(busi / "Dataset_BUSI_with_GT")
    with pytest.raises(DatasetError) as info:
        load_dataset(busi)
    text = str(info.value)
    assert str(bad) in text and why in text


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_cli_exit_2_and_nothing_written(
    busi: Path, tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    spoil, why = BAD_INPUTS[case]
    bad = spoil(busi / "Dataset_BUSI_with_GT")
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as info:
        main(["scan", str(busi), "--out", str(out), "--size", "16", "--quiet"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(bad) in err and "Traceback" not in err
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize("case", ["corrupt png", "unparseable file name", "mask without image", "unknown class folder"])
def test_lenient_skips_with_a_warning(
    busi: Path, tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    spoil, _ = BAD_INPUTS[case]
    bad = spoil(busi / "Dataset_BUSI_with_GT")
    out = tmp_path / "out"
    main(["scan", str(busi), "--out", str(out), "--size", "16", "--quiet", "--lenient"])
    err = capsys.readouterr().err
    assert f"warning: skipped {bad}" in err
    assert (out / "scan.json").is_file()


def test_no_class_folders_and_missing_root(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no class folders"):
        load_dataset(tmp_path / "empty", layout="busi")
    # auto-detection takes a folder without class folders as any tree of images (issue 24): none here
    with pytest.raises(DatasetError, match="no images found"):
        load_dataset(tmp_path / "empty")
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(tmp_path / "absent")


# --------------------------------------------------------------------------- masks


def test_mask_modes_any_nonzero_colour_is_tumour(tmp_path: Path) -> None:
    m = _mask() > 0
    one_bit = tmp_path / "one.png"
    Image.fromarray(m).convert("1").save(one_bit)
    rgb = tmp_path / "rgb.png"
    arr = np.zeros((*m.shape, 3), np.uint8)
    arr[m, 0] = 200  # red only: a non-zero colour channel
    Image.fromarray(arr, "RGB").save(rgb)
    rgba = tmp_path / "rgba.png"
    arr4 = np.zeros((*m.shape, 4), np.uint8)
    arr4[..., 3] = 255  # opaque black background
    arr4[m, 1] = 255
    Image.fromarray(arr4, "RGBA").save(rgba)
    for p in (one_bit, rgb, rgba):
        got = read_mask(p)
        assert got.dtype == bool
        np.testing.assert_array_equal(got, m, err_msg=str(p))


def test_mask_union_of_several_files(tmp_path: Path) -> None:
    a = np.zeros((20, 30), np.uint8)
    a[2:5, 2:5] = 255
    b = np.zeros((20, 30), np.uint8)
    b[10:15, 20:25] = 1
    Image.fromarray(a).save(tmp_path / "a.png")
    Image.fromarray(b).save(tmp_path / "b.png")
    u = read_mask_union([tmp_path / "a.png", tmp_path / "b.png"], (20, 30))
    assert u.sum() == 9 + 25
    with pytest.raises(DatasetError, match="a.png"):
        read_mask_union([tmp_path / "a.png"], (21, 30))


def test_loader_unites_mask_files(busi: Path) -> None:
    cls_dir = busi / "Dataset_BUSI_with_GT" / "benign"
    extra = np.zeros((40, 48), np.uint8)
    extra[30:35, 0:4] = 255
    Image.fromarray(extra).save(cls_dir / "benign (1)_mask_1.png")
    rec = load_dataset(busi).records[0]
    assert len(rec.masks) == 2 and rec.tumour_pixels == 10 * 18 + 5 * 4
    assert rec.bbox == (0, 10, 30, 35)


# --------------------------------------------------------------------------- identity


def test_pixel_hash_survives_reencoding(tmp_path: Path) -> None:
    gray = _img(5)
    Image.fromarray(gray).save(tmp_path / "l.png", compress_level=9)
    Image.fromarray(gray).save(tmp_path / "l0.png", compress_level=0)
    Image.fromarray(np.stack([gray] * 3, axis=-1), "RGB").save(tmp_path / "rgb.png")
    paths = [tmp_path / n for n in ("l.png", "l0.png", "rgb.png")]
    pix = {pixel_sha256(read_gray(p)) for p in paths}
    files = {file_sha256(p) for p in paths}
    assert pix == {pixel_sha256(gray)}
    assert len(files) == 3


def test_pixel_hash_depends_on_shape() -> None:
    flat = np.zeros((4, 6), np.uint8)
    assert pixel_sha256(flat) != pixel_sha256(flat.reshape(6, 4))


# --------------------------------------------------------------------------- generic layout


def make_generic(root: Path) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for k, name in enumerate(["a.png", "b.png", "c.png"]):
        Image.fromarray(_img(k)).save(root / "images" / name)
    Image.fromarray(_mask()).save(root / "masks" / "a_mask.png")
    Image.fromarray(_mask()).save(root / "masks" / "b.png")
    Image.fromarray(_mask()).save(root / "masks" / "b_second.png")
    (root / "labels.csv").write_text(
        "image,class,masks\na.png,benign,\nb.png,Malignant,b.png;b_second.png\nc.png,normal,\n", encoding="utf-8"
    )
    return root


def test_generic_layout(tmp_path: Path) -> None:
    root = make_generic(tmp_path / "gen")
    ds = load_dataset(root, thumbnail_size=16)
    assert ds.layout == "generic" and ds.name == "gen"
    assert [(r.cls, r.id) for r in ds.records] == [("benign", "a"), ("malignant", "b"), ("normal", "c")]
    assert ds.records[0].masks == ("masks/a_mask.png",)
    assert ds.records[1].masks == ("masks/b.png", "masks/b_second.png")
    assert ds.records[2].masks == ()


def test_generic_layout_errors(tmp_path: Path) -> None:
    root = make_generic(tmp_path / "gen")
    (root / "labels.csv").write_text("image,class\na.png,benign\nc.png,cyst\nzz.png,normal\n", encoding="utf-8")
    with pytest.raises(DatasetError) as info:
        load_dataset(root)
    text = str(info.value)
    assert "labels.csv:3" in text and "unknown class 'cyst'" in text and "zz.png" in text
    (root / "labels.csv").write_text("file,label\na.png,benign\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="needs columns"):
        load_dataset(root)


# --------------------------------------------------------------------------- real BUSI


@pytest.mark.realdata
def test_real_busi_counts(busi_dir: Path) -> None:
    ds = load_dataset(busi_dir)
    assert len(ds.records) == 780 and not ds.skipped
    counts = {c: [0, 0] for c in ("benign", "malignant", "normal")}
    for r in ds.records:
        counts[r.cls][0] += 1
        counts[r.cls][1] += len(r.masks)
    assert counts == {"benign": [437, 454], "malignant": [210, 211], "normal": [133, 133]}
    assert sum(len(r.masks) for r in ds.records) == 798
    by_key = {(r.cls, r.id): r for r in ds.records}
    assert by_key[("benign", "433")].pixel_sha256 == by_key[("malignant", "145")].pixel_sha256
    assert all(r.tumour_pixels == 0 for r in ds.records if r.cls == "normal")

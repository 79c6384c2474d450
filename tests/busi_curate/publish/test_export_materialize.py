"""busi-curate materialize: curated images + merged masks, resized, with a mapping; verified first, atomic."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import run_cli_captured as run_cli
from PIL import Image

from busi_curate.data.dataset import load_dataset
from busi_curate.data.imageio import read_gray, read_mask_union
from busi_curate.fileio import pixel_sha256
from busi_curate.publish.manifest import read_manifest


def test_writes_kept_images_and_masks_at_128(
    synthetic_manifest_dir: Path, synthetic_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cur"
    code, stdout, _ = run_cli(
        ["materialize", str(synthetic_manifest_dir), str(synthetic_dir), "--out", str(out)], capsys
    )
    assert code == 0 and "128x128" in stdout
    m = read_manifest(synthetic_manifest_dir)
    kept = m.kept()
    mapping = pd.read_csv(out / "mapping.csv", dtype=str, keep_default_na=False)
    assert list(zip(mapping["class"], mapping["id"])) == [r.key for r in kept]
    assert [c for c in mapping.columns if c.startswith("fold_")] == ["fold_0", "fold_1", "fold_2", "fold_3"]
    assert sorted(p.name for p in (out / "images").iterdir()) == sorted(f"{r.cls}_{r.id}.png" for r in kept)
    r = m.get(("benign", "2"))  # two mask files: the written mask is their union
    img = np.asarray(Image.open(out / "images" / "benign_2.png"))
    msk = np.asarray(Image.open(out / "masks" / "benign_2_mask.png"))
    assert img.shape == msk.shape == (128, 128) and img.dtype == np.uint8
    assert set(np.unique(msk)) == {0, 255}  # nearest-neighbour: no in-between values
    src = read_gray(synthetic_dir / r.image)
    want = np.asarray(Image.fromarray(src).resize((128, 128), Image.Resampling.BILINEAR))
    assert np.array_equal(img, want)
    union = read_mask_union([synthetic_dir / p for p in r.masks], src.shape)
    want_m = np.asarray(Image.fromarray(union.astype(np.uint8) * 255).resize((128, 128), Image.Resampling.NEAREST))
    assert np.array_equal(msk, want_m)
    row = mapping[(mapping["class"] == "benign") & (mapping["id"] == "2")].iloc[0]
    assert row["image_pixel_sha256"] == pixel_sha256(img) and row["pixel_sha256"] == r.pixel_sha256
    meta = json.loads((out / "materialize.json").read_text())
    assert meta["manifest"]["sha256"] == m.sha256 and meta["counts"]["total"] == len(kept) and meta["size"] == 128
    # the output is a generic-layout dataset: it loads again, same classes and ids
    again = load_dataset(out)
    assert [rec.key for rec in again.records] == [r.key for r in kept]


def test_original_size_and_removed(
    synthetic_manifest_dir: Path, synthetic_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "full"
    code, _, _ = run_cli(
        [
            "materialize",
            str(synthetic_manifest_dir),
            str(synthetic_dir),
            "--out",
            str(out),
            "--size",
            "none",
            "--include-removed",
        ],
        capsys,
    )
    assert code == 0
    m = read_manifest(synthetic_manifest_dir)
    mapping = pd.read_csv(out / "mapping.csv", dtype=str, keep_default_na=False)
    assert len(mapping) == len(m) and set(mapping["status"]) == {"kept", "removed"}
    removed = mapping[mapping["status"] == "removed"]
    assert (removed[[c for c in mapping.columns if c.startswith("fold_")]] == "").all().all()
    row = m.rows[0]
    assert mapping.iloc[0]["image_pixel_sha256"] == row.pixel_sha256  # no resize: same pixels
    assert mapping.iloc[0]["mask_out_pixel_sha256"] == pixel_sha256(
        (read_mask_union([synthetic_dir / p for p in row.masks], (row.height, row.width))).astype(np.uint8) * 255
    )


def test_refuses_changed_data_and_writes_nothing(
    synthetic_manifest_dir: Path, synthetic_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    shutil.copytree(synthetic_dir, data)
    kept = read_manifest(synthetic_manifest_dir).kept()[0]
    p = data / kept.image
    a = np.asarray(Image.open(p)).copy()
    a[0, 0] ^= 0x80
    Image.fromarray(a).save(p)
    out = tmp_path / "cur"
    code, _, err = run_cli(["materialize", str(synthetic_manifest_dir), str(data), "--out", str(out)], capsys)
    assert code == 2 and "differ from the manifest" in err
    assert not out.exists() and not [q for q in tmp_path.iterdir() if q.name.startswith(".cur")]


@pytest.mark.parametrize("size", ["0", "big", "-3"])
def test_bad_size(
    synthetic_manifest_dir: Path, synthetic_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], size: str
) -> None:
    code, _, err = run_cli(
        ["materialize", str(synthetic_manifest_dir), str(synthetic_dir), "--out", str(tmp_path / "o"), "--size", size],
        capsys,
    )
    assert code == 2 and "--size" in err


def test_refuses_a_foreign_output_folder_and_replaces_its_own(
    synthetic_manifest_dir: Path, synthetic_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    code, _, err = run_cli(
        ["materialize", str(synthetic_manifest_dir), str(synthetic_dir), "--out", str(foreign)], capsys
    )
    assert code == 2 and "not an earlier" in err and (foreign / "thesis.tex").exists()
    out = tmp_path / "cur"
    for size in ("64", "32"):
        assert (
            run_cli(
                ["materialize", str(synthetic_manifest_dir), str(synthetic_dir), "--out", str(out), "--size", size],
                capsys,
            )[0]
            == 0
        )
    assert json.loads((out / "materialize.json").read_text())["size"] == 32
    assert np.asarray(Image.open(next((out / "images").iterdir()))).shape == (32, 32)


def test_materialize_monai_datalists(synthetic_manifest_dir, synthetic_dir, tmp_path) -> None:
    import json

    from busi_curate.publish.manifest import read_folds, read_manifest
    from busi_curate.publish.materialize import MaterializeSettings, materialize

    m = read_manifest(synthetic_manifest_dir / "manifest.csv")
    out = tmp_path / "monai"
    meta = materialize(m, synthetic_dir, out, MaterializeSettings(size=32, format="monai"))
    folds = read_folds(synthetic_manifest_dir / "folds.csv", m)
    assert meta["monai"]["datalists"] == [f"datalist_fold{k}.json" for k in folds.numbers]
    dl = json.loads((out / "datalist_fold0.json").read_text())
    assert set(dl) == {"training", "validation", "testing"}  # the keys load_decathlon_datalist reads
    split = folds.split(0)
    assert len(dl["training"]) == len(split["train"]) and len(dl["testing"]) == len(split["test"])
    item = dl["testing"][0]
    assert set(item) == {"image", "label", "class"} and (out / item["image"]).is_file()
    assert set(np.unique(np.asarray(Image.open(out / item["label"])))) <= {0, 1}
    monai_data = pytest.importorskip("monai.data")  # the layout checked against MONAI's own reader

    loaded = monai_data.load_decathlon_datalist(
        str(out / "datalist_fold0.json"), data_list_key="testing", base_dir=str(out)
    )
    assert len(loaded) == len(split["test"]) and Path(loaded[0]["image"]).is_file()


def test_materialize_nnunet_raw_dataset(synthetic_manifest_dir, synthetic_dir, tmp_path) -> None:
    import json

    from busi_curate.publish.manifest import read_folds, read_manifest
    from busi_curate.publish.materialize import MaterializeSettings, materialize

    m = read_manifest(synthetic_manifest_dir / "manifest.csv")
    out = tmp_path / "nn"
    materialize(m, synthetic_dir, out, MaterializeSettings(size=32, format="nnunet", nnunet_id=7, nnunet_name="Test"))
    root = out / "Dataset007_Test"
    ds = json.loads((root / "dataset.json").read_text())
    assert ds["channel_names"] == {"0": "US"} and ds["labels"] == {"background": 0, "tumour": 1}
    assert ds["file_ending"] == ".png" and ds["numTraining"] == len(m.kept())
    images = sorted(p.name for p in (root / "imagesTr").iterdir())
    labels = sorted(p.name for p in (root / "labelsTr").iterdir())
    assert all(n.endswith("_0000.png") for n in images) and [n[:-9] for n in images] == [n[:-4] for n in labels]
    assert (root / "imagesTs").is_dir()
    splits = json.loads((root / "splits_final.json").read_text())
    folds = read_folds(synthetic_manifest_dir / "folds.csv", m)
    assert len(splits) == len(folds.numbers)
    for k, s in zip(folds.numbers, splits):
        assert set(s) == {"train", "val"} and not set(s["train"]) & set(s["val"])
        assert len(s["val"]) == len(folds.split(k)["test"])  # nnU-Net validates on exactly our test fold
        assert set(s["train"]) | set(s["val"]) == {n[:-4] for n in labels}


def test_positional_out_is_a_deprecated_alias(
    synthetic_manifest_dir: Path, synthetic_dir: Path, tmp_path: Path, capsys
) -> None:
    code, _, err = run_cli(
        ["materialize", str(synthetic_manifest_dir), str(synthetic_dir), str(tmp_path / "old")], capsys
    )
    assert code == 0 and "deprecated" in err and (tmp_path / "old" / "materialize.json").is_file()
    code, _, err = run_cli(
        [
            "materialize",
            str(synthetic_manifest_dir),
            str(synthetic_dir),
            str(tmp_path / "a"),
            "--out",
            str(tmp_path / "b"),
        ],
        capsys,
    )
    assert code == 2 and "once" in err and not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    code, _, err = run_cli(["materialize", str(synthetic_manifest_dir), str(synthetic_dir)], capsys)
    assert code == 2 and "--out" in err


def test_nnunet_native_size_by_default_fixed_size_on_request(
    synthetic_manifest_dir: Path, synthetic_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--format nnunet`` keeps each image's native size unless ``--size N`` is given; progress goes to stderr."""
    m = read_manifest(synthetic_manifest_dir / "manifest.csv")
    row = m.kept()[0]
    src = np.asarray(Image.open(synthetic_dir / row.image))
    args = ["materialize", str(synthetic_manifest_dir), str(synthetic_dir), "--format", "nnunet", "--out"]
    code, out, err = run_cli([*args, str(tmp_path / "native")], capsys)
    assert code == 0, err
    assert "at original size" in out and "write" in err and "img" in err  # the progress bar, on stderr
    meta = json.loads((tmp_path / "native" / "materialize.json").read_text())
    assert meta["size"] is None
    name = f"{row.cls}_{row.id}"
    assert np.asarray(Image.open(tmp_path / "native" / "images" / f"{name}.png")).shape == src.shape[:2]
    code, out, err = run_cli([*args, str(tmp_path / "fixed"), "--size", "64", "--quiet"], capsys)
    assert code == 0, err
    assert "at 64x64" in out and err == ""
    assert np.asarray(Image.open(tmp_path / "fixed" / "images" / f"{name}.png")).shape == (64, 64)

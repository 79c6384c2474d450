"""The Python API: load_split over the published manifest and over a synthetic one."""

from __future__ import annotations

from pathlib import Path

import pytest

import busi_curate
from busi_curate import DatasetError, ManifestError, load_split

REPO = Path(__file__).resolve().parents[3]


def test_load_split_synthetic(synthetic_manifest_dir: Path, synthetic_dir: Path) -> None:
    m, f = synthetic_manifest_dir / "manifest.csv", synthetic_manifest_dir / "folds.csv"
    parts = {s: load_split(m, f, synthetic_dir, 0, s) for s in ("train", "val", "test")}
    assert set(parts["test"].columns) >= {"class", "id", "image_path", "mask_paths", "group", "fold", "split"}
    keys = [set(zip(p["class"], p["id"])) for p in parts.values()]
    assert not (keys[0] & keys[1]) and not (keys[0] & keys[2]) and not (keys[1] & keys[2])
    row = parts["test"].iloc[0]
    assert Path(row["image_path"]).is_absolute() and Path(row["image_path"]).is_file()
    assert isinstance(row["mask_paths"], list) and all(Path(p).is_file() for p in row["mask_paths"])
    # the Dataset_BUSI_with_GT folder itself is accepted too
    inner = load_split(m, f, synthetic_dir / "Dataset_BUSI_with_GT", 0, "test")
    assert list(inner["image_path"]) == list(parts["test"]["image_path"])


def test_load_split_errors(synthetic_manifest_dir: Path, synthetic_dir: Path, tmp_path: Path) -> None:
    m, f = synthetic_manifest_dir / "manifest.csv", synthetic_manifest_dir / "folds.csv"
    with pytest.raises(ManifestError, match="fold 9"):
        load_split(m, f, synthetic_dir, 9, "test")
    with pytest.raises(DatasetError):
        load_split(m, f, tmp_path / "nope", 0, "test")
    with pytest.raises(DatasetError, match="does not hold"):
        load_split(m, f, tmp_path, 0, "test")
    with pytest.raises(ValueError, match="split must be"):
        load_split(m, f, synthetic_dir, 0, "holdout")


@pytest.mark.realdata
def test_load_split_published_manifest(busi_dir: Path) -> None:
    m = REPO / "manifests" / "curated_busi_v1" / "manifest.csv"
    f = REPO / "manifests" / "curated_busi_v1" / "folds.csv"
    total = sum(len(load_split(m, f, busi_dir, 0, s)) for s in ("train", "val", "test"))
    assert total == 448
    test = load_split(m, f, busi_dir, 0, "test")
    assert test["split"].eq("test").all() and test["fold"].eq(0).all()


def test_the_package_names_its_entry_points() -> None:
    for name in ("load_dataset", "run_scan", "read_scan", "export_manifest", "load_split"):
        assert callable(getattr(busi_curate, name))
    with pytest.raises(AttributeError):
        busi_curate.no_such_thing  # noqa: B018


def test_torch_dataset_matches_the_benchmark_pipeline(synthetic_manifest_dir: Path, synthetic_dir: Path) -> None:
    pytest.importorskip("torch")
    from benchmark.data.samples import load_samples
    from benchmark.data.torch_data import ManifestDataset
    from busi_curate.publish.manifest import read_manifest

    m, f = synthetic_manifest_dir / "manifest.csv", synthetic_manifest_dir / "folds.csv"
    ds = ManifestDataset(m, f, synthetic_dir, 0, "test", size=64)
    item = ds[0]
    assert item["image"].shape == (1, 64, 64) and item["mask"].shape == (1, 64, 64)
    ref = load_samples(read_manifest(m), [(item["class"], item["id"])], synthetic_dir, 64)
    assert (item["image"][0].numpy() == ref.images[0]).all() and (item["mask"][0].numpy() == ref.masks[0]).all()
    assert item["label"] == int(ref.labels[0])

"""Every pixel-hash check, tested by changing ONE pixel (issue 25: busi-bench could skip the mask check and would
have trained on altered masks without a test noticing).

Checks: busi-bench's sample loading (image and mask), its torch ``ManifestDataset`` (image), ``busi-curate
verify`` (image and mask), and the scan's own checks (``read_scanned``, ``check_scan_data``). Each is first
run on the untouched copy (it must pass there), then on a copy with one pixel changed by one grey level (or
one mask pixel set).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from busi_curate.publish.manifest import ManifestRow, read_manifest


def _bump_pixel(path: Path, mask: bool) -> None:
    """Change one pixel of the PNG at ``path`` losslessly: +1 grey level (mod 256), or a mask pixel set to 255."""
    arr = np.array(Image.open(path))
    if mask:
        ys, xs = np.nonzero(arr.reshape(arr.shape[0], arr.shape[1], -1).max(axis=2) == 0)
        y, x = int(ys[0]), int(xs[0])
        arr[y, x] = 255
    else:
        y, x = arr.shape[0] // 2, arr.shape[1] // 3
        arr[y, x] = (arr[y, x].astype(np.int16) + 1) % 256
    Image.fromarray(arr).save(path)


def _row(manifest_dir: Path) -> ManifestRow:
    """A kept benign image with a non-empty mask."""
    m = read_manifest(manifest_dir)
    return next(r for r in m.kept() if r.cls == "benign" and r.masks and r.tumour_pixels > 0)


@pytest.fixture()
def data_copy(synthetic_dir: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "data"
    shutil.copytree(synthetic_dir, dst)
    return dst


@pytest.mark.parametrize("what", ["image", "mask"])
def test_busi_bench_load_samples_refuses_one_changed_pixel(
    synthetic_manifest_dir: Path, data_copy: Path, what: str
) -> None:
    from benchmark.data.samples import load_samples
    from benchmark.errors import BenchError

    m = read_manifest(synthetic_manifest_dir)
    row = _row(synthetic_manifest_dir)
    assert len(load_samples(m, [row.key], data_copy, 32)) == 1  # untouched: loads
    _bump_pixel(data_copy / (row.image if what == "image" else row.masks[0]), mask=what == "mask")
    with pytest.raises(BenchError, match=f"{what} pixels"):
        load_samples(m, [row.key], data_copy, 32)
    assert len(load_samples(m, [row.key], data_copy, 32, verify=False)) == 1  # only the hash check refuses it


def test_busi_bench_dataset_refuses_one_changed_pixel(synthetic_manifest_dir: Path, data_copy: Path) -> None:
    pytest.importorskip("torch")
    import pandas as pd

    from benchmark.data.torch_data import ManifestDataset
    from benchmark.errors import BenchError

    row = _row(synthetic_manifest_dir)
    folds = pd.read_csv(synthetic_manifest_dir / "folds.csv", dtype=str)
    hit = folds[(folds["fold"] == "0") & (folds["class"] == row.cls) & (folds["id"] == row.id)].iloc[0]
    ds = ManifestDataset(
        synthetic_manifest_dir / "manifest.csv", synthetic_manifest_dir / "folds.csv", data_copy, 0, hit["split"], 32
    )
    i = next(i for i in range(len(ds)) if (ds.table.iloc[i]["class"], str(ds.table.iloc[i]["id"])) == row.key)
    assert ds[i]["id"] == row.id  # untouched: loads
    _bump_pixel(data_copy / row.image, mask=False)
    with pytest.raises(BenchError, match="pixels differ"):
        ds[i]


@pytest.mark.parametrize("what", ["image", "mask"])
def test_verify_reports_one_changed_pixel(synthetic_manifest_dir: Path, data_copy: Path, what: str) -> None:
    from busi_curate.publish.verify import verify_data

    m = read_manifest(synthetic_manifest_dir)
    row = _row(synthetic_manifest_dir)
    assert verify_data(m, data_copy, extras=False).problems() == []
    target = row.image if what == "image" else row.masks[0]
    _bump_pixel(data_copy / target, mask=what == "mask")
    bad = verify_data(m, data_copy, extras=False).problems()
    if what == "image":
        assert [(c.kind, c.path, c.status) for c in bad] == [("image", target, "changed")]
    else:  # a wrong union names every mask file of the image (any one may be at fault)
        assert sorted((c.kind, c.path, c.status) for c in bad) == sorted(("mask", p, "changed") for p in row.masks)


def test_the_scan_refuses_one_changed_pixel(synthetic_scan_dir: Path, data_copy: Path) -> None:
    from busi_curate.errors import ScanError
    from busi_curate.scan.run import check_scan_data, read_scan, read_scanned

    scan = read_scan(synthetic_scan_dir)
    row = 3
    rel = str(scan.index.at[row, "image"])
    sha = str(scan.index.at[row, "pixel_sha256"])
    read_scanned(data_copy / rel, sha)  # untouched: passes
    check_scan_data(scan, data_copy)
    _bump_pixel(data_copy / rel, mask=False)
    with pytest.raises(ScanError, match="pixels changed"):
        read_scanned(data_copy / rel, sha)
    with pytest.raises(ScanError, match="pixels differ from the scan"):
        check_scan_data(scan, data_copy)

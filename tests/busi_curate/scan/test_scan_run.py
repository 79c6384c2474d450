"""The scan stage end to end: planted duplicates first, byte-identical output twice, the pruned mode,
checksums, and a real-BUSI scan checked pair by pair against scikit-image."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from busi_curate.errors import ScanError
from busi_curate.scan.run import INDEX_COLUMNS, ScanSettings, read_scan, run_scan
from busi_curate.ssim import SSIMSettings
from busi_curate.ssim.reference import skimage_ssim


def _planted(synthetic_dir: Path) -> pd.DataFrame:
    return pd.read_csv(synthetic_dir / "planted.csv", dtype=str)


def _top1(cands: pd.DataFrame) -> dict[tuple[str, str], tuple[str, str]]:
    first = cands[cands["rank"] == 1]
    return {
        (c, str(i)): (cc, str(ci))
        for c, i, cc, ci in zip(
            first["reference_class"], first["reference_id"], first["candidate_class"], first["candidate_id"]
        )
    }


def test_planted_duplicates_ranked_first(synthetic_dir: Path, synthetic_scan_dir: Path) -> None:
    scan = read_scan(synthetic_scan_dir)
    top1 = _top1(scan.candidates)
    planted = _planted(synthetic_dir)
    assert len(planted) == 8
    for p in planted.itertuples():
        assert top1[(p.copy_class, p.copy_id)] == (p.source_class, p.source_id), p.kind


def test_scan_folder_contents(synthetic_scan_dir: Path) -> None:
    scan = read_scan(synthetic_scan_dir)
    n = scan.n
    assert list(scan.index.columns) == INDEX_COLUMNS and list(scan.index["row"]) == list(range(n))
    assert scan.ssim is not None and scan.ssim.shape == (n, n) and scan.ssim.dtype == np.float32
    np.testing.assert_array_equal(scan.ssim, scan.ssim.T)
    assert np.isnan(np.diag(scan.ssim)).all()
    assert (scan.candidates.groupby(["reference_class", "reference_id"]).size() == 10).all()
    meta = json.loads((synthetic_scan_dir / "scan.json").read_text())
    assert meta["settings"]["size"] == 64 and meta["pairs_scored"] == n * (n - 1) // 2
    assert set(meta["files"]) == {"index.csv", "candidates.csv", "ssim.npy"}
    assert meta["pairs_per_s"] > 0 and "numba" in meta["libraries"]


def test_same_bytes_twice(synthetic_dir: Path, tmp_path: Path) -> None:
    settings = ScanSettings(size=48, top_k=5)
    run_scan(synthetic_dir, tmp_path / "one", settings)
    run_scan(synthetic_dir, tmp_path / "two", settings)
    for name in ("index.csv", "ssim.npy", "candidates.csv"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name


def test_block_size_does_not_change_the_scan(synthetic_dir: Path, tmp_path: Path) -> None:
    run_scan(synthetic_dir, tmp_path / "b64", ScanSettings(size=32))
    run_scan(synthetic_dir, tmp_path / "b5", ScanSettings(size=32, block=5))
    for name in ("ssim.npy", "candidates.csv"):
        assert (tmp_path / "b64" / name).read_bytes() == (tmp_path / "b5" / name).read_bytes(), name


def test_pruned_mode_matches_exhaustive_on_its_pairs(
    synthetic_dir: Path, synthetic_scan_dir: Path, tmp_path: Path
) -> None:
    res = run_scan(synthetic_dir, tmp_path / "pruned", ScanSettings(size=64, mode="pruned", prune_k=8))
    assert not (tmp_path / "pruned" / "ssim.npy").exists() and (tmp_path / "pruned" / "pairs.npz").is_file()
    scan = read_scan(tmp_path / "pruned")
    full = read_scan(synthetic_scan_dir)
    assert scan.pairs is not None and full.ssim is not None
    assert len(scan.pairs) < scan.n * (scan.n - 1) // 2
    for a, b, v in zip(scan.pairs["a"], scan.pairs["b"], scan.pairs["ssim"]):
        assert a < b and abs(float(v) - float(full.ssim[a, b])) < 1e-6
        assert scan.pair_ssim(b, a) == pytest.approx(float(v))
    # every image's best candidate is the exhaustive scan's best
    assert _top1(scan.candidates) == _top1(full.candidates)
    assert res.meta["settings"]["mode"] == "pruned"


def test_tampered_scan_is_refused(scan_copy: Path) -> None:
    with open(scan_copy / "candidates.csv", "a", encoding="utf-8") as fh:
        fh.write("benign,1,benign,2,11,0.5\n")
    with pytest.raises(ScanError, match="checksum"):
        read_scan(scan_copy)


def test_read_scan_errors(tmp_path: Path) -> None:
    with pytest.raises(ScanError, match="does not exist"):
        read_scan(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ScanError, match="scan.json is missing"):
        read_scan(tmp_path / "empty")


@pytest.mark.realdata
def test_real_busi_scan(busi_dir: Path, tmp_path: Path) -> None:
    """The default scan of BUSI: 780 rows, the known identical pair first, ~50 pairs equal to scikit-image."""
    from busi_curate.data.dataset import resize_gray
    from busi_curate.data.imageio import read_gray

    res = run_scan(busi_dir, tmp_path / "scan", ScanSettings())
    scan = read_scan(tmp_path / "scan")
    assert scan.n == 780 and scan.ssim is not None and res.meta["pairs_scored"] == 303810
    i, j = scan.row_of("benign", "433"), scan.row_of("malignant", "145")
    assert scan.ssim[i, j] == pytest.approx(1.0, abs=1e-6)
    top1 = _top1(scan.candidates)
    assert top1[("benign", "433")] == ("malignant", "145") and top1[("malignant", "145")] == ("benign", "433")
    rng = np.random.default_rng(0)
    rows = rng.choice(scan.n, size=(50, 2))
    rows = rows[rows[:, 0] != rows[:, 1]]
    cache: dict[int, np.ndarray] = {}

    def thumb(r: int) -> np.ndarray:
        if r not in cache:
            cache[r] = resize_gray(read_gray(scan.image_path(r)), 128)
        return cache[r]

    diffs = [abs(float(scan.ssim[a, b]) - skimage_ssim(thumb(a), thumb(b), SSIMSettings())) for a, b in rows]
    assert len(diffs) >= 45 and max(diffs) < 1e-6

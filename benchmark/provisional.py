"""Build a manifest + folds from a dataset folder without curation (every image ``kept``).

For tests (synthetic data) and for a clearly labelled provisional run on uncurated BUSI while the
curated manifest is not available. Test folds: ``StratifiedKFold(k, shuffle=True, random_state=seed)``
over the images sorted by (class, natural id); validation: the first split of a second
``StratifiedKFold(val_splits, shuffle=True, random_state=seed)`` over each fold's remaining images.
Without scikit-learn a per-class shuffled round-robin is used instead (recorded in the sidecar).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from busi_curate.dataset import load_dataset
from busi_curate.fileio import write_csv, write_json

from .data import MANIFEST_COLUMNS


def _stratified_splits(labels: np.ndarray, k: int, seed: int) -> tuple[list[np.ndarray], str]:
    """Test indices of each of ``k`` stratified splits."""
    try:
        from sklearn.model_selection import StratifiedKFold
    except ImportError:
        rng = np.random.default_rng(seed)
        fold_of = np.zeros(len(labels), np.int64)
        for c in np.unique(labels):
            idx = np.flatnonzero(labels == c)
            rng.shuffle(idx)
            fold_of[idx] = np.arange(len(idx)) % k
        return [np.flatnonzero(fold_of == f) for f in range(k)], "round-robin"
    skf = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    return [test for _, test in skf.split(np.zeros(len(labels)), labels)], "sklearn.StratifiedKFold"


def build_provisional(data_dir: str | Path, out_dir: str | Path, k: int = 4, seed: int = 1993,
                      val_splits: int = 5, name: str = "provisional") -> tuple[Path, Path]:
    """Write ``out_dir/manifest.csv`` and ``out_dir/folds.csv`` (+ sidecar) for every image of ``data_dir``.

    Returns:
        Paths of the manifest and the folds file.
    """
    ds = load_dataset(data_dir)
    recs = ds.records  # sorted by (class, natural id)
    rows = [{
        "dataset": ds.name, "version": name, "class": r.cls, "id": r.id, "image": r.image, "masks": ";".join(r.masks),
        "pixel_sha256": r.pixel_sha256, "mask_pixel_sha256": r.mask_pixel_sha256, "file_sha256": r.file_sha256,
        "width": r.width, "height": r.height, "tumour_pixels": r.tumour_pixels, "bbox": r.bbox_str,
        "group": "", "status": "kept", "reason": "",
    } for r in recs]
    manifest = pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))
    labels = np.array([r.cls for r in recs])
    tests, method = _stratified_splits(labels, k, seed)
    fold_rows = []
    for f, test in enumerate(tests):
        rest = np.setdiff1d(np.arange(len(recs)), test)
        val = rest[_stratified_splits(labels[rest], val_splits, seed)[0][0]]
        split = np.full(len(recs), "train", dtype=object)
        split[test], split[val] = "test", "val"
        fold_rows += [{"class": r.cls, "id": r.id, "fold": f, "split": split[i]} for i, r in enumerate(recs)]
    folds = pd.DataFrame(fold_rows)
    out_dir = Path(out_dir)
    write_csv(out_dir / "manifest.csv", manifest)
    write_csv(out_dir / "folds.csv", folds)
    write_json(out_dir / "folds.csv.meta.json", {
        "tool": "busi-bench provisional", "status": "uncurated: every image kept", "k": k, "seed": seed,
        "val_splits": val_splits, "method": method, "data_dir": str(data_dir), "n_images": len(recs),
    })
    return out_dir / "manifest.csv", out_dir / "folds.csv"

"""A pair's verdict is a function of its two images: adding 50 other images to the dataset changes no assessment
(the RANSAC seed comes from the pixel hashes, not from rows)."""

from __future__ import annotations

import itertools
import shutil

import numpy as np
from PIL import Image

from busi_curate.assistant import Assistant, pair_seed
from busi_curate.data.synthetic import make_synthetic_busi
from busi_curate.scan.run import ScanSettings, read_scan, run_scan


def test_pair_seed_is_symmetric_and_hash_based():
    assert pair_seed("ab", "cd") == pair_seed("cd", "ab") != pair_seed("ab", "ce")


def test_adding_50_images_changes_no_previous_assessment(synthetic_dir, synthetic_scan_dir, tmp_path):
    before = Assistant(read_scan(synthetic_scan_dir), cache_dir=tmp_path / "f1")
    scan0 = before.scan
    keys = [(str(c), str(i)) for c, i in zip(scan0.index["class"], scan0.index["id"])]
    pairs = list(itertools.combinations(range(scan0.n), 2))
    old = dict(zip([(keys[i], keys[j]) for i, j in pairs], before.assess(pairs)))
    # the same dataset plus 50 unrelated frames in every class (the rows of malignant and normal images shift)
    data = tmp_path / "data"
    shutil.copytree(synthetic_dir, data)
    extra = tmp_path / "extra"
    make_synthetic_busi(extra, n_per_class=(20, 15, 15), seed=11, kinds=())
    for cls in ("benign", "malignant", "normal"):
        src, dst = extra / "Dataset_BUSI_with_GT" / cls, data / "Dataset_BUSI_with_GT" / cls
        for p in sorted(src.glob(f"{cls} (*).png")):
            if "_mask" in p.name:
                continue
            new = f"{cls} ({int(p.stem.split('(')[1].rstrip(')')) + 1000})"
            shutil.copyfile(p, dst / f"{new}.png")
            mask = np.zeros(np.asarray(Image.open(p)).shape, np.uint8)
            Image.fromarray(mask).save(dst / f"{new}_mask.png")
    run_scan(data, tmp_path / "scan", ScanSettings(size=64))
    after = Assistant(read_scan(tmp_path / "scan"), cache_dir=tmp_path / "f2")
    assert after.scan.n == scan0.n + 50
    rows = [(after.row_of(*a), after.row_of(*b)) for a, b in old]
    new = dict(zip(old, after.assess(rows)))
    changed = {k: (old[k].evidence, new[k].evidence) for k in old if old[k] != new[k]}
    assert not changed, list(changed.items())[:3]

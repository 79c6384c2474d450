"""Mask IoU (busi_curate.findings.masks) on hand-made masks and groups with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from findings_data import same

from busi_curate.findings import masks
from busi_curate.review.groups import build_groups


def test_mask_iou_known_values() -> None:
    a = np.zeros((10, 10), bool)
    b = np.zeros((10, 10), bool)
    a[0:4, 0:4] = True  # 16 px
    b[2:6, 0:4] = True  # 16 px, overlap 8
    assert masks.mask_iou(a, b) == pytest.approx(8 / 24)
    assert masks.mask_iou(a, a) == 1.0
    empty = np.zeros((10, 10), bool)
    assert masks.mask_iou(empty, empty) == 1.0  # two normal images agree: no lesion
    assert masks.mask_iou(a, empty) == 0.0
    with pytest.raises(ValueError, match="one shape"):
        masks.mask_iou(a, np.zeros((5, 5), bool))


def test_resize_mask_common_frame() -> None:
    m = np.zeros((100, 200), bool)
    m[:, :100] = True  # left half
    r = masks.resize_mask(m, 16)
    assert r.shape == (16, 16) and r.dtype == bool
    assert r[:, :8].all() and not r[:, 8:].any()
    # the same half-mask at another size lands on the same common-frame mask
    m2 = np.zeros((30, 50), bool)
    m2[:, :25] = True
    assert masks.mask_iou(masks.resize_mask(m2, 16), r) == 1.0


def test_mask_iou_table_every_pair_in_group() -> None:
    keys = [("benign", "1"), ("benign", "2"), ("malignant", "3"), ("normal", "1"), ("normal", "2")]
    groups = build_groups([same(keys[0], keys[1]), same(keys[1], keys[2], "identical"), same(keys[3], keys[4])])
    full = np.ones((8, 8), bool)
    left = np.zeros((8, 8), bool)
    left[:, :4] = True
    by_key = {
        keys[0]: full,
        keys[1]: full,
        keys[2]: left,
        keys[3]: np.zeros((8, 8), bool),
        keys[4]: np.zeros((8, 8), bool),
    }
    t = masks.mask_iou_table(groups, lambda k: (np.zeros((8, 8), np.uint8), by_key[k]), size=8, register=False)
    assert (t["method"] == "resized").all() and t["iou_registered"].isna().all()
    assert len(t) == 3 + 1  # a triplet gives 3 pairs, a duplet 1
    by = {(r.id_a, r.id_b, r.class_a, r.class_b): r for r in t.itertuples()}
    assert by[("1", "2", "benign", "benign")].iou == 1.0
    assert by[("1", "2", "benign", "benign")].link == "same-frame"
    assert by[("1", "3", "benign", "malignant")].iou == 0.5
    assert by[("1", "3", "benign", "malignant")].link == "implied"
    assert by[("2", "3", "benign", "malignant")].link == "identical"
    normal = by[("1", "2", "normal", "normal")]
    assert normal.iou == 1.0 and normal.empty_a and normal.empty_b


def test_iou_summary_bins() -> None:
    t = pd.DataFrame(
        {
            "iou": [0.2, 0.5, 0.69, 0.7, 0.95, 1.0],
            "empty_a": [False] * 5 + [True],
            "empty_b": [False] * 5 + [True],
            "iou_registered": [np.nan] * 5 + [0.3],
        }
    )
    both = masks.iou_summary(t, columns=("iou", "iou_registered"))
    assert list(both["measure"].unique()) == ["iou", "iou_registered"]
    reg = both[both["measure"] == "iou_registered"].set_index("bin")
    assert reg.at["mean", "pairs"] == 1 and reg.at["IoU < 0.5", "pairs"] == 1  # NaN pairs left out
    s = masks.iou_summary(t).drop(columns="measure").set_index("bin")
    assert list(s.index[:4]) == ["IoU < 0.5", "0.5 <= IoU < 0.7", "0.7 <= IoU < 0.9", "IoU >= 0.9"]
    assert list(s["pairs"][:4]) == [1, 2, 1, 2]
    assert list(s["pairs_with_lesion"][:4]) == [1, 2, 1, 1]  # the empty/empty pair is not a lesion pair
    assert s.at["mean", "share"] == pytest.approx(np.mean([0.2, 0.5, 0.69, 0.7, 0.95, 1.0]), abs=1e-4)
    assert s.at["median", "share"] == pytest.approx(0.695, abs=1e-4)
    assert s.at["median", "share_with_lesion"] == pytest.approx(0.69, abs=1e-4)
    empty = masks.iou_summary(t.iloc[:0]).drop(columns="measure")
    assert empty["pairs"].sum() == 0 and np.isnan(empty.set_index("bin").at["mean", "share"])

"""Statistics of the findings (busi_curate.findings.stats) on hand-made masks, matrices and groups with known answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from busi_curate.findings import stats as st
from busi_curate.review.groups import build_groups
from busi_curate.review.journal import Decision
from busi_curate.scan.run import ScanResult


def same(a: tuple[str, str], b: tuple[str, str], grade: str = "same-frame") -> Decision:
    return Decision(a[0], a[1], b[0], b[1], "same", grade, "tester", "", "2026-01-01T00:00:00Z")


def diff(a: tuple[str, str], b: tuple[str, str]) -> Decision:
    return Decision(a[0], a[1], b[0], b[1], "different", "", "tester", "", "2026-01-01T00:00:00Z")


def fake_index(keys: list[tuple[str, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "row": range(len(keys)),
            "dataset": "x",
            "class": [k[0] for k in keys],
            "id": [k[1] for k in keys],
            "image": [f"{c}/{c} ({i}).png" for c, i in keys],
            "masks": [f"{c}/{c} ({i})_mask.png" for c, i in keys],
            "width": 10,
            "height": 10,
            "pixel_sha256": "",
            "file_sha256": "",
        }
    )


def fake_scan(
    keys: list[tuple[str, str]], matrix: np.ndarray | None = None, pairs: pd.DataFrame | None = None
) -> ScanResult:
    return ScanResult(
        Path("/nonexistent"), {"data_dir": "/nonexistent"}, fake_index(keys), pd.DataFrame(), matrix, pairs
    )


# --------------------------------------------------------------------------- IoU


def test_mask_iou_known_values() -> None:
    a = np.zeros((10, 10), bool)
    b = np.zeros((10, 10), bool)
    a[0:4, 0:4] = True  # 16 px
    b[2:6, 0:4] = True  # 16 px, overlap 8
    assert st.mask_iou(a, b) == pytest.approx(8 / 24)
    assert st.mask_iou(a, a) == 1.0
    empty = np.zeros((10, 10), bool)
    assert st.mask_iou(empty, empty) == 1.0  # two normal images agree: no lesion
    assert st.mask_iou(a, empty) == 0.0
    with pytest.raises(ValueError, match="one shape"):
        st.mask_iou(a, np.zeros((5, 5), bool))


def test_resize_mask_common_frame() -> None:
    m = np.zeros((100, 200), bool)
    m[:, :100] = True  # left half
    r = st.resize_mask(m, 16)
    assert r.shape == (16, 16) and r.dtype == bool
    assert r[:, :8].all() and not r[:, 8:].any()
    # the same half-mask at another size lands on the same common-frame mask
    m2 = np.zeros((30, 50), bool)
    m2[:, :25] = True
    assert st.mask_iou(st.resize_mask(m2, 16), r) == 1.0


def test_mask_iou_table_every_pair_in_group() -> None:
    keys = [("benign", "1"), ("benign", "2"), ("malignant", "3"), ("normal", "1"), ("normal", "2")]
    groups = build_groups([same(keys[0], keys[1]), same(keys[1], keys[2], "identical"), same(keys[3], keys[4])])
    full = np.ones((8, 8), bool)
    left = np.zeros((8, 8), bool)
    left[:, :4] = True
    masks = {
        keys[0]: full,
        keys[1]: full,
        keys[2]: left,
        keys[3]: np.zeros((8, 8), bool),
        keys[4]: np.zeros((8, 8), bool),
    }
    t = st.mask_iou_table(groups, lambda k: (np.zeros((8, 8), np.uint8), masks[k]), size=8, register=False)
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
    both = st.iou_summary(t, columns=("iou", "iou_registered"))
    assert list(both["measure"].unique()) == ["iou", "iou_registered"]
    reg = both[both["measure"] == "iou_registered"].set_index("bin")
    assert reg.at["mean", "pairs"] == 1 and reg.at["IoU < 0.5", "pairs"] == 1  # NaN pairs left out
    s = st.iou_summary(t).drop(columns="measure").set_index("bin")
    assert list(s.index[:4]) == ["IoU < 0.5", "0.5 <= IoU < 0.7", "0.7 <= IoU < 0.9", "IoU >= 0.9"]
    assert list(s["pairs"][:4]) == [1, 2, 1, 2]
    assert list(s["pairs_with_lesion"][:4]) == [1, 2, 1, 1]  # the empty/empty pair is not a lesion pair
    assert s.at["mean", "share"] == pytest.approx(np.mean([0.2, 0.5, 0.69, 0.7, 0.95, 1.0]), abs=1e-4)
    assert s.at["median", "share"] == pytest.approx(0.695, abs=1e-4)
    assert s.at["median", "share_with_lesion"] == pytest.approx(0.69, abs=1e-4)
    empty = st.iou_summary(t.iloc[:0]).drop(columns="measure")
    assert empty["pairs"].sum() == 0 and np.isnan(empty.set_index("bin").at["mean", "share"])


def smooth_frame(h: int, w: int, seed: int = 0) -> np.ndarray:
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    img = ndimage.gaussian_filter(rng.normal(0, 1, (h, w)), 6)
    img = (img - img.min()) / (img.max() - img.min())
    return (img * 255).astype(np.uint8)


@pytest.mark.parametrize("scale", [1.0, 0.8, 1.5])
def test_register_pair_recovers_crop_and_scale(scale: float) -> None:
    from PIL import Image

    a = smooth_frame(300, 400)
    crop = a[30:270, 50:370]  # B = A cropped at (30, 50) ...
    size = (round(crop.shape[1] * scale), round(crop.shape[0] * scale))
    b = np.asarray(Image.fromarray(crop).resize(size, Image.Resampling.BILINEAR))  # ... and rescaled
    reg = st.register_pair(a, b)
    assert reg.ncc > 0.95
    assert reg.scale == pytest.approx(1 / scale, rel=0.03)
    assert reg.dy == pytest.approx(30, abs=4) and reg.dx == pytest.approx(50, abs=4)
    # the crop's lesion maps onto the original's
    mask_a = np.zeros(a.shape, bool)
    mask_a[100:180, 150:260] = True
    mask_b = np.asarray(Image.fromarray(mask_a[30:270, 50:370].astype(np.uint8) * 255).resize(size)) > 127
    assert st.registered_mask_iou(mask_a, mask_b, reg) > 0.9
    assert st.mask_iou(st.resize_mask(mask_a, 64), st.resize_mask(mask_b, 64)) < 0.8  # resizing alone misaligns


def test_unrelated_images_are_not_trusted() -> None:
    reg = st.register_pair(smooth_frame(200, 260, seed=1), smooth_frame(210, 250, seed=2))
    assert reg.ncc < st.RegistrationSettings().min_ncc


# --------------------------------------------------------------------------- SSIM


def test_ssim_samples_exhaustive_matrix() -> None:
    keys = [("benign", "1"), ("benign", "2"), ("benign", "3"), ("malignant", "1")]
    m = np.array(
        [[np.nan, 0.9, 0.1, 0.2], [0.9, np.nan, 0.3, 0.8], [0.1, 0.3, np.nan, 0.4], [0.2, 0.8, 0.4, np.nan]],
        dtype=np.float32,
    )
    groups = build_groups([same(keys[0], keys[1]), same(keys[1], keys[3])])  # triplet {b1, b2, m1}
    s = st.ssim_samples(fake_scan(keys, m), groups)
    np.testing.assert_allclose(s.duplicate, [0.2, 0.8, 0.9], rtol=1e-6)  # includes the implied pair b1-m1
    np.testing.assert_allclose(s.non_duplicate, [0.1, 0.3, 0.4], rtol=1e-6)
    assert s.duplicate_missing == 0


def test_ssim_samples_pruned_uses_computed_pairs_only() -> None:
    keys = [("benign", "1"), ("benign", "2"), ("benign", "3"), ("benign", "4")]
    pairs = pd.DataFrame({"a": [1, 0, 2], "b": [0, 2, 3], "ssim": np.array([0.9, 0.2, 0.3], np.float32)})
    groups = build_groups([same(keys[0], keys[1]), same(keys[0], keys[3])])  # pairs 0-1, 0-3, 1-3
    s = st.ssim_samples(fake_scan(keys, None, pairs), groups)
    np.testing.assert_allclose(s.duplicate, [0.9], rtol=1e-6)
    np.testing.assert_allclose(s.non_duplicate, [0.2, 0.3], rtol=1e-6)
    assert s.duplicate_missing == 2


def test_ssim_statistics_separated_samples() -> None:
    rng = np.random.default_rng(0)
    dup = np.r_[np.full(15, 0.6), np.linspace(0.95, 1.0, 15)]  # two clumps: clearly not normal
    non = rng.normal(0.15, 0.05, 2000)
    s = st.ssim_statistics(st.SSIMSamples(np.sort(dup), np.sort(non)), percentile=99)
    assert s.duplicate.n == 30 and s.non_duplicate.n == 2000
    assert s.duplicate.mean == pytest.approx(dup.mean())
    assert s.duplicate.std == pytest.approx(np.std(dup, ddof=1))
    assert s.non_duplicate.mean == pytest.approx(non.mean())
    assert s.mannwhitney_u == 30 * 2000 and s.auc == 1.0
    assert s.mannwhitney_p_two_sided < 1e-15
    assert s.mannwhitney_p_greater < s.mannwhitney_p_two_sided
    # 99% of 30 duplicates from their 1st percentile up: an observed value, here the minimum
    assert s.threshold == pytest.approx(0.6) and s.duplicate_recall == 1.0
    assert s.non_duplicate.range_high == pytest.approx(np.percentile(non, 99, method="higher"))
    assert not s.ranges_overlap and s.non_duplicate_above == int((non >= 0.6).sum())
    # a two-clump sample is not normal; a large normal sample is (Lilliefors)
    assert s.duplicate.lilliefors_p < 0.01
    assert s.non_duplicate.lilliefors_p > 0.05


def test_ssim_statistics_mann_whitney_not_significant_for_same_distribution() -> None:
    rng = np.random.default_rng(1)
    s = st.ssim_statistics(st.SSIMSamples(np.sort(rng.normal(0.3, 0.1, 200)), np.sort(rng.normal(0.3, 0.1, 400))))
    assert s.mannwhitney_p_two_sided > 0.01
    assert s.ranges_overlap


def test_ssim_statistics_empty_duplicates() -> None:
    s = st.ssim_statistics(st.SSIMSamples(np.zeros(0), np.linspace(0, 0.5, 50)))
    assert s.duplicate.n == 0 and np.isnan(s.duplicate.mean) and np.isnan(s.threshold)
    assert np.isnan(s.mannwhitney_p_two_sided)
    t = st.ssim_stats_table(s)
    assert set(t["part"]) == {"duplicate", "non-duplicate", "mann-whitney", "threshold"}
    with pytest.raises(ValueError):
        st.ssim_statistics(st.SSIMSamples(np.zeros(0), np.zeros(0)), percentile=100)


# --------------------------------------------------------------------------- groups and classes


KEYS = (
    [("benign", str(i)) for i in range(1, 5)]
    + [("malignant", str(i)) for i in range(1, 4)]
    + [("normal", str(i)) for i in range(1, 4)]
)


def table3_groups():  # type: ignore[no-untyped-def]
    return build_groups(
        [
            same(("benign", "1"), ("benign", "2")),  # benign duplet
            same(("benign", "3"), ("malignant", "1")),  # class-conflict duplet
            same(("normal", "1"), ("normal", "2")),
            same(("normal", "2"), ("normal", "3")),  # normal triplet
            diff(("benign", "4"), ("malignant", "2")),
            same(("malignant", "2"), ("malignant", "3"), "adjacent-frame"),  # not merged by default
        ]
    )


def test_class_distribution_table3() -> None:
    d = st.class_distribution(fake_index(KEYS), table3_groups()).set_index("policy")
    assert d.loc["none", ["normal", "benign", "malignant", "total"]].tolist() == [3, 4, 3, 10]
    # remove-all: every member of the 3 groups (7 images) removed
    assert d.loc["remove-all", ["normal", "benign", "malignant", "total", "removed"]].tolist() == [0, 1, 2, 3, 7]
    # keep-one: one benign and one normal kept; the conflict group goes entirely
    assert d.loc["keep-one", ["normal", "benign", "malignant", "total", "removed"]].tolist() == [1, 2, 2, 5, 5]
    assert d.loc["none", "benign_pct"] == 40.0


def test_groups_and_conflicts_tables() -> None:
    groups = table3_groups()
    assert [g.kind for g in groups] == ["duplet", "duplet", "triplet"]
    t = st.groups_table(groups, fake_index(KEYS))
    assert list(t.columns) == ["group", "kind", "size", "class", "id", "image", "masks", "grades"]
    assert len(t) == 7
    assert t.iloc[0]["image"] == "benign/benign (1).png"
    c = st.class_conflicts_table(groups)
    assert len(c) == 1 and c.iloc[0]["classes"] == "benign;malignant"
    assert c.iloc[0]["members"] == "benign 3; malignant 1"
    counts = st.group_counts(groups)
    assert counts == {"duplet": 2, "triplet": 1, "groups": 3, "images": 7, "class_conflicts": 1}


def test_panel_selection_one_per_kind_then_largest() -> None:
    groups = table3_groups()
    ids = [g.id for g in st.panel_selection(groups, cap=2)]
    assert ids == [3, 2]  # the triplet, then the class-conflict duplet
    assert [g.id for g in st.panel_selection(groups, cap=12)] == [3, 2, 1]
    assert st.panel_selection(groups, cap=0) == []
    # class-conflict groups come before larger groups once each kind has its example
    more = build_groups(
        [
            same(("benign", "1"), ("benign", "2")),
            same(("benign", "2"), ("benign", "3")),
            same(("benign", "4"), ("benign", "5")),
            same(("benign", "5"), ("benign", "6")),
            same(("benign", "7"), ("benign", "8")),
            same(("benign", "9"), ("malignant", "1")),
        ]
    )
    assert [(g.kind, g.class_conflict) for g in more] == [
        ("triplet", False),
        ("triplet", False),
        ("duplet", False),
        ("duplet", True),
    ]
    assert [g.id for g in st.panel_selection(more, cap=3)] == [1, 2, 4]
    assert [g.id for g in st.panel_selection(more, cap=2)] == [1, 4]

"""SSIM statistics (busi_curate.findings.ssim_stats) on hand-made matrices, pairs and samples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from findings_data import fake_scan, same

from busi_curate.findings import ssim_stats as ss
from busi_curate.review.groups import build_groups


def test_ssim_samples_exhaustive_matrix() -> None:
    keys = [("benign", "1"), ("benign", "2"), ("benign", "3"), ("malignant", "1")]
    m = np.array(
        [[np.nan, 0.9, 0.1, 0.2], [0.9, np.nan, 0.3, 0.8], [0.1, 0.3, np.nan, 0.4], [0.2, 0.8, 0.4, np.nan]],
        dtype=np.float32,
    )
    groups = build_groups([same(keys[0], keys[1]), same(keys[1], keys[3])])  # triplet {b1, b2, m1}
    s = ss.ssim_samples(fake_scan(keys, m), groups)
    np.testing.assert_allclose(s.duplicate, [0.2, 0.8, 0.9], rtol=1e-6)  # includes the implied pair b1-m1
    np.testing.assert_allclose(s.non_duplicate, [0.1, 0.3, 0.4], rtol=1e-6)
    assert s.duplicate_missing == 0


def test_ssim_samples_pruned_uses_computed_pairs_only() -> None:
    keys = [("benign", "1"), ("benign", "2"), ("benign", "3"), ("benign", "4")]
    pairs = pd.DataFrame({"a": [1, 0, 2], "b": [0, 2, 3], "ssim": np.array([0.9, 0.2, 0.3], np.float32)})
    groups = build_groups([same(keys[0], keys[1]), same(keys[0], keys[3])])  # pairs 0-1, 0-3, 1-3
    s = ss.ssim_samples(fake_scan(keys, None, pairs), groups)
    np.testing.assert_allclose(s.duplicate, [0.9], rtol=1e-6)
    np.testing.assert_allclose(s.non_duplicate, [0.2, 0.3], rtol=1e-6)
    assert s.duplicate_missing == 2


def test_ssim_statistics_separated_samples() -> None:
    rng = np.random.default_rng(0)
    dup = np.r_[np.full(15, 0.6), np.linspace(0.95, 1.0, 15)]  # two clumps: clearly not normal
    non = rng.normal(0.15, 0.05, 2000)
    s = ss.ssim_statistics(ss.SSIMSamples(np.sort(dup), np.sort(non)), percentile=99)
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
    s = ss.ssim_statistics(ss.SSIMSamples(np.sort(rng.normal(0.3, 0.1, 200)), np.sort(rng.normal(0.3, 0.1, 400))))
    assert s.mannwhitney_p_two_sided > 0.01
    assert s.ranges_overlap


def test_ssim_statistics_empty_duplicates() -> None:
    s = ss.ssim_statistics(ss.SSIMSamples(np.zeros(0), np.linspace(0, 0.5, 50)))
    assert s.duplicate.n == 0 and np.isnan(s.duplicate.mean) and np.isnan(s.threshold)
    assert np.isnan(s.mannwhitney_p_two_sided)
    t = ss.ssim_stats_table(s)
    assert set(t["part"]) == {"duplicate", "non-duplicate", "mann-whitney", "threshold"}
    with pytest.raises(ValueError):
        ss.ssim_statistics(ss.SSIMSamples(np.zeros(0), np.zeros(0)), percentile=100)

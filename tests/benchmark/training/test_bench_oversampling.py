"""Deterministic oversampling (section 3.1) with the paper's worked example."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.training.oversampling import class_proportions, oversample_indices, replication_factors


def _paper_labels() -> np.ndarray:
    # 493 benign, 364 malignant, 142 normal (+1 benign to make 1000): 49.3 / 36.4 / 14.2 %
    return np.array([0] * 494 + [1] * 364 + [2] * 142)


def test_paper_example_gives_2_3_7() -> None:
    rf = replication_factors({0: 0.493, 1: 0.364, 2: 0.142}, rule="round")
    assert rf == {0: 2, 1: 3, 2: 7}


def test_paper_example_resulting_distribution() -> None:
    idx = oversample_indices(_paper_labels(), rule="round")
    share = np.bincount(_paper_labels()[idx]) / len(idx)
    # the paper reports 32.2 / 35.6 / 32.2 %
    assert share[0] == pytest.approx(0.322, abs=0.002)
    assert share[1] == pytest.approx(0.356, abs=0.002)
    assert share[2] == pytest.approx(0.322, abs=0.003)


def test_formula_as_written_is_ceil_and_differs_from_the_example() -> None:
    assert replication_factors({0: 0.493, 1: 0.364, 2: 0.142}, rule="ceil") == {0: 3, 1: 3, 2: 8}


def test_whole_classes_replicated_in_order_and_deterministic() -> None:
    labels = np.array([2, 0, 0, 1, 0, 0])
    idx = oversample_indices(labels)
    counts = np.bincount(idx, minlength=len(labels))
    p = class_proportions(labels)
    rf = replication_factors(p)
    assert all(counts[i] == rf[int(c)] for i, c in enumerate(labels))
    assert np.array_equal(idx, np.sort(idx))
    assert np.array_equal(idx, oversample_indices(labels))


def test_majority_class_keeps_factor_one() -> None:
    assert replication_factors({0: 0.8, 1: 0.2}) == {0: 1, 1: 5}

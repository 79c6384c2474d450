"""Metric definitions and their empty-mask conventions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchmark.evaluation.metrics import accuracy, confusion_matrix, f1_scores, hausdorff, seg_scores, weighted_f1

E = np.zeros((128, 128), bool)


def _square(y: int, x: int, s: int) -> np.ndarray:
    m = E.copy()
    m[y : y + s, x : x + s] = True
    return m


def test_both_empty_is_perfect() -> None:
    s = seg_scores(E, E)
    assert (s.dice, s.jaccard, s.recall, s.precision, s.hd95, s.hd_max) == (1, 1, 1, 1, 0, 0)


@pytest.mark.parametrize("pred,gt", [(_square(10, 10, 5), E), (E, _square(10, 10, 5))])
def test_one_empty_is_worst(pred: np.ndarray, gt: np.ndarray) -> None:
    s = seg_scores(pred, gt)
    assert (s.dice, s.jaccard, s.recall, s.precision) == (0, 0, 0, 0)
    assert s.hd95 == s.hd_max == pytest.approx(math.hypot(128, 128))


def test_all_background_prediction_on_a_tumour() -> None:
    assert seg_scores(np.zeros_like(E), _square(0, 0, 128)).dice == 0


def test_overlap_values() -> None:
    a, b = _square(0, 0, 10), _square(0, 5, 10)  # overlap 10x5 = 50; |a| = |b| = 100
    s = seg_scores(a, b)
    assert s.dice == pytest.approx(0.5) and s.jaccard == pytest.approx(50 / 150)
    assert s.recall == pytest.approx(0.5) and s.precision == pytest.approx(0.5)


def test_hausdorff_of_shifted_squares() -> None:
    a, b = _square(20, 20, 10), _square(20, 25, 10)
    assert hausdorff(a, b, 100.0) == pytest.approx(5.0)
    assert hausdorff(a, a, 95.0) == 0.0
    assert 0 < hausdorff(a, b, 95.0) <= 5.0


def test_classification_metrics() -> None:
    y = [0, 0, 1, 2, 2, 2]
    p = [0, 1, 1, 2, 2, 0]
    cm = confusion_matrix(y, p, 3)
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    f1 = f1_scores(cm)
    assert f1 == pytest.approx([0.5, 2 / 3, 0.8])
    assert weighted_f1(cm) == pytest.approx((2 * 0.5 + 1 * 2 / 3 + 3 * 0.8) / 6)
    assert accuracy(cm) == pytest.approx(4 / 6)


def test_class_absent_everywhere_has_f1_zero() -> None:
    assert f1_scores(confusion_matrix([0, 0], [0, 0], 3)).tolist() == [1.0, 0.0, 0.0]


def test_hd95_equals_monai_on_random_masks() -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("monai")
    import warnings

    from monai.metrics import HausdorffDistanceMetric
    from scipy import ndimage

    from benchmark.evaluation.metrics import hausdorff

    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(40):
        a = ndimage.binary_dilation(rng.random((64, 64)) > 0.995, iterations=int(rng.integers(1, 6)))
        b = ndimage.binary_dilation(rng.random((64, 64)) > 0.995, iterations=int(rng.integers(1, 6)))
        if not a.any() or not b.any():
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = float(
                HausdorffDistanceMetric(percentile=95)(
                    torch.from_numpy(a[None, None]).float(), torch.from_numpy(b[None, None]).float()
                )[0, 0]
            )
        assert hausdorff(a, b, 95.0) == pytest.approx(ref, abs=1e-5)
        checked += 1
    assert checked >= 30

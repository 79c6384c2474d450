"""Edges of the benchmark's decisions that no other test reaches: the batched Dice's empty-mask conventions (the
training loop selects models on it), ties of the probability refiner (documented: ties go to the paper's action),
and the class subsets of a fold (Table 4 trains and tests on benign + malignant only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmark.evaluation.metrics import dice_batch, seg_scores
from benchmark.inference.refine import REFINERS

REPO = Path(__file__).resolve().parents[2]
CURATED = REPO / "manifests" / "curated_busi_v1"


def test_dice_batch_follows_the_conventions_of_seg_scores() -> None:
    rng = np.random.default_rng(3)
    pred = rng.random((6, 16, 16)) > 0.6
    gt = rng.random((6, 16, 16)) > 0.6
    pred[0] = gt[0] = False  # both empty: 1
    pred[1] = False  # prediction empty on a tumour: 0
    gt[2] = False  # tumour predicted on an empty mask: 0
    got = dice_batch(pred, gt)
    want = [seg_scores(p, g).dice for p, g in zip(pred, gt)]
    assert got == pytest.approx(want)
    assert (got[0], got[1], got[2]) == (1.0, 0.0, 0.0)


def test_probability_refiner_ties_go_to_the_papers_action() -> None:
    mask = np.zeros((8, 8), bool)
    mask[2:5, 2:5] = True
    # normal class at p = 0.5, tumour pixels at mean probability 0.5: a tie -> the mask is cleared (paper)
    res = REFINERS["probability"](mask, np.array([0.25, 0.25, 0.5]), np.where(mask, 0.5, 0.0))
    assert (res.action, res.cls, bool(res.mask.any())) == ("mask cleared", 2, False)
    # benign at 1 - p(normal) = 0.75, empty mask with peak 0.25 (1 - 0.25 = 0.75): a tie -> class normal (paper)
    seg = np.full((8, 8), 0.1)
    seg[3, 3] = 0.25
    res = REFINERS["probability"](np.zeros((8, 8), bool), np.array([0.5, 0.25, 0.25]), seg)
    assert (res.action, res.cls) == ("class -> normal", 2)


@pytest.fixture(scope="module")
def folds():  # type: ignore[no-untyped-def]
    from benchmark.data.samples import read_inputs

    return read_inputs(CURATED / "manifest.csv", CURATED / "folds.csv")[1]


@pytest.mark.parametrize("fold", [0, 3])
def test_the_benign_malignant_subset_is_the_fold_without_its_normal_images(folds, fold: int) -> None:  # type: ignore[no-untyped-def]
    from benchmark.data.samples import split_fold

    full, sub = split_fold(folds, fold, "all"), split_fold(folds, fold, "benign-malignant")
    for part in ("train", "val", "test"):
        whole, kept = getattr(full, part), getattr(sub, part)
        assert kept == [k for k in whole if k[0] != "normal"]
        assert len(kept) < len(whole)  # the fold has normal images to drop


def test_probability_refiner_draws_the_mask_at_half_the_peak() -> None:
    """A confident tumour class on an empty mask: the mask becomes the pixels at >= half the image's peak."""
    seg = np.full((8, 8), 0.1)
    seg[1:3, 1:3] = 0.4  # the peak
    seg[5:7, 5:7] = 0.25  # above half the peak (0.2), below 0.3
    res = REFINERS["probability"](np.zeros((8, 8), bool), np.array([0.9, 0.05, 0.05]), seg)
    assert (res.action, res.cls) == ("mask from low threshold", 0)
    assert res.mask.sum() == 8 and res.mask[5:7, 5:7].all() and res.mask[1:3, 1:3].all()


def test_overlap_scores_of_a_prediction_larger_than_the_truth() -> None:
    """tp 4, fp 12, fn 0: precision and recall differ, so each is tested for what it is."""
    pred = np.zeros((16, 16), bool)
    pred[4:8, 4:8] = True
    gt = np.zeros((16, 16), bool)
    gt[5:7, 5:7] = True
    s = seg_scores(pred, gt)
    assert (s.dice, s.jaccard, s.recall, s.precision) == pytest.approx((0.4, 0.25, 1.0, 0.25))
    s = seg_scores(gt, pred)  # roles swapped: recall and precision swap
    assert (s.recall, s.precision) == pytest.approx((0.25, 1.0))

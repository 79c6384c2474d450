"""Prediction-refining rules (section 3.1 item 3) and the probability-aware variant."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.inference.refine import REFINERS, event, incoherence

B, M, N = 0, 1, 2
EMPTY = np.zeros((8, 8), bool)
BLOB = np.zeros((8, 8), bool)
BLOB[2:4, 2:4] = True


def _probmap(mask: np.ndarray, inside: float, outside: float = 0.05) -> np.ndarray:
    return np.where(mask, inside, outside).astype(np.float32)


def test_registry_names() -> None:
    assert set(REFINERS) >= {"none", "paper", "probability"}


@pytest.mark.parametrize("rule", sorted(REFINERS))
def test_coherent_predictions_are_left_alone(rule: str) -> None:
    for mask, probs in ((BLOB, [0.7, 0.2, 0.1]), (EMPTY, [0.1, 0.1, 0.8])):
        res = REFINERS[rule](mask, np.array(probs), _probmap(mask, 0.9))
        assert res.action == "" and res.cls == int(np.argmax(probs)) and np.array_equal(res.mask, mask)


def test_paper_normal_class_clears_the_mask() -> None:
    res = REFINERS["paper"](BLOB, np.array([0.2, 0.1, 0.7]), _probmap(BLOB, 0.9))
    assert res.cls == N and not res.mask.any() and res.action == "mask cleared"
    assert res.disagreement == "normal class with tumour pixels"


def test_paper_empty_mask_makes_the_class_normal() -> None:
    res = REFINERS["paper"](EMPTY, np.array([0.6, 0.3, 0.1]), _probmap(EMPTY, 0.0))
    assert res.cls == N and not res.mask.any() and res.action == "class -> normal"


def test_none_keeps_incoherent_predictions() -> None:
    res = REFINERS["none"](BLOB, np.array([0.2, 0.1, 0.7]), _probmap(BLOB, 0.9))
    assert res.cls == N and res.mask.any() and res.action == ""


def test_probability_trusts_a_confident_segmentation() -> None:
    # classifier barely says normal (0.4), segmentation is sure (0.95 inside the mask)
    res = REFINERS["probability"](BLOB, np.array([0.35, 0.25, 0.4]), _probmap(BLOB, 0.95))
    assert res.cls == B and np.array_equal(res.mask, BLOB)


def test_probability_trusts_a_confident_classifier_on_an_empty_mask() -> None:
    seg = _probmap(BLOB, 0.45)  # below threshold: empty mask, but a clear peak
    res = REFINERS["probability"](EMPTY, np.array([0.05, 0.9, 0.05]), seg)
    assert res.cls == M and np.array_equal(res.mask, BLOB) and res.action == "mask from low threshold"


def test_probability_falls_back_to_the_paper_rule_when_the_classifier_is_more_sure() -> None:
    res = REFINERS["probability"](BLOB, np.array([0.05, 0.05, 0.9]), _probmap(BLOB, 0.6))
    assert res.cls == N and not res.mask.any()


def test_event_lists_id_disagreement_probabilities_and_pixels() -> None:
    probs = np.array([0.2, 0.1, 0.7])
    res = REFINERS["paper"](BLOB, probs, _probmap(BLOB, 0.9))
    ev = event("benign 7", BLOB, probs, res)
    assert ev is not None
    assert (ev.key, ev.cls_before, ev.cls_after, ev.tumour_pixels_before, ev.tumour_pixels_after) == (
        "benign 7",
        "normal",
        "normal",
        4,
        0,
    )
    assert "benign 7" in ev.message() and "0.700" in ev.message()
    assert (
        event(
            "x",
            EMPTY,
            np.array([0.1, 0.1, 0.8]),
            REFINERS["paper"](EMPTY, np.array([0.1, 0.1, 0.8]), EMPTY.astype(float)),
        )
        is None
    )


def test_incoherence() -> None:
    assert incoherence(BLOB, N) and incoherence(EMPTY, B) and not incoherence(BLOB, M) and not incoherence(EMPTY, N)

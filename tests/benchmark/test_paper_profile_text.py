"""The paper profile against the paper's own text (issue 25: switching its oversampling rule from round to ceil
changed no test).

Each setting the paper fixes is listed with the sentence that fixes it; the profile (and ``resolve_config``, which
a run uses) must hold it. Where the paper's text is at hand (``../shared/paper``, beside the real data), each
sentence is also checked to be in it, so the table cannot drift from the text.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from benchmark.profiles import PROFILES, resolve_config
from benchmark.training.oversampling import class_proportions, oversample_indices, replication_factors

REPO = Path(__file__).resolve().parents[2]
BUSI = Path(os.environ.get("BUSI_DIR", REPO.parent / "shared" / "data" / "BUSI"))
PAPER = BUSI.parent.parent / "paper" / "aumente-maestro-2025-multitask-busi.md"

#: setting -> (value, sentence of the paper that fixes it)
PAPER_SETTINGS: dict[str, tuple[object, str]] = {
    "epochs": (200, "The framework was trained during 200 epochs"),
    "lr": (1e-4, "using the Adam optimizer with an initial learning rate of 10"),
    "batch_size": (2, "and a batch size of 2"),
    "lambda_seg": (0.85, "setting it to 0.85 resulted in optimal performance"),
    "focal_gamma": (2.0, "is the focusing parameter set to 2"),
    "dice_eps": (1.0, "a constant to avoid zero divisions set to 1"),
    "oversample": (True, "the *deterministic oversampling* module"),
    "refine": ("paper", "the *prediction-refining* module corrects the predicted segmentation"),
    "task": ("mt", "multi-task"),
}

#: section 3.1: "benign 49.3%, malignant 36.4%, and normal 14.2%, the scaling factor for each class would be 2, 3,
#: and 7, respectively; resulting in the new class distribution: benign 32.2%, malignant 35.6%, and normal 32.2%"
EXAMPLE = {0: 0.493, 1: 0.364, 2: 0.142}
EXAMPLE_FACTORS = {0: 2, 1: 3, 2: 7}
EXAMPLE_RESULT = {0: 0.322, 1: 0.356, 2: 0.322}


@pytest.mark.parametrize("source", ["profile", "resolved"])
def test_the_paper_profile_holds_what_the_paper_says(source: str) -> None:
    cfg = PROFILES["paper"] if source == "profile" else resolve_config("paper")
    wrong = {k: (getattr(cfg, k), v) for k, (v, _) in PAPER_SETTINGS.items() if getattr(cfg, k) != v}
    assert not wrong, f"setting: (profile, paper) {wrong}"


@pytest.mark.parametrize("source", ["profile", "resolved"])
def test_the_paper_profile_reproduces_the_worked_oversampling_example(source: str) -> None:
    rule = (PROFILES["paper"] if source == "profile" else resolve_config("paper")).oversample_rule
    assert replication_factors(EXAMPLE, rule) == EXAMPLE_FACTORS
    total = sum(EXAMPLE[c] * f for c, f in EXAMPLE_FACTORS.items())
    for c, share in EXAMPLE_RESULT.items():
        assert EXAMPLE[c] * EXAMPLE_FACTORS[c] / total == pytest.approx(share, abs=2e-3)  # the paper rounds


def test_a_training_split_like_the_example_is_oversampled_2_3_7_by_the_paper_profile() -> None:
    import numpy as np

    labels = np.repeat([0, 1, 2], [493, 364, 142])
    order = oversample_indices(labels, PROFILES["paper"].oversample_rule)
    counts = np.bincount(labels[order])
    assert counts.tolist() == [493 * 2, 364 * 3, 142 * 7]
    assert class_proportions(labels) == pytest.approx({0: 0.4935, 1: 0.3644, 2: 0.1421}, abs=1e-3)


def test_the_sentences_are_in_the_paper() -> None:
    if not PAPER.is_file():
        pytest.skip(f"the paper's text is not at {PAPER}")
    text = " ".join(PAPER.read_text(encoding="utf-8").split())
    missing = [s for _, s in PAPER_SETTINGS.values() if s not in text]
    assert not missing
    assert "2, 3, and 7, respectively" in text and "benign 32.2%, malignant 35.6%, and normal 32.2%" in text

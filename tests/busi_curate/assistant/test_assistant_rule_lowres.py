"""Issue 20: the frame model's copy of a low-resolution square (the 64 px BreastMNIST-style derivative of BUSI).

Each case is a :class:`PairEvidence` written by hand from a pair measured in the 64 px cross audit (the derivative
image enlarged x4 to the working size): the five copies the rule left as questions (motion measured on interpolated
pixels, 2.4-3.6 px, or a coarse NCC of 0.994 on a frame squeezed 1:1.66), and the derivative images nearest to
another frame of their source's sweep (fine NCC up to 0.990), which must stay apart.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from busi_curate.assistant.rule import RuleSettings, decide, frame_copy, low_resolution_frame_copy
from busi_curate.assistant.verify import PairEvidence

S = RuleSettings()


def frame(inliers: int, ncc: float, coarse: float, contained: float, motion: float, overlap: float = 0.99,
          ratio: float = 0.2, scale: float = 0.13, aspect: float = 1.0) -> PairEvidence:  # fmt: skip
    """The frame model's evidence of a BUSI frame against a 64 px square of it (enlarged x4)."""
    return PairEvidence(300, inliers, scale, 0.0, 0.5, ratio, overlap, ncc, coarse, motion=motion,
                        contained=contained, model="frame", aspect=aspect, enlarged=4.0)  # fmt: skip


# benign 220 / derivative 0219 ... malignant 135 / derivative 0571 (64 px cross audit, each left as a question)
COPIES = {
    "benign 220": frame(75, 0.998, 0.995, 1.14, 2.64, ratio=0.23, aspect=0.65),
    "benign 271": frame(84, 0.998, 0.995, 1.11, 2.40, ratio=0.26, aspect=0.64),
    "benign 427": frame(18, 0.998, 0.995, 0.98, 2.46, overlap=0.97, ratio=0.06, aspect=0.49),
    "malignant 102": frame(36, 0.999, 0.994, 0.97, float("nan"), ratio=0.17, scale=11.1, aspect=1.66),
    "malignant 135": frame(49, 0.999, 0.995, 1.09, 3.59, overlap=1.01, ratio=0.17, aspect=0.61),
}
# derivative images against another frame of their source's sweep (the journal's adjacent-frame pairs), 64 px
NEIGHBOURS = {
    "benign 122 / derivative 0118 (benign 119)": frame(10, 0.990, 0.997, 0.93, float("nan"), ratio=0.08),
    "benign 119 / derivative 0121 (benign 122)": frame(3, 0.989, 0.997, 1.00, float("nan"), ratio=0.04),
    "benign 116 / derivative 0118 (benign 119)": frame(4, 0.978, 0.994, 0.95, float("nan"), ratio=0.03),
    "malignant 4 / derivative 0445 (malignant 9)": frame(3, 0.963, 0.987, 0.51, float("nan"), ratio=0.02),
}


@pytest.mark.parametrize("name", sorted(COPIES))
def test_a_low_resolution_square_of_a_frame_is_its_copy(name: str) -> None:
    ev = COPIES[name]
    assert low_resolution_frame_copy(ev, S) and frame_copy(ev, S)
    a = decide(ev, 0.85, settings=S)
    assert (a.verdict, a.grade) == ("same", "same-frame") and a.evidence.endswith("(the whole frame resized)")


@pytest.mark.parametrize("name", sorted(NEIGHBOURS))
def test_a_low_resolution_square_of_a_neighbouring_frame_is_not_a_copy(name: str) -> None:
    ev = NEIGHBOURS[name]
    assert not frame_copy(ev, S)
    assert decide(ev, 0.75, settings=S).grade not in ("same-frame", "identical")


def test_the_pixels_decide_at_low_resolution_and_motion_still_counts_above_it() -> None:
    """Motion is no evidence on an image enlarged beyond the guard (x4), but it still vetoes a copy at full
    resolution; and at low resolution the fine NCC, the coarse NCC and the containment each still decide."""
    ev = COPIES["benign 427"]
    assert not frame_copy(replace(ev, enlarged=1.0), S)  # full resolution: 2.46 px of motion is motion
    assert frame_copy(replace(ev, enlarged=1.0, motion=1.0), S)
    assert not frame_copy(replace(ev, ncc=0.994), S)  # the fine detail of a neighbouring frame (<= 0.990)
    assert not frame_copy(replace(ev, ncc_coarse=0.984), S)
    assert not frame_copy(replace(ev, contained=0.76), S)
    assert not frame_copy(replace(ev, contained=float("nan")), S)  # not measured: no evidence
    assert not frame_copy(replace(ev, overlap=0.79), S)
    assert not frame_copy(replace(ev, model="affine"), S)  # the frame model's way only

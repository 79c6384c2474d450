"""The decision rule: confident ``same`` (with a grade), confident ``different``, or ``uncertain``.

Evidence per pair (see :mod:`.verify`): ``inliers`` of a plausible upright scale+shift fit,
``inlier_ratio`` (inliers / keypoints in the registered overlap), the trimmed NCC of the registered
overlap at fine scale (``ncc``, speckle kept) and coarse scale (``ncc_coarse``, anatomy only), the
overlap fraction and the scan's SSIM.

Why these thresholds (measured on the synthetic planted pairs and on BUSI's walk candidates; see
``docs/assistant.md`` for the figures):

* two copies of one frame re-detect the same speckle corners, so nearly every keypoint of the
  overlap matches (BUSI: inlier ratio 0.7-1.0, ~300 inliers) and the overlap correlates almost
  perfectly (fine NCC >= 0.986) whatever calipers or text were added;
* a neighbouring frame of the same sweep shows the same anatomy but new speckle: a real fit on
  the anatomy (BUSI: 8-90 inliers, ratio <= 0.35), high coarse NCC (>= 0.9) and a fine NCC that
  can still reach 0.99 (so NCC alone does not separate the grades; the inlier ratio does);
* unrelated images give no plausible fit (< 8 inliers, all of them chance matches), or a chance
  fit whose registered tissue does not correlate (coarse NCC < 0.8; neighbouring frames >= 0.85).

Everything between these clusters is left to a person.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from busi_curate.assistant.verify import PairEvidence

VERDICTS = ("same", "different", "uncertain")


@dataclass(frozen=True)
class RuleSettings:
    """Thresholds of :func:`decide` (documented in the module docstring and docs/assistant.md)."""

    min_fit_inliers: int = 8  # fewer: no geometric fit (chance fits reach 7 on BUSI and synthetic)
    same_min_inliers: int = 20
    same_min_ratio: float = 0.5
    same_min_ncc: float = 0.95
    same_min_overlap: float = 0.2
    max_rotation_deg: float = 2.0
    adjacent_min_inliers: int = 10
    adjacent_max_ratio: float = 0.35
    adjacent_min_ncc: float = 0.9
    adjacent_min_ncc_coarse: float = 0.93
    adjacent_min_spread: float = 0.125
    fit_min_ncc_coarse: float = 0.8  # below: the fitted tissue does not correlate (chance fit, or overlays)
    weak_fit_ncc: float = 0.85  # chance-level inliers but an overlap this similar: ask
    no_fit_ssim: float = 0.5  # no fit at all but an SSIM this high: ask


@dataclass(frozen=True)
class Assessment:
    """What the assistant says about one pair.

    ``verdict`` is ``same``, ``different`` or ``uncertain``; ``grade`` is ``identical``,
    ``same-frame`` or ``adjacent-frame`` for ``same`` (else empty); ``evidence`` is a short
    human-readable summary; ``score`` in ``[0, 1]`` orders pairs by how alike they are
    (1 = identical pixels; ``inlier_ratio * ncc`` for a fit; 0 without a fit).
    """

    verdict: str
    grade: str
    evidence: str
    score: float


def _f(x: float, nd: int = 2) -> str:
    return "nan" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{nd}f}"


def evidence_text(ev: PairEvidence | None, ssim: float) -> str:
    """``ssim=0.93 inliers=57 ratio=0.62 scale=0.98 ncc=0.970/0.990 overlap=0.85`` (or ``... no fit``)."""
    head = f"ssim={_f(ssim)}"
    if ev is None:
        return f"{head} identical pixels"
    if ev.inliers == 0:
        return f"{head} matches={ev.matches} no fit"
    return (
        f"{head} inliers={ev.inliers} ratio={_f(ev.inlier_ratio)} scale={_f(ev.scale)} rot={_f(ev.rotation_deg, 1)} "
        f"ncc={_f(ev.ncc, 3)}/{_f(ev.ncc_coarse, 3)} overlap={_f(ev.overlap)}"
    )


def decide(
    ev: PairEvidence | None, ssim: float, identical: bool = False, settings: RuleSettings = RuleSettings()
) -> Assessment:
    """Apply the rule to one pair's evidence (``ev`` may be None for identical pixels)."""
    text = evidence_text(None if identical else ev, ssim)
    if identical:
        return Assessment("same", "identical", text, 1.0)
    assert ev is not None
    s = settings
    ssim_ok = not math.isnan(ssim)
    if ev.inliers < s.min_fit_inliers:
        weak_similar = ev.inliers > 0 and ev.ncc >= s.weak_fit_ncc
        if weak_similar or (ssim_ok and ssim >= s.no_fit_ssim):
            return Assessment("uncertain", "", text, 0.0)
        return Assessment("different", "", text, 0.0)
    score = float(max(0.0, min(1.0, ev.inlier_ratio * max(ev.ncc, 0.0))))
    upright = abs(ev.rotation_deg) <= s.max_rotation_deg
    if not ev.ncc_coarse >= s.fit_min_ncc_coarse:
        return Assessment("different", "", text + " (fitted tissue does not correlate)", score)
    if (
        upright
        and ev.inliers >= s.same_min_inliers
        and ev.inlier_ratio >= s.same_min_ratio
        and ev.ncc >= s.same_min_ncc
        and ev.overlap >= s.same_min_overlap
    ):
        return Assessment("same", "same-frame", text, score)
    if (
        upright
        and ev.inliers >= s.adjacent_min_inliers
        and ev.inlier_ratio <= s.adjacent_max_ratio
        and ev.ncc >= s.adjacent_min_ncc
        and ev.ncc_coarse >= s.adjacent_min_ncc_coarse
        and ev.spread >= s.adjacent_min_spread
    ):
        return Assessment("same", "adjacent-frame", text, score)
    return Assessment("uncertain", "", text, score)

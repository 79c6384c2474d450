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

from busi_curate.assistant.geometry import describe
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
    max_rotation_deg: float = 20.0  # documented bound for copies (descriptor variants at +-12, window +-8)
    adjacent_max_rotation_deg: float = 6.0  # probe tilt between frames of a sweep
    # copies whose keypoints changed more (strong contrast / histogram equalisation, small crops, padding): after the
    # intensity mapping the overlap is the same to the speckle (neighbouring BUSI frames reach fine NCC 0.990)
    intensity_min_ncc: float = 0.995
    # degraded copies (noise, speckle, JPEG): rigid, with the fine detail explained as the original's plus noise
    degraded_min_ncc: float = 0.82  # heavy speckle on a frame with little detail: fine NCC down to 0.83
    copy_max_motion: float = 1.7  # px (working image); see docs/assistant.md for the measured margins
    # copies >= 0.84; neighbouring frames: BUSI's sweep 0.08-0.96 (those >= 0.77 move >= 2.17 px), synthetic <= 0.72
    copy_min_contained: float = 0.77
    copy_min_ncc_coarse: float = 0.985
    adjacent_min_inliers: int = 9
    adjacent_max_ratio: float = 0.35
    adjacent_min_ncc: float = 0.82  # with evidence of movement (see moved()); chance fits measure coarse < 0.84
    adjacent_min_ncc_coarse: float = 0.87
    adjacent_min_spread: float = 0.125
    fit_min_ncc_coarse: float = 0.8  # below: the fitted tissue does not correlate (chance fit, or overlays)
    weak_fit_ncc: float = 0.85  # chance-level inliers but an overlap this similar: ask ...
    weak_fit_min_inliers: int = 6  # ... from this many inliers (4-5: the chance level of the rotation/mirror search)
    no_fit_ssim: float = 0.5  # no fit at all but an SSIM this high: ask
    # re-contrasted copies (CLAHE-like): the detail is the original's times a local gain, so it correlates beyond what
    # independent detail of those energies allows: containment well above 1 (CLAHE copies 1.36-3.3; BUSI's neighbouring
    # frames at most 0.96, synthetic ones 0.90, other copies 0.78-1.14); their block matches are not evidence of motion
    amplified_min_contained: float = 1.2
    amplified_min_ncc: float = 0.9
    # under the local photometric model (chosen because one intensity curve does not explain the pair) any gain: detail
    # correlating beyond what independent detail of those energies allows (> 1) is the original's, re-contrasted
    amplified_local_min_contained: float = 1.0
    # the degraded-copy evidence (containment of the speckle, motion below 1.7 px) needs the speckle resolved: not when
    # an image was enlarged more than this to the working size (long side < 171 px: a 128 px square keeps no speckle,
    # and two frames of a sweep then look like a blurred copy)
    degraded_max_enlarged: float = 1.5
    # no automatic adjacent-frame grade for detail correlating at or beyond independence (containment >= 1: the
    # original's detail, noisy or re-contrasted, not new speckle), whatever the motion or coarse NCC says: a question
    # (BUSI's adjacent-frame pairs measure at most 0.96; a CLAHE + crop copy 1.04 was graded adjacent-frame)
    new_detail_max_contained: float = 1.0
    # issue 20 (3): a fit that resampled one image (rescaled beyond this, stretched beyond adjacent_max_aspect, or
    # enlarged beyond degraded_max_enlarged) is a copy's geometry, not a probe's: frames of one sweep keep the depth
    # setting (BUSI's automatic adjacent-frame pairs: scale 0.97-1.04, aspect at most 1.006), and what is left after
    # such a fit (motion, lost detail) is as much the resampling's as the tissue's: no automatic adjacent-frame grade
    adjacent_max_scale: float = 1.15
    adjacent_max_aspect: float = 1.05  # not shear: BUSI's sweep normal 9 / 10 fits shear -0.07 (tissue compressed)
    # the block matching of a copy under heavy noise reads motion (speckle sd 0.49: 2.05 px at fine NCC 0.88,
    # containment 0.97): where the detail is mostly the original's (containment >= copy_min_contained) motion is
    # evidence only at a fine NCC of at least this (BUSI's such sweeps: fine NCC 0.967-0.987; a speckle copy, sd 0.31,
    # of bench-scale's 10,000 frames, seed 1: 2.10 px at fine NCC 0.953, containment 0.93, was graded adjacent-frame
    # under the bound 0.95 of before)
    motion_min_ncc: float = 0.96
    frame_min_overlap: float = 0.8  # the frame model (whole frame resized): a copy when nearly all of it registers
    # the frame model on an image enlarged beyond degraded_max_enlarged (a 28-64 px square): the motion is measured on
    # interpolated pixels (copies of BUSI frames resized to 64 px squares read 2.4-3.6 px) and is no evidence; the
    # pixels decide, and the coarse NCC of such a copy is measured at 0.987-0.995 (the squeeze of a 1:1.5-1:2 frame)
    lowres_min_ncc_coarse: float = 0.985


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


def transformations(ev: PairEvidence) -> list[str]:
    """What the fit and the overlap say was done to one image to make the other (for the evidence line)."""
    out = []
    if ev.mirrored:
        out.append("mirrored")
    if abs(ev.rotation_deg) > 1.0:
        out.append(f"rotated {ev.rotation_deg:+.1f} deg")
    if abs(ev.scale - 1) > 0.03:
        out.append(f"rescaled x{ev.scale:.2f}")
    if ev.model == "frame":
        out.append("whole frame resized")
    out.extend(describe(ev.aspect, ev.shear))
    if ev.photometric == "local":
        out.append("locally equalised")
    elif not math.isnan(ev.ncc_linear) and ev.ncc - ev.ncc_linear > 0.002:
        out.append("intensities changed")
    if not math.isnan(ev.contained) and ev.contained < 0.97 and ev.ncc < 0.995:
        out.append("noise or blur")
    if ev.enlarged >= 1.05:  # an image smaller than the working size (256 px long side) by more than rounding
        out.append(f"low resolution: enlarged x{ev.enlarged:.1f}")
    return out


def evidence_text(ev: PairEvidence | None, ssim: float) -> str:
    """``ssim=0.93 inliers=57 ratio=0.62 scale=0.98 rot=0.0 ncc=0.970/0.990 overlap=0.85 motion=0.00
    contained=0.98 [mirrored, ...]`` (or ``... no fit``)."""
    head = f"ssim={_f(ssim)}"
    if ev is None:
        return f"{head} identical pixels"
    if ev.inliers == 0:
        return f"{head} matches={ev.matches} no fit"
    text = (
        f"{head} inliers={ev.inliers} ratio={_f(ev.inlier_ratio)} scale={_f(ev.scale)} rot={_f(ev.rotation_deg, 1)} "
        f"ncc={_f(ev.ncc, 3)}/{_f(ev.ncc_coarse, 3)} overlap={_f(ev.overlap)} motion={_f(ev.motion)} "
        f"contained={_f(ev.contained)}"
    )
    named = transformations(ev)
    return text + (f" [{', '.join(named)}]" if named else "")


def amplified_detail(ev: PairEvidence, s: RuleSettings) -> bool:
    """The fine detail is the original's with a (local) gain, not new detail: containment well above 1 on correlating
    tissue, as in a copy whose contrast was equalised locally (CLAHE), whose block matches then move spuriously."""
    bound = s.amplified_local_min_contained if ev.photometric == "local" else s.amplified_min_contained
    return bool(ev.contained >= bound and ev.ncc >= s.amplified_min_ncc)


def rigid_copy(ev: PairEvidence, s: RuleSettings) -> bool:
    """Evidence of a copy of one frame, however degraded: the fine detail explained as the original's plus noise or
    minus blur (``contained``), and nothing moved against the rest (motion below the bound) or, where motion was
    not measured (flat tissue, or a fit with most keypoints re-detected), the anatomy identical (coarse NCC). Heavy
    noise lowers even the coarse NCC of a copy, so where motion was measured it is what decides. Or the detail
    amplified (:func:`amplified_detail`). Under the local photometric model the motion is no evidence either way."""
    if amplified_detail(ev, s):
        return True
    if ev.photometric == "local" or not ev.contained >= s.copy_min_contained:
        return False
    if math.isnan(ev.motion):
        return bool(ev.ncc_coarse >= s.copy_min_ncc_coarse)
    return bool(ev.motion < s.copy_max_motion)


def resampled(ev: PairEvidence, s: RuleSettings) -> bool:
    """The fit says one image was resampled, as a copy is and a probe's next frame is not: enlarged beyond the
    low-resolution guard, rescaled or stretched beyond a sweep's bounds."""
    if ev.enlarged > s.degraded_max_enlarged or not abs(math.log(ev.aspect)) <= math.log(s.adjacent_max_aspect):
        return True
    return not abs(math.log(ev.scale)) <= math.log(s.adjacent_max_scale)  # nan scale: no fit to speak of


def moved(ev: PairEvidence, s: RuleSettings) -> bool:
    """Positive evidence a copy cannot produce (issue 20, rule (3)): new fine detail (containment measured below the
    copies' bound) or tissue moved (motion measured, at or above the copies' bound). Never on a resampled fit
    (:func:`resampled`), with amplified detail or detail correlating at or beyond independence (containment >= 1:
    the original's, not new speckle); never on what was not measured (a lower coarse NCC alone is what heavy noise
    does to a copy); under the local photometric model (CLAHE-like changes move the tiles' intensity patterns and
    with them the block matches) only new fine detail counts. Such pairs are copies or questions."""
    if resampled(ev, s) or amplified_detail(ev, s) or ev.contained >= s.new_detail_max_contained:
        return False
    new_detail = bool(ev.contained < s.copy_min_contained)  # False when not measured (nan)
    if ev.photometric == "local":
        return new_detail
    if noisy_copy_detail(ev, s):
        return False  # the original's detail under heavy noise: the block matches move with the noise
    return new_detail or bool(ev.motion >= s.copy_max_motion)  # False when not measured (nan)


def noisy_copy_detail(ev: PairEvidence, s: RuleSettings) -> bool:
    """The fine detail is mostly the original's (containment >= 0.77) but heavily noised (fine NCC < 0.95): a
    copy under speckle noise, whose block matching reads the noise as motion."""
    return bool(ev.contained >= s.copy_min_contained and ev.ncc < s.motion_min_ncc)


def sweep_fit(ev: PairEvidence, s: RuleSettings) -> bool:
    """A real fit on the anatomy, as two frames of one sweep give: enough inliers spread over the frame but few of
    the keypoints (new speckle), correlating tissue, a small probe tilt, not mirrored."""
    return bool(
        abs(ev.rotation_deg) <= s.adjacent_max_rotation_deg
        and not ev.mirrored
        and ev.inliers >= s.adjacent_min_inliers
        and ev.inlier_ratio <= s.adjacent_max_ratio
        and ev.ncc >= s.adjacent_min_ncc
        and ev.ncc_coarse >= s.adjacent_min_ncc_coarse
        and ev.spread >= s.adjacent_min_spread
    )


def held_back(ev: PairEvidence, s: RuleSettings) -> str:
    """Why a sweep-like fit was not graded adjacent-frame (for the question's evidence line)."""
    if resampled(ev, s):
        return "resampled fit"
    if amplified_detail(ev, s) or ev.contained >= s.new_detail_max_contained:
        return "the detail is the original's"
    if noisy_copy_detail(ev, s) and not math.isnan(ev.motion):
        return "the original's detail under noise, motion not trusted"
    return "no measured motion or new detail"


def degraded_copy(ev: PairEvidence, s: RuleSettings) -> bool:
    """A copy degraded so much (heavy noise, JPEG) that few keypoints survive: a fit within the rotation bound on
    enough overlap, fine NCC above the adjacent-frame floor, and :func:`rigid_copy` evidence; below
    ``same_min_inliers`` the motion must have been measured (coarse NCC >= 0.9 on the refined fit)."""
    if not (abs(ev.rotation_deg) <= s.max_rotation_deg and ev.overlap >= s.same_min_overlap):
        return False
    if ev.enlarged > s.degraded_max_enlarged:
        return False  # no speckle left to tell a degraded copy from another frame of the sweep: a person decides
    if not (ev.ncc >= s.degraded_min_ncc and rigid_copy(ev, s)):
        return False
    amplified = amplified_detail(ev, s) and ev.inliers >= s.min_fit_inliers  # a fit; the pixels decide
    return ev.inliers >= s.same_min_inliers or not math.isnan(ev.motion) or amplified


def frame_copy(ev: PairEvidence, s: RuleSettings) -> bool:
    """The whole frame of one image resized onto the other's (the frame model, what the SSIM scan compares)
    registers nearly all tissue identically at the detail both images hold, and nothing moved: a copy resized to
    another frame (a square, say), however few keypoints survived the resizing. On a low-resolution image
    :func:`low_resolution_frame_copy` decides."""
    if not (ev.model == "frame" and ev.overlap >= s.frame_min_overlap):
        return False
    if ev.enlarged > s.degraded_max_enlarged:
        return low_resolution_frame_copy(ev, s)
    return bool(ev.ncc >= s.intensity_min_ncc and ev.ncc_coarse >= s.intensity_min_ncc and rigid_copy(ev, s))


def low_resolution_frame_copy(ev: PairEvidence, s: RuleSettings) -> bool:
    """The frame model's copy when one image was enlarged beyond the low-resolution guard (issue 20's 28-64 px
    squares): the block matching then measures "motion" on interpolated pixels of a frame squeezed 1.5-2x, which
    is no evidence either way (as for the adjacent-frame grade, :func:`resampled`), so the pixels decide alone:
    fine NCC >= 0.995 at the detail both images hold (the finest an enlarged image has), the anatomy correlating
    (coarse NCC >= ``lowres_min_ncc_coarse``) and the detail the original's (containment >= 0.77)."""
    return bool(
        ev.ncc >= s.intensity_min_ncc
        and ev.ncc_coarse >= s.lowres_min_ncc_coarse
        and ev.contained >= s.copy_min_contained
    )


def original_detail(ev: PairEvidence, s: RuleSettings) -> bool:
    """No fit to speak of, but the frame model (what the SSIM scan compares) registers nearly the whole frame with
    the anatomy correlating (coarse NCC at least a sweep's floor) and the fine detail mostly the original's
    (containment >= ``copy_min_contained``): positive evidence of one frame that a confident ``different`` must not
    overrule (a heavily speckled copy, multiplicative sd 0.37, keeps 2 keypoints and containment 0.86; unrelated
    pairs and neighbouring frames with new speckle measure at most 0.32 on the scale benchmark). A person decides."""
    return bool(
        ev.model == "frame"
        and ev.overlap >= s.frame_min_overlap
        and ev.ncc_coarse >= s.adjacent_min_ncc_coarse
        and ev.contained >= s.copy_min_contained
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
    score = float(max(0.0, min(1.0, ev.inlier_ratio * max(ev.ncc, 0.0))))
    degraded = Assessment("same", "same-frame", text + " (degraded copy: rigid, detail explained)", score)
    if frame_copy(ev, s):
        return Assessment("same", "same-frame", text + " (the whole frame resized)", max(score, ev.ncc * ev.overlap))
    if ev.inliers < s.min_fit_inliers:
        if ev.inliers >= s.weak_fit_min_inliers and degraded_copy(ev, s):
            # the keypoints are at chance level, but the pixels (refined fit, motion, containment) say copy
            return degraded
        # linear NCC here (as calibrated): the intensity mapping lifts chance registrations of unrelated images too
        linear = ev.ncc if math.isnan(ev.ncc_linear) else ev.ncc_linear
        weak_similar = ev.inliers >= s.weak_fit_min_inliers and linear >= s.weak_fit_ncc
        if weak_similar or (ssim_ok and ssim >= s.no_fit_ssim):
            return Assessment("uncertain", "", text, 0.0)
        if original_detail(ev, s):
            return Assessment("uncertain", "", f"{text} (no fit, but the detail is the original's)", 0.0)
        return Assessment("different", "", text, 0.0)
    if not ev.ncc_coarse >= s.fit_min_ncc_coarse:
        return Assessment("different", "", text + " (fitted tissue does not correlate)", score)
    rotation_ok = abs(ev.rotation_deg) <= s.max_rotation_deg
    if rotation_ok and ev.inliers >= s.same_min_inliers and ev.overlap >= s.same_min_overlap:
        if ev.inlier_ratio >= s.same_min_ratio and ev.ncc >= s.same_min_ncc:
            return Assessment("same", "same-frame", text, score)
        if ev.ncc >= s.intensity_min_ncc and ev.ncc_coarse >= s.intensity_min_ncc:
            return Assessment("same", "same-frame", text, score)
    if degraded_copy(ev, s):
        return degraded
    if not sweep_fit(ev, s):
        return Assessment("uncertain", "", text, score)
    if moved(ev, s):  # measured new detail or motion on an unresampled fit: what no copy shows
        return Assessment("same", "adjacent-frame", text, score)
    return Assessment("uncertain", "", f"{text} (no adjacent-frame grade: {held_back(ev, s)})", score)

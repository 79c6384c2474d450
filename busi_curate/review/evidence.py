"""The assistant's evidence for the page: the figures read from its evidence line, and the same in plain words.

``evidence_figures("inliers=179 scale=1.20 ncc=0.996 ...")`` gives the numbers (the page shows them on hover);
``plain_evidence`` turns them into words ("179 landmarks line up; rescaled ×1.20; the tissue matches exactly");
``confidence_of`` is what the gallery sorts on (borderline decisions first).
"""

from __future__ import annotations

import math
import re
from typing import Any

# ------------------------------------------------------------------ evidence in words
_EV_TOKEN = re.compile(r"([a-z_]+)=([^\s;,()]+)")
#: short keys of the assistant's evidence text -> the names of its figures
_EV_ALIASES = {"ratio": "inlier_ratio", "rot": "rotation_deg"}
#: figures of a structured evidence object (``PairEvidence``) read when present
_EV_FIELDS = (
    "matches",
    "inliers",
    "inlier_ratio",
    "scale",
    "rotation_deg",
    "spread",
    "overlap",
    "ncc",
    "ncc_coarse",
    "shift_x",
    "shift_y",
)


def _finite(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def evidence_figures(text: str, structured: Any = None) -> dict[str, float]:
    """The numbers behind an evidence line: ``key=value`` tokens of ``text`` (``ncc=fine/coarse`` split), overridden
    by the fields of ``structured`` (the assistant's ``PairEvidence``) where it has them. Non-finite values are left out.

    >>> evidence_figures("ssim=0.93 inliers=57 ratio=0.62 scale=0.98 rot=0.1 ncc=0.970/0.990 overlap=0.85")["ncc_coarse"]
    0.99
    """
    figs: dict[str, float] = {}
    for key, value in _EV_TOKEN.findall(text or ""):
        key = _EV_ALIASES.get(key, key)
        if key == "ncc" and "/" in value:
            fine, _, coarse = value.partition("/")
            for k, v in (("ncc", fine), ("ncc_coarse", coarse)):
                if (f := _finite(v)) is not None:
                    figs[k] = f
        elif (f := _finite(value)) is not None:
            figs[key] = f
    if structured is not None:
        for name in _EV_FIELDS:
            if (f := _finite(getattr(structured, name, None))) is not None:
                figs[name] = f
    return figs


#: the rule's limits the words are written against (``busi_curate.assistant.rule.RuleSettings``; the review stage
#: sits below the assistant and cannot import it: a test checks they agree)
COPY_MAX_MOTION = 1.7  # px: a copy's tissue moves less than this after the fit
COPY_MIN_CONTAINED = 0.77  # a copy's fine detail is the original's (plus noise or blur) at least this much
MIN_FIT_INLIERS = 8  # fewer landmarks lining up is chance level: no real fit

#: the assistant's notes in brackets, in words
_NOTES = {
    "degraded copy: rigid, detail explained": "a degraded copy (noise or compression): nothing moved",
    "fitted tissue does not correlate": "the lined-up tissue does not correlate: a chance fit",
}


def _tissue_words(figs: dict[str, float]) -> str | None:
    """How alike the overlapping tissue is, from the overlap correlation (fine, and smoothed)."""
    if "ncc" not in figs:
        return None
    ncc, coarse = figs["ncc"], figs.get("ncc_coarse", float("nan"))
    if ncc >= 0.99:
        return "the tissue matches exactly"
    if ncc >= 0.95:
        return "the tissue matches closely"
    if coarse >= 0.985:
        return "the same anatomy, the speckle differs"
    return "the tissue is similar" if ncc >= 0.85 else "the tissue differs"


def _geometry_words(figs: dict[str, float], seen: list[str]) -> list[str]:
    """Size, turn, mirror and crop of the fit, in words."""
    out = []
    scale = figs.get("scale")
    if scale is not None and abs(scale - 1) > 0.03:
        out.append(f"rescaled ×{scale:.2f}")
    rot = figs.get("rotation_deg", 0.0)
    if abs(rot) >= 1.0:
        out.append(f"turned {abs(rot):.0f}°")
    if "mirrored" in seen:
        out.append("mirrored")
    if not out and scale is not None:
        out.append("same size and orientation")
    overlap = figs.get("overlap")
    if overlap is not None:
        out.append(
            "the smaller image lies wholly inside the other"
            if overlap >= 0.95
            else f"{overlap:.0%} of the smaller image overlaps"
        )
    return out


def _change_words(figs: dict[str, float], seen: list[str]) -> list[str]:
    """What moved or changed between the two: motion, fine detail, intensities."""
    out = []
    motion = figs.get("motion")
    if motion is not None:
        out.append(
            "nothing moved"
            if motion < COPY_MAX_MOTION
            else f"tissue moved {motion:.1f} px, as between neighbouring frames"
        )
    contained = figs.get("contained")
    if contained is not None:
        out.append("fine detail as in a copy" if contained >= COPY_MIN_CONTAINED else "fine detail new, not a copy's")
    out += [s for s in seen if s in ("intensities changed", "noise or blur")]
    return out


def plain_evidence(text: str, figs: dict[str, float]) -> str:
    """The assistant's evidence in words a reader takes in at a glance, e.g. ``155 landmarks line up; rescaled
    ×1.20; the smaller image lies wholly inside the other; the tissue matches exactly; nothing moved``; ``""`` when
    there is none. The figures themselves go to the page's hover text (``evidence_figures``)."""
    text = text or ""
    if "identical pixels" in text:
        return "identical pixels"
    bracket = re.search(r"\[([^\]]+)\]", text)
    seen = [s.strip() for s in bracket.group(1).split(",")] if bracket else []
    parts: list[str] = []
    inliers = figs.get("inliers")
    if inliers:
        few = inliers < MIN_FIT_INLIERS
        parts.append(
            f"only {int(inliers)} landmarks line up (chance level)" if few else f"{int(inliers)} landmarks line up"
        )
        parts += _geometry_words(figs, seen)
        tissue = _tissue_words(figs)
        parts += [tissue] if tissue else []
        parts += _change_words(figs, seen)
    elif "no fit" in text or inliers == 0:
        parts.append("no landmarks line up: the two do not match")
    notes = [note for note in re.findall(r"\(([^()]+)\)", text) if "=" not in note]
    parts += [_NOTES.get(note, note) for note in notes]
    return "; ".join(parts)


def _score_from(figs: dict[str, float], text: str) -> float | None:
    """The assistant's score (see ``Assessment.score``) recomputed from recorded figures: 1 for identical pixels,
    ``inlier_ratio * ncc`` for a fit, 0 without one; None when the evidence says too little."""
    if "identical pixels" in (text or ""):
        return 1.0
    if "no fit" in (text or "") or figs.get("inliers") == 0:
        return 0.0
    if "inlier_ratio" in figs and "ncc" in figs:
        return max(0.0, min(1.0, figs["inlier_ratio"] * max(figs["ncc"], 0.0)))
    return None


def confidence_of(answer: str, score: float | None) -> float | None:
    """How sure an automatic decision is, in ``[0, 1]``: its score for ``same``, ``1 - score`` for ``different``."""
    if score is None:
        return None
    return round(score if answer == "same" else 1.0 - score, 4)

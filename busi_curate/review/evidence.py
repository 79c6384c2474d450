"""The assistant's evidence for the page: the figures read from its evidence line, and the same in plain words.

``evidence_figures("inliers=179 scale=1.20 ncc=0.996 ...")`` gives the numbers; ``plain_evidence`` turns
them into "179 matching points, scale 1.20, overlap correlation 0.996"; ``confidence_of`` is what the
gallery sorts and filters on.
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


def plain_evidence(text: str, figs: dict[str, float]) -> str:
    """The assistant's evidence in words, e.g. ``179 matching points (62% of the keypoints they share), scale 1.20,
    overlap 85% of the smaller image, overlap correlation 0.996``; ``""`` when there is none."""
    text = text or ""
    if "identical pixels" in text:
        return "identical pixels"
    parts: list[str] = []
    inliers = figs.get("inliers")
    if inliers:
        ratio = figs.get("inlier_ratio")
        parts.append(
            f"{int(inliers)} matching points" + (f" ({ratio:.0%} of the keypoints they share)" if ratio else "")
        )
        if "scale" in figs:
            parts.append(f"scale {figs['scale']:.2f}")
        if abs(figs.get("rotation_deg", 0.0)) >= 0.05:
            parts.append(f"rotation {figs['rotation_deg']:.1f}°")
        if "overlap" in figs:
            parts.append(f"overlap {figs['overlap']:.0%} of the smaller image")
        if "ncc" in figs:
            parts.append(
                f"overlap correlation {figs['ncc']:.3f}"
                + (f" ({figs['ncc_coarse']:.3f} smoothed)" if "ncc_coarse" in figs else "")
            )
        if "motion" in figs:
            parts.append(f"tissue moved {figs['motion']:.1f} px after the fit")
        if "contained" in figs:
            parts.append(f"fine detail {figs['contained']:.0%} of what a copy keeps")
    elif "no fit" in text or inliers == 0:
        m = figs.get("matches")
        parts.append("no geometric fit" + (f" ({int(m)} descriptor matches, none consistent)" if m else ""))
    seen = re.search(r"\[([^\]]+)\]", text)
    if seen:  # what the assistant says was done to one image to make the other
        parts.append("seen: " + seen.group(1).replace(" deg", "°"))
    parts += [note for note in re.findall(r"\(([^()]+)\)", text) if "=" not in note]
    return ", ".join(parts)


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

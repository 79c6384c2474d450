"""Stage: prediction refining (PR, paper section 3.1 item 3) -- make mask and class agree.

Rules (registry :data:`REFINERS`):

* ``none``: no refining (the "without PR" ablation rows).
* ``paper``: predicted class normal -> the mask is cleared; empty mask with a tumour class -> the
  class becomes normal.
* ``probability`` (beyond the paper): on a disagreement, trust the more confident branch.
  Classification confidence is ``p(normal)`` when it says normal and ``1 - p(normal)`` when it says
  tumour. Segmentation confidence is the mean tumour probability inside the predicted mask when
  the mask is non-empty, and ``1 - max pixel probability`` when it is empty. The more confident
  branch wins (ties go to the paper's action): normal class + tumour pixels -> mask cleared
  (classifier wins) or class := the more probable tumour class (segmentation wins); tumour class +
  empty mask -> class := normal (segmentation wins) or mask := pixels whose probability is at
  least half the image's maximum (classifier wins).

Every changed case is reported as a :class:`RefineEvent` (the CLI lists them as warnings).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from benchmark.profiles import Refine
from busi_curate.data.dataset import CLASSES

NORMAL = CLASSES.index("normal")
TUMOUR = tuple(i for i in range(len(CLASSES)) if i != NORMAL)


@dataclass(frozen=True)
class RefineResult:
    """Refined prediction of one image.

    Attributes:
        mask: ``(H, W) bool`` refined mask.
        cls: refined class index.
        action: ``""`` when nothing changed, else what was done (``mask cleared``, ``class -> normal``,
            ``class -> benign``, ``mask from low threshold``).
        disagreement: ``""`` or which incoherence was found (``normal class with tumour pixels``,
            ``tumour class with empty mask``).
    """

    mask: np.ndarray
    cls: int
    action: str = ""
    disagreement: str = ""


@dataclass(frozen=True)
class RefineEvent:
    """One corrected case, as written to ``refine_warnings.csv``."""

    key: str
    disagreement: str
    action: str
    cls_before: str
    cls_after: str
    p_benign: float
    p_malignant: float
    p_normal: float
    tumour_pixels_before: int
    tumour_pixels_after: int

    def message(self) -> str:
        """One human line."""
        return (
            f"{self.key}: {self.disagreement}; {self.action} (class {self.cls_before} -> {self.cls_after}, "
            f"p benign/malignant/normal = {self.p_benign:.3f}/{self.p_malignant:.3f}/{self.p_normal:.3f}, "
            f"tumour pixels {self.tumour_pixels_before} -> {self.tumour_pixels_after})"
        )


def incoherence(mask: np.ndarray, cls: int) -> str:
    """Which disagreement a (mask, class) pair shows, or ``""`` when coherent."""
    if cls == NORMAL and mask.any():
        return "normal class with tumour pixels"
    if cls != NORMAL and not mask.any():
        return "tumour class with empty mask"
    return ""


def refine_none(mask: np.ndarray, probs: np.ndarray, seg_prob: np.ndarray) -> RefineResult:
    """Leave the prediction as it is (reports nothing)."""
    return RefineResult(mask, int(np.argmax(probs)))


def refine_paper(mask: np.ndarray, probs: np.ndarray, seg_prob: np.ndarray) -> RefineResult:
    """The paper's two rules: normal class clears the mask; empty mask makes the class normal."""
    cls = int(np.argmax(probs))
    why = incoherence(mask, cls)
    if not why:
        return RefineResult(mask, cls)
    if cls == NORMAL:
        return RefineResult(np.zeros_like(mask), cls, "mask cleared", why)
    return RefineResult(mask, NORMAL, "class -> normal", why)


def refine_probability(mask: np.ndarray, probs: np.ndarray, seg_prob: np.ndarray) -> RefineResult:
    """Resolve a disagreement in favour of the more confident branch (see the module docstring)."""
    cls = int(np.argmax(probs))
    why = incoherence(mask, cls)
    if not why:
        return RefineResult(mask, cls)
    if cls == NORMAL:  # classifier: normal; segmentation: tumour pixels
        conf_cls = float(probs[NORMAL])
        conf_seg = float(seg_prob[mask].mean())
        if conf_cls >= conf_seg:
            return RefineResult(np.zeros_like(mask), cls, "mask cleared", why)
        tumour = max(TUMOUR, key=lambda c: probs[c])
        return RefineResult(mask, tumour, f"class -> {CLASSES[tumour]}", why)
    conf_cls = 1.0 - float(probs[NORMAL])  # classifier: tumour; segmentation: empty
    conf_seg = 1.0 - float(seg_prob.max(initial=0.0))
    peak = float(seg_prob.max(initial=0.0))
    if conf_seg >= conf_cls or peak <= 0.0:
        return RefineResult(mask, NORMAL, "class -> normal", why)
    return RefineResult(seg_prob >= 0.5 * peak, cls, "mask from low threshold", why)


#: Rule name -> function ``(mask (H, W) bool, class probabilities (C,), tumour probability (H, W)) -> RefineResult``.
REFINERS: dict[Refine, Callable[[np.ndarray, np.ndarray, np.ndarray], RefineResult]] = {
    "none": refine_none,
    "paper": refine_paper,
    "probability": refine_probability,
}


def event(key: str, before_mask: np.ndarray, probs: np.ndarray, res: RefineResult) -> RefineEvent | None:
    """The warning record of a refined case, or None when ``res`` changed nothing."""
    if not res.action:
        return None
    return RefineEvent(
        key=key,
        disagreement=res.disagreement,
        action=res.action,
        cls_before=CLASSES[int(np.argmax(probs))],
        cls_after=CLASSES[res.cls],
        p_benign=float(probs[0]),
        p_malignant=float(probs[1]),
        p_normal=float(probs[2]),
        tumour_pixels_before=int(before_mask.sum()),
        tumour_pixels_after=int(res.mask.sum()),
    )

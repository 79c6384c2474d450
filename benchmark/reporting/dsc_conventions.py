"""Stage: report -- the two DSC conventions, and the share of predicted-empty masks, from one per-image CSV.

* ``dsc_avg`` (in ``metrics.json``): the paper's convention, every test image, a normal image whose
  predicted and true masks are both empty scoring 1;
* ``dsc_lesion``: the nnU-Net / MONAI convention, only the images whose ground-truth mask (at the network
  resolution, ``tumour_pixels_gt > 0``) has a lesion;
* ``pred_empty``: the share of test images whose predicted mask is empty (``tumour_pixels == 0``).

Each is computed per fold from ``per_image.csv`` of the scoring of a table row (before or after
prediction refining), so a table shows them beside every DSC without a new training.
"""

from __future__ import annotations

from typing import Any

import numpy as np

DERIVED_KEYS = ("dsc_lesion", "pred_empty")
NOTE = (
    "- DSC Average: every test image, normal images with both masks empty scoring 1 (the paper's convention); "
    "DSC lesion-only: only images whose ground truth has a lesion (nnU-Net / MONAI); Pred. empty: share of "
    "predicted-empty masks; all three from the same per_image.csv"
)


def derived_fold_values(run: Any, scoring: str, key: str) -> list[float | None]:
    """``key`` of :data:`DERIVED_KEYS` for each fold of ``run`` (None where the fold has no masks)."""
    df = run.per_image
    p = "before_" if scoring == "before" else ""
    out: list[float | None] = []
    for f in run.folds:
        sub = df[df["fold"] == f["fold"]] if len(df) else df
        if sub.empty or f"{p}dice" not in sub or "tumour_pixels_gt" not in sub:
            out.append(None)
            continue
        if key == "dsc_lesion":
            lesion = sub[sub["tumour_pixels_gt"] > 0]
            out.append(float(lesion[f"{p}dice"].mean()) if len(lesion) else None)
        elif key == "pred_empty":
            pix = sub[f"{p}tumour_pixels"] if f"{p}tumour_pixels" in sub else None
            out.append(float(np.mean(pix == 0)) if pix is not None else None)
        else:
            raise KeyError(key)
    return out


def predicted_empty_count(entries: Any) -> int:
    """How many predicted masks before refining are empty, over every fold of ``entries``' runs."""
    n = 0
    for e in entries:
        df = e.run.per_image
        col = "before_tumour_pixels" if "before_tumour_pixels" in df else "tumour_pixels"
        if col in df:
            n += int((df[col] == 0).sum())
    return n

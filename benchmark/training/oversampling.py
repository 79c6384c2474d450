"""Stage: deterministic oversampling (DO, paper section 3.1): replicate whole classes, never random draws.

The paper states ``RF_c = ceil(1 / P_c)`` but its worked example (benign 49.3 %, malignant 36.4 %,
normal 14.2 % -> factors 2, 3, 7; new distribution 32.2 / 35.6 / 32.2 %) is what rounding to the
nearest integer gives: ``ceil`` gives 3, 3, 8 (40.0 / 29.6 / 30.7 %). Both rules are registered;
``round`` is the default because it reproduces the example and its resulting distribution.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

#: Rule name -> function of the class proportion P_c returning the replication factor (>= 1).
RULES: dict[str, Callable[[float], int]] = {
    "round": lambda p: max(1, int(math.floor(1.0 / p + 0.5))),
    "ceil": lambda p: max(1, math.ceil(1.0 / p - 1e-12)),
}


def replication_factors(proportions: dict[int, float], rule: str = "round") -> dict[int, int]:
    """``{class: P_c}`` -> ``{class: RF_c}``; classes with ``P_c == 0`` get factor 1."""
    fn = RULES[rule]
    return {c: (fn(p) if p > 0 else 1) for c, p in proportions.items()}


def class_proportions(labels: np.ndarray) -> dict[int, float]:
    """``(N,) int`` labels -> ``{class: fraction}`` over the classes present."""
    values, counts = np.unique(np.asarray(labels), return_counts=True)
    return {int(v): float(c) / float(len(labels)) for v, c in zip(values, counts)}


def oversample_indices(labels: np.ndarray, rule: str = "round") -> np.ndarray:
    """Indices of the oversampled training list: every image of class c repeated ``RF_c`` times.

    Args:
        labels: ``(N,) int`` class of each training image.
        rule: key of :data:`RULES`.

    Returns:
        ``(M,) int64`` indices into ``labels``, in the original order, each image's copies adjacent
        (the epoch shuffle mixes them).
    """
    labels = np.asarray(labels)
    rf = replication_factors(class_proportions(labels), rule)
    return np.repeat(np.arange(len(labels), dtype=np.int64), [rf[int(c)] for c in labels])

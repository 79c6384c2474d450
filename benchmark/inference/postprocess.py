"""Stage: inference -- from probabilities to what a run scores: threshold -> fill holes -> refine, written once.

A :class:`Postprocess` is built from a run's config (:meth:`Postprocess.of`) and used by evaluation
(``busi-bench run``, ``rescore``), ``combine``, ``busi-bench predict`` and the report's figures, so a mask
is the same mask wherever it is drawn or scored (before issue 23 four copies differed: ``combine`` and the
figures skipped ``fill_holes``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from benchmark.inference.refine import REFINERS, RefineEvent, event, incoherence
from benchmark.profiles import REFINED_TASKS, REFINES, Refine, RunConfig, look_up_option


@dataclass
class Outputs:
    """Post-processed predictions of ``N`` images (``None`` where the network has no such output).

    Attributes:
        raw_masks: ``(N, S, S) bool`` thresholded (holes filled) masks, before refining.
        masks: ``(N, S, S) bool`` masks after refining.
        raw_classes, classes: ``(N,)`` argmax classes before and after refining.
        why: the incoherence found before refining per image (``""`` if none).
        events: the refined (changed) cases.
    """

    raw_masks: np.ndarray | None
    masks: np.ndarray | None
    raw_classes: np.ndarray | None
    classes: np.ndarray | None
    why: list[str]
    events: list[RefineEvent] = field(default_factory=list)


@dataclass(frozen=True)
class Postprocess:
    """Threshold the tumour probability, optionally fill holes, then apply refining rule ``rule``.

    Attributes:
        threshold: tumour probability at or above which a pixel is tumour.
        fill_holes: fill each mask's holes (``scipy.ndimage.binary_fill_holes``, the authors' ST inference);
            the filled pixels are lifted to ``threshold`` so that refining sees the filled mask.
        rule: key of :data:`benchmark.inference.refine.REFINERS` (``none``: no prediction refining).
    """

    threshold: float = 0.5
    fill_holes: bool = False
    rule: Refine = "none"

    def __post_init__(self) -> None:
        look_up_option("refine", self.rule, REFINES)

    @classmethod
    def of(cls, cfg: RunConfig | Mapping[str, Any], rule: str | None = None) -> Postprocess:
        """The post-processing a run scored with, from its config (a :class:`RunConfig` or a saved ``config``
        dict); ``rule`` overrides the config's. Refining applies to the tasks of ``REFINED_TASKS`` only.

        Raises:
            ConfigError: an unknown rule.
        """
        c = cfg.to_dict() if isinstance(cfg, RunConfig) else dict(cfg)
        if rule is None:
            rule = c.get("refine", "none") if c.get("task") in REFINED_TASKS else "none"
        rule = look_up_option("refine", rule, REFINES)
        return cls(float(c.get("threshold", 0.5)), bool(c.get("fill_holes", False)), cast(Refine, rule))

    def threshold_masks(self, seg_prob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(N, S, S) bool`` masks and the probabilities refining reads (filled pixels lifted to ``threshold``)."""
        masks = seg_prob >= self.threshold
        if self.fill_holes and len(masks):
            from scipy.ndimage import binary_fill_holes

            masks = np.stack([binary_fill_holes(m) for m in masks])
            seg_prob = np.where(masks & (seg_prob < self.threshold), np.float32(self.threshold), seg_prob)
        return masks, seg_prob

    def __call__(
        self, keys: list[tuple[str, str]], seg_prob: np.ndarray | None, cls_prob: np.ndarray | None
    ) -> Outputs:
        """Post-process ``N`` images: ``seg_prob (N, S, S)`` in [0, 1], ``cls_prob (N, C)``; ``keys`` name them
        in the refining events. Refining needs both outputs; with one, the thresholded masks or argmax stand."""
        raw_masks = None
        if seg_prob is not None:
            raw_masks, seg_prob = self.threshold_masks(seg_prob)
        raw_classes = cls_prob.argmax(1) if cls_prob is not None else None
        if seg_prob is None or cls_prob is None or raw_masks is None:
            return Outputs(raw_masks, raw_masks, raw_classes, raw_classes, [""] * len(keys))
        fn = REFINERS[self.rule]
        masks, classes, why, events = [], [], [], []
        for key, raw, sp, cp in zip(keys, raw_masks, seg_prob, cls_prob):
            why.append(incoherence(raw, int(np.argmax(cp))))
            res = fn(raw, cp, sp)
            masks.append(res.mask)
            classes.append(res.cls)
            ev = event(f"{key[0]} {key[1]}", raw, cp, res)
            if ev is not None:
                events.append(ev)
        out_masks = np.stack(masks) if masks else raw_masks
        return Outputs(raw_masks, out_masks, raw_classes, np.array(classes, np.int64), why, events)

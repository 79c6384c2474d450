"""Findings, compute: everything the report shows, from a scan and a decisions journal, as plain data."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from busi_curate.findings import group_tables as gt
from busi_curate.findings import masks
from busi_curate.findings import ssim_stats as ss
from busi_curate.review.groups import Group, build_groups, merged_grades
from busi_curate.review.journal import Decision, effective

if TYPE_CHECKING:
    from busi_curate.scan.run import ScanResult

IOU_MEASURES = ("iou", "iou_resized", "iou_registered")


@dataclass
class Findings:
    """Everything the report shows, computed from a scan and a journal."""

    groups: list[Group]
    groups_table: pd.DataFrame
    conflicts: pd.DataFrame
    iou: pd.DataFrame
    iou_summary: pd.DataFrame
    samples: ss.SSIMSamples
    ssim: ss.SSIMStatistics
    distribution: pd.DataFrame
    counts: dict[str, int]
    journal: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def journal_summary(decisions: Sequence[Decision]) -> dict[str, Any]:
    """Counts of the journal: lines, standing decisions by answer and grade, who decided."""
    standing = effective(decisions)
    answers = Counter(d.answer for d in standing.values())
    grades = Counter(d.grade for d in standing.values() if d.answer == "same")
    by = Counter("auto" if d.decided_by == "auto" else "person" for d in standing.values())
    return {
        "lines": len(decisions),
        "standing": len(standing),
        "same": answers["same"],
        "different": answers["different"],
        "skip": answers["skip"],
        "grades": {g: grades[g] for g in ("identical", "same-frame", "adjacent-frame")},
        "decided_by": {"auto": by["auto"], "person": by["person"]},
    }


def _notes(
    decisions: Sequence[Decision],
    groups: Sequence[Group],
    js: dict[str, Any],
    include_adjacent: bool,
    samples: ss.SSIMSamples,
) -> list[str]:
    """Plain-words notes on what the reader might not expect (no decisions, unmerged pairs, missing SSIM)."""
    notes = []
    if not decisions:
        notes.append(
            "The decisions journal holds no decisions: no duplicate groups, so every image is kept. "
            "Review the scan first (`busi-curate review SCAN_DIR`)."
        )
    elif not groups:
        notes.append("No standing 'same' decision with a merged grade: no duplicate groups.")
    if not include_adjacent and js["grades"]["adjacent-frame"]:
        notes.append(
            f"{js['grades']['adjacent-frame']} pair(s) graded adjacent-frame are not merged into groups "
            "(they count as non-duplicates); --include-adjacent merges them."
        )
    if samples.duplicate_missing:
        notes.append(
            f"{samples.duplicate_missing} duplicate pair(s) have no SSIM in this pruned scan and are left "
            "out of the SSIM statistics."
        )
    return notes


def compute_findings(
    scan: ScanResult,
    decisions: Sequence[Decision],
    *,
    include_adjacent: bool = False,
    iou_size: int = masks.DEFAULT_IOU_SIZE,
    register: bool = True,
    percentile: float = ss.DEFAULT_PERCENTILE,
    load: masks.ImageLoader | None = None,
    progress: bool = False,
) -> Findings:
    """Groups, conflicts, mask IoU, SSIM statistics and class distributions of ``scan`` under ``decisions``."""
    groups = build_groups(decisions, grades=merged_grades(include_adjacent))
    if load is None:
        load = masks.scan_loader(scan)
    iou = masks.mask_iou_table(groups, load, size=iou_size, register=register, progress=progress)
    samples = ss.ssim_samples(scan, groups)
    js = journal_summary(decisions)
    return Findings(
        groups=groups,
        groups_table=gt.groups_table(groups, scan.index),
        conflicts=gt.class_conflicts_table(groups),
        iou=iou,
        iou_summary=masks.iou_summary(iou, columns=IOU_MEASURES[: 3 if register else 1]),
        samples=samples,
        ssim=ss.ssim_statistics(samples, percentile),
        distribution=gt.class_distribution(scan.index, groups),
        counts=gt.group_counts(groups),
        journal=js,
        notes=_notes(decisions, groups, js, include_adjacent, samples),
    )

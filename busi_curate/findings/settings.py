"""Findings, settings: every option of a report (saved in ``report.json``)."""

from __future__ import annotations

from dataclasses import dataclass

from busi_curate.findings.figures import DEFAULT_DPI
from busi_curate.findings.masks import DEFAULT_IOU_SIZE
from busi_curate.findings.ssim_stats import DEFAULT_PERCENTILE

DEFAULT_THUMB_HEIGHT = 80


@dataclass(frozen=True)
class ReportSettings:
    """Every option of a report; saved in ``report.json``.

    ``gallery`` draws a thumbnail strip of every group (``thumb_height`` px high); ``figure_dpi`` is the
    resolution of the PNG of each figure (an SVG is written beside it).
    """

    include_adjacent: bool = False
    threshold_percentile: float = DEFAULT_PERCENTILE
    iou_size: int = DEFAULT_IOU_SIZE
    register: bool = True
    gallery: bool = True
    thumb_height: int = DEFAULT_THUMB_HEIGHT
    figure_dpi: int = DEFAULT_DPI
    verify_images: bool = True

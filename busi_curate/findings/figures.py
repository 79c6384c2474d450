"""Findings, figures: Fig. 5 (SSIM histograms) as 300 dpi PNG and SVG, and the thumbnail strip of each group.

Matplotlib (Agg, no pyplot) and Pillow load only inside these functions. Outputs carry no timestamp or
software tag, and the SVG's ids come from a fixed salt, so the bytes are stable with the same library
versions.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from busi_curate.findings.masks import ImageLoader
from busi_curate.findings.ssim_stats import SSIMSamples, SSIMStatistics
from busi_curate.review.groups import Group

CLASS_COLOURS = {"benign": "#1b9e77", "malignant": "#d95f02", "normal": "#7570b3"}
DUP_COLOUR, NON_COLOUR = "#2ca02c", "#ff7f0e"  # the paper's Fig. 5: duplicates green, others orange
OUTLINE = (255, 238, 0)  # mask outline on thumbnails (yellow)
DEFAULT_DPI = 300


@dataclass(frozen=True)
class FigureFiles:
    """One figure in the formats a paper takes: PNG bytes (at ``dpi``) and SVG text."""

    png: bytes
    svg: str
    dpi: int


def _figure(**kwargs: Any) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def save_figure(fig: Any, dpi: int = DEFAULT_DPI) -> FigureFiles:
    """Render ``fig`` to PNG at ``dpi`` and to SVG (text as paths), both without dates or tool tags."""
    import matplotlib

    png, svg = io.BytesIO(), io.StringIO()
    fig.savefig(png, format="png", dpi=dpi, metadata={"Software": None})
    with matplotlib.rc_context({"svg.hashsalt": "busi-curate", "svg.fonttype": "path"}):
        fig.savefig(svg, format="svg", metadata={"Date": None, "Creator": None})
    return FigureFiles(png.getvalue(), svg.getvalue(), dpi)


def ssim_hist_figure(samples: SSIMSamples, s: SSIMStatistics) -> Any:
    """Fig. 5: normalised histograms of duplicate and non-duplicate SSIM, percentile ranges shaded."""
    fig = _figure(figsize=(7.5, 4.2))
    ax = fig.add_subplot(1, 1, 1)
    has_any = len(samples.duplicate) or len(samples.non_duplicate)
    both = np.concatenate([samples.duplicate, samples.non_duplicate]) if has_any else np.zeros(1)
    lo = min(0.0, float(np.floor(both.min() * 20) / 20))
    bins = np.linspace(lo, 1.0, int(round((1.0 - lo) * 100)) + 1)
    pct = f"{s.percentile:g}%"
    for x, stats_, colour, name in (
        (samples.non_duplicate, s.non_duplicate, NON_COLOUR, "non-duplicate"),
        (samples.duplicate, s.duplicate, DUP_COLOUR, "duplicate"),
    ):
        if len(x) == 0:
            continue
        ax.hist(x, bins=bins, density=True, alpha=0.55, color=colour, label=f"{name} pairs (n={len(x):,})")
        span = f"{name}: {pct} range [{stats_.range_low:.3f}, {stats_.range_high:.3f}]"
        ax.axvspan(stats_.range_low, stats_.range_high, color=colour, alpha=0.12, lw=0, label=span)
    if not math.isnan(s.threshold):
        ax.axvline(s.threshold, color="k", ls="--", lw=1, label=f"suggested threshold {s.threshold:.3f}")
    ax.set_xlim(lo, 1.0)
    ax.set_xlabel("SSIM")
    ax.set_ylabel("density (normalised)")
    ax.set_title("SSIM of duplicate vs non-duplicate pairs")
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    return fig


def plot_ssim_hist(samples: SSIMSamples, s: SSIMStatistics, dpi: int = DEFAULT_DPI) -> FigureFiles:
    """Fig. 5 as PNG (``dpi``) and SVG."""
    return save_figure(ssim_hist_figure(samples, s), dpi)


def thumbnail(gray: np.ndarray, mask: np.ndarray, height: int) -> np.ndarray:
    """``(H, W) uint8`` image and ``(H, W) bool`` mask -> ``(height, w, 3) uint8`` RGB thumbnail with the
    mask's outline drawn in yellow (``w`` keeps the aspect ratio; never enlarged beyond the original)."""
    from PIL import Image
    from scipy import ndimage

    h, w = gray.shape
    th = min(height, h)
    size = (max(1, round(w * th / h)), th)
    g = np.asarray(Image.fromarray(gray).resize(size, Image.Resampling.BOX))
    m = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize(size, Image.Resampling.BOX)) >= 128
    rgb = np.repeat(g[:, :, None], 3, axis=2)
    rgb[m & ~ndimage.binary_erosion(m, border_value=0)] = OUTLINE
    return rgb


def _hex_rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def group_strip(group: Group, load: ImageLoader, height: int, gap: int = 4, bar: int = 4) -> bytes:
    """The members of ``group`` side by side as thumbnails of ``height`` px, each over a bar in its class
    colour (:data:`CLASS_COLOURS`), as a 256-colour PNG (octree palette, no dithering: small, deterministic)."""
    from PIL import Image

    thumbs = [thumbnail(*load(key), height) for key in group.members]
    width = sum(t.shape[1] for t in thumbs) + gap * (len(thumbs) - 1)
    sheet = np.full((height + bar, width, 3), 255, np.uint8)
    x = 0
    for key, t in zip(group.members, thumbs):
        sheet[: t.shape[0], x : x + t.shape[1]] = t
        sheet[height:, x : x + t.shape[1]] = _hex_rgb(CLASS_COLOURS.get(key[0], "#000000"))
        x += t.shape[1] + gap
    img = Image.fromarray(sheet).quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=True)
    return out.getvalue()

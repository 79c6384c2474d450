"""The review page's pictures: an image downscaled for display and its mask drawn as an outline (PNG bytes)."""

from __future__ import annotations

import io
import math
from typing import Any, cast

import numpy as np

from busi_curate.review.evidence import _finite


def registration_of(m: Any, identical: bool) -> dict[str, Any] | None:
    """An affine ``m = (a, b, c, d, e, f)`` (``x_c = a x_r + c y_r + e, y_c = b x_r + d y_r + f``, canvas order) as
    the page draws it: the matrix with its scale, rotation and shift; None when ``m`` is missing, not six finite
    numbers, or singular. ``identical``: the pair's pixels are identical (names the source)."""
    vals = [_finite(v) for v in m] if m is not None and len(m) == 6 else None
    if vals is None or any(v is None for v in vals):
        return None
    a, b, cc, d, e, f = cast(list[float], vals)
    det = a * d - b * cc
    if det == 0:
        return None
    return {
        "matrix": [round(v, 6) for v in (a, b, cc, d, e, f)],
        "scale": round(math.sqrt(abs(det)), 4),
        "rotation_deg": round(math.degrees(math.atan2(b, a)), 2),
        "shift": [round(e, 2), round(f, 2)],
        "mirrored": det < 0,
        "source": "identical pixels" if identical else "assistant's fit",
    }


def outline_rgba(mask: np.ndarray, size: tuple[int, int], scale: float) -> np.ndarray:
    """The outline (2 px, yellow) of a ``(H, W)`` bool mask as ``(h, w, 4)`` uint8 RGBA; the mask is first
    box-downscaled to ``size = (w, h)`` when ``scale < 1``."""
    from PIL import Image

    small = mask
    if scale < 1:
        small = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize(size, Image.Resampling.BOX)) >= 128
    inner = small.copy()
    inner[1:, :] &= small[:-1, :]
    inner[:-1, :] &= small[1:, :]
    inner[:, 1:] &= small[:, :-1]
    inner[:, :-1] &= small[:, 1:]
    edge = small & ~inner
    thick = edge.copy()
    thick[1:, :] |= edge[:-1, :]
    thick[:, 1:] |= edge[:, :-1]
    rgba = np.zeros((*small.shape, 4), dtype=np.uint8)
    rgba[thick] = (255, 214, 0, 255)
    return rgba


def png_bytes(im: Any) -> bytes:
    """A PIL image encoded as PNG."""
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()

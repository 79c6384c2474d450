"""The registered comparison of one pair, for :mod:`.verify`: B resampled into A's frame by a fit (any
:mod:`.geometry` model) and compared on the pixels both show as tissue, at the same blur; the fit refined on the
pixels where few keypoints carried it.

Measured (:class:`Overlap`): the overlap, the NCC after a global monotone intensity mapping (fine and coarse
scale) and without it, the NCC of within-tile ranks (invariant to locally varying monotone mappings: CLAHE,
adaptive equalisation, vignetting), the detail containment and the tissue motion (see docs/assistant.md).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from busi_curate.assistant.features import ImageFeatures
from busi_curate.assistant.measures import (
    detail_containment,
    intensity_slope,
    local_rank_ncc,
    match_intensities,
    nonrigid_motion,
    tile_shifts,
    trimmed_ncc,
)

if TYPE_CHECKING:
    from busi_curate.assistant.verify import VerifySettings


def _smoothed(f: ImageFeatures, sigma: float) -> np.ndarray:
    from scipy import ndimage

    return ndimage.gaussian_filter(f.small.astype(np.float32), sigma, truncate=2.5)


def _mirror(f: ImageFeatures, v: int) -> ImageFeatures:
    """Image ``f`` seen in a mirror (x flipped), described by its descriptor variant ``v`` (a mirrored pattern)."""
    w = f.small.shape[1]
    xy = f.xy.copy()
    xy[:, 0] = (w - 1) - xy[:, 0]
    return ImageFeatures(
        np.ascontiguousarray(f.small[:, ::-1]),
        np.ascontiguousarray(f.valid[:, ::-1]),
        xy,
        f.level,
        f.variant(v),
        f.scale,
    )


def _thumbnail(f: ImageFeatures, size: int) -> np.ndarray:
    """The whole working image resized to ``size x size`` (aspect ignored, as the SSIM scan does), zero-mean unit-norm."""
    from PIL import Image

    t = np.asarray(Image.fromarray(f.small).resize((size, size), Image.Resampling.BOX), dtype=np.float64).ravel()
    t = t - t.mean()
    return t / max(float(np.linalg.norm(t)), 1e-9)


class VerifyCache:
    """Per-image intermediate results reused across pairs (``functools.lru_cache``, the ``size`` most recent):
    smoothed working images, mirrored views and square thumbnails. Keyed by the features' identity
    (:class:`ImageFeatures` hashes by identity), so use it with features that outlive it, as
    :class:`busi_curate.assistant.Assistant` does. Thread-safe (``lru_cache`` is)."""

    def __init__(self, size: int = 256) -> None:
        self.smoothed = functools.lru_cache(maxsize=size)(_smoothed)
        self.mirrored = functools.lru_cache(maxsize=size)(_mirror)
        self.thumbnail = functools.lru_cache(maxsize=4 * size)(_thumbnail)


def _q(sigma: float) -> float:
    """Smoothing scale quantised to 1/4 px, so the per-image cache is reused."""
    return round(sigma * 4) / 4


def same_blur(
    fa: ImageFeatures, fb: ImageFeatures, scale: float, sigma: float, cache: VerifyCache
) -> tuple[np.ndarray, np.ndarray]:
    """A and B smoothed to the same blur when B's pixels are ``scale`` times A's (``sqrt |det L|`` of the fit):
    ``sigma`` times the coarsest of the two images' detail, in A's pixels (a working image enlarged from a small
    original, e.g. a 64 px square, holds detail only down to its enlargement factor), the finer one smoothed more."""
    t = sigma * max(1.0, 1.0 / scale, max(fa.scale, 1.0), max(fb.scale, 1.0) / scale)
    return cache.smoothed(fa, _q(t)), cache.smoothed(fb, _q(t * scale))


def _scale(m: np.ndarray) -> float:
    return float(np.sqrt(abs(np.linalg.det(m[:, :2]))))


class Overlap(NamedTuple):
    """What :func:`registered_overlap` measures (``ncc_local*``: NaN unless asked for)."""

    overlap: float
    ncc: float
    ncc_coarse: float
    ncc_linear: float
    motion: float
    contained: float
    ncc_local: float = float("nan")
    ncc_local_coarse: float = float("nan")
    photometric: str = "global"  # local: the within-tile ranks correlate better than any one intensity curve allows


def refine_fit(
    fa: ImageFeatures, fb: ImageFeatures, m: np.ndarray, settings: VerifySettings, cache: VerifyCache, stride: int = 2
) -> np.ndarray:
    """The fit ``m`` refined on the pixels: composed with the similarity in A's frame (about its centre) within
    ``settings.refine_px`` px of shift and ``settings.refine_frac`` of scale and rotation that maximises the
    correlation of the two images' fine detail (band-pass ``fine_sigma`` minus ``coarse_sigma``, as
    :func:`.measures.detail_containment` sees it), by bounded Powell search (``scipy.optimize.minimize``). A fit on
    the few keypoints that survive heavy noise is off by up to a pixel or two at the corners, enough to decorrelate
    fine detail; two frames of a sweep have no alignment at which new speckle correlates, so refining cannot make
    them look alike."""
    from scipy import ndimage, optimize

    s = _scale(m)
    h, w = fa.small.shape
    yy, xx = np.mgrid[0:h:stride, 0:w:stride]
    keep = fa.valid[::stride, ::stride]
    pa = np.stack([xx[keep], yy[keep]], axis=1).astype(np.float64)
    (fine_a, fine_b), (coarse_a, coarse_b) = (
        same_blur(fa, fb, s, g, cache) for g in (settings.fine_sigma, settings.coarse_sigma)
    )
    da = (fine_a - coarse_a)[::stride, ::stride][keep].astype(np.float64)
    db_img = fine_b - coarse_b
    hb, wb = fb.small.shape
    centre = np.array([w / 2, h / 2])
    radius = max(h, w) / 2  # scale and rotation are searched in px of displacement at this distance from the centre

    def transform(p: np.ndarray) -> np.ndarray:
        k = (1 + p[2] / radius) * np.exp(1j * p[3] / radius)
        corr = np.array([[k.real, -k.imag], [k.imag, k.real]])
        lin = m[:, :2] @ corr
        t = m[:, :2] @ centre + m[:, 2] + p[:2] - lin @ centre
        return np.concatenate([lin, t[:, None]], axis=1)

    def cost(p: np.ndarray) -> float:
        mm = transform(p)
        pb = pa @ mm[:, :2].T + mm[:, 2]
        ok = (pb[:, 0] >= 0) & (pb[:, 0] <= wb - 1) & (pb[:, 1] >= 0) & (pb[:, 1] <= hb - 1)
        if ok.sum() < 200:
            return 0.0
        u = da[ok] - da[ok].mean()
        v = ndimage.map_coordinates(db_img, [pb[ok, 1], pb[ok, 0]], order=1)
        v = v - v.mean()
        den = float(np.sqrt((u * u).sum() * (v * v).sum()))
        return -float((u * v).sum()) / den if den > 0 else 0.0

    r, f = settings.refine_px, settings.refine_frac * radius
    start = np.zeros(4)
    bounds = [(-r, r), (-r, r), (-f, f), (-f, f)]
    res = optimize.minimize(cost, start, method="Powell", bounds=bounds, options={"xtol": 0.02, "ftol": 1e-4})
    return transform(res.x if res.fun < cost(start) else start)


def _local_groups(xx: np.ndarray, yy: np.ndarray, shape: tuple[int, int], tiles: int) -> np.ndarray:
    h, w = shape
    return (np.minimum(yy * tiles // h, tiles - 1) * tiles + np.minimum(xx * tiles // w, tiles - 1)).astype(np.int64)


def _local_standard(img: np.ndarray, sigma: float) -> np.ndarray:
    """``img`` less its local mean, over its local standard deviation (Gaussian window ``sigma``): what a locally
    varying increasing intensity change (CLAHE) leaves, to first order."""
    from scipy import ndimage

    f = img.astype(np.float64)
    mean = ndimage.gaussian_filter(f, sigma)
    var = ndimage.gaussian_filter(f * f, sigma) - mean * mean
    return (f - mean) / np.sqrt(np.maximum(var, 1e-6))


def _motion(
    fa: ImageFeatures, fb: ImageFeatures, s: float, xb: np.ndarray, yb: np.ndarray, both: np.ndarray,
    photometric: str, settings: VerifySettings, cache: VerifyCache,
) -> float:  # fmt: skip
    """:func:`.measures.nonrigid_motion` of the coarse images registered by ``(xb, yb)`` (B's coordinates of A's
    pixels), intensities mapped globally, or (``photometric`` local) each image standardised locally."""
    from scipy import ndimage

    ca, cb_img = same_blur(fa, fb, s, settings.motion_sigma, cache)
    cb = np.zeros_like(ca)
    warped = ndimage.map_coordinates(cb_img, np.stack([yb[both], xb[both]]), order=1)
    if photometric == "local":
        window = max(ca.shape) / (4)
        cb[both] = warped
        ca, cb = _local_standard(ca, window), _local_standard(cb, window)
    else:
        cb[both] = match_intensities(ca[both], warped)
    return nonrigid_motion(tile_shifts(ca, cb, both, tiles=settings.motion_tiles))[0]


class _Grid(NamedTuple):
    """A's pixels mapped into B by a fit: B's coordinates of every A pixel (``xb``, ``yb``), where both show tissue
    (``both_full``; ``both`` on the ``stride`` grid), the overlap fraction, and the grid samples' B coordinates and
    local-tile groups."""

    xb: np.ndarray
    yb: np.ndarray
    both_full: np.ndarray
    both: np.ndarray
    overlap: float
    coords: np.ndarray
    groups: np.ndarray


def _grid(fa: ImageFeatures, fb: ImageFeatures, m: np.ndarray, s: float, stride: int, tiles: int) -> _Grid:
    """:class:`_Grid` of B resampled into A's frame by ``p_b = m [p_a, 1]`` (``s``: the fit's scale)."""
    h, w = fa.small.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    xb = (m[0, 0] * xx + m[0, 1] * yy + m[0, 2]).astype(np.float32)
    yb = (m[1, 0] * xx + m[1, 1] * yy + m[1, 2]).astype(np.float32)
    hb, wb = fb.small.shape
    inside = (xb >= 0) & (xb <= wb - 1) & (yb >= 0) & (yb <= hb - 1)
    vb = np.zeros_like(inside)
    vb[inside] = fb.valid[np.rint(yb[inside]).astype(np.intp), np.rint(xb[inside]).astype(np.intp)]
    both_full = inside & vb & fa.valid
    both = both_full[::stride, ::stride]
    smaller = min(fa.valid.sum(), fb.valid.sum() / max(s * s, 1e-9)) / (stride * stride)
    coords = np.stack([yb[::stride, ::stride][both], xb[::stride, ::stride][both]])
    groups = _local_groups(xx[::stride, ::stride][both], yy[::stride, ::stride][both], (h, w), tiles)
    return _Grid(xb, yb, both_full, both, float(both.sum() / max(smaller, 1)), coords, groups)


def _compare(
    fa: ImageFeatures, fb: ImageFeatures, s: float, g: _Grid, stride: int, local: bool, settings: VerifySettings,
    cache: VerifyCache,
) -> tuple[list[float], list[float], float, float]:  # fmt: skip
    """NCC after the global mapping and (``local``) of within-tile ranks, at fine and coarse scale; the fine NCC
    without the mapping; the detail containment. Returns ``(global, local, linear, contained)``."""
    from scipy import ndimage

    out, loc = [], []
    linear = float("nan")
    samples = []
    for sigma in (settings.fine_sigma, settings.coarse_sigma):
        sa_img, sb_img = same_blur(fa, fb, s, sigma, cache)
        sa = sa_img[::stride, ::stride][g.both]
        sb = ndimage.map_coordinates(sb_img, g.coords, order=1, mode="nearest")
        if len(sa) < 50:
            out.append(float("nan"))
            loc.append(float("nan"))
            continue
        if sigma == settings.fine_sigma:
            linear = trimmed_ncc(sa, sb, settings.trim)
        samples.append((sa.astype(np.float64), sb.astype(np.float64)))
        out.append(trimmed_ncc(sa, match_intensities(sa, sb), settings.trim))
        loc.append(local_rank_ncc(sa, sb, g.groups, settings.trim) if local else float("nan"))
    contained = float("nan")
    if len(samples) == 2:
        (fine_a, fine_b), (coarse_a, coarse_b) = samples
        slope = intensity_slope(coarse_b, coarse_a)
        contained = detail_containment(fine_a - coarse_a, slope * (fine_b - coarse_b))
    return out, loc, linear, contained


def registered_overlap(
    fa: ImageFeatures,
    fb: ImageFeatures,
    m: np.ndarray,
    settings: VerifySettings,
    cache: VerifyCache | None = None,
    stride: int = 2,
    motion: bool = True,
    local: bool = False,
) -> Overlap:
    """:class:`Overlap` of B resampled into A's frame by ``p_b = m [p_a, 1]``.

    Both images are compared at the same blur (:func:`same_blur`), on a ``stride``-spaced grid of A; with ``local``
    also by the NCC of within-tile ranks (``settings.local_tiles`` squared tiles of A's frame); the motion (with
    ``motion``, where the anatomy matches) is measured on the full-resolution coarse images
    (:func:`.measures.tile_shifts`, :func:`.measures.nonrigid_motion`).
    """
    cache = cache or VerifyCache()
    s = _scale(m)
    g = _grid(fa, fb, m, s, stride, settings.local_tiles)
    out, loc, linear, contained = _compare(fa, fb, s, g, stride, local, settings, cache)
    photometric = "global"
    if local and not np.isnan(loc + out).any() and np.mean(loc) >= np.mean(out) + settings.local_min_gain:
        photometric = "local"  # intensities changed differently from place to place (CLAHE, adaptive equalisation)
    moved = float("nan")
    coarse = loc[1] if photometric == "local" else out[1]
    floor = settings.motion_min_ncc_coarse_local if photometric == "local" else settings.motion_min_ncc_coarse
    if motion and g.both_full.sum() >= 400 and not coarse < floor:
        moved = _motion(fa, fb, s, g.xb, g.yb, g.both_full, photometric, settings, cache)
    return Overlap(g.overlap, out[0], out[1], linear, moved, contained, loc[0], loc[1], photometric)

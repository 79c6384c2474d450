"""Geometric verification of one pair of images: descriptor matches, a robust scale+shift fit, and a
comparison of the registered overlap.

Steps, all in the working images of :mod:`.features` (long side 256 px):

1. mutual nearest neighbours between the two descriptor sets (Hamming distance <= ``max_hamming``);
2. RANSAC over 2-match hypotheses of an upright similarity ``p_b = s * p_a + t`` (scale in
   ``[min_scale, max_scale]``, direction of the match vectors within ``max_rotation_deg``), refined by
   least squares on the inliers; a full similarity fitted to the inliers gives the residual rotation;
3. the second image is resampled into the first one's frame (pre-smoothed by the scale, so both have
   the same blur), and the normalised cross-correlation (NCC) of the two is computed on the pixels
   both show as tissue (border band and near-white overlay marks excluded), after trimming the 5%
   worst-fitting pixels (calipers, arrows and other annotations that differ between copies).
   ``ncc`` is measured at fine scale (speckle kept: a copy of the same frame keeps the same
   speckle, a neighbouring frame of a sweep does not) and ``ncc_coarse`` after heavier smoothing
   (anatomy only).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

import numpy as np

from busi_curate.assistant.features import ImageFeatures


@dataclass(frozen=True)
class VerifySettings:
    """Parameters of :func:`verify_pair`; saved in the evidence of the benchmark."""

    max_hamming: int = 64  # of 256 bits
    min_scale: float = 0.5
    max_scale: float = 2.0
    max_rotation_deg: float = 4.0
    residual_px: float = 2.5  # inlier threshold, working-image pixels
    hypotheses: int = 200  # RANSAC samples
    trim: float = 0.05  # fraction of worst pixels dropped from the NCC
    fine_sigma: float = 0.8
    coarse_sigma: float = 3.0
    grid: int = 4  # inlier spread is measured on a grid x grid partition of image A


@dataclass(frozen=True)
class PairEvidence:
    """Measurements of one pair. ``inliers == 0`` means no plausible geometric fit."""

    matches: int
    inliers: int
    scale: float  # size of B / size of A, in original pixels
    rotation_deg: float
    spread: float  # fraction of grid cells of A holding an inlier
    inlier_ratio: float  # inliers / keypoints of the registered overlap (the fewer of A's and B's)
    overlap: float  # registered overlap / area of the smaller image, tissue only
    ncc: float  # trimmed NCC of the overlap, fine scale (nan without fit)
    ncc_coarse: float  # trimmed NCC of the overlap, coarse scale (nan without fit)
    # the fit in original pixels of A and B: p_b = scale * p_a + (shift_x, shift_y) (nan without fit);
    # the review page draws B registered onto A with it
    shift_x: float = float("nan")
    shift_y: float = float("nan")


def _popcount_kernel():  # type: ignore[no-untyped-def]
    import numba

    @numba.njit(cache=True, nogil=True)
    def popcount64(x):  # type: ignore[no-untyped-def]
        x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
        x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
        x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
        return (x * np.uint64(0x0101010101010101)) >> np.uint64(56)

    @numba.njit(cache=True, nogil=True)
    def mutual(da, db, max_d):  # type: ignore[no-untyped-def]
        na, nb = da.shape[0], db.shape[0]
        best_a = np.full(na, 1 << 20, np.int64)
        arg_a = np.full(na, -1, np.int64)
        best_b = np.full(nb, 1 << 20, np.int64)
        arg_b = np.full(nb, -1, np.int64)
        for i in range(na):
            for j in range(nb):
                d = 0
                for w in range(da.shape[1]):
                    d += popcount64(da[i, w] ^ db[j, w])
                if d < best_a[i]:
                    best_a[i] = d
                    arg_a[i] = j
                if d < best_b[j]:
                    best_b[j] = d
                    arg_b[j] = i
        out_i = np.empty(na, np.int64)
        out_j = np.empty(na, np.int64)
        k = 0
        for i in range(na):
            j = arg_a[i]
            if j >= 0 and arg_b[j] == i and best_a[i] <= max_d:
                out_i[k] = i
                out_j[k] = j
                k += 1
        return out_i[:k], out_j[:k]

    return popcount64, mutual


_KERNELS: dict[str, object] = {}


def kernels():  # type: ignore[no-untyped-def]
    """The numba kernels (compiled once per process, cached on disk by numba)."""
    if not _KERNELS:
        pc, mu = _popcount_kernel()
        _KERNELS.update(popcount=pc, mutual=mu)
    return _KERNELS


def mutual_matches(da: np.ndarray, db: np.ndarray, max_hamming: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(i, j)`` of mutual nearest neighbours between ``(na, 4) uint64`` and ``(nb, 4) uint64``."""
    if len(da) == 0 or len(db) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return kernels()["mutual"](da, db, max_hamming)  # type: ignore[operator]


def _fit_ls(pa: np.ndarray, pb: np.ndarray) -> tuple[float, np.ndarray]:
    """Least-squares upright scale + shift ``pb = s pa + t``."""
    ca, cb = pa.mean(0), pb.mean(0)
    a, b = pa - ca, pb - cb
    s = float((a * b).sum() / max((a * a).sum(), 1e-9))
    return s, cb - s * ca


def ransac_scale_shift(
    pa: np.ndarray, pb: np.ndarray, settings: VerifySettings, seed: int = 0
) -> tuple[float, np.ndarray, np.ndarray]:
    """Best ``(s, t, inlier mask)`` for ``pb = s pa + t``; ``s = 0`` when no hypothesis is plausible.

    Hypotheses come from pairs of matches (all pairs when few, else ``settings.hypotheses`` random ones,
    drawn with ``seed`` so the result is deterministic) and are scored all at once.
    """
    m = len(pa)
    none = (0.0, np.zeros(2), np.zeros(m, bool))
    if m < 3:
        return none
    if m * (m - 1) // 2 <= settings.hypotheses:
        i, j = np.triu_indices(m, 1)
    else:
        rng = np.random.default_rng(seed)
        i = rng.integers(0, m, settings.hypotheses)
        j = (i + 1 + rng.integers(0, m - 1, settings.hypotheses)) % m
    da, db = pa[j] - pa[i], pb[j] - pb[i]
    na, nb = np.hypot(*da.T), np.hypot(*db.T)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = nb / na
        cosang = (da * db).sum(1) / (na * nb)
    ok = (na > 8) & (s >= settings.min_scale) & (s <= settings.max_scale)
    ok &= cosang >= np.cos(np.deg2rad(settings.max_rotation_deg * 2))
    if not ok.any():
        return none
    s, i = s[ok], i[ok]
    t = pb[i] - s[:, None] * pa[i]  # (h, 2)
    res = np.hypot(*(pb[None] - (s[:, None, None] * pa[None] + t[:, None])).transpose(2, 0, 1))  # (h, m)
    count = (res < settings.residual_px).sum(1)
    best = int(np.argmax(count))
    inl = res[best] < settings.residual_px
    s_best, t_best = float(s[best]), t[best]
    for _ in range(2):  # least-squares refinement on the inliers, kept while it does not lose inliers
        if inl.sum() < 3:
            break
        sb, tb = _fit_ls(pa[inl], pb[inl])
        if not settings.min_scale <= sb <= settings.max_scale:
            break
        new = np.hypot(*(pb - (sb * pa + tb)).T) < settings.residual_px
        if new.sum() < inl.sum():
            break
        inl, s_best, t_best = new, sb, tb
    return s_best, np.asarray(t_best, float), inl


def similarity_rotation(pa: np.ndarray, pb: np.ndarray) -> float:
    """Rotation (degrees) of the least-squares similarity mapping ``pa`` to ``pb``."""
    za = (pa[:, 0] - pa[:, 0].mean()) + 1j * (pa[:, 1] - pa[:, 1].mean())
    zb = (pb[:, 0] - pb[:, 0].mean()) + 1j * (pb[:, 1] - pb[:, 1].mean())
    return float(np.degrees(np.angle((np.conj(za) * zb).sum())))


def _trimmed_ncc(x: np.ndarray, y: np.ndarray, trim: float) -> float:
    """NCC of paired samples after dropping the ``trim`` fraction with the largest residual of a linear fit."""
    if len(x) < 50:
        return float("nan")
    x = x - x.mean()
    y = y - y.mean()
    vx = float((x * x).sum())
    if vx <= 1e-9 or float((y * y).sum()) <= 1e-9:
        return 0.0
    beta = float((x * y).sum()) / vx
    r = np.abs(y - beta * x)
    keep = r <= np.quantile(r, 1 - trim)
    x, y = x[keep] - x[keep].mean(), y[keep] - y[keep].mean()
    den = float(np.sqrt((x * x).sum() * (y * y).sum()))
    return float((x * y).sum() / den) if den > 0 else 0.0


class SmoothCache:
    """Smoothed float32 copies of working images, computed on first use; the ``size`` most recent are kept.

    Keyed by object identity: use it only with features that outlive it (as :class:`Assistant` does).
    Safe to share between threads: a race computes an entry twice, never a wrong one.
    """

    def __init__(self, size: int = 256) -> None:
        from collections import OrderedDict

        self.size = size
        self._d: OrderedDict[tuple[int, float], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, f: ImageFeatures, sigma: float) -> np.ndarray:
        from scipy import ndimage

        key = (id(f), round(sigma, 3))
        with self._lock:
            out = self._d.get(key)
            if out is not None:
                self._d.move_to_end(key)
                return out
        out = ndimage.gaussian_filter(f.small.astype(np.float32), sigma, truncate=2.5)
        with self._lock:
            self._d[key] = out
            while len(self._d) > self.size:
                self._d.popitem(last=False)
        return out


def registered_overlap(
    fa: ImageFeatures,
    fb: ImageFeatures,
    s: float,
    t: np.ndarray,
    settings: VerifySettings,
    smooth: SmoothCache | None = None,
    stride: int = 2,
) -> tuple[float, float, float]:
    """``(overlap, ncc, ncc_coarse)`` of B resampled into A's frame by ``p_b = s p_a + t``.

    Both images are compared at the same blur (B is smoothed ``s`` times more, in its own pixels),
    on a ``stride``-spaced grid of A.
    """
    from scipy import ndimage

    smooth = smooth or SmoothCache()
    h, w = fa.small.shape
    yy, xx = np.mgrid[0:h:stride, 0:w:stride].astype(np.float32)
    xb, yb = s * xx + t[0], s * yy + t[1]
    hb, wb = fb.small.shape
    inside = (xb >= 0) & (xb <= wb - 1) & (yb >= 0) & (yb <= hb - 1)
    vb = np.zeros_like(inside)
    vb[inside] = fb.valid[np.rint(yb[inside]).astype(np.intp), np.rint(xb[inside]).astype(np.intp)]
    both = inside & vb & fa.valid[::stride, ::stride]
    smaller = min(fa.valid.sum(), fb.valid.sum() / max(s * s, 1e-9)) / (stride * stride)
    overlap = float(both.sum() / max(smaller, 1))
    coords = np.stack([yb[both], xb[both]])
    out = [overlap]
    for sigma in (settings.fine_sigma, settings.coarse_sigma):
        sa = smooth.get(fa, sigma)[::stride, ::stride][both]
        sb = smooth.get(fb, round(sigma * max(s, 1.0) * 4) / 4)  # quantised so the cache is reused
        out.append(_trimmed_ncc(sa, ndimage.map_coordinates(sb, coords, order=1, mode="nearest"), settings.trim))
    return out[0], out[1], out[2]


def verify_pair(
    fa: ImageFeatures,
    fb: ImageFeatures,
    settings: VerifySettings = VerifySettings(),
    seed: int = 0,
    smooth: SmoothCache | None = None,
) -> PairEvidence:
    """Match, fit and compare images A and B (see the module docstring)."""
    i, j = mutual_matches(fa.desc, fb.desc, settings.max_hamming)
    pa, pb = fa.xy[i].astype(np.float64), fb.xy[j].astype(np.float64)
    # the plausible scale range is in original pixels; working images were resized by fa.scale, fb.scale
    ratio = fb.scale / fa.scale
    fit = replace(settings, min_scale=settings.min_scale * ratio, max_scale=settings.max_scale * ratio)
    s, t, inl = ransac_scale_shift(pa, pb, fit, seed=seed)
    n_in = int(inl.sum())
    if s == 0 or n_in < 4:
        return PairEvidence(len(i), 0, float("nan"), float("nan"), 0.0, 0.0, 0.0, float("nan"), float("nan"))
    rot = similarity_rotation(pa[inl], pb[inl])
    h, w = fa.small.shape
    g = settings.grid
    cells = np.unique(
        np.minimum((pa[inl, 1] * g / h).astype(int), g - 1) * g + np.minimum((pa[inl, 0] * g / w).astype(int), g - 1)
    )
    overlap, ncc, ncc_c = registered_overlap(fa, fb, s, t, settings, smooth)
    ratio_in = n_in / max(1, min(_inside(fa.xy * s + t, fb), _inside((fb.xy - t) / s, fa)))
    # scale in original pixels: small = original * scale
    scale_orig = s * fa.scale / fb.scale
    return PairEvidence(
        len(i),
        n_in,
        float(scale_orig),
        rot,
        float(len(cells) / (g * g)),
        float(min(ratio_in, 1.0)),
        overlap,
        ncc,
        ncc_c,
        float(t[0] / fb.scale),
        float(t[1] / fb.scale),
    )


def _inside(xy: np.ndarray, f: ImageFeatures) -> int:
    """Number of points ``(x, y)`` that fall on tissue of image ``f``."""
    h, w = f.valid.shape
    x, y = np.rint(xy[:, 0]).astype(np.intp), np.rint(xy[:, 1]).astype(np.intp)
    ok = (x >= 0) & (x < w) & (y >= 0) & (y < h)
    return int(f.valid[y[ok], x[ok]].sum())

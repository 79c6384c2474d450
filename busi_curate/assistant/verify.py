"""Geometric verification of one pair of images: descriptor matches, a robust similarity fit (mirror allowed),
and a comparison of the registered overlap.

Steps, all in the working images of :mod:`.features` (long side 256 px):

1. for each descriptor variant of B (:data:`.features.VARIANTS`: upright, rotated +-12 degrees, each also
   mirrored), mutual nearest neighbours between A's upright descriptors and B's variant (Hamming distance
   <= ``max_hamming``); for a mirrored variant B is compared as its mirror image (a flipped comparison);
2. RANSAC over 2-match hypotheses of a similarity ``p_b = s R(theta) p_a + t`` (scale in
   ``[min_scale, max_scale]``, rotation within ``upright_window_deg`` of 0 for the upright variants and within
   ``rotation_window_deg`` of +-12 degrees for the rotated ones, so up to 20 degrees in all), refined by least squares on the inliers; the variant with most inliers wins;
3. the second image is resampled into the first one's frame (pre-smoothed by the scale, so both have
   the same blur), and the normalised cross-correlation (NCC) of the two is computed on the pixels
   both show as tissue (border band and near-white overlay marks excluded), after a monotone intensity
   mapping of B onto A (histogram matching of the overlap: gamma, brightness, contrast and histogram
   equalisation do not change it) and after trimming the 5% worst-fitting pixels (calipers, arrows and
   other annotations that differ between copies). ``ncc`` is measured at fine scale (speckle kept: a
   copy of the same frame keeps the same speckle, a neighbouring frame of a sweep does not) and
   ``ncc_coarse`` after heavier smoothing (anatomy only);
4. ``motion``: where few keypoints were re-detected on matching anatomy, the fit is first refined on the pixels
   (:func:`refine_fit`: heavy noise leaves few keypoints to fit on), then the local displacements are measured
   by block matching of the coarse (anatomy) images on a grid of tiles of the overlap, less the similarity that
   best explains them. A copy of one frame, however degraded
   (noise, JPEG, photometric changes, overlays), moves rigidly: nothing moves against the rest. Tissue of
   two frames of a sweep moves relative to itself (compression, probe tilt, breathing);
5. ``contained``: whether B's fine detail is A's plus independent noise (or A's, blurred), as in any degraded
   copy (~1), or new detail of the same strength, as in another frame (well below 1; see
   :func:`detail_containment`). Motion, a changed anatomy (coarse NCC) or new detail, not a lower match
   count, is what the adjacent-frame grade rests on.

Randomness (the RANSAC samples) is seeded by the caller; :class:`busi_curate.assistant.Assistant` derives the
seed from the two images' pixel hashes, so a pair's evidence never depends on the other images of a dataset.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import numpy as np

from busi_curate.assistant.features import VARIANTS, ImageFeatures
from busi_curate.assistant.measures import (
    detail_containment,
    intensity_slope,
    lsq_similarity,
    match_intensities,
    nonrigid_motion,
    tile_shifts,
    trimmed_ncc,
)


@dataclass(frozen=True)
class VerifySettings:
    """Parameters of :func:`verify_pair`; saved in the evidence of the benchmark."""

    max_hamming: int = 64  # of 256 bits
    min_scale: float = 0.35  # size of B / size of A in original pixels (rescales 0.4-2x, with crops and padding)
    max_scale: float = 2.9
    rotation_window_deg: float = 8.0  # rotation allowed around a rotated descriptor variant's rotation (+-12)
    upright_window_deg: float = 5.0  # ... and around 0 for the upright variants (fewer chance fits)
    variant_min_inliers: int = 20  # a rotated / mirrored variant's fit counts from this many inliers
    motion_tiles: int = 4  # motion: block matching on motion_tiles x motion_tiles tiles of the overlap
    motion_sigma: float = 4.0  # smoothing (px) of the images the motion is measured on: anatomy, not speckle
    motion_min_ncc_coarse: float = 0.9  # motion is measured only where the anatomy matches (else: not needed)
    motion_below_ratio: float = 0.5  # ... and the inlier ratio is below this (above: a copy, whatever the motion)
    residual_px: float = 2.5  # inlier threshold, working-image pixels
    hypotheses: int = 200  # RANSAC samples
    trim: float = 0.05  # fraction of worst pixels dropped from the NCC
    fine_sigma: float = 0.8
    coarse_sigma: float = 3.0
    grid: int = 4  # inlier spread is measured on a grid x grid partition of image A
    refine_px: float = 3.0  # refine_fit: shift searched, working-image px ...
    refine_frac: float = 0.03  # ... and relative scale / rotation (rad)


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
    ncc: float  # trimmed NCC of the overlap after a monotone intensity mapping, fine scale (nan without fit)
    ncc_coarse: float  # the same at coarse scale (nan without fit)
    mirrored: bool = False  # the fit maps A onto B's mirror image
    motion: float = float("nan")  # local tissue displacement left after the fit, px of A's working image
    ncc_linear: float = float("nan")  # fine NCC without the intensity mapping (lower: intensities were changed)
    noise: float = float("nan")  # 1 - fine/coarse NCC ratio of the mapped overlap: added noise or lost detail
    contained: float = float("nan")  # fine-detail correlation / the most a noisy or blurred copy allows (~1: a copy)
    # the fit in original pixels, A -> B, as (a, b, c, d, e, f): x_b = a x + c y + e, y_b = b x + d y + f (canvas
    # order; a mirrored fit has a negative determinant); None without a fit. The review page draws B onto A with it.
    affine: tuple[float, float, float, float, float, float] | None = None


def _popcount_kernel() -> tuple[Any, Any]:
    import numba

    @numba.njit(cache=True, nogil=True)
    def popcount64(x):
        x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
        x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
        x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
        return (x * np.uint64(0x0101010101010101)) >> np.uint64(56)

    @numba.njit(cache=True, nogil=True)
    def mutual(da, db, max_d):
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


_KERNELS: dict[str, Any] = {}


def kernels() -> dict[str, Any]:
    """The numba kernels (compiled once per process, cached on disk by numba)."""
    if not _KERNELS:
        pc, mu = _popcount_kernel()
        _KERNELS.update(popcount=pc, mutual=mu)
    return _KERNELS


def mutual_matches(da: np.ndarray, db: np.ndarray, max_hamming: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(i, j)`` of mutual nearest neighbours between ``(na, 4) uint64`` and ``(nb, 4) uint64``."""
    if len(da) == 0 or len(db) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    i, j = kernels()["mutual"](da, db, max_hamming)
    return np.asarray(i), np.asarray(j)


def _apply(a: complex, t: np.ndarray, p: np.ndarray) -> np.ndarray:
    """``(m, 2)`` points ``p`` mapped by the similarity ``z -> a z + t``."""
    z = a * (p[:, 0] + 1j * p[:, 1]) + (t[0] + 1j * t[1])
    return np.stack([z.real, z.imag], axis=1)


def ransac_similarity(
    pa: np.ndarray,
    pb: np.ndarray,
    settings: VerifySettings,
    seed: int = 0,
    rotation_deg: float = 0.0,
    window_deg: float | None = None,
) -> tuple[complex, np.ndarray, np.ndarray]:
    """Best ``(a, t, inlier mask)`` for ``pb = a pa + t`` (complex ``a``: scale and rotation); ``a = 0`` when no
    hypothesis is plausible. Rotation is limited to ``rotation_deg +- window_deg`` (default
    ``settings.rotation_window_deg``).

    Hypotheses come from pairs of matches (all pairs when few, else ``settings.hypotheses`` random ones,
    drawn with ``seed`` so the result is deterministic) and are scored all at once.
    """
    m = len(pa)
    none = (0j, np.zeros(2), np.zeros(m, bool))
    if m < 3:
        return none
    if m * (m - 1) // 2 <= settings.hypotheses:
        i, j = np.triu_indices(m, 1)
    else:
        rng = np.random.default_rng(seed)
        i = rng.integers(0, m, settings.hypotheses)
        j = (i + 1 + rng.integers(0, m - 1, settings.hypotheses)) % m
    za, zb = pa[:, 0] + 1j * pa[:, 1], pb[:, 0] + 1j * pb[:, 1]
    da, db = za[j] - za[i], zb[j] - zb[i]
    with np.errstate(divide="ignore", invalid="ignore"):
        a = db / da
    s = np.abs(a)
    dev = np.angle(a * np.exp(-1j * np.deg2rad(rotation_deg)), deg=True)
    ok = (np.abs(da) > 8) & (s >= settings.min_scale) & (s <= settings.max_scale)
    ok &= np.abs(dev) <= (settings.rotation_window_deg if window_deg is None else window_deg)
    if not ok.any():
        return none
    a, i = a[ok], i[ok]
    t = zb[i] - a * za[i]  # (h,)
    res = np.abs(zb[None] - (a[:, None] * za[None] + t[:, None]))  # (h, m)
    count = (res < settings.residual_px).sum(1)
    best = int(np.argmax(count))
    inl = res[best] < settings.residual_px
    a_best, t_best = complex(a[best]), complex(t[best])
    for _ in range(2):  # least-squares refinement on the inliers, kept while it does not lose inliers
        if inl.sum() < 3:
            break
        ab = lsq_similarity(pa[inl], pb[inl])
        tb = complex(zb[inl].mean() - ab * za[inl].mean())
        if not settings.min_scale <= abs(ab) <= settings.max_scale:
            break
        new = np.abs(zb - (ab * za + tb)) < settings.residual_px
        if new.sum() < inl.sum():
            break
        inl, a_best, t_best = new, ab, tb
    return a_best, np.array([t_best.real, t_best.imag]), inl


def similarity_rotation(pa: np.ndarray, pb: np.ndarray) -> float:
    """Rotation (degrees) of the least-squares similarity mapping ``pa`` to ``pb``."""
    return float(np.degrees(np.angle(lsq_similarity(pa, pb))))


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


class VerifyCache:
    """Per-image intermediate results reused across pairs (``functools.lru_cache``, the ``size`` most recent):
    smoothed working images and mirrored views. Keyed by the features' identity
    (:class:`ImageFeatures` hashes by identity), so use it with features that outlive it, as
    :class:`busi_curate.assistant.Assistant` does. Thread-safe (``lru_cache`` is)."""

    def __init__(self, size: int = 256) -> None:
        self.smoothed = functools.lru_cache(maxsize=size)(_smoothed)
        self.mirrored = functools.lru_cache(maxsize=size)(_mirror)


def _q(sigma: float) -> float:
    """Smoothing scale quantised to 1/4 px, so the per-image cache is reused."""
    return round(sigma * 4) / 4


def _same_blur(
    fa: ImageFeatures, fb: ImageFeatures, scale: float, sigma: float, cache: VerifyCache
) -> tuple[np.ndarray, np.ndarray]:
    """A and B smoothed to the same blur ``sigma`` in A's pixels when ``z_b = a z_a + t`` with ``|a| = scale``: the
    finer of the two is smoothed ``scale`` (or ``1 / scale``) times more, in its own pixels."""
    return cache.smoothed(fa, _q(sigma / min(scale, 1.0))), cache.smoothed(fb, _q(sigma * max(scale, 1.0)))


class Overlap(NamedTuple):
    """What :func:`registered_overlap` measures."""

    overlap: float
    ncc: float
    ncc_coarse: float
    ncc_linear: float
    motion: float
    contained: float


def refine_fit(
    fa: ImageFeatures,
    fb: ImageFeatures,
    a: complex,
    t: np.ndarray,
    settings: VerifySettings,
    cache: VerifyCache,
    stride: int = 2,
) -> tuple[complex, np.ndarray]:
    """The fit ``z_b = a z_a + t`` refined on the pixels: the similarity within ``settings.refine_px`` px of shift
    and ``settings.refine_frac`` of scale and rotation (about A's centre) that maximises the correlation of the two
    images' fine detail (band-pass ``fine_sigma`` minus ``coarse_sigma``, as :func:`detail_containment` sees it),
    by bounded Powell search (``scipy.optimize.minimize``). A fit on the few keypoints that survive heavy noise is
    off by up to a pixel or two at the corners, enough to decorrelate fine detail; two frames of a sweep have no
    alignment at which new speckle correlates, so refining cannot make them look alike."""
    from scipy import ndimage, optimize

    s = abs(a)
    h, w = fa.small.shape
    yy, xx = np.mgrid[0:h:stride, 0:w:stride]
    keep = fa.valid[::stride, ::stride]
    za = (xx[keep] + 1j * yy[keep]).astype(np.complex128)
    (fine_a, fine_b), (coarse_a, coarse_b) = (
        _same_blur(fa, fb, s, g, cache) for g in (settings.fine_sigma, settings.coarse_sigma)
    )
    da = (fine_a - coarse_a)[::stride, ::stride][keep].astype(np.float64)
    db_img = fine_b - coarse_b
    hb, wb = fb.small.shape
    centre = complex(w / 2, h / 2)
    t0 = complex(t[0], t[1])

    radius = max(h, w) / 2  # scale and rotation are searched in px of displacement at this distance from the centre

    def transform(p: np.ndarray) -> tuple[complex, complex]:
        a_new = a * (1 + p[2] / radius) * np.exp(1j * p[3] / radius)
        return a_new, a * centre + t0 + complex(p[0], p[1]) - a_new * centre

    def cost(p: np.ndarray) -> float:
        a_new, t_new = transform(p)
        zb = a_new * za + t_new
        ok = (zb.real >= 0) & (zb.real <= wb - 1) & (zb.imag >= 0) & (zb.imag <= hb - 1)
        if ok.sum() < 200:
            return 0.0
        u = da[ok] - da[ok].mean()
        v = ndimage.map_coordinates(db_img, [zb.imag[ok], zb.real[ok]], order=1)
        v = v - v.mean()
        den = float(np.sqrt((u * u).sum() * (v * v).sum()))
        return -float((u * v).sum()) / den if den > 0 else 0.0

    r, f = settings.refine_px, settings.refine_frac * radius
    start = np.zeros(4)
    bounds = [(-r, r), (-r, r), (-f, f), (-f, f)]
    res = optimize.minimize(cost, start, method="Powell", bounds=bounds, options={"xtol": 0.02, "ftol": 1e-4})
    best = res.x if res.fun < cost(start) else start
    a_new, t_new = transform(best)
    return complex(a_new), np.array([t_new.real, t_new.imag])


def registered_overlap(
    fa: ImageFeatures,
    fb: ImageFeatures,
    a: complex,
    t: np.ndarray,
    settings: VerifySettings,
    cache: VerifyCache | None = None,
    stride: int = 2,
    motion: bool = True,
) -> Overlap:
    """:class:`Overlap` of B resampled into A's frame by ``p_b = a p_a + t``.

    Both images are compared at the same blur (the finer one is smoothed ``|a|`` or ``1/|a|`` times more, in its
    own pixels), on a ``stride``-spaced grid of A; the motion (with ``motion``, where the anatomy matches) is
    measured on the full-resolution coarse images (:func:`tile_shifts`, :func:`nonrigid_motion`).
    """
    from scipy import ndimage

    cache = cache or VerifyCache()
    s = abs(a)
    h, w = fa.small.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    zb = a * (xx + 1j * yy) + (t[0] + 1j * t[1])
    xb, yb = zb.real.astype(np.float32), zb.imag.astype(np.float32)
    hb, wb = fb.small.shape
    inside = (xb >= 0) & (xb <= wb - 1) & (yb >= 0) & (yb <= hb - 1)
    vb = np.zeros_like(inside)
    vb[inside] = fb.valid[np.rint(yb[inside]).astype(np.intp), np.rint(xb[inside]).astype(np.intp)]
    both_full = inside & vb & fa.valid
    both = both_full[::stride, ::stride]
    smaller = min(fa.valid.sum(), fb.valid.sum() / max(s * s, 1e-9)) / (stride * stride)
    overlap = float(both.sum() / max(smaller, 1))
    coords = np.stack([yb[::stride, ::stride][both], xb[::stride, ::stride][both]])
    out = []
    linear = float("nan")
    samples = []
    for sigma in (settings.fine_sigma, settings.coarse_sigma):
        sa_img, sb_img = _same_blur(fa, fb, s, sigma, cache)
        sa = sa_img[::stride, ::stride][both]
        sb = ndimage.map_coordinates(sb_img, coords, order=1, mode="nearest")
        if len(sa) < 50:
            out.append(float("nan"))
            continue
        if sigma == settings.fine_sigma:
            linear = trimmed_ncc(sa, sb, settings.trim)
        samples.append((sa.astype(np.float64), sb.astype(np.float64)))
        out.append(trimmed_ncc(sa, match_intensities(sa, sb), settings.trim))
    contained = float("nan")
    if len(samples) == 2:
        (fine_a, fine_b), (coarse_a, coarse_b) = samples
        slope = intensity_slope(coarse_b, coarse_a)
        contained = detail_containment(fine_a - coarse_a, slope * (fine_b - coarse_b))
    moved = float("nan")
    if motion and both_full.sum() >= 400 and not out[1] < settings.motion_min_ncc_coarse:
        ca, cb_img = _same_blur(fa, fb, s, settings.motion_sigma, cache)
        cb = np.zeros_like(ca)
        cb[both_full] = match_intensities(
            ca[both_full], ndimage.map_coordinates(cb_img, np.stack([yb[both_full], xb[both_full]]), order=1)
        )
        moved = nonrigid_motion(tile_shifts(ca, cb, both_full, tiles=settings.motion_tiles))[0]
    return Overlap(overlap, out[0], out[1], linear, moved, contained)


def _fit_variant(
    fa: ImageFeatures, fb: ImageFeatures, v: int, settings: VerifySettings, seed: int, cache: VerifyCache
) -> tuple[int, int, complex, np.ndarray, np.ndarray, np.ndarray, np.ndarray, ImageFeatures]:
    """Match A's upright descriptors with B's variant ``v`` and fit; returns (inliers, matches, a, t, inlier mask,
    matched A points, matched B points, the view of B the fit refers to)."""
    rot, mirrored = VARIANTS[v]
    view = cache.mirrored(fb, v) if mirrored else fb
    db = view.desc if mirrored else fb.variant(v)
    i, j = mutual_matches(fa.desc, db, settings.max_hamming)
    pa, pb = fa.xy[i].astype(np.float64), view.xy[j].astype(np.float64)
    # the plausible scale range is in original pixels; working images were resized by fa.scale, fb.scale
    ratio = fb.scale / fa.scale
    fit = replace(settings, min_scale=settings.min_scale * ratio, max_scale=settings.max_scale * ratio)
    window = settings.upright_window_deg if rot == 0 else settings.rotation_window_deg
    a, t, inl = ransac_similarity(pa, pb, fit, seed=seed, rotation_deg=-rot if mirrored else rot, window_deg=window)
    return int(inl.sum()) if a != 0 else 0, len(i), a, t, inl, pa, pb, view


def verify_pair(
    fa: ImageFeatures,
    fb: ImageFeatures,
    settings: VerifySettings = VerifySettings(),
    seed: int = 0,
    cache: VerifyCache | None = None,
) -> PairEvidence:
    """Match, fit and compare images A and B (see the module docstring)."""
    cache = cache or VerifyCache()
    n_var = len(VARIANTS) if fb.variants is not None else 1
    fits = [_fit_variant(fa, fb, v, settings, seed, cache) for v in range(n_var)]
    # most inliers; a rotated or mirrored variant only with a clear fit (best of six would otherwise add chance fits)
    ok = [v for v in range(n_var) if v == 0 or fits[v][0] >= settings.variant_min_inliers]
    best = max(ok, key=lambda v: (fits[v][0], -v))
    n_in, n_match, a, t, inl, pa, pb, view = fits[best]
    mirrored = VARIANTS[best][1]
    if n_in < 4:
        n_match = fits[0][1]
        return PairEvidence(n_match, 0, float("nan"), float("nan"), 0.0, 0.0, 0.0, float("nan"), float("nan"))
    rot = similarity_rotation(pa[inl], pb[inl])
    h, w = fa.small.shape
    g = settings.grid
    cells = np.unique(
        np.minimum((pa[inl, 1] * g / h).astype(int), g - 1) * g + np.minimum((pa[inl, 0] * g / w).astype(int), g - 1)
    )
    t_inv = -np.array([(t[0] + 1j * t[1]) / a]).view(np.float64)  # z_a = z_b / a - t / a
    ratio_in = n_in / max(1, min(_inside(_apply(a, t, fa.xy), view), _inside(_apply(1 / a, t_inv, view.xy), fa)))
    # motion (block matching, the costly part) only where a copy and a neighbouring frame can be confused
    need_motion = ratio_in < settings.motion_below_ratio
    reg = registered_overlap(fa, view, a, t, settings, cache, motion=False)
    if need_motion and reg.ncc_coarse >= settings.motion_min_ncc_coarse:
        # few keypoints re-detected on matching anatomy (heavy noise, or another frame): refine the fit on the
        # pixels, then measure again, motion included
        a_new, t = refine_fit(fa, view, a, t, settings, cache)
        rot += float(np.degrees(np.angle(a_new / a)))
        a = a_new
        reg = registered_overlap(fa, view, a, t, settings, cache, motion=True)
    overlap, ncc, ncc_c, linear, motion, contained = reg
    # scale in original pixels: small = original * scale
    scale_orig = abs(a) * fa.scale / fb.scale
    noise = 1 - ncc / ncc_c if ncc_c and not np.isnan(ncc_c) and ncc_c > 0 else float("nan")
    return PairEvidence(
        n_match,
        n_in,
        float(scale_orig),
        rot,
        float(len(cells) / (g * g)),
        float(min(ratio_in, 1.0)),
        overlap,
        ncc,
        ncc_c,
        mirrored,
        motion,
        linear,
        float(noise),
        contained,
        affine=_affine_original(a, t, fa.scale, fb.scale, fb.small.shape[1] if mirrored else None),
    )


def _affine_original(
    a: complex, t: np.ndarray, scale_a: float, scale_b: float, mirror_width: int | None = None
) -> tuple[float, float, float, float, float, float]:
    """The working-image similarity ``z_b = a z_a + t`` in original pixels, as a canvas-order affine. For a mirrored
    fit (``z`` in B's mirror image, ``x -> mirror_width - 1 - x``, see :func:`_mirror`) the mirror is undone."""
    k = a * scale_a / scale_b
    m = (float(k.real), float(k.imag), float(-k.imag), float(k.real), float(t[0] / scale_b), float(t[1] / scale_b))
    if mirror_width is None:
        return m
    return (-m[0], m[1], -m[2], m[3], (mirror_width - 1) / scale_b - m[4], m[5])


def _inside(xy: np.ndarray, f: ImageFeatures) -> int:
    """Number of points ``(x, y)`` that fall on tissue of image ``f``."""
    h, w = f.valid.shape
    x, y = np.rint(xy[:, 0]).astype(np.intp), np.rint(xy[:, 1]).astype(np.intp)
    ok = (x >= 0) & (x < w) & (y >= 0) & (y < h)
    return int(f.valid[y[ok], x[ok]].sum())

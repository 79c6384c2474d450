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

from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import numpy as np

from busi_curate.assistant import geometry as geo
from busi_curate.assistant.features import VARIANTS, ImageFeatures
from busi_curate.assistant.register import Overlap, VerifyCache, refine_fit, registered_overlap

__all__ = ["PairEvidence", "VerifyCache", "VerifySettings", "mutual_matches", "refine_fit", "registered_overlap",
           "verify_pair"]  # fmt: skip


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
    # refinement and motion (the costly part) only where they can change the grade: a keypoint fit from this many
    # inliers (fewer: chance level, the rule decides without the pixels), or the frame model already correlating
    # this well (a copy resized to a square registers at >= 0.995; refining moved the fine NCC by -0.02..+0.04)
    refine_min_inliers: int = 6
    frame_refine_min_ncc: float = 0.98
    # the affine model: aspect changes up to 1:max_aspect (a frame resized to a square: BUSI frames are up to 1:1.5)
    max_aspect: float = 1.6
    max_shear: float = 0.15  # k / sy of L = R [[sx, k], [0, sy]]
    affine_min_gain: int = 4  # the affine fit is measured when it explains this many more inliers than the similarity
    frame_min_thumbnail_ncc: float = 0.9  # the frame model is measured when the two square thumbnails correlate so
    thumbnail: int = 32  # px, side of those thumbnails (the whole frame, aspect ignored, as the SSIM scan sees it)
    model_min_gain: float = 0.01  # another model replaces the similarity when its registered fine NCC is this higher
    local_tiles: int = 8  # local photometric model: ranks within local_tiles x local_tiles tiles of A's frame
    local_min_gain: float = 0.01  # ... chosen when its fine and coarse NCC are on average this much higher
    motion_min_ncc_coarse_local: float = 0.85  # motion floor under the local model (strong CLAHE: coarse 0.90)


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
    model: str = "similarity"  # the geometric model chosen by the evidence: similarity, affine or frame
    aspect: float = 1.0  # sx / sy of the fit (1 for a similarity): > 1 B is stretched horizontally against A
    shear: float = 0.0
    photometric: str = "global"  # the intensity model: global (one monotone curve) or local (within tiles)
    enlarged: float = 1.0  # how much the smaller image was enlarged to the working size (2: a 128 px square)


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


class _Fit(NamedTuple):
    """One geometric model of a pair: ``m`` maps A's working pixels onto ``view`` (B, or B's mirror image); the
    matches ``pa``, ``pb`` it was fitted on and its ``inliers`` among them."""

    model: str
    m: np.ndarray
    inliers: np.ndarray
    pa: np.ndarray
    pb: np.ndarray
    view: ImageFeatures
    mirrored: bool


def _variant_fit(
    fa: ImageFeatures, fb: ImageFeatures, v: int, settings: VerifySettings, seed: int, cache: VerifyCache
) -> tuple[int, int, _Fit]:
    """Match A's upright descriptors with B's variant ``v`` and fit a similarity; returns (inliers, matches, fit)."""
    rot, mirrored = VARIANTS[v]
    view = cache.mirrored(fb, v) if mirrored else fb
    db = view.desc if mirrored else fb.variant(v)
    i, j = mutual_matches(fa.desc, db, settings.max_hamming)
    pa, pb = fa.xy[i].astype(np.float64), view.xy[j].astype(np.float64)
    window = settings.upright_window_deg if rot == 0 else settings.rotation_window_deg
    a, t, inl = geo.ransac_similarity(pa, pb, _in_working(settings, fa, fb), seed=seed,
                                      rotation_deg=-rot if mirrored else rot, window_deg=window)  # fmt: skip
    return (
        int(inl.sum()) if a != 0 else 0,
        len(i),
        _Fit("similarity", geo.from_similarity(a, t), inl, pa, pb, view, mirrored),
    )


def _in_working(settings: VerifySettings, fa: ImageFeatures, fb: ImageFeatures) -> VerifySettings:
    """The plausible scale range is in original pixels; working images were resized by fa.scale, fb.scale."""
    ratio = fb.scale / fa.scale
    return replace(settings, min_scale=settings.min_scale * ratio, max_scale=settings.max_scale * ratio)


def _alternatives(
    fa: ImageFeatures, fb: ImageFeatures, sim: _Fit, v: int, upright: _Fit, settings: VerifySettings, seed: int,
    cache: VerifyCache,
) -> list[_Fit]:  # fmt: skip
    """The affine fit of variant ``v``'s matches (when it explains ``affine_min_gain`` more inliers than the
    similarity ``sim``) and the frame model (when the square thumbnails correlate, as the SSIM scan saw them)."""
    out = []
    rot, mirrored = VARIANTS[v]
    n_sim = int(sim.inliers.sum())
    window = settings.upright_window_deg if rot == 0 else settings.rotation_window_deg
    m, inl = geo.ransac_affine(sim.pa, sim.pb, _in_working(settings, fa, fb), seed=seed,
                               rotation_deg=-rot if mirrored else rot, window_deg=window,
                               start=sim.inliers if n_sim >= 4 else None)  # fmt: skip
    if m is not None and inl.sum() >= max(n_sim + settings.affine_min_gain, 8):
        out.append(sim._replace(model="affine", m=m, inliers=inl))
    thumbs = cache.thumbnail(fa, settings.thumbnail), cache.thumbnail(fb, settings.thumbnail)
    if float(thumbs[0] @ thumbs[1]) >= settings.frame_min_thumbnail_ncc:
        m = geo.frame_model(fa.small.shape, fb.small.shape)
        res = np.linalg.norm(geo.apply(m, upright.pa) - upright.pb, axis=1)
        out.append(upright._replace(model="frame", m=m, inliers=res < settings.residual_px, view=fb, mirrored=False))
    return out


def _score(reg: Overlap) -> float:
    """How well a model registers the pair: the better of the global and local photometric fine NCC."""
    best = np.nanmax([reg.ncc, reg.ncc_local, -1.0])
    return float(best)


def _choose(fa: ImageFeatures, cands: list[_Fit], settings: VerifySettings, cache: VerifyCache) -> tuple[_Fit, Overlap]:
    """The model whose registration correlates best (fine NCC, global or local photometric model); the first
    candidate (the similarity, when there is one) is replaced only by a gain of ``model_min_gain``."""
    best, best_reg, best_score = None, None, -np.inf
    for k, c in enumerate(cands):
        reg = registered_overlap(fa, c.view, c.m, settings, cache, motion=False, local=True)
        sc = _score(reg) - (0.0 if k == 0 else settings.model_min_gain)
        if best is None or sc > best_score:
            best, best_reg, best_score = c, reg, sc
    assert best is not None and best_reg is not None
    return best, best_reg


def _ratio(fa: ImageFeatures, fit: _Fit) -> float:
    """Inliers / keypoints of the registered overlap (the fewer of A's and B's)."""
    mi = geo.invert(fit.m)
    n = min(geo.inside(geo.apply(fit.m, fa.xy), fit.view.valid), geo.inside(geo.apply(mi, fit.view.xy), fa.valid))
    return int(fit.inliers.sum()) / max(1, n)


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
    fits = [_variant_fit(fa, fb, v, settings, seed, cache) for v in range(n_var)]
    # most inliers; a rotated or mirrored variant only with a clear fit (best of six would otherwise add chance fits)
    ok = [v for v in range(n_var) if v == 0 or fits[v][0] >= settings.variant_min_inliers]
    best = max(ok, key=lambda v: (fits[v][0], -v))
    n_in, n_match, fit = fits[best]
    reg = None
    if n_in >= 4:
        reg = registered_overlap(fa, fit.view, fit.m, settings, cache, motion=False)
        conclusive = _ratio(fa, fit) >= settings.motion_below_ratio and reg.ncc >= 0.95
    if n_in < 4 or not conclusive:  # the similarity does not explain the pair: other models, local intensities
        cands = ([fit] if n_in >= 4 else []) + _alternatives(fa, fb, fit, best, fits[0][2], settings, seed, cache)
        if not cands:
            return PairEvidence(fits[0][1], 0, float("nan"), float("nan"), 0.0, 0.0, 0.0, float("nan"), float("nan"))
        fit, reg = _choose(fa, cands, settings, cache)
    assert reg is not None
    return _measure(fa, fit, reg, n_match, settings, cache, local=not np.isnan(reg.ncc_local))


def _worth_refining(fit: _Fit, reg: Overlap, settings: VerifySettings) -> bool:
    """Whether the pixel refinement and the motion can matter: the anatomy matches (coarse NCC, either photometric
    model) and the fit is more than a chance fit (``refine_min_inliers``), or the frame model nearly registers."""
    if not np.nanmax([reg.ncc_coarse, reg.ncc_local_coarse, -1.0]) >= min(
        settings.motion_min_ncc_coarse, settings.motion_min_ncc_coarse_local
    ):
        return False
    enough = int(fit.inliers.sum()) >= settings.refine_min_inliers
    if fit.model == "frame":  # a frame model with real keypoint support (heavy speckle) is refined too
        return enough or bool(np.nanmax([reg.ncc, reg.ncc_local, -1.0]) >= settings.frame_refine_min_ncc)
    return enough


def _measure(
    fa: ImageFeatures, fit: _Fit, reg: Overlap, n_match: int, settings: VerifySettings, cache: VerifyCache, local: bool
) -> PairEvidence:
    """The evidence of the chosen fit: refined on the pixels and measured again, motion included, where few
    keypoints were re-detected on matching anatomy (heavy noise, or another frame)."""
    m, inl = fit.m, fit.inliers
    sh = geo.shape(m)
    rot = geo.similarity_rotation(fit.pa[inl], fit.pb[inl]) if fit.model == "similarity" else sh.rotation_deg
    h, w = fa.small.shape
    g = settings.grid
    pa = fit.pa[inl]
    cells = np.unique(
        np.minimum((pa[:, 1] * g / h).astype(int), g - 1) * g + np.minimum((pa[:, 0] * g / w).astype(int), g - 1)
    )
    ratio_in = _ratio(fa, fit)
    if ratio_in < settings.motion_below_ratio and _worth_refining(fit, reg, settings):
        m = refine_fit(fa, fit.view, m, settings, cache)
        rot += geo.shape(m).rotation_deg - sh.rotation_deg
        reg = registered_overlap(fa, fit.view, m, settings, cache, motion=True, local=local)
        sh = geo.shape(m)
    overlap, ncc, ncc_c, linear, motion, contained, ncc_l, ncc_lc, photometric = reg
    if photometric == "local":
        ncc, ncc_c = ncc_l, ncc_lc
    noise = 1 - ncc / ncc_c if ncc_c and not np.isnan(ncc_c) and ncc_c > 0 else float("nan")
    mo = geo.to_original(m, fa.scale, fit.view.scale, fit.view.small.shape[1] if fit.mirrored else None)
    return PairEvidence(
        n_match, int(inl.sum()), float(sh.scale * fa.scale / fit.view.scale), rot, float(len(cells) / (g * g)),
        float(min(ratio_in, 1.0)), overlap, ncc, ncc_c, fit.mirrored, motion, linear, float(noise), contained,
        affine=(float(mo[0, 0]), float(mo[1, 0]), float(mo[0, 1]), float(mo[1, 1]), float(mo[0, 2]), float(mo[1, 2])),
        model=fit.model, aspect=1.0 if fit.model == "similarity" else sh.aspect,
        shear=0.0 if fit.model == "similarity" else sh.shear, photometric=photometric,
        enlarged=float(max(1.0, fa.scale, fit.view.scale)),
    )  # fmt: skip

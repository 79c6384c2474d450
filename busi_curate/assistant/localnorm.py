"""Third shortlisting votes: keypoint descriptors of a locally normalised image, voted with geometric consistency.

A copy that was locally re-contrasted (CLAHE) and then cropped keeps almost none of the descriptors of
:mod:`.features` (issue 20): CLAHE changes which corners are the strongest (Harris ranks them by local contrast,
which CLAHE redistributes) and the crop enlarges the frame by 1.2-1.8x, between two of the pyramid's 0.75 steps.
This route describes every image a second time, on its working image divided by its local contrast (a local
z-score: ``(g - mean) / sd`` over a Gaussian window), at a finer pyramid (steps of 0.87): local normalisation
undoes a smooth local gain, so a CLAHE copy and its source pick the same corners, and the finer steps leave no
scale of a crop between two levels. The descriptors are hashed and voted as in :mod:`.shortlist` (upright only);
a pair is proposed when at least ``min_agree`` of its votes (distinct keypoints) agree on one similarity that
puts one frame inside the other (:func:`agreement`), as the consistent votes of :mod:`.shortlist` do. Chance
votes of two different frames land anywhere; a copy's agree on its transformation.

The route only proposes pairs: each proposed pair is verified and decided from its own evidence like any other.
Cost: one more description per image (from the cached working image, nothing read from disk) and one hashing pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from busi_curate.assistant.features import (
    FeatureCache,
    FeatureSettings,
    ImageFeatures,
    _brief_pattern,
    _level_features,
)
from busi_curate.assistant.shortlist import ShortlistSettings, _corners, _descriptor_pairs, _pair_codes


@dataclass(frozen=True)
class LocalNormSettings:
    """Parameters of :func:`local_votes`."""

    # on by default since the description was compiled (assistant/kernels.py): 21 ms an image on BUSI (it was 37, +~40 %
    # on the automatic pass, above issue 20's 20 % budget); off: AssistantSettings(local=LocalNormSettings(enabled=False))
    enabled: bool = True
    sigma: float = 8.0  # px of the working image: Gaussian window of the local mean and contrast
    gain: float = 48.0  # gray levels per local standard deviation (around 128)
    floor: float = 2.0  # added to the local standard deviation (flat areas are not amplified into noise)
    level_scale: float = 0.87  # finer pyramid steps than the features' 0.75: a crop's scale falls near a level
    levels: int = 5  # 1 .. 0.57: the enlargement of a 55-100% crop
    start: float = 1.0  # scale of the first level (of the working image)
    # a pair is proposed from this many agreeing votes: different frames reach at most 4 on BUSI (pairs out of the
    # walk's reach) and 5 on the synthetic in-sample seeds 0-5 and 9 but one pair (7, verified different); their
    # clahe+crop copies reach 9-55 (all but one, a `no fit`), those planted into BUSI by seeds 7-9 6-64
    min_agree: int = 6
    max_anchors: int = 32  # hypotheses: the similarities of each of this many votes with every other


def normalised_image(small: np.ndarray, settings: LocalNormSettings) -> np.ndarray:
    """``small`` divided by its local contrast: ``128 + gain (g - mean) / (sd + floor)`` (mean and sd over a
    Gaussian window of ``sigma``), clipped to uint8."""
    from busi_curate.assistant.kernels import gaussian

    f = small.astype(np.float32)
    # Gaussian windows, not boxes (cheaper): on synthetic in-sample seeds box windows of 17 px reached 3 fewer of the
    # 12 clahe+crop copies (a box's sharp edge lets single speckle grains in and out of the mean). ``gaussian`` is
    # scipy.ndimage.gaussian_filter's arithmetic, compiled
    d = f - gaussian(f, settings.sigma, 3.0)
    sd = np.sqrt(np.maximum(gaussian(d * d, settings.sigma, 3.0), 0.0))
    out = 128.0 + settings.gain * d / (sd + settings.floor)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def normalised_features(
    f: ImageFeatures, settings: LocalNormSettings, features: FeatureSettings = FeatureSettings()
) -> ImageFeatures:
    """Upright keypoints and descriptors of ``f``'s working image after :func:`normalised_image`, at the pyramid of
    ``settings`` (same tissue mask, patch and BRIEF pattern as :mod:`.features`)."""
    from PIL import Image

    fs = replace(features, level_scale=settings.level_scale, levels=settings.levels)
    small = normalised_image(f.small, settings)
    patterns = [_brief_pattern(fs)]
    xy_l, lev_l, desc_l = [], [], []
    h0, w0 = small.shape
    for lev in range(fs.levels):
        s = settings.start * fs.level_scale**lev
        img, vmask = small, f.valid
        if s != 1.0:
            size = (max(1, round(w0 * s)), max(1, round(h0 * s)))
            if min(size) < 4 * fs.patch_radius:
                break
            img = np.asarray(Image.fromarray(small).resize(size, Image.Resampling.BILINEAR), dtype=np.uint8)
            vmask = (
                np.asarray(Image.fromarray(f.valid.astype(np.uint8) * 255).resize(size, Image.Resampling.NEAREST)) > 0
            )
        xy, desc = _level_features(img, vmask, max(8, round(fs.keypoints * (s / settings.start) ** 2)), patterns, fs)
        xy_l.append((xy + 0.5) * np.array([w0 / img.shape[1], h0 / img.shape[0]], np.float32) - 0.5)
        lev_l.append(np.full(len(xy), lev, np.uint8))
        desc_l.append(desc[0])
    desc_all = np.ascontiguousarray(np.concatenate(desc_l)).view(np.uint64).reshape(-1, 4)
    xy_all = np.concatenate(xy_l).astype(np.float32)
    # one (upright) variant, so the features can be cached as :mod:`.features`' are (:class:`NormalisedCache`)
    return ImageFeatures(small, f.valid, xy_all, np.concatenate(lev_l), desc_all, f.scale, desc_all[None])


def agreement(
    p: np.ndarray,
    q: np.ndarray,
    tol: float,
    frames: tuple[np.ndarray, np.ndarray],
    scales: tuple[float, float],
    max_rot: float,
    margin: float,
    max_anchors: int,
    enough: int | None = None,
) -> int:
    """Most of the matches ``p -> q`` (complex, original pixels) that one similarity ``q = a p + b`` maps within
    ``tol``, counted once per distinct point of ``p``; rotation within ``max_rot`` degrees, ``|a|`` within
    ``scales``, and one frame inside the other (``frames``: A's and B's corners; give or take ``margin``). Each
    hypothesis is the similarity of two matches, one of them among the first ``max_anchors``. Stops as soon as
    ``enough`` agree (the count returned is then at least ``enough``)."""
    cell = np.unique(np.round(p / tol), return_inverse=True)[1].ravel()
    onehot = np.zeros((len(p), int(cell.max()) + 1 if len(p) else 0), np.float32)
    onehot[np.arange(len(p)), cell] = 1.0
    ca, cb = frames
    best = 0
    for i in range(min(len(p), max_anchors)):
        dpq, dqq = p - p[i], q - q[i]
        ok = np.abs(dpq) > 2 * tol
        a = dqq[ok] / dpq[ok]
        a = a[(np.abs(np.angle(a, deg=True)) <= max_rot) & (np.abs(a) >= scales[0]) & (np.abs(a) <= scales[1])]
        if not len(a):
            continue
        b = q[i] - a * p[i]
        fwd = a[:, None] * ca[None, :] + b[:, None]  # A's corners in B
        inv = (cb[None, :] - b[:, None]) / a[:, None]  # B's corners in A
        keep = _inside(fwd, cb, margin) | _inside(inv, ca, margin / np.abs(a))
        a = a[keep]
        if not len(a):
            continue
        hit = np.abs(a[:, None] * dpq[None, :] - dqq[None, :]) <= tol
        best = max(best, int(((hit.astype(np.float32) @ onehot) > 0).sum(axis=1).max()))
        if enough is not None and best >= enough:
            break
    return best


def _inside(z: np.ndarray, c: np.ndarray, m: float | np.ndarray) -> np.ndarray:
    """Rows of ``z`` (points) all within the box of corners ``c``, give or take ``m`` (per row or one value)."""
    m = np.broadcast_to(np.asarray(m, np.float64), (len(z),))[:, None]
    return np.all(
        (z.real >= c.real.min() - m)
        & (z.real <= c.real.max() + m)
        & (z.imag >= c.imag.min() - m)
        & (z.imag <= c.imag.max() + m),
        axis=1,
    )


def local_votes(
    feats: Sequence[ImageFeatures],
    settings: LocalNormSettings = LocalNormSettings(),
    shortlist: ShortlistSettings = ShortlistSettings(),
    features: FeatureSettings = FeatureSettings(),
    workers: int = 1,
    normalised: Sequence[ImageFeatures] | None = None,
) -> dict[tuple[int, int], int]:
    """``{(i, j): n}`` (``i < j``): for every pair of images with at least ``min_agree`` votes of the normalised
    descriptors (hashed as :mod:`.shortlist` does, upright only), ``n`` = the most of those votes that agree on one
    similarity putting one frame inside the other (:func:`agreement`; tolerance, rotation, scale and margin of
    ``shortlist``'s consistent votes), counted up to ``min_agree`` (a pair that reaches it may have more).
    ``workers`` threads describe the images (the compiled kernels release the GIL); the result does not depend on it.
    ``normalised``: the images' :func:`normalised_features`, already made (:class:`NormalisedCache`)."""
    if not settings.enabled or len(feats) < 2:
        return {}
    nf = list(normalised) if normalised is not None else _describe_all(feats, settings, features, workers)
    sl = replace(shortlist, variants=False)
    dp, owner, local, var = _descriptor_pairs(nf, sl)
    if not len(dp):
        return {}
    codes = _pair_codes(dp, owner, var, len(nf), 1)
    uc, inv, n = np.unique(codes, return_inverse=True, return_counts=True)
    order = np.argsort(inv, kind="stable")
    first = np.r_[0, np.cumsum(n)]
    out: dict[tuple[int, int], int] = {}
    for g in np.flatnonzero(n >= settings.min_agree).tolist():
        rows = dp[order[first[g] : first[g + 1]]]
        lo_side = owner[rows[:, 0]] < owner[rows[:, 1]]
        a_idx = np.where(lo_side, rows[:, 0], rows[:, 1])  # the descriptor in the lower image
        b_idx = np.where(lo_side, rows[:, 1], rows[:, 0])
        i, j = int(uc[g] // len(nf)), int(uc[g] % len(nf))
        fa, fb = nf[i], nf[j]
        pa, pb = fa.xy[local[a_idx]] / fa.scale, fb.xy[local[b_idx]] / fb.scale  # original pixels
        tol = shortlist.consistent_tol * max(fb.small.shape) / fb.scale
        (ha, wa), (hb, wb) = fa.small.shape, fb.small.shape
        frames = (_corners(wa / fa.scale, ha / fa.scale), _corners(wb / fb.scale, hb / fb.scale))
        out[(i, j)] = agreement(
            pa[:, 0] + 1j * pa[:, 1],
            pb[:, 0] + 1j * pb[:, 1],
            tol,
            frames,
            shortlist.consistent_scales,
            shortlist.consistent_max_rot,
            shortlist.consistent_frame_margin * tol,
            settings.max_anchors,
            settings.min_agree,
        )
    return out


def _describe_all(
    feats: Sequence[ImageFeatures], settings: LocalNormSettings, features: FeatureSettings, workers: int
) -> list[ImageFeatures]:
    """:func:`normalised_features` of every image, in order, on ``workers`` threads."""
    if workers <= 1 or len(feats) < 64:
        return [normalised_features(f, settings, features) for f in feats]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda f: normalised_features(f, settings, features), feats, chunksize=16))


def with_local_votes(
    votes: dict[tuple[int, int], int],
    feats: Sequence[ImageFeatures],
    settings: LocalNormSettings = LocalNormSettings(),
    shortlist: ShortlistSettings = ShortlistSettings(),
    features: FeatureSettings = FeatureSettings(),
    workers: int = 1,
    normalised: Sequence[ImageFeatures] | None = None,
) -> dict[tuple[int, int], int]:
    """``votes`` (of :func:`.shortlist.supported_votes`) with every pair that :func:`local_votes` proposes (``min_agree``
    agreeing votes) raised to ``shortlist.min_votes``, so :func:`.shortlist.shortlist` considers it."""
    out = dict(votes)
    for pair, k in local_votes(feats, settings, shortlist, features, workers, normalised).items():
        if k >= settings.min_agree:
            out[pair] = max(out.get(pair, 0), shortlist.min_votes)
    return out


class NormalisedCache(FeatureCache):
    """``cache_dir/normalised.npz`` + ``normalised.json``: every image's :func:`normalised_features` by pixel hash,
    beside the feature cache (same format and checks; the settings of both routes are saved with it), so a second
    pass over a scan (``review`` again, ``bench-auto --warm``, ``scan --update``) describes only new images."""

    NAME = "normalised"

    def __init__(
        self, cache_dir: str | Path | None, settings: LocalNormSettings, features: FeatureSettings = FeatureSettings()
    ) -> None:
        super().__init__(cache_dir, features)
        self.local = settings

    def settings_record(self) -> dict[str, Any]:
        return {"features": asdict(self.settings), "local": asdict(self.local)}

    def describe(self, keys: Sequence[str], feats: Sequence[ImageFeatures], workers: int = 1) -> list[ImageFeatures]:
        """:func:`normalised_features` of ``feats`` (pixel hashes ``keys``): cached ones reused, others made on
        ``workers`` threads and saved (a read-only folder: kept in memory, with a warning)."""
        return self._fill(keys, feats, lambda _, fs: _describe_all(fs, self.local, self.settings, workers))

"""Second shortlisting route: image pairs that share many near-identical keypoint descriptors.

SSIM of whole, squashed thumbnails ranks a shifted or cropped copy low (the two thumbnails are
misaligned), so the walk may never reach it. Copies of one frame, however, share most of their
keypoint descriptors (:mod:`.features`) bit for bit or nearly so. This route finds such pairs with
locality-sensitive hashing on the 256-bit descriptors (bit sampling): each of ``tables`` hash tables
keys every descriptor of every image by ``bits`` fixed random bit positions; descriptors of two
different images that land in the same bucket and are within ``max_hamming`` bits of each other
vote for their pair of images. Pairs with at least ``min_votes`` distinct descriptor matches are
returned for verification, and so are pairs with ``min_consistent`` (4) to ``min_votes - 1`` votes that one
similarity explains (:func:`consistent_votes`, :func:`supported_votes`): a copy both rescaled between two pyramid
levels and locally re-contrasted (CLAHE, then a crop) keeps few matching descriptors, but they agree on its
transformation, and chance votes do not.

Cost: one sort of all descriptors per table (``O(D log D)`` for ``D`` descriptors, ``D`` ~ 250 per
image) plus the pairs inside buckets, capped by ``max_bucket`` (a huge bucket is a generic pattern,
not evidence). No step is quadratic in the number of images, so it scales to large sets; the
expensive verification then runs only on the returned pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from busi_curate.assistant.features import N_BITS, VARIANTS, ImageFeatures


@dataclass(frozen=True)
class ShortlistSettings:
    """Parameters of :func:`descriptor_votes` and :func:`shortlist`."""

    tables: int = 6
    bits: int = 24
    max_bucket: int = 16
    max_hamming: int = 32
    min_votes: int = 6  # BUSI pairs out of the walk's reach: chance gives 2-5 votes (1,732 / 59 / 4 / 2 pairs)
    per_image: int = 5
    seed: int = 7
    variants: bool = True  # also vote with the rotated / mirrored descriptor variants (mirror-aware)
    # fewer votes suffice when they agree on one similarity (:func:`consistent_votes`): a copy changed both in
    # scale (between two pyramid levels) and in local contrast (CLAHE + crop) may keep only 3-5 votes, all of one
    # transformation. 4 agreeing votes, not 3: BUSI pairs out of the walk's reach with 3 agreeing votes (8, one
    # verified uncertain: a new question) share aligned tissue keypoints by chance; with 4 there are 1-2
    min_consistent: int = 4
    consistent_tol: float = 0.03  # a vote agrees when within this fraction of the long side of its image
    consistent_max_rot: float = 20.0  # degrees (the variants' coverage)
    consistent_scales: tuple[float, float] = (0.35, 2.9)  # original pixels, as the fit of :mod:`.verify`
    consistent_frames: bool = True  # and puts one frame inside the other (a crop, a pad, a resize)
    consistent_frame_margin: float = 2.0  # give or take this many tolerances


def _keys(desc: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """``(D,) int64`` keys from the bits at ``positions`` of ``(D, 4) uint64`` descriptors."""
    words, shifts = positions // 64, (positions % 64).astype(np.uint64)
    key = np.zeros(len(desc), np.int64)
    for k, (w, s) in enumerate(zip(words, shifts)):
        key |= (((desc[:, w] >> s) & np.uint64(1)).astype(np.int64)) << k
    return key


def _hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.bitwise_count(a ^ b).sum(axis=1)


def _descriptor_pairs(
    feats: Sequence[ImageFeatures], settings: ShortlistSettings
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Distinct descriptor pairs found by the hash tables: ``(dp, owner, local, var)`` with ``dp`` ``(P, 2)`` indices
    into the stacked descriptors (upright, then each variant), their image, index within that image and variant."""
    counts = np.array([len(f.desc) for f in feats], np.int64)
    empty = np.zeros((0, 2), np.int64)
    if counts.sum() == 0:
        return empty, np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    # upright descriptors of every image, plus its rotated / mirrored variants (mirror-aware: a flipped or rotated
    # copy shares its variant descriptors with the original's upright ones); a vote needs one upright side
    n_var = min((len(f.variants) if f.variants is not None else 1) for f in feats) if settings.variants else 1
    desc = np.concatenate([f.variant(v) for v in range(n_var) for f in feats])
    owner = np.tile(np.repeat(np.arange(len(feats)), counts), n_var)
    local = np.tile(np.concatenate([np.arange(c) for c in counts]), n_var)
    var = np.repeat(np.arange(n_var), counts.sum())
    rng = np.random.default_rng(settings.seed)
    found: list[np.ndarray] = []
    for _ in range(settings.tables):
        pos = np.sort(rng.choice(N_BITS, settings.bits, replace=False))
        key = _keys(desc, pos)
        order = np.argsort(key, kind="stable")
        ks = key[order]
        starts = np.flatnonzero(np.r_[True, ks[1:] != ks[:-1]])
        sizes = np.diff(np.r_[starts, len(ks)])
        for k in np.unique(sizes):
            if k < 2 or k > settings.max_bucket:
                continue
            st = starts[sizes == k]
            iu, ju = np.triu_indices(int(k), 1)
            a = order[(st[:, None] + iu[None]).ravel()]
            b = order[(st[:, None] + ju[None]).ravel()]
            keep = (owner[a] != owner[b]) & ((var[a] == 0) | (var[b] == 0))
            a, b = a[keep], b[keep]
            keep = _hamming(desc[a], desc[b]) <= settings.max_hamming
            a, b = a[keep], b[keep]
            found.append(np.stack([np.minimum(a, b), np.maximum(a, b)], 1))
    dp = np.unique(np.concatenate(found), axis=0) if found else empty
    return dp, owner, local, var


def _pair_codes(dp: np.ndarray, owner: np.ndarray, var: np.ndarray, n_images: int, n_var: int) -> np.ndarray:
    """One code per descriptor pair: its image pair ``(lo, hi)`` and variant relation (the non-upright side)."""
    ia, ib = owner[dp[:, 0]], owner[dp[:, 1]]
    lo, hi = np.minimum(ia, ib), np.maximum(ia, ib)
    rel = np.maximum(var[dp[:, 0]], var[dp[:, 1]])
    return np.asarray((lo * n_images + hi) * n_var + rel, np.int64)


def descriptor_votes(
    feats: Sequence[ImageFeatures], settings: ShortlistSettings = ShortlistSettings()
) -> dict[tuple[int, int], int]:
    """Votes ``{(i, j): n}`` (``i < j``, ``n >= 2``): distinct descriptor pairs of images i and j found by the
    hash tables."""
    dp, owner, _, var = _descriptor_pairs(feats, settings)
    return _count(dp, owner, var, len(feats))


def _count(dp: np.ndarray, owner: np.ndarray, var: np.ndarray, n_images: int) -> dict[tuple[int, int], int]:
    if not len(dp):
        return {}
    n_var = int(var.max()) + 1
    uc, n = np.unique(_pair_codes(dp, owner, var, n_images, n_var), return_counts=True)
    out: dict[tuple[int, int], int] = {}
    for c, v in zip((uc // n_var).tolist(), n.tolist()):  # a pair's votes: those of its best relation
        if v >= 2:  # a single shared descriptor is chance
            pair = (c // n_images, c % n_images)
            out[pair] = max(out.get(pair, 0), v)
    return out


def _corners(w: float, h: float, mirrored: bool = False) -> np.ndarray:
    """A ``w x h`` frame's corners as complex numbers (``x -> -x`` when mirrored)."""
    c = np.array([0, w, w + 1j * h, 1j * h])
    return -np.conj(c) if mirrored else c


def _one_inside(a: complex, b: complex, ca: np.ndarray, cb: np.ndarray, margin: float) -> bool:
    """Whether the similarity ``z -> a z + b`` (A -> B) puts one frame inside the other, give or take ``margin``
    pixels of B: a copy is the original cropped, padded or resized, so one of the two frames holds the other."""

    def inside(z: np.ndarray, c: np.ndarray, m: float) -> bool:
        lo, hi = c.real.min() - m, c.real.max() + m
        return bool(
            np.all((z.real >= lo) & (z.real <= hi) & (z.imag >= c.imag.min() - m) & (z.imag <= c.imag.max() + m))
        )

    return inside(a * ca + b, cb, margin) or inside((cb - b) / a, ca, margin / abs(a))


def _agreeing(
    p: np.ndarray,
    q: np.ndarray,
    tol: float,
    settings: ShortlistSettings,
    frames: tuple[np.ndarray, np.ndarray] | None = None,
) -> int:
    """Most of the matches ``p -> q`` (complex, original pixels; ``p`` already mirrored where the relation is) that
    one similarity ``q = a p + b`` within ``settings``' rotation and scale range maps within ``tol`` pixels, counted
    once per distinct point of ``p``; each hypothesis is the similarity of two matches. With ``frames`` (A's and B's
    corners, :func:`_corners`) only similarities that put one frame inside the other (:func:`_one_inside`) count."""
    best = 0
    for i in range(len(p)):
        dpq, dqq = p - p[i], q - q[i]
        ok = np.abs(dpq) > 2 * tol  # two distinct points define a similarity
        if not ok.any():
            continue
        a = dqq[ok] / dpq[ok]
        good = (np.abs(np.angle(a, deg=True)) <= settings.consistent_max_rot) & (
            (np.abs(a) >= settings.consistent_scales[0]) & (np.abs(a) <= settings.consistent_scales[1])
        )
        for ak in a[good]:
            if frames is not None and not _one_inside(
                ak, q[i] - ak * p[i], *frames, settings.consistent_frame_margin * tol
            ):
                continue
            hit = np.abs(ak * dpq - dqq) <= tol
            pts = np.unique(np.round(p[hit] / tol))  # one vote per distinct point (pyramid levels repeat points)
            best = max(best, len(pts))
    return best


def consistent_votes(
    feats: Sequence[ImageFeatures], settings: ShortlistSettings = ShortlistSettings()
) -> dict[tuple[int, int], int]:
    """``{(i, j): n}`` for the pairs with ``min_consistent`` to ``min_votes - 1`` votes of one variant relation:
    ``n`` is the largest number of those votes (distinct keypoints) that one similarity explains, rotation and scale
    within the verification's range (mirrored for a mirrored relation) and, with ``consistent_frames``, putting one
    frame inside the other. Chance votes land anywhere; a copy's votes agree on its transformation."""
    dp, owner, local, var = _descriptor_pairs(feats, settings)
    return _consistent(feats, dp, owner, local, var, settings)


def _consistent(
    feats: Sequence[ImageFeatures],
    dp: np.ndarray,
    owner: np.ndarray,
    local: np.ndarray,
    var: np.ndarray,
    settings: ShortlistSettings,
) -> dict[tuple[int, int], int]:
    if not len(dp):
        return {}
    n_var = int(var.max()) + 1
    codes = _pair_codes(dp, owner, var, len(feats), n_var)
    uc, inv, n = np.unique(codes, return_inverse=True, return_counts=True)
    wanted = np.flatnonzero((n >= settings.min_consistent) & (n < settings.min_votes))
    order = np.argsort(inv, kind="stable")
    first = np.r_[0, np.cumsum(n)]
    out: dict[tuple[int, int], int] = {}
    for g in wanted.tolist():
        rows = dp[order[first[g] : first[g + 1]]]
        lo_side = owner[rows[:, 0]] < owner[rows[:, 1]]
        a_idx = np.where(lo_side, rows[:, 0], rows[:, 1])  # the descriptor in the lower image
        b_idx = np.where(lo_side, rows[:, 1], rows[:, 0])
        fa, fb = feats[int(owner[a_idx[0]])], feats[int(owner[b_idx[0]])]
        pa, pb = fa.xy[local[a_idx]] / fa.scale, fb.xy[local[b_idx]] / fb.scale  # original pixels
        p, q = pa[:, 0] + 1j * pa[:, 1], pb[:, 0] + 1j * pb[:, 1]
        mirrored = VARIANTS[int(uc[g] % n_var)][1]
        if mirrored:
            p = -np.conj(p)  # left-right mirror: x -> -x
        tol = settings.consistent_tol * max(fb.small.shape) / fb.scale
        (ha, wa), (hb, wb) = fa.small.shape, fb.small.shape
        frames = (_corners(wa / fa.scale, ha / fa.scale, mirrored), _corners(wb / fb.scale, hb / fb.scale))
        pair = (int(uc[g] // n_var // len(feats)), int(uc[g] // n_var % len(feats)))
        out[pair] = max(
            out.get(pair, 0), _agreeing(p, q, tol, settings, frames if settings.consistent_frames else None)
        )
    return out


def supported_votes(
    feats: Sequence[ImageFeatures], settings: ShortlistSettings = ShortlistSettings()
) -> dict[tuple[int, int], int]:
    """:func:`descriptor_votes`, with a pair below ``min_votes`` whose votes agree on one similarity
    (:func:`consistent_votes` >= ``min_consistent``) raised to ``min_votes``, so :func:`shortlist` considers it."""
    dp, owner, local, var = _descriptor_pairs(feats, settings)
    votes = _count(dp, owner, var, len(feats))
    for pair, k in _consistent(feats, dp, owner, local, var, settings).items():
        if k >= settings.min_consistent:
            votes[pair] = max(votes.get(pair, 0), settings.min_votes)
    return votes


def shortlist(
    votes: dict[tuple[int, int], int],
    n_images: int,
    exclude: set[tuple[int, int]],
    settings: ShortlistSettings = ShortlistSettings(),
) -> list[tuple[int, int]]:
    """Pairs worth verifying: each image's ``per_image`` best-voted partners with ``min_votes`` or more among the
    pairs not in ``exclude`` (the pairs the SSIM walk reaches anyway: an image with many reachable copies keeps its
    slots for the ones the walk cannot reach); sorted ``(i, j)`` with ``i < j``."""
    by_image: dict[int, list[tuple[int, int]]] = {}
    for (i, j), v in votes.items():
        if v >= settings.min_votes and (min(i, j), max(i, j)) not in exclude:
            by_image.setdefault(i, []).append((-v, j))
            by_image.setdefault(j, []).append((-v, i))
    out: set[tuple[int, int]] = set()
    for i, lst in by_image.items():
        for _, j in sorted(lst)[: settings.per_image]:
            out.add((min(i, j), max(i, j)))
    return sorted(out)

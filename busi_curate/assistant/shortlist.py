"""Second shortlisting route: image pairs that share many near-identical keypoint descriptors.

SSIM of whole, squashed thumbnails ranks a shifted or cropped copy low (the two thumbnails are
misaligned), so the walk may never reach it. Copies of one frame, however, share most of their
keypoint descriptors (:mod:`.features`) bit for bit or nearly so. This route finds such pairs with
locality-sensitive hashing on the 256-bit descriptors (bit sampling): each of ``tables`` hash tables
keys every descriptor of every image by ``bits`` fixed random bit positions; descriptors of two
different images that land in the same bucket and are within ``max_hamming`` bits of each other
vote for their pair of images. Pairs with at least ``min_votes`` distinct descriptor matches are
returned for verification.

Cost: one sort of all descriptors per table (``O(D log D)`` for ``D`` descriptors, ``D`` ~ 250 per
image) plus the pairs inside buckets, capped by ``max_bucket`` (a huge bucket is a generic pattern,
not evidence). No step is quadratic in the number of images, so it scales to large sets; the
expensive verification then runs only on the returned pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from busi_curate.assistant.features import N_BITS, ImageFeatures


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


def _keys(desc: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """``(D,) int64`` keys from the bits at ``positions`` of ``(D, 4) uint64`` descriptors."""
    words, shifts = positions // 64, (positions % 64).astype(np.uint64)
    key = np.zeros(len(desc), np.int64)
    for k, (w, s) in enumerate(zip(words, shifts)):
        key |= (((desc[:, w] >> s) & np.uint64(1)).astype(np.int64)) << k
    return key


def _hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.bitwise_count(a ^ b).sum(axis=1)


def descriptor_votes(
    feats: Sequence[ImageFeatures], settings: ShortlistSettings = ShortlistSettings()
) -> dict[tuple[int, int], int]:
    """Votes ``{(i, j): n}`` (``i < j``, ``n >= 2``): distinct descriptor pairs of images i and j found by the
    hash tables."""
    counts = np.array([len(f.desc) for f in feats], np.int64)
    if counts.sum() == 0:
        return {}
    # upright descriptors of every image, plus its rotated / mirrored variants (mirror-aware: a flipped or rotated
    # copy shares its variant descriptors with the original's upright ones); a vote needs one upright side
    n_var = min((len(f.variants) if f.variants is not None else 1) for f in feats) if settings.variants else 1
    desc = np.concatenate([f.variant(v) for v in range(n_var) for f in feats])
    owner = np.tile(np.repeat(np.arange(len(feats)), counts), n_var)
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
    if not found:
        return {}
    dp = np.unique(np.concatenate(found), axis=0)  # distinct descriptor pairs
    ia, ib = owner[dp[:, 0]], owner[dp[:, 1]]
    lo, hi = np.minimum(ia, ib), np.maximum(ia, ib)
    rel = np.maximum(var[dp[:, 0]], var[dp[:, 1]])  # which variant relation the vote is for
    code = (lo * len(feats) + hi) * n_var + rel
    uc, n = np.unique(code, return_counts=True)
    out: dict[tuple[int, int], int] = {}
    for c, v in zip((uc // n_var).tolist(), n.tolist()):  # a pair's votes: those of its best relation
        if v >= 2:  # a single shared descriptor is chance
            pair = (c // len(feats), c % len(feats))
            out[pair] = max(out.get(pair, 0), v)
    return out


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

"""Stage 2a -- candidates for large sets: find each image's likely neighbours cheaply, score only those.

The exhaustive scan scores all N(N-1)/2 pairs; for tens of thousands of images the pruned mode first
asks a cheap *candidate finder* for each image's ``k`` nearest neighbours and computes exact SSIM only
on the union of those pairs. Finders are registered by name in :data:`FINDERS`:

* ``ssim-cascade`` (default): exact SSIM at reduced sizes with a scale-matched 3x3 window -- all pairs
  at a quarter of the scan size keep each image's ``4k`` best, those are re-scored at half size and
  the ``k`` best kept. On real BUSI this keeps every pair the exhaustive 128 px scan ranks in an
  image's top 5 (see docs/scan.md for the measured ranks); the cheaper finders below do not.
* ``ncc``: normalised cross-correlation of 32x32 thumbnails (zero mean, unit norm), i.e. one blocked
  float32 matrix product ``V @ V.T`` (fast for very large sets, but a weak proxy for SSIM ranks);
* ``phash``: Hamming distance between 64-bit DCT perceptual hashes (``imagehash.phash``).

What is compared (the features) stays apart from how neighbours are searched (:func:`top_k_neighbours`,
blocked, memory ``block x N``), as in imagededup.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from busi_curate.ssim.base import SSIMBackend

#: side of the thumbnails the ``ncc`` finder correlates.
NCC_SIZE = 32
DEFAULT_FINDER = "ssim-cascade"
#: ``ssim-cascade``: the first stage keeps ``WIDEN * k`` neighbours per image.
WIDEN = 4
#: ``ssim-cascade``: uniform window at the reduced sizes (7 px at 128 covers what 3 px covers at 64 and 32).
CASCADE_WINDOW = 3
DEFAULT_PRUNE_K = 50


def downsample(images: np.ndarray, size: int = NCC_SIZE) -> np.ndarray:
    """``(N, S, S) uint8 -> (N, size, size) float32`` by block means (S a multiple of size) or bilinear resize."""
    n, s, _ = images.shape
    if s % size == 0:
        f = s // size
        return images.reshape(n, size, f, size, f).mean(axis=(2, 4), dtype=np.float64).astype(np.float32)
    from busi_curate.data.dataset import resize_gray

    return np.stack([resize_gray(im, size) for im in images]).astype(np.float32)


def ncc_features(images: np.ndarray) -> np.ndarray:
    """``(N, 1024) float32`` zero-mean, unit-norm 32x32 thumbnails (a constant image gives zeros)."""
    v = downsample(images).reshape(len(images), -1).astype(np.float64)
    v -= v.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(v, axis=1, keepdims=True)
    v = np.divide(v, norm, out=np.zeros_like(v), where=norm > 0)
    return v.astype(np.float32)


def top_k_neighbours(score_block: Callable[[int, int], np.ndarray], n: int, k: int, block: int = 1024) -> np.ndarray:
    """Each row's ``k`` highest-scoring other rows, ``(N, min(k, N-1)) int64``; ties to the lower index.

    Args:
        score_block: ``(lo, hi) -> (hi-lo, N)`` similarities of rows ``lo:hi`` to all rows (higher = closer).
        n: number of rows.
        k: neighbours per row.
        block: rows scored at once (memory ``block x N`` float32).
    """
    k = min(k, n - 1)
    out = np.empty((n, k), dtype=np.int64)
    for lo in range(0, n, block):
        hi = min(lo + block, n)
        sims = np.asarray(score_block(lo, hi), dtype=np.float64)
        sims[np.arange(hi - lo), np.arange(lo, hi)] = -np.inf
        if k < n - 1:
            part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        else:
            part = np.tile(np.arange(n), (hi - lo, 1))
            part = part[part != np.arange(lo, hi)[:, None]].reshape(hi - lo, n - 1)
        # deterministic order inside the k: score descending, then index ascending
        vals = np.take_along_axis(sims, part, axis=1)
        order = np.lexsort((part, -vals), axis=1)
        out[lo:hi] = np.take_along_axis(part, order, axis=1)
    return out


def ncc_neighbours(images: np.ndarray, k: int) -> np.ndarray:
    """``k`` most correlated images per image (normalised correlation of 32x32 thumbnails)."""
    v = ncc_features(images)
    return top_k_neighbours(lambda lo, hi: v[lo:hi] @ v.T, len(images), k)


def phash_values(images: np.ndarray) -> np.ndarray:
    """``(N,) uint64`` DCT perceptual hashes (``imagehash.phash``, 8x8 bits)."""
    import imagehash
    from PIL import Image

    out = np.empty(len(images), dtype=np.uint64)
    for i, im in enumerate(images):
        bits = imagehash.phash(Image.fromarray(im)).hash.reshape(-1)
        out[i] = np.uint64(int("".join("1" if b else "0" for b in bits), 2))
    return out


def phash_neighbours(images: np.ndarray, k: int) -> np.ndarray:
    """``k`` images per image with the smallest perceptual-hash Hamming distance."""
    h = phash_values(images)

    def score(lo: int, hi: int) -> np.ndarray:
        return -np.bitwise_count(h[lo:hi, None] ^ h[None, :]).astype(np.float32)

    return top_k_neighbours(score, len(images), k)


def shrink(images: np.ndarray, size: int) -> np.ndarray:
    """``(N, S, S) uint8 -> (N, size, size) uint8``: block means rounded (S a multiple of size) or bilinear."""
    if images.shape[1] == size:
        return images
    return np.rint(downsample(images, size)).astype(np.uint8)


def all_pairs_top_k(
    backend: SSIMBackend, images: np.ndarray, k: int, block: int = 256, progress: Callable[[int], None] | None = None
) -> np.ndarray:
    """Each image's ``k`` best by ``backend`` SSIM over all pairs, without an N x N matrix.

    Rows are scored ``block`` at a time against every later row (each pair once); running top-``k``
    tables are merged for rows and columns, so memory is ``O(N (k + block))``.

    Returns:
        ``(N, min(k, N-1)) int64``, best first (ties to the lower index).
    """
    n = len(images)
    k = min(k, n - 1)
    prepared = backend.prepare(images)
    best_v = np.full((n, k), -np.inf, dtype=np.float64)
    best_i = np.full((n, k), -1, dtype=np.int64)

    def merge(r0: int, r1: int, new_v: np.ndarray, new_i: np.ndarray) -> None:
        cand_v = np.concatenate([best_v[r0:r1], new_v], axis=1)
        cand_i = np.concatenate([best_i[r0:r1], np.broadcast_to(new_i, new_v.shape)], axis=1)
        sel = np.argpartition(-cand_v, k - 1, axis=1)[:, :k]
        best_v[r0:r1] = np.take_along_axis(cand_v, sel, axis=1)
        best_i[r0:r1] = np.take_along_axis(cand_i, sel, axis=1)

    for lo in range(0, n, block):
        hi = min(lo + block, n)
        a, b = _rows_upper_pairs(lo, hi, n)
        vals = backend.pairs_prepared(prepared, a, b) if len(a) else np.zeros(0)
        v = np.full((hi - lo, n - lo), -np.inf)
        v[a - lo, b - lo] = vals
        merge(lo, hi, v, np.arange(lo, n))  # rows lo..hi: their later partners
        merge(lo, n, v.T, np.arange(lo, hi))  # later rows: their partners in this block
        if progress is not None:
            progress(len(a))
    order = np.lexsort((best_i, -best_v), axis=1)
    return np.take_along_axis(best_i, order, axis=1)


def _rows_upper_pairs(lo: int, hi: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(i, j)`` with ``lo <= i < hi`` and ``i < j < n``, sorted by ``i`` then ``j``."""
    rows = np.arange(lo, hi, dtype=np.int64)
    counts = n - 1 - rows
    a = np.repeat(rows, counts)
    starts = np.cumsum(counts) - counts
    b = a + 1 + (np.arange(len(a), dtype=np.int64) - np.repeat(starts, counts))
    return a, b


def rerank(backend: SSIMBackend, images: np.ndarray, neighbours: np.ndarray, k: int) -> np.ndarray:
    """Score the pairs of a neighbour table with ``backend`` and keep each image's ``k`` best, ``(N, k) int64``."""
    from busi_curate.scan.candidates import top_k_from_pairs

    n = len(images)
    k = min(k, n - 1)
    a, b = neighbour_pairs(neighbours)
    vals = backend.pairs(images, a, b)
    rows, _ = top_k_from_pairs(n, a, b, vals, k)
    out = np.full((n, k), -1, dtype=np.int64)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
        out[i, len(r) :] = r[0] if len(r) else i  # cannot happen with a full first stage; keeps the shape
    return out


def ssim_cascade_neighbours(images: np.ndarray, k: int) -> np.ndarray:
    """``k`` neighbours per image by exact SSIM (3x3 window) at a quarter, then half, of the scan size.

    Sizes below 8 px are skipped (a 32 px scan uses only the half-size stage).
    """
    from busi_curate.ssim import SSIMSettings, get_backend

    backend = get_backend("numba", settings=SSIMSettings(win_size=CASCADE_WINDOW))
    s = images.shape[1]
    quarter, half = shrink(images, max(s // 4, 1)), shrink(images, max(s // 2, 1))
    if s // 4 >= 8:
        wide = all_pairs_top_k(backend, quarter, WIDEN * k)
        return rerank(backend, half, wide, k)
    return all_pairs_top_k(backend, half if s // 2 >= CASCADE_WINDOW else images, k)


def faiss_pairs(images: np.ndarray, k: int, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Pairs from a FAISS index over SSIM-shaped descriptors, re-scored by exact SSIM at half size, plus a range
    search (exact up to ``ann.FLAT_MAX_IMAGES`` images, IVF above; :mod:`busi_curate.scan.ann`)."""
    from busi_curate.scan.ann import ann_pairs

    return ann_pairs(images, k, progress=progress)


#: finder name -> ``(images (N,S,S) uint8, k) -> (N, k) int64`` neighbour rows, or ``(a, b)`` pair arrays for a
#: finder that is not a fixed number per image. One function + one line to add one.
FINDERS: dict[str, Callable[[np.ndarray, int], np.ndarray | tuple[np.ndarray, np.ndarray]]] = {
    "ssim-cascade": ssim_cascade_neighbours,
    "faiss": faiss_pairs,
    "ncc": ncc_neighbours,
    "phash": phash_neighbours,
}


def neighbour_pairs(neighbours: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unordered pairs ``(a < b)`` from a neighbour table, unique, sorted by ``a`` then ``b``."""
    n, k = neighbours.shape
    i = np.repeat(np.arange(n, dtype=np.int64), k)
    j = neighbours.reshape(-1)
    a, b = np.minimum(i, j), np.maximum(i, j)
    code = np.unique(a * n + b)
    return code // n, code % n


def shortlist_pairs(
    thumbnails: np.ndarray,
    prune_k: int = DEFAULT_PRUNE_K,
    finders: str | tuple[str, ...] = DEFAULT_FINDER,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs to score exactly: the union over ``finders`` of every image's ``prune_k`` neighbours.

    Args:
        thumbnails: ``(N, S, S) uint8`` images as the scan scores them.
        prune_k: neighbours per image and per finder.
        finders: one finder name or several (their shortlists are united).
        progress: progress bars on stderr for the finders that take a ``progress`` keyword.

    Returns:
        ``(a, b)`` int64 arrays, ``a < b``, unique, sorted (so runs of equal ``a`` stay in cache).
    """
    names = (finders,) if isinstance(finders, str) else tuple(finders)
    unknown = [f for f in names if f not in FINDERS]
    if unknown:
        raise KeyError(f"unknown candidate finder {unknown[0]!r} (known: {', '.join(FINDERS)})")
    n = len(thumbnails)
    codes = []
    import inspect

    for name in names:
        fn = FINDERS[name]
        extra = {"progress": progress} if "progress" in inspect.signature(fn).parameters else {}
        found = fn(thumbnails, prune_k, **extra)
        a, b = found if isinstance(found, tuple) else neighbour_pairs(found)
        codes.append(a * n + b)
    code = np.unique(np.concatenate(codes))
    return code // n, code % n


def recall_of_top(
    matrix: np.ndarray, a: np.ndarray, b: np.ndarray, top: int = 5
) -> tuple[int, int, list[tuple[int, int]]]:
    """How many of the exhaustive scan's top-``top`` pairs the shortlist ``(a, b)`` contains.

    Returns:
        ``(found, total, missed)``: unordered pairs ``(i, j)`` with ``j`` among ``i``'s ``top`` best by SSIM
        (ties to the lower index, as in ``candidates.csv``), and those missing from the shortlist.
    """
    from busi_curate.scan.candidates import top_k_from_matrix

    n = matrix.shape[0]
    rows, _ = top_k_from_matrix(matrix, top)
    i = np.repeat(np.arange(n, dtype=np.int64), rows.shape[1])
    j = rows.reshape(-1).astype(np.int64)
    want = np.unique(np.minimum(i, j) * n + np.maximum(i, j))
    have = np.isin(want, a * n + b)
    missed = [(int(c // n), int(c % n)) for c in want[~have]]
    return int(have.sum()), len(want), missed

"""Stage 2a: a FAISS nearest-neighbour index over an SSIM-shaped descriptor (exact up to 20,000 images, IVF above).

What is compared -- :func:`ssim_descriptor`: each image at ``DESC_SIZE`` px is cut into ``TILE x TILE`` tiles;
every tile contributes its pixels centred on the tile mean and divided by ``sqrt(var + C2/2)``, and one
"flatness" value ``sqrt(C2/2) / sqrt(var + C2/2)``. For two images the inner product of these vectors is the
mean over tiles of ``(cov + C2/2) / (s_x s_y)``, i.e. SSIM's contrast-structure term with the arithmetic mean
of the variances replaced by the geometric one (equal when the variances are equal): flat, black regions
of both images score 1 as they do in SSIM. On 500 distinct synthetic frames its correlation with 128 px
SSIM over all pairs is 0.91 (NCC of 32 px thumbnails: 0.83; measured with ``/tmp`` experiments described in
docs/scan.md).

How pairs are searched -- :func:`ann_pairs`: one FAISS index over the descriptors (:func:`descriptor_index`:
exact ``IndexFlatIP`` up to ``FLAT_MAX_IMAGES`` images, where it is also the cheaper one; above, an ``IndexIVFFlat``
with ``~4 sqrt(N)`` lists, ``NPROBE`` probed, cost ``~N^1.5 D`` instead of ``N^2 D``, k-means trained
single-threaded with a fixed seed, so the same input gives the same index) answers two questions: each image's
``WIDEN * k`` nearest descriptors, re-scored by exact SSIM at half the scan size with the scale-matched 3x3 window
(:func:`busi_curate.scan.prune.rerank`, as the ``ssim-cascade`` finder does) keeping the ``KEEP * k`` best, refined by
:func:`descend` (NN-descent's local join: neighbours of neighbours scored at half size, ``DESCENT_ROUNDS`` rounds,
linear in N); and a range search keeping every pair whose descriptors reach ``RANGE_THRESHOLD`` (an image with
hundreds of partners above the screening threshold keeps them all). Recall against exhaustive SSIM is measured in
docs/scan.md (with the exact index, issue 21's 99.5 % targets at 10,000 images; the IVF probes miss some pairs
whose 64 px SSIM ranks first, and the refinement cannot reach them).
Memory per image (128 px thumbnails, ``k`` 50; the thumbnails themselves, 16 KB, are the caller's): the descriptors
(``N x 4,352`` float32, 17 KB) twice (array + index) until the searches end; the ``WIDEN * k`` neighbour table
(int64, 8 KB); the 64 px thumbnails (4 KB); the pairs the refinement scores (about 760 an image at 10,000, 8 bytes
per code, score, row and partner, with the sorts' copies: ~50-100 KB) and the range pairs (24 bytes each: their
count per image grows with N). The 64 px window statistics (~28 KB an image) are prepared by tiles of at most
2 x 16,384 images (:func:`busi_curate.scan.blocks.exact_pairs`), not for all N at once.
HNSW (``IndexHNSWFlat``) was tried first: at 4,352 dimensions its search for 200 neighbours cost more CPU than
the IVF scan, and it has no range search.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from busi_curate.errors import MissingExtraError

DESC_SIZE = 64
TILE = 4
#: SSIM's C2 at data range 255.
C2 = (0.03 * 255) ** 2
#: the index returns ``WIDEN * k`` neighbours per image before the exact re-score keeps ``k``. Calibration (issue 21;
#: 10,000 distinct synthetic frames, 100 rows ``default_rng([seed, 5])``, the finder's pairs): seed 2's 1,000 top-10
#: pairs at 128 px, of which the exact descriptor ranking holds 998 in the first 500 neighbours, 999 in 750 and all
#: in 1,000 (seed 0: all in 500); more NN-descent (2 or 3 rounds, fanout 20) reached none of the two missing ones.
#: The 500-neighbour finder held 992 / 1,000 on seed 1, out of sample (docs/scan.md, "Shortlist recall").
WIDEN = 20
#: the 64 px re-score keeps each image's ``KEEP * k`` best (and the 128 px stage scores them): among distinct frames
#: an image's top-10 are near-ties that 64 px orders differently. Seed 0's 10,000 frames (100 rows, both directions,
#: ``/tmp`` study in docs/scan.md "Shortlist recall"): the 64 px best 50 held 994 of the 1,000 top-10 pairs at 128 px,
#: the best 80 998, 100 999, 150 all (a 5x5 window at 64 px: 974 / 993 / 995 / 999). Seed 2 (calibration, as
#: ``WIDEN``): with 1,000 neighbours the finder held 999 / 1,000 keeping 100 and all keeping 150 (500 neighbours:
#: 997 and 998), for 2,019,698 -> 2,266,768 pairs at 128 px (+12 %).
KEEP = 3
#: range search: pairs at or above this descriptor inner product are scored exactly. On the same rows the pairs with
#: 128 px SSIM >= 0.23 have inner products >= 0.313 (843 pairs; 8 of them below the earlier 0.33).
RANGE_THRESHOLD = 0.30
NPROBE = 16
#: up to this many images the index is exact (``IndexFlatIP``: every inner product, by BLAS); above it, the IVF.
#: Measured at 10,000 (docs/scan.md): the exact range search took 14.8 CPU-s and its 500-neighbour search 13.9, the
#: IVF's range search alone 43.3; the exact search grows as N^2, the IVF's as about N^1.5, so the exact index is the
#: cheaper one up to about 20,000 images.
FLAT_MAX_IMAGES = 20_000
#: NN-descent refinement (:func:`descend`): rounds, and how many of each image's best (and of theirs) are expanded.
DESCENT_ROUNDS = 1
DESCENT_FANOUT = 10
BLOCK = 2048


def _faiss() -> Any:
    try:
        import faiss
    except ImportError as exc:
        raise MissingExtraError(
            "the 'faiss' candidate finder needs faiss-cpu (pip install 'busi-curate[scale]' or faiss-cpu)"
        ) from exc
    return faiss


Tick = Callable[[int], None]


def _bar(desc: str, total: int, progress: bool) -> Tick:
    """A tqdm counter on stderr (counts, rate, ETA) that closes itself at ``total``; a no-op when not ``progress``."""
    if not progress:
        return lambda k: None
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=desc, unit="img", leave=False)

    def tick(k: int) -> None:
        bar.update(k)
        if bar.n >= total:
            bar.close()

    return tick


def ssim_descriptor(
    images: np.ndarray, size: int = DESC_SIZE, tile: int = TILE, block: int = BLOCK, tick: Tick | None = None
) -> np.ndarray:
    """``(N, S, S) uint8 -> (N, D) float32`` unit-norm tile descriptors (module docstring), computed per block."""
    from busi_curate.scan.prune import downsample

    n = len(images)
    g = size // tile
    dim = g * g * (tile * tile + 1)
    out = np.empty((n, dim), dtype=np.float32)
    for lo in range(0, n, block):
        x = downsample(images[lo : lo + block], size).astype(np.float64)[:, : g * tile, : g * tile]
        m = len(x)
        p = x.reshape(m, g, tile, g, tile).transpose(0, 1, 3, 2, 4).reshape(m, g * g, tile * tile)
        mu = p.mean(axis=2, keepdims=True)
        s = np.sqrt(p.var(axis=2, ddof=1, keepdims=True) + C2 / 2)
        z = (p - mu) / s / np.sqrt(tile * tile - 1)
        f = np.sqrt(C2 / 2) / s
        d = np.concatenate([z.reshape(m, -1), f.reshape(m, -1)], axis=1)
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        out[lo : lo + m] = d
        if tick is not None:
            tick(m)
    return out


def search(index: Any, desc: np.ndarray, k: int, block: int = BLOCK, tick: Tick | None = None) -> np.ndarray:
    """Each row's ``k`` nearest other rows by the index, ``(N, k) int64`` (missing slots filled from the row's own
    list, never itself)."""
    n = len(desc)
    k = min(k, n - 1)
    out = np.empty((n, k), dtype=np.int64)
    for lo in range(0, n, block):
        hi = min(lo + block, n)
        _, ids = index.search(np.ascontiguousarray(desc[lo:hi]), k + 1)
        for r, row in enumerate(ids):
            own = [int(j) for j in row if j >= 0 and j != lo + r][:k]
            while len(own) < k:  # a graph that returned fewer: pad with the next rows (harmless extra pairs)
                own.append((lo + r + len(own) + 1) % n)
            out[lo + r] = own
        if tick is not None:
            tick(hi - lo)
    return out


def descriptor_index(desc: np.ndarray) -> Any:
    """The index the finder searches: exact (``IndexFlatIP``) up to ``FLAT_MAX_IMAGES`` images, else
    :func:`ivf_index`. Both are deterministic; the exact one returns every neighbour and every pair in range."""
    if len(desc) > FLAT_MAX_IMAGES:
        return ivf_index(desc)
    faiss = _faiss()
    index = faiss.IndexFlatIP(desc.shape[1])
    index.add(np.ascontiguousarray(desc, dtype=np.float32))
    return index


def ivf_index(desc: np.ndarray, nprobe: int = NPROBE, seed: int = 1234) -> Any:
    """A FAISS inverted-file index (inner product, ``~4 sqrt(N)`` lists, k-means trained single-threaded with a
    fixed seed: deterministic) of ``desc``, searched ``nprobe`` lists deep."""
    faiss = _faiss()
    n, d = desc.shape
    nlist = max(1, min(int(4 * np.sqrt(n)), n // 39))
    quantizer = faiss.IndexFlatIP(d)
    index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = seed
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        index.train(np.ascontiguousarray(desc, dtype=np.float32))
    finally:
        faiss.omp_set_num_threads(threads)
    index.add(np.ascontiguousarray(desc, dtype=np.float32))
    index.nprobe = min(nprobe, nlist)
    return index


def range_pairs(
    index: Any, desc: np.ndarray, threshold: float, block: int = BLOCK, tick: Tick | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Unordered pairs ``(a < b)`` whose descriptors' inner product is at least ``threshold`` (as found by the
    index), unique and sorted."""
    n = len(desc)
    codes = []
    for lo in range(0, n, block):
        hi = min(lo + block, n)
        lims, _, ids = index.range_search(np.ascontiguousarray(desc[lo:hi]), threshold)
        q = np.repeat(np.arange(lo, hi, dtype=np.int64), np.diff(lims.astype(np.int64)))
        j = ids.astype(np.int64)
        keep = j != q
        codes.append(np.minimum(q, j)[keep] * n + np.maximum(q, j)[keep])
        if tick is not None:
            tick(hi - lo)
    code = np.unique(np.concatenate(codes)) if codes else np.zeros(0, np.int64)
    return code // n, code % n


def _top_rows(n: int, code: np.ndarray, vals: np.ndarray, k: int) -> np.ndarray:
    """Each row's ``k`` best partners among scored pairs ``code = a * n + b`` (score descending, then index),
    ``(N, k) int64``, ``-1`` where a row has fewer."""
    a, b = code // n, code % n
    rows, cols, v = np.concatenate([a, b]), np.concatenate([b, a]), np.concatenate([vals, vals])
    order = np.lexsort((cols, -v, rows))
    rows, cols = rows[order], cols[order]
    rank = np.arange(len(rows)) - np.searchsorted(rows, np.arange(n + 1))[rows]
    keep = rank < k
    out = np.full((n, k), -1, dtype=np.int64)
    out[rows[keep], rank[keep]] = cols[keep]
    return out


def local_join(best: np.ndarray, fanout: int) -> np.ndarray:
    """NN-descent's local join: for every image ``v``, the pairs among its ``fanout`` best and the ``fanout`` images
    that list ``v`` highest (reverse neighbours), and ``v`` with the ``fanout`` best of each of its ``fanout`` best;
    unique codes ``a * N + b`` (``a < b``), at most ``N (C(2 fanout, 2) + fanout^2)`` pairs."""
    n = len(best)
    near = best[:, :fanout]
    v = np.repeat(np.arange(n, dtype=np.int64), near.shape[1])
    u = near.reshape(-1)
    rank = np.tile(np.arange(near.shape[1]), n)
    ok = u >= 0
    v, u, rank = v[ok], u[ok], rank[ok]
    # forward members (v lists u) first, then reverse ones (u lists v) by how high they list v
    owner, member, key = np.concatenate([v, u]), np.concatenate([u, v]), np.concatenate([rank, fanout + rank])
    order = np.lexsort((member, key, owner))
    owner, member = owner[order], member[order]
    first = np.r_[True, (owner[1:] != owner[:-1]) | (member[1:] != member[:-1])]
    owner, member = owner[first], member[first]
    slot = np.arange(len(owner)) - np.searchsorted(owner, np.arange(n + 1))[owner]
    keep = slot < 2 * fanout
    group = np.full((n, 2 * fanout), -1, dtype=np.int64)
    group[owner[keep], slot[keep]] = member[keep]
    p, q = np.triu_indices(2 * fanout, 1)
    # and each image with its best's best (the reverse cap above may leave it out of a popular image's group)
    hop = near[np.maximum(near, 0)].reshape(n, -1)
    hop[np.repeat(near < 0, near.shape[1], axis=1)] = -1
    x = np.concatenate([group[:, p].reshape(-1), np.repeat(np.arange(n, dtype=np.int64), hop.shape[1])])
    y = np.concatenate([group[:, q].reshape(-1), hop.reshape(-1)])
    ok = (x >= 0) & (y >= 0) & (x != y)
    return np.unique(np.minimum(x, y)[ok] * n + np.maximum(x, y)[ok])


def descend(
    score: Callable[[np.ndarray, np.ndarray], np.ndarray],
    wide: np.ndarray,
    k: int,
    rounds: int = DESCENT_ROUNDS,
    fanout: int = DESCENT_FANOUT,
    tick: Tick | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Score the pairs of the neighbour table ``wide``, then refine each image's ``k`` best NN-descent style.

    Each round scores the not yet scored pairs of :func:`local_join` (two images that are both among a third
    one's best or list it among theirs are likely close), then keeps each image's ``k`` best of every pair scored;
    ``rounds * N * C(2 fanout, 2)`` pairs at most, linear in N.

    Args:
        score: ``(a, b) -> (P,)`` similarity of index pairs (the 64 px SSIM).
        wide: ``(N, W) int64`` first neighbours (the index's).
        k: neighbours kept per image.

    Returns:
        ``(best, code, vals)``: ``(N, k)`` best partners (``-1`` padded), and every scored pair (``a * N + b``,
        ``a < b``, sorted) with its score.
    """
    n = len(wide)
    a, b = neighbour_pairs_of(wide)
    code = a * n + b
    vals = score(a, b)
    best = _top_rows(n, code, vals, k)
    if tick is not None:
        tick(1)
    for _ in range(rounds):
        new = local_join(best, fanout)
        new = new[~np.isin(new, code, assume_unique=True)]
        new_vals = score(new // n, new % n)
        order = np.argsort(np.concatenate([code, new]), kind="stable")
        code, vals = np.concatenate([code, new])[order], np.concatenate([vals, new_vals])[order]
        best = _top_rows(n, code, vals, k)
        if tick is not None:
            tick(1)
    return best, code, vals


def neighbour_pairs_of(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unordered pairs ``(a < b)`` of a neighbour table, ``-1`` slots and self pairs dropped, unique and sorted."""
    n = len(table)
    i = np.repeat(np.arange(n, dtype=np.int64), table.shape[1])
    j = table.reshape(-1)
    ok = (j >= 0) & (j != i)
    code = np.unique(np.minimum(i, j)[ok] * n + np.maximum(i, j)[ok])
    return code // n, code % n


def ann_pairs(images: np.ndarray, k: int, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The ``faiss`` finder's pairs: the union of

    * each image's ``KEEP * k`` best by exact SSIM at half size, starting from its ``WIDEN * k`` nearest descriptors and
      refined by :func:`descend` (neighbours of neighbours, scored at half size);
    * every pair whose descriptors' inner product is at least ``RANGE_THRESHOLD`` (IVF range search): images
      with many partners above the screening threshold keep them all, not only ``k``.
    """
    from busi_curate.scan.blocks import exact_pairs
    from busi_curate.scan.prune import CASCADE_WINDOW, shrink
    from busi_curate.ssim import SSIMSettings, get_backend

    n = len(images)
    desc = ssim_descriptor(images, tick=_bar("descriptors", n, progress))
    index = descriptor_index(desc)
    wide = search(index, desc, WIDEN * k, tick=_bar("ann search", n, progress))
    ra, rb = range_pairs(index, desc, RANGE_THRESHOLD, tick=_bar("ann range", n, progress))
    del index, desc
    backend = get_backend("numba", settings=SSIMSettings(win_size=CASCADE_WINDOW))
    half = shrink(images, max(images.shape[1] // 2, 1))

    def score(a: np.ndarray, b: np.ndarray) -> np.ndarray:  # by tiles: at most 2 x 16,384 images prepared at 64 px
        return exact_pairs(backend, half, a, b)

    best, _, _ = descend(score, wide, KEEP * k, tick=_bar("ssim refine (rounds)", DESCENT_ROUNDS + 1, progress))
    ka, kb = neighbour_pairs_of(best)
    out = np.unique(np.concatenate([ka * n + kb, ra * n + rb]))
    return out // n, out % n

"""Stage 2a, sub-quadratic: an approximate nearest-neighbour index (FAISS IVF) over an SSIM-shaped descriptor.

What is compared -- :func:`ssim_descriptor`: each image at ``DESC_SIZE`` px is cut into ``TILE x TILE`` tiles;
every tile contributes its pixels centred on the tile mean and divided by ``sqrt(var + C2/2)``, and one
"flatness" value ``sqrt(C2/2) / sqrt(var + C2/2)``. For two images the inner product of these vectors is the
mean over tiles of ``(cov + C2/2) / (s_x s_y)``, i.e. SSIM's contrast-structure term with the arithmetic mean
of the variances replaced by the geometric one (equal when the variances are equal): flat, black regions
of both images score 1 as they do in SSIM. On 500 distinct synthetic frames its correlation with 128 px
SSIM over all pairs is 0.91 (NCC of 32 px thumbnails: 0.83; measured with ``/tmp`` experiments described in
docs/scan.md).

How pairs are searched -- :func:`ann_pairs`: one FAISS ``IndexIVFFlat`` (inner product; ``~4 sqrt(N)`` lists,
``NPROBE`` probed: cost ``~N^1.5 D`` instead of ``N^2 D``; k-means trained single-threaded with a fixed seed, so
the same input gives the same index) answers two questions: each image's ``WIDEN * k`` nearest descriptors, re-scored
by exact SSIM at half the scan size with the scale-matched 3x3 window (:func:`busi_curate.scan.prune.rerank`, as
the ``ssim-cascade`` finder does) keeping the ``k`` best; and a range search keeping every pair whose descriptors
reach ``RANGE_THRESHOLD`` (an image with hundreds of partners above the screening threshold keeps them all).
Memory: the descriptors (``N x 4,352`` float32, 17 KB per image) twice (array + index).
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
#: the index returns ``WIDEN * k`` neighbours per image before the exact re-score keeps ``k``.
WIDEN = 4
#: IVF range search: pairs at or above this descriptor inner product are scored exactly. On 10,000 distinct
#: synthetic frames 99.5% of the pairs with 128 px SSIM >= 0.23 are above 0.332 (100 sampled rows; docs/scan.md).
RANGE_THRESHOLD = 0.33
NPROBE = 16
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


def ann_pairs(images: np.ndarray, k: int, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The ``faiss`` finder's pairs: the union of

    * each image's ``k`` best by exact SSIM at half size among its ``WIDEN * k`` nearest descriptors, and
    * every pair whose descriptors' inner product is at least ``RANGE_THRESHOLD`` (IVF range search): images
      with many partners above the screening threshold keep them all, not only ``k``.
    """
    from busi_curate.scan.prune import CASCADE_WINDOW, neighbour_pairs, rerank, shrink
    from busi_curate.ssim import SSIMSettings, get_backend

    n = len(images)
    desc = ssim_descriptor(images, tick=_bar("descriptors", n, progress))
    ivf = ivf_index(desc)
    wide = search(ivf, desc, WIDEN * k, tick=_bar("ann search", n, progress))
    ra, rb = range_pairs(ivf, desc, RANGE_THRESHOLD, tick=_bar("ann range", n, progress))
    del ivf, desc
    backend = get_backend("numba", settings=SSIMSettings(win_size=CASCADE_WINDOW))
    half = shrink(images, max(images.shape[1] // 2, 1))
    ka, kb = neighbour_pairs(rerank(backend, half, wide, k))
    code = np.unique(np.concatenate([ka * n + kb, ra * n + rb]))
    return code // n, code % n

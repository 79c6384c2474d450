"""Stage 2a, sub-quadratic: an approximate nearest-neighbour index (FAISS HNSW) over an SSIM-shaped descriptor.

What is compared -- :func:`ssim_descriptor`: each image at ``DESC_SIZE`` px is cut into ``TILE x TILE`` tiles;
every tile contributes its pixels centred on the tile mean and divided by ``sqrt(var + C2/2)``, and one
"flatness" value ``sqrt(C2/2) / sqrt(var + C2/2)``. For two images the inner product of these vectors is the
mean over tiles of ``(cov + C2/2) / (s_x s_y)``, i.e. SSIM's contrast-structure term with the arithmetic mean
of the variances replaced by the geometric one (equal when the variances are equal): flat, black regions
of both images score 1 as they do in SSIM. On 500 distinct synthetic frames its correlation with 128 px
SSIM over all pairs is 0.91 (NCC of 32 px thumbnails: 0.83; measured with ``/tmp`` experiments described in
docs/scan.md).

How neighbours are searched -- :func:`ann_neighbours`: a FAISS ``IndexHNSWFlat`` (graph search; cost about
``N log N``; built single-threaded with a fixed level seed, so the same input gives the same graph) returns each
image's ``WIDEN * k`` nearest descriptors; those are re-scored by exact SSIM at half the scan size with the
scale-matched 3x3 window (:func:`busi_curate.scan.prune.rerank`, as the ``ssim-cascade`` finder does) and the
``k`` best kept. No step is quadratic in N; memory is the descriptors (``N x 4,352`` float32) plus the graph.
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
HNSW_M = 32
EF_CONSTRUCTION = 80
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


def hnsw_index(
    desc: np.ndarray, m: int = HNSW_M, ef_construction: int = EF_CONSTRUCTION, tick: Tick | None = None
) -> Any:
    """A FAISS HNSW index (L2 on unit vectors = inner product order) of ``desc``, built deterministically
    (single-threaded, ``BLOCK`` rows per insertion call)."""
    faiss = _faiss()
    index = faiss.IndexHNSWFlat(desc.shape[1], m)
    index.hnsw.efConstruction = ef_construction
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)  # parallel insertion would make the graph depend on thread timing
    try:
        for lo in range(0, len(desc), BLOCK):
            index.add(np.ascontiguousarray(desc[lo : lo + BLOCK], dtype=np.float32))
            if tick is not None:
                tick(min(BLOCK, len(desc) - lo))
    finally:
        faiss.omp_set_num_threads(threads)
    return index


def search(index: Any, desc: np.ndarray, k: int, block: int = BLOCK, tick: Tick | None = None) -> np.ndarray:
    """Each row's ``k`` nearest other rows by the index, ``(N, k) int64`` (missing slots filled from the row's own
    list, never itself)."""
    n = len(desc)
    k = min(k, n - 1)
    index.hnsw.efSearch = max(2 * (k + 1), 64)
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


def ann_neighbours(images: np.ndarray, k: int, progress: bool = False) -> np.ndarray:
    """``k`` neighbours per image: HNSW over :func:`ssim_descriptor`, ``WIDEN * k`` re-scored at half size."""
    from busi_curate.scan.prune import CASCADE_WINDOW, rerank, shrink
    from busi_curate.ssim import SSIMSettings, get_backend

    n = len(images)
    desc = ssim_descriptor(images, tick=_bar("descriptors", n, progress))
    index = hnsw_index(desc, tick=_bar("ann index", n, progress))
    wide = search(index, desc, WIDEN * k, tick=_bar("ann search", n, progress))
    del index
    del desc
    backend = get_backend("numba", settings=SSIMSettings(win_size=CASCADE_WINDOW))
    half = shrink(images, max(images.shape[1] // 2, 1))
    return rerank(backend, half, wide, k)

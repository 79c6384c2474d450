"""The exact SSIM stage cut into blocks for an engine (:mod:`busi_curate.engine`): the all-pairs matrix by blocks
of reference rows, a pruned shortlist by tiles of pairs.

A pair's SSIM depends on the two images alone, not on the block that scored it, so any engine fills the same
matrix and the same pair values (the scan's outputs are byte-identical; tested). The all-pairs matrix computes the
per-image statistics (:meth:`SSIMBackend.prepare`) once and sends them once to the workers (its N x N matrix is
the larger array). A pruned scan's pairs are scored tile by tile (:func:`pair_tiles`): each task prepares only
the images of its tile, at most ``2 x side`` of them, so its memory does not grow with N (issue 21).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from busi_curate.engine import Engine, LocalEngine
from busi_curate.ssim.base import SSIMBackend

#: pixels per side of a tile of pairs (:func:`tile_side`): a task of the pruned exact stage prepares at most
#: ``2 x TILE_PIXELS`` pixels of images, whatever N: 2 x 4,096 images at 128 px (numba backend, uniform window:
#: about 109 KB of window statistics per 128 px image, so ~0.9 GB), 2 x 16,384 at 64 px (~28 KB each). Each image
#: is prepared once per tile row and column holding one of its pairs, at most ``ceil(N / side)`` times (at 128 px
#: ~180 us each, a pair ~25 us; CPU-seconds, 2-core EPYC Zen 3).
TILE_PIXELS = 4096 * 128 * 128


Tick = Callable[[int], object]


def row_tiles(i0: int, n: int, block: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The upper-triangle pairs ``(i < j)`` of reference rows ``i0 .. i0 + block``, tile by tile as
    :func:`busi_curate.ssim.base.iter_tiles` lists them (``block x block`` tiles, row-major)."""
    ii = np.arange(i0, min(i0 + block, n))
    for j0 in range(i0, n, block):
        a, b = np.meshgrid(ii, np.arange(j0, min(j0 + block, n)), indexing="ij")
        keep = a < b
        if keep.any():
            yield a[keep].astype(np.int64), b[keep].astype(np.int64)


def _score_rows(job: tuple[SSIMBackend, object, int, int], i0: int) -> np.ndarray:
    """SSIM of every pair of :func:`row_tiles` ``(i0, n, block)``, concatenated in that order (one block)."""
    backend, prepared, n, block = job
    parts = [backend.pairs_prepared(prepared, a, b) for a, b in row_tiles(i0, n, block)]
    return np.concatenate(parts) if parts else np.zeros(0)


def tile_side(images: np.ndarray) -> int:
    """Images per side of a tile for ``(N, H, W)`` images: :data:`TILE_PIXELS` pixels' worth (at least 1)."""
    return max(1, TILE_PIXELS // max(1, images.shape[1] * images.shape[2]))


def pair_tiles(a: np.ndarray, b: np.ndarray, side: int) -> list[np.ndarray]:
    """The positions of the pairs ``(a[k], b[k])`` grouped by tile ``(a // side, b // side)``, tiles in row-major
    order, each tile's pairs in their given order (a sorted shortlist keeps a reference image's pairs together)."""
    if len(a) == 0:
        return []
    span = int(max(a.max(), b.max())) // side + 1
    key = (a // side) * span + b // side
    order = np.argsort(key, kind="stable")
    cuts = np.flatnonzero(np.diff(key[order])) + 1
    return np.split(order, cuts)


def _score_tile(job: tuple[SSIMBackend, np.ndarray], pairs: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """SSIM of one tile of index pairs ``(a, b)``: only the images the tile names are prepared."""
    backend, images = job
    a, b = pairs
    rows = np.unique(np.concatenate([a, b]))
    prepared = backend.prepare(images[rows])
    return backend.pairs_prepared(prepared, np.searchsorted(rows, a), np.searchsorted(rows, b))


def exact_matrix(
    backend: SSIMBackend,
    images: np.ndarray,
    block: int = 64,
    engine: Engine | None = None,
    progress: Tick | None = None,
) -> np.ndarray:
    """All-pairs SSIM of ``(N, S, S) uint8`` images as :meth:`SSIMBackend.matrix` gives it (symmetric ``(N, N)
    float32``, NaN diagonal), one block of ``block`` reference rows per engine task; ``progress(pairs)``."""
    engine = engine or LocalEngine()
    n = images.shape[0]
    prepared = backend.prepare(images)
    out = np.full((n, n), np.nan, dtype=np.float32)
    starts = range(0, n, block)
    for i0, vals in zip(starts, engine.map(_score_rows, starts, shared=(backend, prepared, n, block))):
        at = 0
        for a, b in row_tiles(i0, n, block):
            v = vals[at : at + len(a)]
            out[a, b] = v
            out[b, a] = v
            at += len(a)
        if progress is not None:
            progress(at)
    return out


def exact_pairs(
    backend: SSIMBackend,
    images: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    engine: Engine | None = None,
    progress: Tick | None = None,
    side: int | None = None,
) -> np.ndarray:
    """``(P,) float64`` SSIM of the pairs ``images[a[k]], images[b[k]]``, one tile of :func:`pair_tiles` per
    engine task (each prepares at most ``2 x side`` images, default :func:`tile_side`); ``progress(pairs)``.

    The values are the ones :meth:`SSIMBackend.pairs` gives with every image prepared at once (a pair's SSIM
    depends on its two images alone; tested bit for bit)."""
    engine = engine or LocalEngine()
    a = np.ascontiguousarray(a, dtype=np.int64)
    b = np.ascontiguousarray(b, dtype=np.int64)
    vals = np.empty(len(a), dtype=np.float64)
    tiles = pair_tiles(a, b, max(1, side or tile_side(images)))
    for pos, v in zip(tiles, engine.map(_score_tile, ((a[t], b[t]) for t in tiles), shared=(backend, images))):
        vals[pos] = v
        if progress is not None:
            progress(len(v))
    return vals

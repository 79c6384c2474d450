"""The exact SSIM stage cut into blocks for an engine (:mod:`busi_curate.engine`): the all-pairs matrix by blocks
of reference rows, a pruned shortlist by blocks of pairs.

A pair's SSIM depends on the two images alone, not on the block that scored it, so any engine fills the same
matrix and the same pair values (the scan's outputs are byte-identical; tested). The per-image statistics
(:meth:`SSIMBackend.prepare`) are computed once and sent once to the workers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from busi_curate.engine import Engine, LocalEngine
from busi_curate.ssim.base import SSIMBackend

#: pairs scored per block of a pruned scan
PAIR_BLOCK = 20000

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


def _score_pairs(job: tuple[SSIMBackend, object], pairs: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """SSIM of one block of index pairs ``(a, b)``."""
    backend, prepared = job
    return backend.pairs_prepared(prepared, *pairs)


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
) -> np.ndarray:
    """``(P,) float64`` SSIM of the pairs ``images[a[k]], images[b[k]]``, :data:`PAIR_BLOCK` pairs per engine
    task; ``progress(pairs)``."""
    engine = engine or LocalEngine()
    vals = np.empty(len(a), dtype=np.float64)
    starts = range(0, len(a), PAIR_BLOCK)
    blocks = ((a[s : s + PAIR_BLOCK], b[s : s + PAIR_BLOCK]) for s in starts)
    for s, v in zip(starts, engine.map(_score_pairs, blocks, shared=(backend, backend.prepare(images)))):
        vals[s : s + len(v)] = v
        if progress is not None:
            progress(len(v))
    return vals

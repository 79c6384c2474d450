"""Stage 3 -- candidates: turn SSIM scores into each image's ranked list of most similar images."""

from __future__ import annotations

import numpy as np
import pandas as pd

from busi_curate.defaults import SCREEN_THRESHOLD  # re-exported: the candidates stage owns the cut-off

__all__ = ["SCREEN_THRESHOLD", "candidates_table", "top_k_from_matrix", "top_k_from_pairs"]

CANDIDATE_COLUMNS = ["reference_class", "reference_id", "candidate_class", "candidate_id", "rank", "ssim"]


def top_k_from_matrix(ssim: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's ``k`` best other rows, by SSIM descending, ties by lower row index.

    Args:
        ssim: ``(N, N)`` symmetric matrix (the diagonal is ignored).

    Returns:
        ``(rows, values)``, both ``(N, min(k, N-1))``.
    """
    n = ssim.shape[0]
    k = min(k, n - 1)
    m = ssim.astype(np.float64, copy=True)
    np.fill_diagonal(m, -np.inf)
    m[np.isnan(m)] = -np.inf
    # stable sort on -ssim keeps lower indices first among ties: deterministic
    order = np.argsort(-m, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(ssim, order, axis=1)


def top_k_from_pairs(
    n: int, a: np.ndarray, b: np.ndarray, values: np.ndarray, k: int
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Like :func:`top_k_from_matrix` for a sparse set of scored pairs ``(a[p], b[p], values[p])``."""
    rows = np.concatenate([a, b])
    cols = np.concatenate([b, a])
    vals = np.concatenate([values, values])
    order = np.lexsort((cols, -vals, rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    starts = np.searchsorted(rows, np.arange(n + 1))
    out_r, out_v = [], []
    for i in range(n):
        sl = slice(starts[i], min(starts[i] + k, starts[i + 1]))
        out_r.append(cols[sl])
        out_v.append(vals[sl])
    return out_r, out_v


def candidates_table(
    classes: list[str], ids: list[str], rows: list[np.ndarray] | np.ndarray, values: list[np.ndarray] | np.ndarray
) -> pd.DataFrame:
    """The ``candidates.csv`` table: one row per (reference, candidate), rank from 1."""
    recs = []
    for i, (rr, vv) in enumerate(zip(rows, values)):
        for r, (j, v) in enumerate(zip(rr, vv), start=1):
            recs.append((classes[i], ids[i], classes[int(j)], ids[int(j)], r, float(v)))
    return pd.DataFrame(recs, columns=CANDIDATE_COLUMNS)

"""The sub-quadratic candidate finder (``--finder faiss``): the descriptor behaves like SSIM's contrast-structure
term, the index is deterministic, it ranks like exhaustive SSIM on distinct frames, and exhaustive mode refuses
sizes whose N x N arrays would not fit."""

from __future__ import annotations

import numpy as np
import pytest

from busi_curate.errors import ScanError
from busi_curate.scan import ann, prune
from busi_curate.scan.candidates import top_k_from_matrix
from busi_curate.scan.run import check_exhaustive_fits
from busi_curate.ssim import get_backend
from busi_curate.studies.scale_data import base_frame, plan

pytest.importorskip("faiss")


@pytest.fixture(scope="module")
def distinct() -> np.ndarray:
    """120 distinct synthetic frames at 128 px."""
    from busi_curate.data.dataset import resize_gray

    return np.stack(
        [resize_gray(base_frame(4, p.index, p.cls)[0], 128) for p in plan(160, 4) if p.kind == "base"][:120]
    )


def test_descriptor_unit_norm_and_ssim_like(distinct: np.ndarray) -> None:
    flat = np.zeros((2, 128, 128), np.uint8)
    d = ann.ssim_descriptor(np.concatenate([distinct[:3], flat]))
    assert d.dtype == np.float32 and d.shape == (5, (64 // ann.TILE) ** 2 * (ann.TILE**2 + 1))
    np.testing.assert_allclose(np.linalg.norm(d, axis=1), 1, atol=1e-5)
    assert d[3] @ d[4] == pytest.approx(1, abs=1e-5)  # two black images: SSIM 1
    assert d[0] @ d[0] == pytest.approx(1, abs=1e-5) and d[0] @ d[1] < 0.9
    # the descriptor's similarity follows SSIM over all pairs of distinct frames
    ssim = get_backend("numba").matrix(distinct).astype(np.float64)
    full = ann.ssim_descriptor(distinct).astype(np.float64)
    iu = np.triu_indices(len(distinct), 1)
    assert np.corrcoef(ssim[iu], (full @ full.T)[iu])[0, 1] > 0.8


def test_descriptor_blocks_do_not_change_it(distinct: np.ndarray) -> None:
    np.testing.assert_array_equal(ann.ssim_descriptor(distinct, block=7), ann.ssim_descriptor(distinct))


def test_faiss_finder_deterministic_and_holds_ssim_top(distinct: np.ndarray) -> None:
    a1, b1 = prune.shortlist_pairs(distinct, 10, "faiss")
    a2, b2 = prune.shortlist_pairs(distinct, 10, "faiss")
    np.testing.assert_array_equal(a1, a2)
    np.testing.assert_array_equal(b1, b2)
    # each image's exhaustive SSIM top-3 is (almost all) in a 10-per-image shortlist of 120 distinct frames
    rows, _ = top_k_from_matrix(get_backend("numba").matrix(distinct), 3)
    n = len(distinct)
    i = np.repeat(np.arange(n), 3)
    want = np.unique(np.minimum(i, rows.ravel()) * n + np.maximum(i, rows.ravel()))
    assert np.isin(want, a1 * n + b1).mean() >= 0.95


def test_search_never_returns_self() -> None:
    desc = ann.ssim_descriptor(np.random.default_rng(0).integers(0, 256, (30, 64, 64), dtype=np.uint8))
    nb = ann.search(ann.ivf_index(desc), desc, 40)  # k above N - 1 is clipped
    assert nb.shape == (30, 29)
    assert all(i not in nb[i] for i in range(30))


def test_descriptor_index_is_exact_up_to_its_bound_then_ivf(monkeypatch: pytest.MonkeyPatch) -> None:
    desc = ann.ssim_descriptor(np.random.default_rng(1).integers(0, 256, (60, 64, 64), dtype=np.uint8))
    flat = ann.descriptor_index(desc)
    assert type(flat).__name__ == "IndexFlatIP"
    ips = desc @ desc.T
    np.fill_diagonal(ips, -np.inf)
    want = np.argsort(-ips, axis=1, kind="stable")[:, :5]
    assert np.array_equal(np.sort(ann.search(flat, desc, 5), axis=1), np.sort(want, axis=1))  # every true neighbour
    a, b = ann.range_pairs(flat, desc, 0.2)
    i, j = np.nonzero(np.triu(ips >= 0.2, 1))
    assert np.array_equal(a * 60 + b, i * 60 + j)  # every pair in range, nothing else
    monkeypatch.setattr(ann, "FLAT_MAX_IMAGES", 59)
    assert type(ann.descriptor_index(desc)).__name__ == "IndexIVFFlat"


def test_exhaustive_refused_when_it_does_not_fit() -> None:
    check_exhaustive_fits(1000, memory=2**30)  # 28 MB of 1 GiB
    with pytest.raises(ScanError, match="--mode pruned"):
        check_exhaustive_fits(30_000, memory=16 * 2**30)  # 25 GB of 16 GiB


def _exact_top(x: np.ndarray, k: int) -> np.ndarray:
    sims = x @ x.T
    np.fill_diagonal(sims, -np.inf)
    return np.argsort(-sims, axis=1, kind="stable")[:, :k]


def test_descend_finds_neighbours_of_neighbours() -> None:
    """A poor first table (each point's 3 nearest among a random quarter) is refined towards the exact top-5
    by neighbours of neighbours; the result and the scored pairs are the same on a second run."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 8))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    n = len(x)
    sub = np.sort(rng.choice(n, n // 4, replace=False))
    sims = x @ x[sub].T
    sims[sub, np.arange(len(sub))] = -np.inf
    first = sub[np.argsort(-sims, axis=1, kind="stable")[:, :3]]
    calls: list[int] = []

    def score(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        calls.append(len(a))
        return np.einsum("ij,ij->i", x[a], x[b])

    want = _exact_top(x, 5)

    def held(best: np.ndarray) -> float:
        return float(np.mean([len(set(want[i]) & set(best[i])) / 5 for i in range(n)]))

    best0, _, _ = ann.descend(score, first, 5, rounds=0, fanout=5)
    best, code, vals = ann.descend(score, first, 5, rounds=4, fanout=5)
    assert held(best0) < 0.5 and held(best) > 0.8  # measured 0.42 -> 0.83
    assert np.all(np.diff(code) > 0) and np.all(code // n < code % n)  # every pair once, a < b
    np.testing.assert_allclose(vals, np.einsum("ij,ij->i", x[code // n], x[code % n]))
    assert sum(calls[-5:]) == len(code) <= n * 3 + 4 * n * (45 + 25)  # the first table, then a bounded local join
    again = ann.descend(score, first, 5, rounds=4, fanout=5)
    np.testing.assert_array_equal(again[0], best)
    np.testing.assert_array_equal(again[1], code)

"""The pruned mode's candidate search: blocked top-k equals the matrix's, finders are a registry, planted
duplicates survive pruning, and on real BUSI the shortlist holds every pair the exhaustive scan ranks top 5."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from busi_curate.scan import prune
from busi_curate.scan.candidates import top_k_from_matrix
from busi_curate.ssim import SSIMSettings, get_backend
from busi_curate.studies.ssim_bench import sample_pairs, synthetic_thumbnails, time_pruned


@pytest.fixture(scope="module")
def small_set() -> tuple[np.ndarray, np.ndarray]:
    return synthetic_thumbnails(160, 64, seed=3, dup_fraction=0.05)


@pytest.mark.parametrize("block", [1, 3, 7, 64, 500])
def test_all_pairs_top_k_equals_matrix_top_k(block: int) -> None:
    images = np.random.default_rng(0).integers(0, 256, (23, 20, 20), dtype=np.uint8)
    backend = get_backend("numba", settings=SSIMSettings(win_size=3))
    want, _ = top_k_from_matrix(backend.matrix(images), 6)
    np.testing.assert_array_equal(prune.all_pairs_top_k(backend, images, 6, block=block), want)
    # k larger than N - 1 is clipped
    assert prune.all_pairs_top_k(backend, images[:4], 10, block=block).shape == (4, 3)


def test_top_k_neighbours_full_and_partial() -> None:
    sims = np.random.default_rng(1).random((9, 9))
    sims = sims + sims.T
    full = prune.top_k_neighbours(lambda lo, hi: sims[lo:hi], 9, 20, block=4)
    part = prune.top_k_neighbours(lambda lo, hi: sims[lo:hi], 9, 3, block=4)
    assert full.shape == (9, 8) and part.shape == (9, 3)
    np.testing.assert_array_equal(full[:, :3], part)
    assert all(i not in full[i] for i in range(9))


def test_neighbour_pairs_unique_sorted() -> None:
    nb = np.array([[1, 2], [0, 2], [0, 1], [2, 0]])
    a, b = prune.neighbour_pairs(nb)
    assert list(zip(a, b)) == [(0, 1), (0, 2), (0, 3), (1, 2), (2, 3)]


@pytest.mark.parametrize("finder", sorted(prune.FINDERS))
def test_every_finder_keeps_planted_duplicates(finder: str, small_set: tuple[np.ndarray, np.ndarray]) -> None:
    images, planted = small_set
    a, b = prune.shortlist_pairs(images, 10, finder)
    assert len(a) and np.all(a < b) and np.all(np.diff(a * len(images) + b) > 0)
    have = set(zip(a.tolist(), b.tolist()))
    for s, c in planted:
        assert (min(s, c), max(s, c)) in have, (finder, s, c)


def test_finder_union_and_unknown(small_set: tuple[np.ndarray, np.ndarray]) -> None:
    images, _ = small_set
    one = set(zip(*prune.shortlist_pairs(images, 5, "ncc")))
    both = set(zip(*prune.shortlist_pairs(images, 5, ("ncc", "phash"))))
    assert one < both
    with pytest.raises(KeyError, match="known: "):
        prune.shortlist_pairs(images, 5, "nope")


def test_ncc_features_constant_image() -> None:
    images = np.zeros((3, 64, 64), np.uint8)
    images[1] = 200
    images[2] = np.arange(64, dtype=np.uint8)[None, :]
    v = prune.ncc_features(images)
    assert v.shape == (3, 1024) and np.isfinite(v).all()
    assert not v[0].any() and not v[1].any() and np.linalg.norm(v[2]) == pytest.approx(1.0, abs=1e-5)


def test_odd_sizes_use_resize(small_set: tuple[np.ndarray, np.ndarray]) -> None:
    from busi_curate.data.dataset import resize_gray

    images = np.stack([resize_gray(im, 50) for im in small_set[0][:30]])
    a, b = prune.shortlist_pairs(images, 4)
    assert len(a) >= 30 * 4 // 2


def test_pruned_timing_finds_planted(small_set: tuple[np.ndarray, np.ndarray]) -> None:
    images, planted = small_set
    res = time_pruned(images, 10, planted, SSIMSettings())
    assert res["planted"] == len(planted) == 8 and res["planted_ranked_first"] == res["planted"]
    assert 0 < res["pairs_scored"] < 160 * 159 // 2


def test_synthetic_thumbnails_deterministic_and_distinct() -> None:
    x, p = synthetic_thumbnails(100, 32, seed=1)
    y, q = synthetic_thumbnails(100, 32, seed=1)
    np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(p, q)
    assert x.shape == (100, 32, 32) and x.dtype == np.uint8 and p.shape == (1, 2)
    assert len({im.tobytes() for im in x}) == 100


def test_sample_pairs_valid() -> None:
    a, b = sample_pairs(30, 100, seed=2)
    assert len(a) == 100 and np.all(a < b) and np.all(b < 30)
    assert len(set(zip(a.tolist(), b.tolist()))) == 100
    a, b = sample_pairs(5, 100)
    assert len(a) == 10


@pytest.mark.realdata
def test_real_busi_shortlist_holds_every_top5_pair(busi_dir: Path) -> None:
    """The default finder at the default prune_k keeps all 3,467 unordered top-5 pairs of the 128 px scan."""
    from busi_curate.data.dataset import load_dataset

    thumbs = load_dataset(busi_dir, thumbnail_size=128).thumbnails
    assert thumbs is not None
    matrix = get_backend("numba").matrix(thumbs)
    a, b = prune.shortlist_pairs(thumbs, prune.DEFAULT_PRUNE_K)
    found, total, missed = prune.recall_of_top(matrix, a, b, top=5)
    assert total > 3000 and missed == [] and found == total
    assert len(a) < 0.15 * len(thumbs) * (len(thumbs) - 1) / 2


@pytest.mark.parametrize(("n", "size"), [(2, 128), (3, 16), (5, 20), (40, 17)])
def test_small_sets_and_sizes_shortlist_everything(n: int, size: int) -> None:
    """With fewer than prune_k images every pair is kept, whatever the size (tiny sizes skip cascade stages)."""
    images = np.random.default_rng(n).integers(0, 256, (n, size, size), dtype=np.uint8)
    a, b = prune.shortlist_pairs(images, 50)
    assert len(a) == n * (n - 1) // 2

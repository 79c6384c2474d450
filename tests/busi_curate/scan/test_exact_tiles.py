"""The pruned scan's exact stage by tiles (issue 21, bounded memory): each tile prepares only its own images, and
every pair's value is the one all images prepared at once give, bit for bit, whatever the tile size."""

from __future__ import annotations

import numpy as np
import pytest

from busi_curate.scan.blocks import exact_pairs, pair_tiles, tile_side
from busi_curate.ssim import SSIMSettings, get_backend


def _random_pairs(rng: np.random.Generator, n: int, p: int) -> tuple[np.ndarray, np.ndarray]:
    """``p`` random unordered pairs ``a < b`` of ``n`` images, unique, sorted by ``a`` then ``b`` (as a shortlist)."""
    i, j = rng.integers(0, n, p), rng.integers(0, n, p)
    keep = i != j
    code = np.unique(np.minimum(i, j)[keep] * n + np.maximum(i, j)[keep])
    return code // n, code % n


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    """300 random 128 px images, a few of them flat (black, white) and some sharing rows of pixels."""
    rng = np.random.default_rng(21)
    imgs = rng.integers(0, 256, (300, 128, 128), dtype=np.uint8)
    imgs[:3] = 0
    imgs[3:6] = 255
    imgs[6:40, :64] = imgs[40:74, :64]  # half-shared images: SSIM well away from 0
    return imgs


@pytest.mark.parametrize("window", ["uniform", "gaussian"])
def test_tiles_equal_all_at_once_bit_for_bit(images: np.ndarray, window: str) -> None:
    rng = np.random.default_rng(3)
    a, b = _random_pairs(rng, len(images), 1500 if window == "uniform" else 300)
    backend = get_backend("numba", settings=SSIMSettings.named(window))
    whole = backend.pairs_prepared(backend.prepare(images), a, b)  # every thumbnail prepared at once (before)
    for side in (9, 64, 299, tile_side(images)):
        ticks: list[int] = []
        tiled = exact_pairs(backend, images, a, b, progress=ticks.append, side=side)
        assert tiled.dtype == np.float64 and tiled.view(np.uint64).tolist() == whole.view(np.uint64).tolist(), side
        assert tiled.astype(np.float32).tobytes() == whole.astype(np.float32).tobytes()
        assert sum(ticks) == len(a)
        if side == 9:
            assert len(ticks) > 200  # many tiles, each prepared on its own


def test_tiles_cover_each_pair_once_and_bound_the_images() -> None:
    rng = np.random.default_rng(5)
    a, b = _random_pairs(rng, 1000, 20000)
    side = 64
    tiles = pair_tiles(a, b, side)
    assert np.array_equal(np.sort(np.concatenate(tiles)), np.arange(len(a)))
    for pos in tiles:
        assert len(np.unique(a[pos] // side)) == 1 and len(np.unique(b[pos] // side)) == 1
        assert len(np.unique(np.concatenate([a[pos], b[pos]]))) <= 2 * side
        assert np.all(np.diff(pos) > 0)  # a tile keeps the shortlist's order (a reference image's pairs together)
    assert pair_tiles(a[:0], b[:0], side) == []
    assert exact_pairs(get_backend("numba"), np.zeros((2, 16, 16), np.uint8), a[:0], b[:0]).shape == (0,)


def test_reference_backend_tiles(images: np.ndarray) -> None:
    """The scikit-image backend (prepare = the images themselves) gives the same values by tiles too."""
    a, b = _random_pairs(np.random.default_rng(8), 60, 40)
    backend = get_backend("reference")
    whole = backend.pairs(images[:60], a, b)
    assert exact_pairs(backend, images[:60], a, b, side=5).tobytes() == whole.tobytes()

"""The one contract every SSIM backend passes: scikit-image's value to within 1e-6, on every kind of pair.

Parameterised over every registered backend (torch is skipped when the [bench] extra is absent) and
both window settings. Adding a backend to ``busi_curate.ssim.BACKENDS`` puts it under this test.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from busi_curate.errors import MissingExtraError
from busi_curate.ssim import BACKENDS, SSIMSettings, get_backend
from busi_curate.ssim.base import iter_tiles, n_pairs
from busi_curate.ssim.reference import skimage_ssim

TOL = 1e-6
WINDOWS = ["uniform", "gaussian"]


def _backend(name: str, settings: SSIMSettings):  # type: ignore[no-untyped-def]
    if name == "torch":
        pytest.importorskip("torch")
        return get_backend(name, settings=settings, device="cpu")
    return get_backend(name, settings=settings)


def adversarial_set(size: int, seed: int = 0) -> np.ndarray:
    """Random noise, constants 0/128/255, a smooth ramp, ultrasound-like frames, a half-blend and an exact copy."""
    from busi_curate.data.synthetic import _frame

    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (3, size, size), dtype=np.uint8)
    const = np.stack([np.full((size, size), v, np.uint8) for v in (0, 128, 255)])
    ramp = np.tile(np.linspace(0, 255, size).astype(np.uint8), (size, 1))[None]
    frames = np.stack([_frame(rng, size, size, k)[0] for k in ("benign", "malignant", None)])
    blend = ((frames[0].astype(np.int64) + frames[1]) // 2).astype(np.uint8)[None]
    sparse = np.zeros((1, size, size), np.uint8)
    sparse[0, ::5, ::3] = 255  # isolated bright pixels on black
    return np.concatenate([noise, const, ramp, frames, blend, frames[:1], sparse])


def _all_pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.triu_indices(n, 1)
    return a.astype(np.int64), b.astype(np.int64)


@pytest.mark.parametrize("window", WINDOWS)
@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_equals_scikit_image_on_adversarial_pairs(name: str, window: str) -> None:
    settings = SSIMSettings.named(window)
    images = adversarial_set(48)
    a, b = _all_pairs(len(images))
    expected = np.array([skimage_ssim(images[i], images[j], settings) for i, j in zip(a, b)])
    got = _backend(name, settings).pairs(images, a, b)
    assert got.shape == expected.shape and got.dtype == np.float64
    assert np.max(np.abs(got - expected)) < TOL


@pytest.mark.parametrize("window", WINDOWS)
@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_equals_scikit_image_on_random_pairs(name: str, window: str) -> None:
    """Random images at an odd size (T = 35 is not a multiple of the 8 SIMD lanes) and both orders of a pair."""
    settings = SSIMSettings.named(window)
    rng = np.random.default_rng(1)
    base = rng.integers(0, 256, (6, 45, 45), dtype=np.uint8)
    noisy = np.clip(base.astype(np.int64) + rng.integers(-20, 21, base.shape), 0, 255).astype(np.uint8)
    images = np.concatenate([base, noisy])
    a = rng.integers(0, len(images), 30)
    b = rng.integers(0, len(images), 30)
    keep = a != b
    a, b = a[keep], b[keep]
    expected = np.array([skimage_ssim(images[i], images[j], settings) for i, j in zip(a, b)])
    backend = _backend(name, settings)
    assert np.max(np.abs(backend.pairs(images, a, b) - expected)) < TOL
    assert np.max(np.abs(backend.pairs(images, b, a) - expected)) < TOL  # symmetric


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_identical_images_score_one(name: str) -> None:
    images = adversarial_set(32)
    idx = np.arange(len(images))
    got = _backend(name, SSIMSettings()).pairs(np.concatenate([images, images]), idx, idx + len(images))
    assert np.max(np.abs(got - 1.0)) < TOL


@pytest.mark.parametrize("win_size", [3, 5, 9, 11, 13])
def test_numba_other_uniform_windows(win_size: int) -> None:
    """The fused 3/5/7 paths, the generic integer path (9, 11) and the float64 fallback (13)."""
    settings = SSIMSettings(win_size=win_size)
    images = adversarial_set(40)[::2]
    a, b = _all_pairs(len(images))
    expected = np.array([skimage_ssim(images[i], images[j], settings) for i, j in zip(a, b)])
    assert np.max(np.abs(get_backend("numba", settings=settings).pairs(images, a, b) - expected)) < TOL


@pytest.mark.parametrize("name", sorted(BACKENDS))
@pytest.mark.parametrize("block", [1, 4, 7, 64])
def test_matrix_blocks_equal_pairs(name: str, block: int) -> None:
    """Tiles whose side does not divide N give the same symmetric matrix as scoring the pairs directly."""
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (11, 24, 24), dtype=np.uint8)
    backend = _backend(name, SSIMSettings())
    m = backend.matrix(images, block=block)
    a, b = _all_pairs(len(images))
    assert m.shape == (11, 11) and m.dtype == np.float32
    assert np.isnan(np.diag(m)).all()
    np.testing.assert_array_equal(m, m.T)
    np.testing.assert_allclose(m[a, b], backend.pairs(images, a, b).astype(np.float32), rtol=0, atol=1e-7)


def test_iter_tiles_covers_each_pair_once() -> None:
    for n, block in [(1, 3), (5, 2), (10, 3), (9, 9), (13, 64)]:
        seen = [(int(i), int(j)) for a, b in iter_tiles(n, block) for i, j in zip(a, b)]
        assert len(seen) == len(set(seen)) == n_pairs(n)
        assert all(i < j for i, j in seen)


def test_torch_block_budget_does_not_change_values() -> None:
    pytest.importorskip("torch")
    images = adversarial_set(32)
    a, b = _all_pairs(len(images))
    small = get_backend("torch", device="cpu", block_bytes=1).pairs(images, a, b)  # one pair per block
    big = get_backend("torch", device="cpu").pairs(images, a, b)
    np.testing.assert_array_equal(small, big)


def test_torch_missing_gives_missing_extra_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # "import torch" now raises ImportError
    monkeypatch.delitem(sys.modules, "busi_curate.ssim.torch_backend", raising=False)
    with pytest.raises(MissingExtraError, match=r"pip install -e \.\[bench\]"):
        get_backend("torch")


def test_unknown_backend_and_bad_images() -> None:
    with pytest.raises(KeyError, match="known: "):
        get_backend("nope")
    backend = get_backend("numba")
    with pytest.raises(ValueError, match="uint8"):
        backend.pairs(np.zeros((2, 16, 16), np.float32), np.array([0]), np.array([1]))
    with pytest.raises(ValueError, match="smaller than"):
        backend.pairs(np.zeros((2, 5, 5), np.uint8), np.array([0]), np.array([1]))

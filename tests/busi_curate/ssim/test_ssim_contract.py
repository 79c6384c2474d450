"""The one contract every SSIM backend passes: scikit-image's value to within 1e-6, on every kind of pair and shape.

:class:`TestBackendContract` is parameterised over every registered backend (torch is skipped when the
[bench] extra is absent), both window settings and a table of image shapes (square, non-square both ways,
odd sides, a single valid row or column). Adding a backend to ``busi_curate.ssim.BACKENDS`` puts it under
every test of the class.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from busi_curate.errors import MissingExtraError
from busi_curate.ssim import BACKENDS, SSIMBackend, SSIMSettings, get_backend
from busi_curate.ssim.base import iter_tiles, n_pairs
from busi_curate.ssim.reference import skimage_ssim

TOL = 1e-6  # the documented contract (busi_curate.ssim): do not loosen
WINDOWS = ["uniform", "gaussian"]

#: (H, W) image shapes, MONAI-style: square, non-square both ways, odd sides, sides just at the window
#: (a single valid row or column), rows wider than the 8 SIMD lanes with one valid row.
SHAPES: list[tuple[int, int]] = [(48, 48), (45, 45), (32, 48), (48, 32), (7, 9), (9, 7), (11, 13), (7, 40), (40, 11)]
SHAPE_CASES = [
    (shape, window)
    for shape in SHAPES
    for window in WINDOWS
    if min(shape) >= SSIMSettings.named(window).window  # the Gaussian window is 11x11
]
#: shapes smaller than the 7x7 window on one side (including one-row and one-column images)
TOO_SMALL: list[tuple[int, int]] = [(6, 40), (40, 6), (1, 48), (48, 1), (5, 5)]


def _backend(name: str, settings: SSIMSettings, **kwargs: object) -> SSIMBackend:
    if name == "torch":
        pytest.importorskip("torch")
        kwargs.setdefault("device", "cpu")
    return get_backend(name, settings=settings, **kwargs)


def adversarial_set(h: int, w: int | None = None, seed: int = 0) -> np.ndarray:
    """``(13, h, w) uint8``: random noise, constants 0/128/255, a smooth ramp, ultrasound-like frames,
    a half-blend, an exact copy and isolated bright pixels on black."""
    from busi_curate.data.synthetic import _frame

    w = h if w is None else w
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (3, h, w), dtype=np.uint8)
    const = np.stack([np.full((h, w), v, np.uint8) for v in (0, 128, 255)])
    ramp = np.tile(np.linspace(0, 255, w).astype(np.uint8), (h, 1))[None]
    frames = np.stack([_frame(rng, h, w, k)[0] for k in ("benign", "malignant", None)])
    blend = ((frames[0].astype(np.int64) + frames[1]) // 2).astype(np.uint8)[None]
    sparse = np.zeros((1, h, w), np.uint8)
    sparse[0, ::5, ::3] = 255
    return np.concatenate([noise, const, ramp, frames, blend, frames[:1], sparse])


def _all_pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.triu_indices(n, 1)
    return a.astype(np.int64), b.astype(np.int64)


def _expected(images: np.ndarray, a: np.ndarray, b: np.ndarray, settings: SSIMSettings) -> np.ndarray:
    return np.array([skimage_ssim(images[i], images[j], settings) for i, j in zip(a, b)], dtype=np.float64)


@pytest.fixture(params=sorted(BACKENDS))
def name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class TestBackendContract:
    """What every entry of :data:`busi_curate.ssim.BACKENDS` must do (the ``name`` fixture runs each)."""

    def test_registered_under_its_own_name(self, name: str) -> None:
        backend = _backend(name, SSIMSettings())
        assert isinstance(backend, SSIMBackend) and backend.name == name
        assert backend.settings == SSIMSettings()

    @pytest.mark.parametrize("shape,window", SHAPE_CASES, ids=[f"{h}x{w}-{win}" for (h, w), win in SHAPE_CASES])
    def test_equals_scikit_image_on_adversarial_pairs(self, name: str, shape: tuple[int, int], window: str) -> None:
        settings = SSIMSettings.named(window)
        images = adversarial_set(*shape)
        a, b = _all_pairs(len(images))
        got = _backend(name, settings).pairs(images, a, b)
        assert got.shape == a.shape and got.dtype == np.float64
        err = np.abs(got - _expected(images, a, b, settings))
        assert err.max() < TOL, f"{name} {shape} {window}: max error {err.max():.3g} at pair {int(err.argmax())}"

    @pytest.mark.parametrize("window", WINDOWS)
    @pytest.mark.parametrize("shape", [(45, 45), (33, 47)], ids=["45x45", "33x47"])
    def test_equals_scikit_image_on_random_pairs_in_both_orders(
        self, name: str, shape: tuple[int, int], window: str
    ) -> None:
        """Random images at odd sides (35 and 41 valid columns: not multiples of the 8 SIMD lanes)."""
        settings = SSIMSettings.named(window)
        rng = np.random.default_rng(1)
        base = rng.integers(0, 256, (6, *shape), dtype=np.uint8)
        noisy = np.clip(base.astype(np.int64) + rng.integers(-20, 21, base.shape), 0, 255).astype(np.uint8)
        images = np.concatenate([base, noisy])
        a = rng.integers(0, len(images), 30)
        b = rng.integers(0, len(images), 30)
        keep = a != b
        a, b = a[keep], b[keep]
        expected = _expected(images, a, b, settings)
        backend = _backend(name, settings)
        assert np.max(np.abs(backend.pairs(images, a, b) - expected)) < TOL
        assert np.max(np.abs(backend.pairs(images, b, a) - expected)) < TOL  # symmetric

    @pytest.mark.parametrize("shape", [(32, 32), (32, 48), (7, 9)], ids=["32x32", "32x48", "7x9"])
    def test_identical_images_score_one(self, name: str, shape: tuple[int, int]) -> None:
        images = adversarial_set(*shape)
        idx = np.arange(len(images))
        got = _backend(name, SSIMSettings()).pairs(np.concatenate([images, images]), idx, idx + len(images))
        assert np.max(np.abs(got - 1.0)) < TOL

    def test_no_pairs_give_an_empty_result(self, name: str) -> None:
        images = adversarial_set(16)
        got = _backend(name, SSIMSettings()).pairs(images, np.zeros(0, np.int64), np.zeros(0, np.int64))
        assert got.shape == (0,) and got.dtype == np.float64

    @pytest.mark.parametrize("block", [1, 4, 7, 64])
    @pytest.mark.parametrize("shape", [(24, 24), (20, 28)], ids=["24x24", "20x28"])
    def test_matrix_blocks_equal_pairs(self, name: str, shape: tuple[int, int], block: int) -> None:
        """Tiles whose side does not divide N give the same symmetric matrix as scoring the pairs directly."""
        rng = np.random.default_rng(2)
        images = rng.integers(0, 256, (11, *shape), dtype=np.uint8)
        backend = _backend(name, SSIMSettings())
        m = backend.matrix(images, block=block)
        a, b = _all_pairs(len(images))
        assert m.shape == (11, 11) and m.dtype == np.float32
        assert np.isnan(np.diag(m)).all()
        np.testing.assert_array_equal(m, m.T)
        np.testing.assert_allclose(m[a, b], backend.pairs(images, a, b).astype(np.float32), rtol=0, atol=1e-7)

    def test_matrix_reports_progress_for_every_pair(self, name: str) -> None:
        images = adversarial_set(20, 24)
        done: list[int] = []
        _backend(name, SSIMSettings()).matrix(images, block=4, progress=done.append)
        assert done and sum(done) == n_pairs(len(images))

    @pytest.mark.parametrize("shape", TOO_SMALL, ids=[f"{h}x{w}" for h, w in TOO_SMALL])
    def test_images_smaller_than_the_window_are_value_errors(self, name: str, shape: tuple[int, int]) -> None:
        backend = _backend(name, SSIMSettings())
        with pytest.raises(ValueError, match="smaller than the 7x7 window"):
            backend.pairs(np.zeros((2, *shape), np.uint8), np.array([0]), np.array([1]))

    @pytest.mark.parametrize(
        "images",
        [np.zeros((2, 16, 16), np.float32), np.zeros((2, 16, 16), np.uint16), np.zeros((16, 16), np.uint8)],
        ids=["float32", "uint16", "2-d"],
    )
    def test_non_uint8_stacks_are_value_errors(self, name: str, images: np.ndarray) -> None:
        with pytest.raises(ValueError, match=r"expected \(N, H, W\) uint8"):
            _backend(name, SSIMSettings()).pairs(images, np.array([0]), np.array([1]))

    def test_index_arrays_of_different_lengths_are_value_errors(self, name: str) -> None:
        with pytest.raises(ValueError, match="differ in length"):
            _backend(name, SSIMSettings()).pairs(adversarial_set(16), np.array([0, 1]), np.array([1]))


@pytest.mark.parametrize("win_size", [3, 5, 9, 11, 13])
@pytest.mark.parametrize("shape", [(40, 40), (29, 43)], ids=["40x40", "29x43"])
def test_numba_other_uniform_windows(shape: tuple[int, int], win_size: int) -> None:
    """The fused 3/5/7 paths, the generic integer path (9, 11) and the float64 fallback (13)."""
    settings = SSIMSettings(win_size=win_size)
    images = adversarial_set(*shape)[::2]
    a, b = _all_pairs(len(images))
    got = get_backend("numba", settings=settings).pairs(images, a, b)
    assert np.max(np.abs(got - _expected(images, a, b, settings))) < TOL


def test_iter_tiles_covers_each_pair_once() -> None:
    for n, block in [(1, 3), (5, 2), (10, 3), (9, 9), (13, 64)]:
        seen = [(int(i), int(j)) for a, b in iter_tiles(n, block) for i, j in zip(a, b)]
        assert len(seen) == len(set(seen)) == n_pairs(n)
        assert all(i < j for i, j in seen)


@pytest.mark.parametrize("shape", [(32, 32), (24, 40)], ids=["32x32", "24x40"])
def test_torch_block_budget_does_not_change_values(shape: tuple[int, int]) -> None:
    pytest.importorskip("torch")
    images = adversarial_set(*shape)
    a, b = _all_pairs(len(images))
    small = get_backend("torch", device="cpu", block_bytes=1).pairs(images, a, b)  # one pair per block
    big = get_backend("torch", device="cpu").pairs(images, a, b)
    np.testing.assert_array_equal(small, big)
    one = get_backend("torch", device="cpu", block_bytes=1).matrix(images)
    np.testing.assert_array_equal(one, get_backend("torch", device="cpu").matrix(images))


def test_torch_block_size_counts_both_sides() -> None:
    pytest.importorskip("torch")
    backend = get_backend("torch", device="cpu", block_bytes=1 << 20)
    assert backend.pairs_per_block(32) == backend.pairs_per_block(32, 32)
    assert backend.pairs_per_block(32, 64) < backend.pairs_per_block(32, 32)
    assert backend.pairs_per_block(32, 64) == backend.pairs_per_block(64, 32)


def test_torch_missing_gives_missing_extra_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # "import torch" now raises ImportError
    monkeypatch.delitem(sys.modules, "busi_curate.ssim.torch_backend", raising=False)
    with pytest.raises(MissingExtraError, match=r"pip install -e \.\[bench\]"):
        get_backend("torch")


def test_unknown_backend_is_a_key_error_listing_the_known_ones() -> None:
    with pytest.raises(KeyError, match="known: " + ", ".join(BACKENDS)):
        get_backend("nope")

"""Settings shared by every SSIM backend, the backend interface, and pair/tile enumeration."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class SSIMSettings:
    """What ``skimage.metrics.structural_similarity`` is asked to compute.

    Default: scikit-image's default (7x7 uniform window, sample covariance, data range 255).
    :meth:`wang2004` gives the Gaussian setting of Wang et al. (2004).
    """

    gaussian: bool = False
    win_size: int = 7
    sigma: float = 1.5
    sample_covariance: bool = True
    data_range: float = 255.0
    k1: float = 0.01
    k2: float = 0.03

    @classmethod
    def wang2004(cls) -> SSIMSettings:
        """Gaussian weights (sigma 1.5, 11x11 window), population covariance."""
        return cls(gaussian=True, win_size=11, sigma=1.5, sample_covariance=False)

    @classmethod
    def named(cls, name: str) -> SSIMSettings:
        """``"uniform"`` (scikit-image default) or ``"gaussian"`` (Wang et al. 2004)."""
        presets = {"uniform": cls(), "gaussian": cls.wang2004()}
        if name not in presets:
            raise KeyError(f"unknown SSIM window {name!r} (known: {', '.join(presets)})")
        return presets[name]

    @property
    def radius(self) -> int:
        """Half window; scikit-image crops this many pixels on each side before averaging."""
        if self.gaussian:
            return int(3.5 * self.sigma + 0.5)
        return (self.win_size - 1) // 2

    @property
    def window(self) -> int:
        return 2 * self.radius + 1

    def weights_1d(self) -> np.ndarray:
        """The separable 1-D window (float64, sums to 1), as scipy.ndimage builds it."""
        r = self.radius
        if not self.gaussian:
            return np.full(2 * r + 1, 1.0 / (2 * r + 1))
        x = np.arange(-r, r + 1, dtype=np.float64)
        phi = np.exp(-0.5 / (self.sigma * self.sigma) * x * x)
        return phi / phi.sum()

    @property
    def cov_norm(self) -> float:
        n = self.window**2
        return n / (n - 1.0) if self.sample_covariance else 1.0

    @property
    def c1(self) -> float:
        return (self.k1 * self.data_range) ** 2

    @property
    def c2(self) -> float:
        return (self.k2 * self.data_range) ** 2

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["window"] = self.window
        return d


ProgressFn = Callable[[int], None]


class SSIMBackend:
    """Interface every backend implements.

    Subclasses implement :meth:`pairs`; :meth:`matrix` is built on it tile by tile so memory stays
    bounded (``block`` images per tile side).
    """

    name: str = "abstract"

    def __init__(self, settings: SSIMSettings | None = None) -> None:
        self.settings = settings or SSIMSettings()

    def prepare(self, images: np.ndarray) -> object:
        """Per-image statistics computed once (means, variances); backends override this."""
        check_images(images, self.settings)
        return images

    def pairs_prepared(self, prepared: object, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """SSIM for index pairs given :meth:`prepare`'s output; backends implement this."""
        raise NotImplementedError

    def pairs(self, images: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """SSIM of ``images[a[k]]`` vs ``images[b[k]]`` for each k.

        Args:
            images: ``(N, H, W) uint8`` (square or not; each side at least the window).
            a, b: ``(P,) int64`` row indices.

        Returns:
            ``(P,) float64``.
        """
        a = np.ascontiguousarray(a, dtype=np.int64)
        b = np.ascontiguousarray(b, dtype=np.int64)
        if a.shape != b.shape:
            raise ValueError("index arrays differ in length")
        if a.size == 0:
            return np.zeros(0, dtype=np.float64)
        return self.pairs_prepared(self.prepare(images), a, b)

    def matrix(self, images: np.ndarray, block: int = 64, progress: ProgressFn | None = None) -> np.ndarray:
        """All-pairs SSIM as a symmetric ``(N, N) float32`` matrix with NaN on the diagonal.

        ``progress`` is called with the number of pairs finished after each tile.
        """
        prepared = self.prepare(images)
        n = images.shape[0]
        out = np.full((n, n), np.nan, dtype=np.float32)
        for a, b in iter_tiles(n, block):
            vals = self.pairs_prepared(prepared, a, b)
            out[a, b] = vals
            out[b, a] = vals
            if progress is not None:
                progress(len(a))
        return out


def check_images(images: np.ndarray, settings: SSIMSettings) -> None:
    """Raise ValueError unless ``images`` is ``(N, H, W) uint8`` with both sides at least the window."""
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"expected (N, H, W) uint8 images, got {images.shape} {images.dtype}")
    if min(images.shape[1:]) < settings.window:
        raise ValueError(
            f"images of {images.shape[1:]} are smaller than the {settings.window}x{settings.window} window"
        )


def n_pairs(n: int) -> int:
    """Number of unordered pairs of ``n`` images, self excluded."""
    return n * (n - 1) // 2


def iter_tiles(n: int, block: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Upper-triangle pairs (i < j) grouped by ``block x block`` tiles of the matrix, row-major."""
    for i0 in range(0, n, block):
        for j0 in range(i0, n, block):
            ii = np.arange(i0, min(i0 + block, n))
            jj = np.arange(j0, min(j0 + block, n))
            a, b = np.meshgrid(ii, jj, indexing="ij")
            keep = a < b
            if keep.any():
                yield a[keep].astype(np.int64), b[keep].astype(np.int64)

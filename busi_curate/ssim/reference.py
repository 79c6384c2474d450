"""The reference backend: scikit-image itself, one pair at a time (slow; the ground truth)."""

from __future__ import annotations

import numpy as np
from skimage.metrics import structural_similarity

from busi_curate.ssim.base import SSIMBackend, SSIMSettings


def skimage_ssim(x: np.ndarray, y: np.ndarray, settings: SSIMSettings) -> float:
    """``skimage.metrics.structural_similarity`` with ``settings``, on two ``(H, W) uint8`` images."""
    return float(
        structural_similarity(
            x,
            y,
            win_size=settings.window,
            gaussian_weights=settings.gaussian,
            sigma=settings.sigma,
            use_sample_covariance=settings.sample_covariance,
            data_range=settings.data_range,
            K1=settings.k1,
            K2=settings.k2,
        )
    )


class ReferenceBackend(SSIMBackend):
    """Calls scikit-image for every pair."""

    name = "reference"

    def pairs_prepared(self, prepared: object, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        images = prepared
        assert isinstance(images, np.ndarray)
        return np.array([skimage_ssim(images[i], images[j], self.settings) for i, j in zip(a, b)], dtype=np.float64)

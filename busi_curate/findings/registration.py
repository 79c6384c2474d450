"""Findings, registration: an upright similarity (scale + shift, no rotation) from one image onto another.

Used by :mod:`busi_curate.findings.masks` to compare the masks of two copies of one frame that were
cropped or saved at another size. The shift at each scale is the peak of the masked normalised
cross-correlation over all shifts (``skimage.registration.phase_cross_correlation`` with masks, FFT);
the correlation at that shift is then measured directly on the overlap.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Registration:
    """An upright similarity ``p_a = scale * p_b + (dy, dx)`` from image B to image A, original pixels.

    ``ncc`` is the normalised cross-correlation of the two (smoothed, working-size) images on their
    overlap at that transform: about 1 for two copies of one frame.
    """

    scale: float
    dy: float
    dx: float
    ncc: float


@dataclass(frozen=True)
class RegistrationSettings:
    """Parameters of :func:`register_pair`."""

    coarse_side: int = 64  # long side of A in the scale search
    fine_side: int = 160  # long side of A in the final fit
    min_scale: float = 0.5
    max_scale: float = 2.0
    scale_steps: int = 25  # geometric grid over [min_scale, max_scale]
    accept_same_scale: float = 0.95  # NCC at scale 1 that ends the search early
    min_overlap: float = 0.3  # share of the largest possible overlap a shift must keep
    min_ncc: float = 0.9  # below this a registration is not trusted (copies of one frame: ~0.99)


#: (ncc, scale, origin of B in A's working pixels)
Fit = tuple[float, float, tuple[int, int]]


def _resized(gray: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``(H, W) uint8`` -> ``shape`` float32, bilinear, then a Gaussian of sigma 1 px."""
    from PIL import Image
    from scipy import ndimage

    img = Image.fromarray(gray).resize((max(1, shape[1]), max(1, shape[0])), Image.Resampling.BILINEAR)
    return ndimage.gaussian_filter(np.asarray(img, dtype=np.float32), 1.0)


def overlap_ncc(A: np.ndarray, B: np.ndarray, origin: tuple[int, int]) -> float:  # noqa: N803
    """Pearson correlation of A and B on their overlap when B's top-left pixel sits at ``origin`` in A.

    NaN when the overlap is smaller than 2 x 2 or flat in either image.
    """
    oy, ox = origin
    y0, x0 = max(0, oy), max(0, ox)
    y1, x1 = min(A.shape[0], oy + B.shape[0]), min(A.shape[1], ox + B.shape[1])
    if y1 - y0 < 2 or x1 - x0 < 2:
        return float("nan")
    a = A[y0:y1, x0:x1].astype(np.float64).ravel()
    b = B[y0 - oy : y1 - oy, x0 - ox : x1 - ox].astype(np.float64).ravel()
    a -= a.mean()
    b -= b.mean()
    den = math.sqrt(float(a @ a) * float(b @ b))
    return float(a @ b) / den if den > 0 else float("nan")


def best_origin(A: np.ndarray, B: np.ndarray, overlap: float) -> tuple[int, int]:  # noqa: N803
    """B's top-left pixel in A's pixels at the peak of the masked normalised cross-correlation.

    ``skimage.registration.phase_cross_correlation`` returns the shift between the two images' centres;
    shifts that keep less than ``overlap`` of the largest possible overlap are ignored.
    """
    from skimage.registration import phase_cross_correlation

    shift, _, _ = phase_cross_correlation(
        A, B, reference_mask=np.ones(A.shape, bool), moving_mask=np.ones(B.shape, bool), overlap_ratio=overlap
    )
    oy, ox = np.asarray(shift, dtype=np.float64) - (np.asarray(B.shape) - np.asarray(A.shape)) / 2
    return round(float(oy)), round(float(ox))


def _best_fit(A: np.ndarray, b: np.ndarray, fa: float, scales: Iterable[float], overlap: float) -> Fit:  # noqa: N803
    """Best (ncc, scale, B origin in A's working pixels) over ``scales`` and all shifts."""
    best: Fit = (-2.0, 1.0, (0, 0))
    for s in scales:
        shape = (round(b.shape[0] * s * fa), round(b.shape[1] * s * fa))
        if min(shape) < 12:
            continue
        B = _resized(b, shape)  # noqa: N806
        origin = best_origin(A, B, overlap)
        ncc = overlap_ncc(A, B, origin)
        if ncc > best[0]:
            best = (ncc, float(s), origin)
    return best


def register_pair(
    a: np.ndarray, b: np.ndarray, settings: RegistrationSettings = RegistrationSettings()
) -> Registration:
    """Register image B onto image A (same frame, possibly cropped and rescaled; no rotation).

    Scale 1 is tried first (most copies are crops at one scale); otherwise a coarse search over a
    geometric scale grid, refined around the best scale at a finer size.
    """
    fa = settings.fine_side / max(a.shape)
    A = _resized(a, (round(a.shape[0] * fa), round(a.shape[1] * fa)))  # noqa: N806
    ncc, s, (oy, ox) = _best_fit(A, b, fa, [1.0], settings.min_overlap)
    if ncc < settings.accept_same_scale:
        fc = settings.coarse_side / max(a.shape)
        Ac = _resized(a, (round(a.shape[0] * fc), round(a.shape[1] * fc)))  # noqa: N806
        grid = np.geomspace(settings.min_scale, settings.max_scale, settings.scale_steps)
        _, sc, _ = _best_fit(Ac, b, fc, grid, settings.min_overlap)
        step = (settings.max_scale / settings.min_scale) ** (1 / max(1, settings.scale_steps - 1))
        fine = sc * step ** np.linspace(-1, 1, 5)
        cand = _best_fit(A, b, fa, fine, settings.min_overlap)
        if cand[0] > ncc:
            ncc, s, (oy, ox) = cand
    return Registration(scale=s, dy=oy / fa, dx=ox / fa, ncc=ncc)

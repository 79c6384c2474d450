"""Registration (busi_curate.findings.registration) of cropped and rescaled frames, and the IoU it gives."""

from __future__ import annotations

import numpy as np
import pytest

from busi_curate.findings import masks, registration


def smooth_frame(h: int, w: int, seed: int = 0) -> np.ndarray:
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    img = ndimage.gaussian_filter(rng.normal(0, 1, (h, w)), 6)
    img = (img - img.min()) / (img.max() - img.min())
    return (img * 255).astype(np.uint8)


@pytest.mark.parametrize("scale", [1.0, 0.8, 1.5])
def test_register_pair_recovers_crop_and_scale(scale: float) -> None:
    from PIL import Image

    a = smooth_frame(300, 400)
    crop = a[30:270, 50:370]  # B = A cropped at (30, 50) ...
    size = (round(crop.shape[1] * scale), round(crop.shape[0] * scale))
    b = np.asarray(Image.fromarray(crop).resize(size, Image.Resampling.BILINEAR))  # ... and rescaled
    reg = registration.register_pair(a, b)
    assert reg.ncc > 0.95
    assert reg.scale == pytest.approx(1 / scale, rel=0.03)
    assert reg.dy == pytest.approx(30, abs=4) and reg.dx == pytest.approx(50, abs=4)
    # the crop's lesion maps onto the original's
    mask_a = np.zeros(a.shape, bool)
    mask_a[100:180, 150:260] = True
    mask_b = np.asarray(Image.fromarray(mask_a[30:270, 50:370].astype(np.uint8) * 255).resize(size)) > 127
    assert masks.registered_mask_iou(mask_a, mask_b, reg) > 0.9
    assert (
        masks.mask_iou(masks.resize_mask(mask_a, 64), masks.resize_mask(mask_b, 64)) < 0.8
    )  # resizing alone misaligns


def test_unrelated_images_are_not_trusted() -> None:
    reg = registration.register_pair(smooth_frame(200, 260, seed=1), smooth_frame(210, 250, seed=2))
    assert reg.ncc < registration.RegistrationSettings().min_ncc


@pytest.mark.parametrize(
    ("top", "left", "h", "w"), [(0, 0, 60, 80), (17, 5, 40, 50), (3, 29, 71, 40), (40, 60, 30, 30)]
)
def test_best_origin_finds_where_a_crop_came_from(top: int, left: int, h: int, w: int) -> None:
    """The public phase_cross_correlation's centre shift, turned into B's top-left pixel in A."""
    a = smooth_frame(110, 120, seed=3).astype(np.float32)
    b = a[top : top + h, left : left + w]
    origin = registration.best_origin(a, b, overlap=0.3)
    assert origin == (top, left)
    assert registration.overlap_ncc(a, b, origin) == pytest.approx(1.0, abs=1e-9)
    assert registration.overlap_ncc(a, b, (top + 9, left - 7)) < 0.99


def test_overlap_ncc_is_pearson_on_the_overlap() -> None:
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(20, 30)), rng.normal(size=(10, 12))
    # B placed at (15, -4): rows 15..19 of A meet rows 0..4 of B, columns 0..7 of A meet columns 4..11 of B
    expected = np.corrcoef(a[15:20, 0:8].ravel(), b[0:5, 4:12].ravel())[0, 1]
    assert registration.overlap_ncc(a, b, (15, -4)) == pytest.approx(expected)
    assert np.isnan(registration.overlap_ncc(a, b, (19, 0)))  # a 1-row overlap
    assert np.isnan(registration.overlap_ncc(np.ones((5, 5)), np.ones((5, 5)), (0, 0)))  # flat

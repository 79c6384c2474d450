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

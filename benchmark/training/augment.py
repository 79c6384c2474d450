"""Stage: on-the-fly augmentation of training batches (paper section 5.1), identical for image and mask.

Flip along each axis with probability 0.5, then rotate by an angle uniform in [0, 360) degrees
(bilinear for the image, nearest for the mask, zero padding, same size). Two interchangeable
implementations, selected by ``RunConfig.augment``:

* ``monai``: MONAI dictionary transforms applied per sample (CPU path);
* ``torch``: the same operations batched on the device with ``affine_grid`` / ``grid_sample`` (GPU path).

Both are re-seeded from ``(seed, epoch)`` at the start of every epoch, so an epoch's augmentation
does not depend on earlier epochs (which makes ``--resume`` exact).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

Augmenter = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def monai_transforms(interp: str = "bilinear") -> object:
    """The MONAI dictionary pipeline for keys ``image`` and ``mask`` (each ``(1, H, W)``)."""
    from monai.transforms import Compose, RandFlipd, RandRotated

    keys = ("image", "mask")
    return Compose(
        [
            RandFlipd(keys, prob=0.5, spatial_axis=0),
            RandFlipd(keys, prob=0.5, spatial_axis=1),
            RandRotated(
                keys,
                range_x=(0.0, 2 * math.pi),
                prob=1.0,
                keep_size=True,
                mode=(interp, "nearest"),
                padding_mode="zeros",
            ),
        ]
    )


class MonaiAugment:
    """Per-sample MONAI dictionary transforms over a batch; ``reseed(s)`` fixes the random stream."""

    def __init__(self, interp: str = "bilinear") -> None:
        self.pipeline = monai_transforms(interp)

    def reseed(self, seed: int) -> None:
        """Restart the transforms' random stream from ``seed``."""
        self.pipeline.set_random_state(seed=seed % (2**32))  # type: ignore[attr-defined]

    def __call__(self, images: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Augment ``(B, 1, H, W)`` images and masks, sample by sample."""
        from monai.utils import convert_to_tensor

        out_i, out_m = [], []
        for img, msk in zip(images, masks):
            d = self.pipeline({"image": img, "mask": msk})  # type: ignore[operator]
            # plain tensors: a MONAI MetaTensor would slow every later torch op tenfold
            out_i.append(convert_to_tensor(d["image"], track_meta=False))
            out_m.append(convert_to_tensor(d["mask"], track_meta=False))
        return torch.stack(out_i).to(images.dtype), torch.stack(out_m).to(masks.dtype)


class TorchAugment:
    """Batched on-device flips and rotations with a private ``torch.Generator``."""

    def __init__(self, device: torch.device, interp: str = "bilinear") -> None:
        self.device = device
        self.interp = interp
        self.gen = torch.Generator(device=device)

    def reseed(self, seed: int) -> None:
        """Restart the random stream from ``seed``."""
        self.gen.manual_seed(seed)

    def __call__(self, images: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Augment ``(B, 1, H, W)`` images and masks on their device."""
        b = images.shape[0]
        r = torch.rand((b, 3), generator=self.gen, device=self.device)
        flip_h = (r[:, 0] < 0.5).view(b, 1, 1, 1)
        flip_w = (r[:, 1] < 0.5).view(b, 1, 1, 1)
        images = torch.where(flip_h, images.flip(-2), images)
        masks = torch.where(flip_h, masks.flip(-2), masks)
        images = torch.where(flip_w, images.flip(-1), images)
        masks = torch.where(flip_w, masks.flip(-1), masks)
        theta = r[:, 2] * (2 * math.pi)
        cos, sin = torch.cos(theta), torch.sin(theta)
        zero = torch.zeros_like(cos)
        mat = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
        grid = F.affine_grid(mat.to(images.dtype), list(images.shape), align_corners=False)
        images = F.grid_sample(images, grid, mode=self.interp, padding_mode="zeros", align_corners=False)
        masks = F.grid_sample(masks, grid.to(masks.dtype), mode="nearest", padding_mode="zeros", align_corners=False)
        return images, masks


def make_augmenter(kind: str, device: torch.device, interp: str = "bilinear") -> MonaiAugment | TorchAugment | None:
    """``auto`` -> MONAI on CPU, batched torch on CUDA; ``none`` -> None. ``interp`` is the image's
    interpolation under rotation (masks always nearest)."""
    if kind == "auto":
        kind = "torch" if device.type == "cuda" else "monai"
    if kind == "none":
        return None
    return MonaiAugment(interp) if kind == "monai" else TorchAugment(device, interp)


def epoch_seed(seed: int, epoch: int, stream: int = 0) -> int:
    """Seed of one epoch's random stream (``stream`` separates shuffling from augmentation)."""
    return int(np.random.SeedSequence([seed, epoch, stream]).generate_state(1)[0])

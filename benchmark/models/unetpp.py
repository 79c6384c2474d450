"""UNet++ (Zhou et al. 2018) as used in the paper, from MONAI's ``TwoConv`` / ``Down`` / ``UpCat`` blocks.

Five levels with features (24, 48, 96, 192, 384), instance normalisation, LeakyReLU(0.1), and a
deep-supervision head on every nested top-row output ``X_{0,1..4}`` (4 outputs, ``X_{0,4}`` first).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.networks.nets.basic_unet import Down, TwoConv, UpCat

from benchmark.models.base import Backbone, Features, SegHeads

ACT = ("LeakyReLU", {"negative_slope": 0.1, "inplace": True})
NORM = ("instance", {"affine": True})


class UNetPlusPlus(Backbone):
    """Nested U-Net with deep supervision.

    Args:
        in_channels: input channels (1 for grayscale ultrasound).
        features: channels of levels 0..4.
    """

    divisor = 16
    n_outputs = 4

    def __init__(self, in_channels: int = 1, features: Sequence[int] = (24, 48, 96, 192, 384)) -> None:
        super().__init__()
        f = list(features)
        if len(f) != 5:
            raise ValueError(f"UNet++ needs 5 feature sizes, got {f}")
        self.x00 = TwoConv(2, in_channels, f[0], act=ACT, norm=NORM, bias=True)
        self.x10 = Down(2, f[0], f[1], act=ACT, norm=NORM, bias=True)
        self.x20 = Down(2, f[1], f[2], act=ACT, norm=NORM, bias=True)
        self.x30 = Down(2, f[2], f[3], act=ACT, norm=NORM, bias=True)
        self.x40 = Down(2, f[3], f[4], act=ACT, norm=NORM, bias=True)
        self.x01 = UpCat(2, f[1], f[0], f[0], act=ACT, norm=NORM, bias=True, halves=False)
        self.x11 = UpCat(2, f[2], f[1], f[1], act=ACT, norm=NORM, bias=True)
        self.x21 = UpCat(2, f[3], f[2], f[2], act=ACT, norm=NORM, bias=True)
        self.x31 = UpCat(2, f[4], f[3], f[3], act=ACT, norm=NORM, bias=True)
        self.x02 = UpCat(2, f[1], f[0] * 2, f[0], act=ACT, norm=NORM, bias=True, halves=False)
        self.x12 = UpCat(2, f[2], f[1] * 2, f[1], act=ACT, norm=NORM, bias=True)
        self.x22 = UpCat(2, f[3], f[2] * 2, f[2], act=ACT, norm=NORM, bias=True)
        self.x03 = UpCat(2, f[1], f[0] * 3, f[0], act=ACT, norm=NORM, bias=True, halves=False)
        self.x13 = UpCat(2, f[2], f[1] * 3, f[1], act=ACT, norm=NORM, bias=True)
        self.x04 = UpCat(2, f[1], f[0] * 4, f[0], act=ACT, norm=NORM, bias=True, halves=False)
        self.heads = SegHeads([f[0]] * 4)
        self.bottleneck_channels, self.enc_prev_channels, self.dec_prev_channels = f[4], f[3], f[3]

    def forward(self, x: torch.Tensor) -> Features:
        """``(B, C, H, W)`` with H, W multiples of 16 -> :class:`Features` (4 outputs)."""
        x00 = self.x00(x)
        x10 = self.x10(x00)
        x01 = self.x01(x10, x00)
        x20 = self.x20(x10)
        x11 = self.x11(x20, x10)
        x02 = self.x02(x11, torch.cat([x00, x01], 1))
        x30 = self.x30(x20)
        x21 = self.x21(x30, x20)
        x12 = self.x12(x21, torch.cat([x10, x11], 1))
        x03 = self.x03(x12, torch.cat([x00, x01, x02], 1))
        x40 = self.x40(x30)
        x31 = self.x31(x40, x30)
        x22 = self.x22(x31, torch.cat([x20, x21], 1))
        x13 = self.x13(x22, torch.cat([x10, x11, x12], 1))
        x04 = self.x04(x13, torch.cat([x00, x01, x02, x03], 1))
        seg = self.heads([x04, x03, x02, x01], tuple(x.shape[-2:]))
        return Features(seg, bottleneck=x40, enc_prev=x30, dec_prev=x31)

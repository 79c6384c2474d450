"""nnU-Net-like plain U-Net for 128 x 128 2-D inputs, from the same MONAI blocks.

Widths 32/64/128/256/320 (nnU-Net's 2-D defaults, capped at 320), two 3x3 convolutions per level
with instance normalisation and LeakyReLU, max-pool downsampling (nnU-Net uses strided
convolutions), transposed-convolution upsampling and deep supervision on every decoder level
(4 outputs, full resolution first; lower ones upsampled to the input size).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.networks.nets.basic_unet import Down, TwoConv, UpCat

from .base import Backbone, Features, SegHeads
from .unetpp import ACT, NORM


class NNUNetLike(Backbone):
    """Five-level U-Net with deep supervision.

    Args:
        in_channels: input channels.
        features: channels of levels 0..4.
    """

    divisor = 16
    n_outputs = 4

    def __init__(self, in_channels: int = 1, features: Sequence[int] = (32, 64, 128, 256, 320)) -> None:
        super().__init__()
        f = list(features)
        blk = dict(act=ACT, norm=NORM, bias=True)
        self.e0 = TwoConv(2, in_channels, f[0], **blk)
        self.e1 = Down(2, f[0], f[1], **blk)
        self.e2 = Down(2, f[1], f[2], **blk)
        self.e3 = Down(2, f[2], f[3], **blk)
        self.e4 = Down(2, f[3], f[4], **blk)
        self.d3 = UpCat(2, f[4], f[3], f[3], **blk, halves=False)
        self.d2 = UpCat(2, f[3], f[2], f[2], **blk, halves=False)
        self.d1 = UpCat(2, f[2], f[1], f[1], **blk, halves=False)
        self.d0 = UpCat(2, f[1], f[0], f[0], **blk, halves=False)
        self.heads = SegHeads([f[0], f[1], f[2], f[3]])
        self.bottleneck_channels, self.enc_prev_channels, self.dec_prev_channels = f[4], f[3], f[3]

    def forward(self, x: torch.Tensor) -> Features:
        """``(B, C, H, W)`` with H, W multiples of 16 -> :class:`Features` (4 outputs)."""
        e0 = self.e0(x)
        e1 = self.e1(e0)
        e2 = self.e2(e1)
        e3 = self.e3(e2)
        e4 = self.e4(e3)
        d3 = self.d3(e4, e3)
        d2 = self.d2(d3, e2)
        d1 = self.d1(d2, e1)
        d0 = self.d0(d1, e0)
        seg = self.heads([d0, d1, d2, d3], tuple(x.shape[-2:]))
        return Features(seg, bottleneck=e4, enc_prev=e3, dec_prev=d3)

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

from benchmark.models.base import Backbone, Features, SegHeads
from benchmark.models.unetpp import ACT, NORM


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
        self.e0 = TwoConv(2, in_channels, f[0], act=ACT, norm=NORM, bias=True)
        self.e1 = Down(2, f[0], f[1], act=ACT, norm=NORM, bias=True)
        self.e2 = Down(2, f[1], f[2], act=ACT, norm=NORM, bias=True)
        self.e3 = Down(2, f[2], f[3], act=ACT, norm=NORM, bias=True)
        self.e4 = Down(2, f[3], f[4], act=ACT, norm=NORM, bias=True)
        self.d3 = UpCat(2, f[4], f[3], f[3], act=ACT, norm=NORM, bias=True, halves=False)
        self.d2 = UpCat(2, f[3], f[2], f[2], act=ACT, norm=NORM, bias=True, halves=False)
        self.d1 = UpCat(2, f[2], f[1], f[1], act=ACT, norm=NORM, bias=True, halves=False)
        self.d0 = UpCat(2, f[1], f[0], f[0], act=ACT, norm=NORM, bias=True, halves=False)
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


class NNUNet2D(Backbone):
    """The nnU-Net 2-D plan for 128 x 128 inputs (the authors' MT nnU-Net), from MONAI's DynUNet blocks.

    Six levels, widths 32/64/128/256/320/320, strides 1/2/2/2/2/2 (strided-convolution downsampling,
    bottleneck 4 x 4 at 128 x 128), each level a MONAI ``UnetBasicBlock`` (two 3x3 convolutions, instance
    norm, LeakyReLU 0.01), ``UnetUpBlock`` decoders (2x2 transposed convolution, concatenation, two
    convolutions), and deep supervision on the four finest decoder levels through learned heads
    (1x1 convolution, then a transposed convolution back to the input size).
    """

    divisor = 32
    n_outputs = 4

    def __init__(self, in_channels: int = 1, features: Sequence[int] = (32, 64, 128, 256, 320, 320)) -> None:
        super().__init__()
        from monai.networks.blocks.dynunet_block import UnetBasicBlock, UnetUpBlock
        from torch import nn

        f = list(features)
        strides = [1] + [2] * (len(f) - 1)
        norm, act = ("INSTANCE", {"affine": True}), ("leakyrelu", {"inplace": True, "negative_slope": 0.01})
        self.enc = nn.ModuleList(
            UnetBasicBlock(2, in_channels if i == 0 else f[i - 1], f[i], 3, strides[i], norm, act)
            for i in range(len(f))
        )
        self.dec = nn.ModuleList(
            UnetUpBlock(2, f[i + 1] if i == len(f) - 2 else f[i + 1], f[i], 3, 2, 2, norm, act)
            for i in range(len(f) - 1)
        )
        # heads on decoder levels 0..3 (full, 1/2, 1/4, 1/8 resolution), learned upsampling to full size
        self.heads = nn.ModuleList(
            nn.Conv2d(f[0], 1, 1)
            if k == 0
            else nn.Sequential(nn.Conv2d(f[k], 1, 1), nn.ConvTranspose2d(1, 1, kernel_size=2**k, stride=2**k))
            for k in range(4)
        )
        n = len(f)
        self.bottleneck_channels, self.enc_prev_channels, self.dec_prev_channels = f[n - 1], f[n - 2], f[n - 2]

    def forward(self, x: torch.Tensor) -> Features:
        """``(B, C, H, W)`` with H, W multiples of 32 -> :class:`Features` (4 outputs)."""
        skips = []
        h = x
        for block in self.enc:
            h = block(h)
            skips.append(h)
        bottleneck = h
        decoded = {}
        for i in range(len(self.dec) - 1, -1, -1):
            h = self.dec[i](h, skips[i])
            decoded[i] = h
        seg = [head(decoded[k]) for k, head in enumerate(self.heads)]
        n = len(skips)
        return Features(seg, bottleneck=bottleneck, enc_prev=skips[n - 2], dec_prev=decoded[n - 2])

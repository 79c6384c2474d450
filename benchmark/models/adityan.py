"""Adityan et al. [36] as the paper's authors re-implemented it for Tables 8 and 9, from MONAI blocks.

Five levels with widths 64 * 2^i (64..1024); each level two 3x3 convolutions with ReLU and no
normalisation; max-pooling down, 2x2 transposed convolutions up, skips by concatenation. The top
features (level-1 encoder output concatenated with the upsampled decoder, 128 channels) feed three
heads:

* segmentation: two 3x3 conv + ReLU to 64 channels, then a 1x1 convolution (one logit);
* reconstruction of the input: two 3x3 conv + ReLU, a 3x3 convolution, sigmoid (a regulariser, trained
  with a mean-squared loss weighted by ``recon_weight``);
* classification: three 2x max-pools (128 -> 16 at 128x128 inputs), a 3x3 convolution to 32 channels
  with ReLU, global average pooling, dense 1000 (ReLU), dense 3.

No deep supervision (one segmentation output).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.networks.blocks import Convolution
from torch import nn

from benchmark.models.base import ModelOutput
from benchmark.profiles import Task

RELU = "RELU"


def _two_conv(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        Convolution(2, c_in, c_out, kernel_size=3, act=RELU, norm=None),
        Convolution(2, c_out, c_out, kernel_size=3, act=RELU, norm=None),
    )


class AdityanNet(nn.Module):
    """Multi-task U-Net with segmentation, reconstruction and classification heads.

    Args:
        in_channels: input channels.
        widths: channels of the five levels.
        n_classes: classes of the classification head.
    """

    divisor = 16
    n_outputs = 1
    task: Task = "mt"

    def __init__(
        self, in_channels: int = 1, widths: Sequence[int] = (64, 128, 256, 512, 1024), n_classes: int = 3
    ) -> None:
        super().__init__()
        w = list(widths)
        self.enc = nn.ModuleList([_two_conv(in_channels, w[0])] + [_two_conv(w[i - 1], w[i]) for i in range(1, 5)])
        self.pool = nn.MaxPool2d(2)
        self.up = nn.ModuleList([nn.ConvTranspose2d(w[i + 1], w[i], kernel_size=2, stride=2) for i in range(4)])
        # decoder blocks of levels 1..3 (level 0 is the heads' input: concatenation only)
        self.dec = nn.ModuleList([nn.Identity()] + [_two_conv(2 * w[i], w[i]) for i in range(1, 4)])
        top = 2 * w[0]
        self.seg_head = nn.Sequential(_two_conv(top, w[0]), nn.Conv2d(w[0], 1, kernel_size=1))
        self.recon_head = nn.Sequential(
            _two_conv(top, w[0]), nn.Conv2d(w[0], 1, kernel_size=3, padding=1), nn.Sigmoid()
        )
        self.cls_head = nn.Sequential(
            nn.MaxPool2d(2),
            nn.MaxPool2d(2),
            nn.MaxPool2d(2),
            Convolution(2, top, 32, kernel_size=3, act=RELU, norm=None),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(32, 1000),
            nn.ReLU(inplace=True),
            nn.Linear(1000, n_classes),
        )

    def forward(self, x: torch.Tensor) -> ModelOutput:
        """``(B, C, H, W)`` with H, W multiples of 16 -> :class:`ModelOutput` with ``recon``."""
        skips = []
        h = x
        for i, block in enumerate(self.enc):
            h = block(h if i == 0 else self.pool(h))
            skips.append(h)
        h = skips[4]
        for i in (3, 2, 1):
            h = self.dec[i](torch.cat([skips[i], self.up[i](h)], 1))
        top = torch.cat([skips[0], self.up[0](h)], 1)
        return ModelOutput(seg=[self.seg_head(top)], cls=self.cls_head(top), recon=self.recon_head(top))

"""Table 4 baselines the authors wrote themselves (not MONAI networks), rebuilt from their described design.

Facts (widths, depths, blocks, initialisation) come from the authors' public repository
(caumente/multi_task_breast_cancer, ``src/models/segmentation/``, commit f51f58e); the code here is ours,
from torch layers. See ``benchmark/README.md`` ("Table 4 baselines") for every setting and its source.

* :class:`BTSUNet` -- BTS U-Net (reference [46]): 4 encoder levels of two (3x3 convolution without
  bias, instance norm, LeakyReLU) whose first convolution has half the level's width, max-pool
  downsampling, a bottleneck at the deepest level's resolution concatenated with that level, nearest
  upsampling, and deep supervision on the 3 decoder levels (transposed convolutions back to full size).
* :class:`NNUNet2021` -- the authors' "nnU-Net": the same blocks, 5 levels 32..320 plus a pooled
  bottleneck, transposed-convolution upsampling, deep supervision on the 4 finest decoder levels.
* :class:`ResidualUNet` -- the authors' Residual U-Net: pre-activation residual blocks (batch norm,
  LeakyReLU, dropout 0.2), 3 strided downsamplings doubling the width, transposed-convolution
  upsampling; the forward path of their code uses no skip connections, and neither does this one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConvNormAct(nn.Sequential):
    """3x3 convolution (no bias) -> instance norm (no affine) -> LeakyReLU 0.01."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__(
            nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False), nn.InstanceNorm2d(out_ch), nn.LeakyReLU(inplace=True)
        )


class LevelBlock(nn.Sequential):
    """Two :class:`ConvNormAct`: ``in_ch -> mid_ch -> out_ch``."""

    def __init__(self, in_ch: int, mid_ch: int, out_ch: int) -> None:
        super().__init__(ConvNormAct(in_ch, mid_ch), ConvNormAct(mid_ch, out_ch))


def _upsampled_head(channels: int, factor: int) -> nn.Module:
    """A deep-supervision output: transposed convolution by ``factor`` (kernel = stride), then a 1x1 to 1 logit."""
    return nn.Sequential(nn.ConvTranspose2d(channels, channels, factor, stride=factor), nn.Conv2d(channels, 1, 1))


def kaiming_init(net: nn.Module) -> None:
    """He-normal weights (LeakyReLU gain) and zero biases on every ``nn.Conv2d``, as the authors' models do."""
    for m in net.modules():
        if type(m) is nn.Conv2d:
            nn.init.kaiming_normal_(m.weight, nonlinearity="leaky_relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class BTSUNet(nn.Module):
    """BTS U-Net, 2-D: ``(B, C, H, W)`` (H, W multiples of 8) -> logits, finest first.

    Args:
        in_channels: input channels.
        width: channels of the first level (levels: width x 1, 2, 4, 8).
        deep_supervision: in training mode return 3 outputs (finest first), else only the finest.
    """

    def __init__(self, in_channels: int = 1, width: int = 24, deep_supervision: bool = True) -> None:
        super().__init__()
        w = [width * 2**i for i in range(4)]
        self.deep_supervision = deep_supervision
        self.enc = nn.ModuleList(LevelBlock(a, b // 2, b) for a, b in zip([in_channels, *w[:3]], w))
        self.bottleneck = LevelBlock(w[3], w[3], w[3])
        self.merge = ConvNormAct(2 * w[3], w[2])
        self.dec = nn.ModuleList(
            [LevelBlock(2 * w[2], w[2], w[1]), LevelBlock(2 * w[1], w[1], w[0]), LevelBlock(2 * w[0], w[0], w[0] // 2)]
        )
        self.out = nn.ModuleList([nn.Conv2d(w[0] // 2, 1, 1), _upsampled_head(w[0], 2), _upsampled_head(w[1], 4)])
        kaiming_init(self)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        skips = []
        for i, block in enumerate(self.enc):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        x = self.merge(torch.cat([skips[3], self.bottleneck(skips[3])], 1))
        decoded = []
        for block, skip in zip(self.dec, reversed(skips[:3])):
            x = block(torch.cat([skip, F.interpolate(x, scale_factor=2.0, mode="nearest")], 1))
            decoded.append(x)
        finest = self.out[0](decoded[2])
        if not (self.deep_supervision and self.training):
            return [finest]
        return [finest, self.out[1](decoded[1]), self.out[2](decoded[0])]


class NNUNet2021(nn.Module):
    """The authors' nnU-Net, 2-D: ``(B, C, H, W)`` (H, W multiples of 32) -> 4 logits, finest first
    (training mode; the finest only in eval mode).

    Args:
        in_channels: input channels.
        widths: channels of the 5 encoder levels (the bottleneck keeps the last).
    """

    def __init__(self, in_channels: int = 1, widths: tuple[int, ...] = (32, 64, 128, 256, 320)) -> None:
        super().__init__()
        w = list(widths)
        self.enc = nn.ModuleList(LevelBlock(a, b, b) for a, b in zip([in_channels, *w[:-1]], w))
        self.bottleneck = LevelBlock(w[-1], w[-1], w[-1])
        ups = w[::-1]  # channels arriving at each decoder level (and of its skip), deepest first
        self.up = nn.ModuleList(nn.ConvTranspose2d(c, c, 2, stride=2) for c in ups)
        mids = [*w[-2::-1], w[0]]
        outs = [*w[-2::-1], w[0] // 2]
        self.dec = nn.ModuleList(LevelBlock(2 * c, m, o) for c, m, o in zip(ups, mids, outs))
        self.out = nn.ModuleList([nn.Conv2d(w[0] // 2, 1, 1), *(_upsampled_head(w[i - 1], 2**i) for i in (1, 2, 3))])
        kaiming_init(self)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        skips = []
        for i, block in enumerate(self.enc):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        x = self.bottleneck(F.max_pool2d(x, 2))
        decoded = []
        for up, block, skip in zip(self.up, self.dec, reversed(skips)):
            x = block(torch.cat([skip, up(x)], 1))
            decoded.append(x)
        # decoded[-1] is full size, decoded[-2] half, decoded[-3] a quarter, decoded[-4] an eighth
        n = len(self.out) if self.training else 1
        return [head(decoded[-1 - i]) for i, head in enumerate(self.out[:n])]


class ResBlock(nn.Module):
    """Pre-activation residual block: BN, LeakyReLU, dropout, 3x3 conv (stride ``s``), BN, LeakyReLU, dropout,
    3x3 conv; plus a 3x3 conv (stride ``s``) + BN shortcut. ``down`` doubles the channels at stride 2."""

    def __init__(self, ch: int, down: bool = False, dropout: float = 0.2) -> None:
        super().__init__()
        out, s = (2 * ch, 2) if down else (ch, 1)
        self.path = nn.Sequential(
            nn.BatchNorm2d(ch),
            nn.LeakyReLU(),
            nn.Dropout(dropout),
            nn.Conv2d(ch, out, 3, stride=s, padding=1),
            nn.BatchNorm2d(out),
            nn.LeakyReLU(),
            nn.Dropout(dropout),
            nn.Conv2d(out, out, 3, padding=1),
        )
        self.shortcut = nn.Sequential(nn.Conv2d(ch, out, 3, stride=s, padding=1), nn.BatchNorm2d(out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.path(x) + self.shortcut(x)


class ResidualUNet(nn.Module):
    """The authors' Residual U-Net, 2-D: ``(B, C, H, W)`` (H, W multiples of 8) -> ``(B, 1, H, W)`` logits.

    Args:
        in_channels: input channels.
        width: channels of the input block (doubled by each of the 3 downsamplings).
        dropout: dropout of every block (the authors' code applies it at inference too; here in training only).
    """

    def __init__(self, in_channels: int = 1, width: int = 24, dropout: float = 0.2) -> None:
        super().__init__()
        w = width
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, w, 3, padding=1),
            nn.BatchNorm2d(w),
            nn.LeakyReLU(),
            nn.Dropout(dropout),
            nn.Conv2d(w, w, 3, padding=1),
        )
        self.stem_shortcut = nn.Sequential(nn.Conv2d(in_channels, w, 3, padding=1), nn.BatchNorm2d(w))
        self.down = nn.Sequential(*(ResBlock(w * 2**i, down=True, dropout=dropout) for i in range(3)))
        self.up = nn.Sequential(
            *(
                m
                for i in (3, 2, 1)
                for m in (nn.ConvTranspose2d(w * 2**i, w * 2 ** (i - 1), 2, stride=2), ResBlock(w * 2 ** (i - 1)))
            )
        )
        self.head = nn.Conv2d(w, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x) + self.stem_shortcut(x)
        return self.head(self.up(self.down(x)))

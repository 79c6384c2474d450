"""What every architecture provides (:class:`Backbone`) and the multi-task model around it.

A backbone is the paper's *feature extractor* + *upsampler*: it returns its deep-supervision
segmentation logits and the three feature maps the classification branch (section 3.3) merges --
the bottleneck, and the encoder and decoder features of the level just before it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

NORMS = {"batch": nn.BatchNorm2d, "instance": lambda c: nn.InstanceNorm2d(c, affine=True)}


@dataclass
class Features:
    """Backbone output.

    Attributes:
        seg_logits: deep-supervision outputs, top (final) first, each ``(B, 1, H, W)`` at input size.
        bottleneck: ``(B, Cb, h, w)`` deepest encoder features.
        enc_prev: ``(B, Ce, 2h, 2w)`` encoder features of the level before the bottleneck.
        dec_prev: ``(B, Cd, 2h, 2w)`` decoder features of that level.
    """

    seg_logits: list[torch.Tensor]
    bottleneck: torch.Tensor
    enc_prev: torch.Tensor
    dec_prev: torch.Tensor


@dataclass
class ModelOutput:
    """Network output: ``seg`` list of ``(B, 1, H, W)`` logits (empty for ``cls``), ``cls`` ``(B, 3)`` logits or None."""

    seg: list[torch.Tensor]
    cls: torch.Tensor | None


class Backbone(nn.Module):
    """Base class; subclasses set the channel counts and implement :meth:`forward`.

    Attributes:
        bottleneck_channels, enc_prev_channels, dec_prev_channels: channels of the :class:`Features` maps.
        divisor: input sides must be multiples of this.
        n_outputs: number of deep-supervision outputs.
    """

    bottleneck_channels: int
    enc_prev_channels: int
    dec_prev_channels: int
    divisor: int = 16
    n_outputs: int = 1

    def forward(self, x: torch.Tensor) -> Features:  # pragma: no cover - abstract
        raise NotImplementedError


class SegHeads(nn.Module):
    """1x1 convolutions to one logit channel, upsampled (bilinear) to the input size when needed."""

    def __init__(self, channels: list[int]) -> None:
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(c, 1, kernel_size=1) for c in channels)

    def forward(self, maps: list[torch.Tensor], size: tuple[int, int]) -> list[torch.Tensor]:
        """Logits of each map in ``maps`` (same order), each ``(B, 1, *size)``."""
        out = []
        for conv, m in zip(self.convs, maps):
            y = conv(m)
            if y.shape[-2:] != size:
                y = F.interpolate(y, size=size, mode="bilinear", align_corners=False)
            out.append(y)
        return out


class ClassificationHead(nn.Module):
    """Section 3.3: 3x3 conv to 512 channels, normalisation, ReLU, adaptive average pooling,
    a 256-unit dense layer (ReLU) and a 3-way output (softmax applied by the loss / at inference)."""

    def __init__(self, in_channels: int, n_classes: int = 3, conv_channels: int = 512, hidden: int = 256,
                 norm: str = "batch") -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, conv_channels, kernel_size=3, padding=1, bias=False),
            NORMS[norm](conv_channels),
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.classifier = nn.Sequential(nn.Linear(conv_channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, h, w)`` multi-scale features -> ``(B, n_classes)`` logits."""
        return self.classifier(self.features(x))


class MultiTaskNet(nn.Module):
    """Backbone + classification branch; ``task`` selects which outputs exist (``mt``, ``seg``, ``cls``).

    The classification branch upsamples the bottleneck to the level before it and concatenates it
    with that level's encoder and decoder features (section 3.3, *feature processing*).
    """

    def __init__(self, backbone: Backbone, task: str = "mt", n_classes: int = 3, head_norm: str = "batch") -> None:
        super().__init__()
        self.backbone = backbone
        self.task = task
        self.cls_head = None
        if task in ("mt", "cls"):
            c = backbone.bottleneck_channels + backbone.enc_prev_channels + backbone.dec_prev_channels
            self.cls_head = ClassificationHead(c, n_classes, norm=head_norm)

    def forward(self, x: torch.Tensor) -> ModelOutput:
        """``(B, 1, H, W)`` -> :class:`ModelOutput`."""
        f = self.backbone(x)
        cls = None
        if self.cls_head is not None:
            up = F.interpolate(f.bottleneck, size=f.enc_prev.shape[-2:], mode="bilinear", align_corners=False)
            cls = self.cls_head(torch.cat([up, f.enc_prev, f.dec_prev], dim=1))
        return ModelOutput(seg=f.seg_logits if self.task != "cls" else [], cls=cls)

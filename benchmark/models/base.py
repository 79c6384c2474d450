"""What every architecture provides (:class:`Backbone`) and the multi-task model around it.

A backbone is the paper's *feature extractor* + *upsampler*: it returns its deep-supervision
segmentation logits and the three feature maps the classification branch (section 3.3) merges --
the bottleneck, and the encoder and decoder features of the level just before it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.profiles import ClsHead, HeadNorm, Task

#: ``head_norm`` setting -> normalisation layer for ``channels``.
NORMS: dict[str, Callable[[int], nn.Module]] = {
    "batch": nn.BatchNorm2d,
    "instance": lambda c: nn.InstanceNorm2d(c, affine=True),
}


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
    """Network output.

    Attributes:
        seg: deep-supervision segmentation logits, top (final) first, each ``(B, 1, H, W)``; empty for ``cls``.
        cls: ``(B, 3)`` class logits, or None for segmentation-only networks.
        recon: ``(B, 1, H, W)`` reconstruction of the input in [0, 1] (Adityan et al. [36]), else None.
    """

    seg: list[torch.Tensor]
    cls: torch.Tensor | None
    recon: torch.Tensor | None = None


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

    def __init__(
        self,
        in_channels: int,
        n_classes: int = 3,
        conv_channels: int = 512,
        hidden: int = 256,
        norm: HeadNorm = "batch",
    ) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, conv_channels, kernel_size=3, padding=1, bias=False),
            NORMS[norm](conv_channels),
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.classifier = nn.Sequential(
            nn.Linear(conv_channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, n_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, h, w)`` multi-scale features -> ``(B, n_classes)`` logits."""
        return self.classifier(self.features(x))


class PaperFeatureMerge(nn.Module):
    """Section 3.3 as written: the bottleneck upsampled (bilinear) to the level before it, concatenated
    with that level's encoder and decoder maps, then :class:`ClassificationHead`."""

    def __init__(self, backbone: Backbone, n_classes: int = 3, norm: HeadNorm = "batch") -> None:
        super().__init__()
        c = backbone.bottleneck_channels + backbone.enc_prev_channels + backbone.dec_prev_channels
        self.head = ClassificationHead(c, n_classes, norm=norm)

    def forward(self, f: Features) -> torch.Tensor:
        """:class:`Features` -> ``(B, n_classes)`` logits."""
        up = F.interpolate(f.bottleneck, size=f.enc_prev.shape[-2:], mode="bilinear", align_corners=False)
        return self.head(torch.cat([up, f.enc_prev, f.dec_prev], dim=1))


class AuthorsFeatureMerge(nn.Module):
    """The authors' UNet++ code: the previous level's encoder and decoder maps are brought *down* to the
    bottleneck's resolution by one shared MONAI ``Down`` block (max-pool + two convolutions), concatenated
    with the bottleneck, then two 3x3 convolutions (instance norm, LeakyReLU 0.1) to 512 channels,
    adaptive average pooling, dense 256 (ReLU) and dense ``n_classes``.

    Needs ``enc_prev_channels == dec_prev_channels`` (true of every registered backbone).
    """

    def __init__(self, backbone: Backbone, n_classes: int = 3, conv_channels: int = 512, hidden: int = 256) -> None:
        super().__init__()
        from monai.networks.blocks import Convolution
        from monai.networks.nets.basic_unet import Down

        from benchmark.models.unetpp import ACT, NORM

        if backbone.enc_prev_channels != backbone.dec_prev_channels:
            raise ValueError("the authors' head needs equal encoder and decoder channels before the bottleneck")
        cb = backbone.bottleneck_channels
        self.down = Down(2, backbone.enc_prev_channels, cb, ACT, NORM, True)
        self.convs = nn.Sequential(
            Convolution(2, 3 * cb, conv_channels, kernel_size=3, act=ACT, norm=NORM),
            Convolution(2, conv_channels, conv_channels, kernel_size=3, act=ACT, norm=NORM),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.classifier = nn.Sequential(
            nn.Linear(conv_channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, n_classes)
        )

    def forward(self, f: Features) -> torch.Tensor:
        """:class:`Features` -> ``(B, n_classes)`` logits."""
        merged = torch.cat([f.bottleneck, self.down(f.enc_prev), self.down(f.dec_prev)], dim=1)
        return self.classifier(self.convs(merged))


#: ``cls_head`` setting -> classification branch over a backbone's :class:`Features`.
CLS_HEADS: dict[str, type[nn.Module]] = {"paper": PaperFeatureMerge, "authors": AuthorsFeatureMerge}


class MultiTaskNet(nn.Module):
    """Backbone + classification branch; ``task`` selects which outputs exist (``mt``, ``seg``, ``cls``).

    ``cls_head`` picks the classification branch (:data:`CLS_HEADS`): ``paper`` (section 3.3 as
    written) or ``authors`` (the authors' released code).
    """

    def __init__(
        self,
        backbone: Backbone,
        task: Task = "mt",
        n_classes: int = 3,
        head_norm: HeadNorm = "batch",
        cls_head: ClsHead = "paper",
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.task = task
        self.cls_head: nn.Module | None = None
        if task in ("mt", "cls"):
            if cls_head == "paper":
                self.cls_head = PaperFeatureMerge(backbone, n_classes, norm=head_norm)
            else:
                self.cls_head = CLS_HEADS[cls_head](backbone, n_classes)

    def forward(self, x: torch.Tensor) -> ModelOutput:
        """``(B, 1, H, W)`` -> :class:`ModelOutput`."""
        f = self.backbone(x)
        cls = self.cls_head(f) if self.cls_head is not None else None
        return ModelOutput(seg=f.seg_logits if self.task != "cls" else [], cls=cls)


class SegmentationNet(nn.Module):
    """A segmentation-only network (Table 4 baselines) returning :class:`ModelOutput` with ``cls=None``.

    Args:
        net: a MONAI network mapping ``(B, C, H, W)`` to logits.
        outputs: how to turn the network's return value into the deep-supervision list, top first
            (default: a single tensor).
        n_outputs: number of deep-supervision outputs in training mode.
        divisor: input sides must be multiples of this.
    """

    task: Task = "seg"

    def __init__(self, net: nn.Module, outputs: object = None, n_outputs: int = 1, divisor: int = 16) -> None:
        super().__init__()
        self.net = net
        self._outputs = outputs
        self.n_outputs = n_outputs
        self.divisor = divisor

    def forward(self, x: torch.Tensor) -> ModelOutput:
        """``(B, 1, H, W)`` -> :class:`ModelOutput` (``cls`` None)."""
        y = self.net(x)
        seg = self._outputs(y, x) if callable(self._outputs) else [y]
        return ModelOutput(seg=list(seg), cls=None)

"""The single-task segmentation baselines of the paper's Table 4, as MONAI builds them (no copies).

Every network maps ``(B, 1, H, W)`` to one tumour logit channel; deep-supervision networks (MONAI
``BasicUNetPlusPlus`` and ``DynUNet``) return their outputs top first, as the multi-task models do.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .base import SegmentationNet

#: nnU-Net's 2-D plan for 128 x 128 inputs: 6 levels, widths 32..320, strides 1, 2, 2, 2, 2, 2 (bottleneck 4x4).
NNUNET_FILTERS: tuple[int, ...] = (32, 64, 128, 256, 320, 320)
NNUNET_STRIDES: tuple[int, ...] = (1, 2, 2, 2, 2, 2)
#: deep-supervision outputs beside the top one (4 outputs in all, weighted 1, 1/2, 1/3, 1/4 by eq. 2)
NNUNET_DS_EXTRA = 3


def _dynunet_outputs(y: torch.Tensor, x: torch.Tensor) -> list[torch.Tensor]:
    # training mode: (B, 1 + extra, C, H, W) stacked, top first; eval mode: the top output only
    return list(y.unbind(1)) if y.dim() == 5 else [y]


def _unet(residual: bool) -> Callable[[int, int], SegmentationNet]:
    def make(in_ch: int, size: int) -> SegmentationNet:
        from monai.networks.nets import UNet

        net = UNet(2, in_ch, 1, (32, 64, 128, 256, 512), (2, 2, 2, 2), num_res_units=2 if residual else 0)
        return SegmentationNet(net, divisor=16)

    return make


def _attention_unet(in_ch: int, size: int) -> SegmentationNet:
    from monai.networks.nets import AttentionUnet

    return SegmentationNet(AttentionUnet(2, in_ch, 1, (32, 64, 128, 256, 512), (2, 2, 2, 2)), divisor=16)


def _segresnet(in_ch: int, size: int) -> SegmentationNet:
    from monai.networks.nets import SegResNet

    return SegmentationNet(SegResNet(2, 32, in_ch, 1), divisor=8)


def _unetpp(in_ch: int, size: int) -> SegmentationNet:
    from monai.networks.nets import BasicUNetPlusPlus

    net = BasicUNetPlusPlus(2, in_ch, 1, deep_supervision=True)
    return SegmentationNet(net, outputs=lambda y, x: list(y), n_outputs=4, divisor=16)


def _swin_unetr(in_ch: int, size: int) -> SegmentationNet:
    from monai.networks.nets import SwinUNETR

    return SegmentationNet(SwinUNETR(in_ch, 1, feature_size=24, spatial_dims=2), divisor=32)


def _nnunet(in_ch: int, size: int) -> SegmentationNet:
    from monai.networks.nets import DynUNet

    strides = list(NNUNET_STRIDES)
    net = DynUNet(
        2,
        in_ch,
        1,
        [3] * len(strides),
        strides,
        strides[1:],
        filters=list(NNUNET_FILTERS),
        deep_supervision=True,
        deep_supr_num=NNUNET_DS_EXTRA,
    )
    return SegmentationNet(net, outputs=_dynunet_outputs, n_outputs=1 + NNUNET_DS_EXTRA, divisor=32)


BASELINES: dict[str, Callable[[int, int], SegmentationNet]] = {
    "unet": _unet(False),
    "residual-unet": _unet(True),
    "attention-unet": _attention_unet,
    "segresnet": _segresnet,
    "unetpp": _unetpp,
    "swin-unetr": _swin_unetr,
    "nnunet": _nnunet,
}


def build_baseline(kind: str, in_channels: int, image_size: int) -> nn.Module:
    """The MONAI baseline ``kind`` (a key of :data:`BASELINES`) for ``image_size``-square inputs."""
    return BASELINES[kind](in_channels, image_size)

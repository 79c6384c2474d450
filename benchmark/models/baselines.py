"""The single-task segmentation baselines of the paper's Table 4, in two configurations.

``authors`` (the default, ``RunConfig.baseline_config``): as the authors' public code builds them
(caumente/multi_task_breast_cancer, commit f51f58e: ``src/utils/experiment_init.py``,
``src/config.yaml`` width 24, deep supervision on; their own networks in :mod:`.authors_nets`);
``monai``: the configurations this repository used before (MONAI networks at widths 32..512, SegResNet
with 32 initial filters, nnU-Net's 2-D plan as a DynUNet). ``benchmark/README.md`` lists each one.

Every network maps ``(B, 1, H, W)`` to one tumour logit channel; deep-supervision networks return their
outputs top (final) first, as the multi-task models do.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from benchmark.models.base import SegmentationNet
from benchmark.profiles import BaselineConfig

#: ``model.width`` of the authors' ``src/config.yaml``: the first level's channels of their UNet, Attention
#: U-Net, Residual U-Net and BTS U-Net (levels width x 1, 2, 4, 8).
AUTHORS_WIDTH = 24

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

    # MONAI returns [X0,1, X0,2, X0,3, X0,4]: the final output X0,4 is last (the authors' code takes [-1])
    net = BasicUNetPlusPlus(2, in_ch, 1, deep_supervision=True)
    return SegmentationNet(net, outputs=lambda y, x: list(reversed(y)), n_outputs=4, divisor=16)


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


def _authors_unet(attention: bool) -> Callable[[int, int], SegmentationNet]:
    def make(in_ch: int, size: int) -> SegmentationNet:
        from monai.networks.nets import AttentionUnet, UNet

        widths = tuple(AUTHORS_WIDTH * 2**i for i in range(4))
        cls = AttentionUnet if attention else UNet
        return SegmentationNet(cls(2, in_ch, 1, widths, (2, 2, 2)), divisor=8)

    return make


def _authors_residual_unet(in_ch: int, size: int) -> SegmentationNet:
    from benchmark.models.authors_nets import ResidualUNet

    return SegmentationNet(ResidualUNet(in_ch, AUTHORS_WIDTH), divisor=8)


def _authors_segresnet(in_ch: int, size: int) -> SegmentationNet:
    from monai.networks.nets import SegResNet

    # MONAI's defaults, as the authors call it: 8 initial filters, blocks (1, 2, 2, 4) down, (1, 1, 1) up
    return SegmentationNet(SegResNet(spatial_dims=2, in_channels=in_ch, out_channels=1), divisor=8)


def _authors_nnunet(in_ch: int, size: int) -> SegmentationNet:
    from benchmark.models.authors_nets import NNUNet2021

    return SegmentationNet(NNUNet2021(in_ch), outputs=lambda y, x: y, n_outputs=4, divisor=32)


def _bts_unet(in_ch: int, size: int) -> SegmentationNet:
    from benchmark.models.authors_nets import BTSUNet

    return SegmentationNet(BTSUNet(in_ch, AUTHORS_WIDTH), outputs=lambda y, x: y, n_outputs=3, divisor=8)


MONAI_BASELINES: dict[str, Callable[[int, int], SegmentationNet]] = {
    "unet": _unet(False),
    "residual-unet": _unet(True),
    "attention-unet": _attention_unet,
    "segresnet": _segresnet,
    "unetpp": _unetpp,
    "swin-unetr": _swin_unetr,
    "nnunet": _nnunet,
    "bts-unet": _bts_unet,  # no MONAI counterpart: the same network under both settings
}
#: UNet++ and SwinUNETR: the authors call MONAI's networks with their defaults (SwinUNETR feature size 24;
#: their ``use_checkpoint=True`` saves memory and changes no result, so it is left off).
AUTHORS_BASELINES: dict[str, Callable[[int, int], SegmentationNet]] = {
    "unet": _authors_unet(False),
    "residual-unet": _authors_residual_unet,
    "attention-unet": _authors_unet(True),
    "segresnet": _authors_segresnet,
    "unetpp": _unetpp,
    "swin-unetr": _swin_unetr,
    "nnunet": _authors_nnunet,
    "bts-unet": _bts_unet,
}
BASELINES: dict[BaselineConfig, dict[str, Callable[[int, int], SegmentationNet]]] = {
    "authors": AUTHORS_BASELINES,
    "monai": MONAI_BASELINES,
}


def build_baseline(kind: str, in_channels: int, image_size: int, config: BaselineConfig = "authors") -> nn.Module:
    """The baseline ``kind`` in configuration ``config`` (``authors`` or ``monai``) for ``image_size``-square inputs."""
    return BASELINES[config][kind](in_channels, image_size)

"""Model registry: name -> :class:`ModelSpec` (how to build it, the tasks it supports, the paper table
it belongs to). Adding an architecture is one module plus one entry here.

Two families:

* multi-task models (``mt-*``): a :class:`Backbone` (feature extractor + upsampler with deep
  supervision) wrapped in :class:`MultiTaskNet`, which adds the classification branch of section 3.3;
  ``task="seg"`` / ``"cls"`` give the single-task ablations of Tables 5 and 6 from the same network;
* segmentation baselines of Table 4 (``unet``, ``attention-unet``, ..., ``bts-unet``): as the authors'
  code configures them or in the MONAI configurations (``baseline_config``), wrapped in
  :class:`SegmentationNet`; ``task="seg"`` only.

>>> from benchmark.models import MODELS
>>> MODELS["unetpp"].tasks
('seg',)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from benchmark.models.base import Backbone, ClassificationHead, Features, ModelOutput, MultiTaskNet, SegmentationNet
from benchmark.profiles import BaselineConfig, ClsHead, HeadNorm, RunConfig, Task


@dataclass(frozen=True)
class ModelSpec:
    """One registered architecture.

    Attributes:
        factory: ``(in_channels, image_size) -> Backbone`` for multi-task models, or
            ``(in_channels, image_size) -> SegmentationNet`` for the segmentation baselines.
        tasks: tasks it supports (``mt``, ``seg``, ``cls``).
        table: the paper table(s) it appears in.
        description: one line for ``busi-bench models``.
        multitask: True when ``factory`` returns a :class:`Backbone` to wrap in :class:`MultiTaskNet`.
        min_size: smallest input side it trains on (deeper networks need a bottleneck above 1x1).
        baseline: True for a Table 4 baseline whose factory also takes the configuration (``authors``/``monai``).
    """

    factory: Callable[..., nn.Module]
    tasks: tuple[Task, ...]
    table: str
    description: str
    multitask: bool = True
    min_size: int = 32
    baseline: bool = False


def _unetpp(in_ch: int, size: int) -> Backbone:
    from benchmark.models.unetpp import UNetPlusPlus

    return UNetPlusPlus(in_channels=in_ch)


def _nnunet(in_ch: int, size: int) -> Backbone:
    from benchmark.models.nnunet import NNUNet2D

    return NNUNet2D(in_channels=in_ch)


def _nnunet_lite(in_ch: int, size: int) -> Backbone:
    from benchmark.models.nnunet import NNUNetLike

    return NNUNetLike(in_channels=in_ch)


def _smp(encoder: str) -> Callable[[int, int], Backbone]:
    def make(in_ch: int, size: int) -> Backbone:
        from benchmark.models.smp_encoder import SMPEncoderUNet

        return SMPEncoderUNet(encoder_name=encoder, in_channels=in_ch)

    return make


def _adityan(in_ch: int, size: int) -> nn.Module:
    from benchmark.models.adityan import AdityanNet

    return AdityanNet(in_channels=in_ch)


def _baseline(kind: str) -> Callable[..., nn.Module]:
    def make(in_ch: int, size: int, config: BaselineConfig = "authors") -> nn.Module:
        from benchmark.models.baselines import build_baseline

        return build_baseline(kind, in_ch, size, config)

    return make


def _t4(kind: str, description: str, min_size: int = 32) -> ModelSpec:
    """A Table 4 baseline entry (``seg`` only, configurable)."""
    return ModelSpec(_baseline(kind), ("seg",), "4", description, multitask=False, min_size=min_size, baseline=True)


MT: tuple[Task, ...] = ("mt", "seg", "cls")
#: Name -> spec. Names are a contract (grids and other tools use them).
MODELS: dict[str, ModelSpec] = {
    "mt-unetpp": ModelSpec(
        _unetpp,
        MT,
        "5, 7, 8, 9",
        "UNet++ from MONAI blocks (24..384), deep supervision on X0,1..X0,4, the paper's backbone",
    ),
    "mt-nnunet": ModelSpec(
        _nnunet,
        MT,
        "6, 8, 9",
        "nnU-Net 2-D plan for 128x128 (6 levels, 32..320, strided convs, transposed-conv DS heads)",
        min_size=64,
    ),
    "mt-nnunet-lite": ModelSpec(
        _nnunet_lite, MT, "-", "5-level nnU-Net-like U-Net (32..320, max-pool down), the earlier mt-nnunet"
    ),
    "mt-smp-resnet34": ModelSpec(
        _smp("resnet34"),
        MT,
        "-",
        "segmentation-models-pytorch resnet34 encoder (random init) + UpCat decoder",
        min_size=64,  # stride-32 encoder: a 1x1 bottleneck at 32, where the authors' head cannot normalise
    ),
    "mt-adityan": ModelSpec(
        _adityan,
        ("mt",),
        "8, 9",
        "Adityan et al. [36]: 5-level U-Net (64..1024), segmentation + reconstruction + classification heads",
        multitask=False,
    ),
    "unet": _t4("unet", "MONAI UNet; authors: 24..192, 3 strided downsamplings; monai: 32..512"),
    "attention-unet": _t4("attention-unet", "MONAI AttentionUnet; authors: 24..192, 3 levels down; monai: 32..512"),
    "residual-unet": _t4(
        "residual-unet",
        "authors: their pre-activation residual U-Net (24..192, no skips); monai: UNet with 2 residual units (32..512)",
    ),
    "segresnet": _t4("segresnet", "MONAI SegResNet; authors: 8 initial filters (MONAI's default); monai: 32"),
    "unetpp": _t4("unetpp", "MONAI BasicUNetPlusPlus (defaults, deep supervision, 4 outputs) in both settings"),
    "swin-unetr": _t4("swin-unetr", "MONAI SwinUNETR, 2-D, feature size 24, in both settings", min_size=64),
    "nnunet": _t4(
        "nnunet",
        "authors: their nnU-Net (5 levels 32..320 + pooled bottleneck, max-pool, 4 DS outputs); "
        "monai: DynUNet with nnU-Net's 2-D plan (6 levels, strided)",
        min_size=64,
    ),
    "bts-unet": _t4("bts-unet", "BTS U-Net [46] (24..192, instance norm, LeakyReLU, 3 DS outputs) in both settings"),
}


def build_model(
    name: str,
    task: Task = "mt",
    in_channels: int = 1,
    *,
    cls_head: ClsHead = "paper",
    head_norm: HeadNorm = "batch",
    image_size: int = 128,
    baseline_config: BaselineConfig = "authors",
    **_: Any,
) -> nn.Module:
    """The network ``name`` for ``task``; its ``forward`` returns a :class:`ModelOutput`.

    Args:
        name: a key of :data:`MODELS`.
        task: ``mt``, ``seg`` or ``cls`` (must be in the spec's ``tasks``).
        in_channels: input channels (1 for grayscale ultrasound).
        cls_head: ``paper`` or ``authors`` classification branch (multi-task backbones).
        head_norm: normalisation of the paper head's convolution (``batch`` or ``instance``).
        image_size: input side (SwinUNETR needs it).
        baseline_config: ``authors`` or ``monai`` configuration of a Table 4 baseline (ignored by the others).

    Raises:
        ConfigError: unknown name, or a task the model does not support.
    """
    from benchmark.errors import ConfigError

    spec = MODELS.get(name)
    if spec is None:
        raise ConfigError(f"unknown model {name!r} (known: {', '.join(MODELS)})")
    if task not in spec.tasks:
        raise ConfigError(f"model {name!r} supports --task {'/'.join(spec.tasks)}, not {task!r}")
    if image_size < spec.min_size:
        raise ConfigError(
            f"model {name!r} needs --image-size {spec.min_size} or more (its bottleneck would be "
            f"below 2x2), got {image_size}"
        )
    net = (
        spec.factory(in_channels, image_size, baseline_config)
        if spec.baseline
        else spec.factory(in_channels, image_size)
    )
    if spec.multitask:
        assert isinstance(net, Backbone)
        return MultiTaskNet(net, task=task, cls_head=cls_head, head_norm=head_norm)
    return net


def build_network(cfg: RunConfig, device: Any = "cpu") -> nn.Module:
    """The network a run config describes, seeded by ``cfg.seed``, on ``device`` (channels-last on CUDA when
    asked): the one builder of training, ``busi-bench predict`` and ``busi-bench speed``, so that every setting
    that shapes the network (``model``, ``task``, ``cls_head``, ``head_norm``, ``image_size``,
    ``baseline_config``) is read from the config that was saved with the checkpoint.

    Raises:
        ConfigError: as :func:`build_model`.
    """
    import torch

    torch.manual_seed(cfg.seed)
    model = build_model(
        cfg.model,
        task=cfg.task,
        cls_head=cfg.cls_head,
        head_norm=cfg.head_norm,
        image_size=cfg.image_size,
        baseline_config=cfg.baseline_config,
    ).to(device)
    if torch.device(device).type == "cuda" and cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


__all__ = [
    "MODELS",
    "Backbone",
    "ClassificationHead",
    "Features",
    "ModelOutput",
    "ModelSpec",
    "MultiTaskNet",
    "SegmentationNet",
    "build_model",
    "build_network",
]

"""Model registry: architecture name -> backbone factory. Adding one is a module plus one line here.

>>> from benchmark.models import build_model
>>> net = build_model("mt-unetpp", task="mt")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .base import Backbone, ClassificationHead, Features, ModelOutput, MultiTaskNet


def _unetpp(**kw: Any) -> Backbone:
    from .unetpp import UNetPlusPlus

    return UNetPlusPlus(**kw)


def _nnunet(**kw: Any) -> Backbone:
    from .nnunet import NNUNetLike

    return NNUNetLike(**kw)


def _smp(encoder: str) -> Callable[..., Backbone]:
    def make(**kw: Any) -> Backbone:
        from .smp_encoder import SMPEncoderUNet

        return SMPEncoderUNet(encoder_name=encoder, **kw)

    return make


#: Name -> backbone factory (keyword arguments go to the backbone).
MODELS: dict[str, Callable[..., Backbone]] = {
    "mt-unetpp": _unetpp,
    "mt-nnunet": _nnunet,
    "mt-smp-resnet34": _smp("resnet34"),
}


def build_model(name: str, task: str = "mt", in_channels: int = 1, **kw: Any) -> MultiTaskNet:
    """The multi-task (or single-task) network ``name`` with a classification branch when ``task`` needs one.

    Raises:
        ConfigError: unknown name.
    """
    from ..errors import ConfigError

    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r} (known: {', '.join(MODELS)})")
    return MultiTaskNet(MODELS[name](in_channels=in_channels, **kw), task=task)


__all__ = ["MODELS", "Backbone", "ClassificationHead", "Features", "ModelOutput", "MultiTaskNet", "build_model"]

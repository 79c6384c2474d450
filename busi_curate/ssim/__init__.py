"""Stage 2 -- score: exact SSIM between every pair of images, by interchangeable backends.

Backends are registered by name in :data:`BACKENDS` and loaded lazily (numba and torch are
heavy imports). Every backend reproduces ``skimage.metrics.structural_similarity`` on the same
``uint8`` images to within 1e-6; ``tests/busi_curate/ssim/test_ssim_contract.py`` holds them all to it.
"""

from __future__ import annotations

import importlib

from busi_curate.ssim.base import SSIMBackend, SSIMSettings

#: backend name -> "module:class". Adding a backend is one module plus one line here.
BACKENDS: dict[str, str] = {
    "reference": "busi_curate.ssim.reference:ReferenceBackend",
    "numba": "busi_curate.ssim.numba_backend:NumbaBackend",
    "torch": "busi_curate.ssim.torch_backend:TorchBackend",
}

DEFAULT_BACKEND = "numba"


def get_backend(name: str, **kwargs: object) -> SSIMBackend:
    """Instantiate a registered backend by name.

    Raises:
        KeyError: unknown name (the message lists the known ones).
        MissingExtraError: the backend needs an optional dependency that is not installed.
    """
    if name not in BACKENDS:
        raise KeyError(f"unknown SSIM backend {name!r} (known: {', '.join(BACKENDS)})")
    module, cls = BACKENDS[name].split(":")
    backend: SSIMBackend = getattr(importlib.import_module(module), cls)(**kwargs)
    return backend


__all__ = ["BACKENDS", "DEFAULT_BACKEND", "SSIMBackend", "SSIMSettings", "get_backend"]

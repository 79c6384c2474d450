"""busi-curate: find duplicated and mislabelled images in breast-ultrasound datasets.

Stages (one module each): load (:mod:`busi_curate.dataset`) -> score
(:mod:`busi_curate.ssim`) -> candidates (:mod:`busi_curate.candidates`) ->
decide (:mod:`busi_curate.review`) -> group -> report / export -> use (:func:`load_split`).

The Python entry points are importable from the package itself (loaded on first use)::

    from busi_curate import load_split, load_dataset, run_scan, read_scan, export_manifest
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

#: public name -> (module, attribute); imported lazily so ``import busi_curate`` stays instant
_API = {
    "load_dataset": ("dataset", "load_dataset"),
    "run_scan": ("scan", "run_scan"),
    "ScanSettings": ("scan", "ScanSettings"),
    "read_scan": ("scan", "read_scan"),
    "export_manifest": ("export", "export_manifest"),
    "read_manifest": ("manifest", "read_manifest"),
    "read_folds": ("manifest", "read_folds"),
    "load_split": ("split", "load_split"),
    "CurateError": ("errors", "CurateError"),
    "DatasetError": ("errors", "DatasetError"),
    "ManifestError": ("errors", "ManifestError"),
}
__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        import importlib

        mod, attr = _API[name]
        return getattr(importlib.import_module(f"{__name__}.{mod}"), attr)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

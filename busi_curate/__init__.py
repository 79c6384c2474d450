"""busi-curate: find duplicated and mislabelled images in breast-ultrasound datasets.

The folders are the pipeline, each stage importing only the ones before it:

``data`` (load) -> ``ssim`` (kernels) -> ``scan`` (pairs, candidates) -> ``review`` (journal, walk,
web page) -> ``assistant`` (automatic grades) -> ``publish`` (manifest, folds, loaders) ->
``findings`` (statistics, report) -> ``audit`` (leakage of a split); ``studies`` holds experiments
that nothing imports, ``commands`` the command line.

The Python entry points are importable from the package itself (loaded on first use)::

    from busi_curate import find_duplicates, load_split, load_dataset, run_scan, read_scan, export_manifest
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

#: public name -> (module, attribute); imported lazily so ``import busi_curate`` stays instant
_API = {
    "load_dataset": ("data", "load_dataset"),
    "run_scan": ("scan", "run_scan"),
    "ScanSettings": ("scan", "ScanSettings"),
    "read_scan": ("scan", "read_scan"),
    "Assistant": ("assistant", "Assistant"),
    "AssistantSettings": ("assistant", "AssistantSettings"),
    "export_manifest": ("publish", "export_manifest"),
    "read_manifest": ("publish", "read_manifest"),
    "read_folds": ("publish", "read_folds"),
    "load_split": ("publish", "load_split"),
    "audit_split": ("audit", "audit_split"),
    "find_duplicates": ("api", "find_duplicates"),
    "plot_duplicates": ("api", "plot_duplicates"),
    "DuplicateGroups": ("api", "DuplicateGroups"),
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

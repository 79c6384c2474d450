"""Checks of the arrays of a packed dataset (``busi-bench pack``): dtypes, shapes, ranges and keys.

The npz's SHA-256 is checked against its sidecar first, but a sidecar can be rewritten with the file;
these checks make a hand-made or edited pack fail with one line instead of training on nonsense.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from benchmark.data.samples import split_key
from benchmark.errors import BenchError
from busi_curate.data.dataset import CLASSES


def _need(ok: bool, what: str, path: Path) -> None:
    if not ok:
        raise BenchError(f"packed dataset: {what}", path)


def check_packed_arrays(arr: dict[str, np.ndarray], meta: dict[str, Any], path: Path) -> list[tuple[str, str]]:
    """Check every array against the others and the sidecar; returns the ``(class, id)`` keys.

    Raises:
        BenchError: a wrong dtype, shape, range, an unknown class, a label that disagrees with its key,
            duplicate keys, or a size other than the sidecar's.
    """
    images, masks, labels, keys, folds = (arr[k] for k in ("images", "masks", "labels", "keys", "folds"))
    size = meta.get("image_size")
    _need(isinstance(size, int) and not isinstance(size, bool) and size > 0, "sidecar 'image_size' is not a size", path)
    _need(
        images.dtype == np.uint8 and images.ndim == 3,
        f"'images' must be (N, S, S) uint8, got {images.dtype} {images.shape}",
        path,
    )
    n = images.shape[0]
    _need(
        n > 0 and images.shape[1:] == (size, size),
        f"'images' are {images.shape[1:]}, the sidecar says {size}x{size}",
        path,
    )
    _need(meta.get("n_images") == n, f"{n} images, the sidecar says {meta.get('n_images')}", path)
    _need(
        masks.dtype == np.uint8 and masks.shape == images.shape,
        f"'masks' must be {images.shape} uint8, got {masks.dtype} {masks.shape}",
        path,
    )
    _need(bool(masks.max(initial=0) <= 1), "'masks' must hold 0 and 1 only (not 0/255)", path)
    _need(
        labels.dtype.kind in "iu" and labels.shape == (n,),
        f"'labels' must be ({n},) integers, got {labels.dtype} {labels.shape}",
        path,
    )
    _need(
        keys.dtype.kind == "U" and keys.shape == (n,),
        f"'keys' must be ({n},) text, got {keys.dtype} {keys.shape}",
        path,
    )
    _need(
        folds.dtype.kind == "U" and folds.ndim == 2 and folds.shape[1] == 4,
        f"'folds' must be (M, 4) text, got {folds.dtype} {folds.shape}",
        path,
    )
    if "units" in arr:
        u = arr["units"]
        _need(
            u.dtype.kind in "iu" and u.shape == (n,), f"'units' must be ({n},) integers, got {u.dtype} {u.shape}", path
        )
    try:
        parsed = [split_key(k) for k in keys.tolist()]
    except Exception as exc:  # noqa: BLE001 - any malformed key is the same user error
        raise BenchError(f"packed dataset: a key is not 'class id' ({str(exc)[:100]})", path) from None
    _need(len(set(parsed)) == n, "'keys' lists an image twice", path)
    for (cls, id_), lab in zip(parsed, labels.tolist()):
        _need(cls in CLASSES, f"key {cls} {id_}: unknown class (expected one of {', '.join(CLASSES)})", path)
        _need(
            lab == CLASSES.index(cls), f"key {cls} {id_}: label {lab} is not its class's ({CLASSES.index(cls)})", path
        )
    return parsed

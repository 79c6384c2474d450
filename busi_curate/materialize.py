"""Write the curated images and merged masks as files, for tools that want files rather than a manifest.

Output folder (a dataset in the ``generic`` layout, so it can be scanned again)::

    OUT/images/<class>_<id>.png        8-bit grayscale, resized bilinear (or original size with --size none)
    OUT/masks/<class>_<id>_mask.png    union of the image's mask files, 0/255, resized nearest-neighbour
    OUT/mapping.csv                    source -> output, pixel hashes, status, one split column per fold
    OUT/labels.csv                     image, class, id, masks (the generic layout's label file)
    OUT/materialize.json               sidecar: tool version, manifest version + SHA-256, settings, counts

The source pixels are verified against the manifest before anything is written; the folder is built
beside ``OUT`` and renamed into place, so ``OUT`` is never half-written.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import __version__
from .errors import ManifestError
from .fileio import file_sha256, pixel_sha256, write_csv, write_json
from .imageio import read_gray, read_mask_union
from .manifest import FOLDS_CSV, Manifest, read_folds
from .verify import require_match

SIDECAR = "materialize.json"


@dataclass(frozen=True)
class MaterializeSettings:
    """Output size (None = original size) and whether removed images are written too."""

    size: int | None = 128
    include_removed: bool = False


def _resize(gray: np.ndarray, mask: np.ndarray, size: int | None) -> tuple[np.ndarray, np.ndarray]:
    """``(H, W) uint8`` image (bilinear) and ``(H, W) bool`` mask (nearest) to ``(size, size)``; mask as 0/255."""
    from PIL import Image

    m = mask.astype(np.uint8) * 255
    if size is None:
        return gray, m
    img = np.asarray(Image.fromarray(gray).resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8)
    msk = np.asarray(Image.fromarray(m).resize((size, size), Image.Resampling.NEAREST), dtype=np.uint8)
    return img, msk


def _save_png(path: Path, arr: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(arr).save(path, format="PNG", optimize=False)


def materialize(manifest: Manifest, data_dir: str | Path, out: str | Path,
                settings: MaterializeSettings = MaterializeSettings(), folds_path: str | Path | None = None) -> dict[str, Any]:
    """Write the (kept) images and merged masks of ``manifest`` from ``data_dir`` into ``out``.

    Args:
        folds_path: folds file whose splits become ``fold_<k>`` columns of ``mapping.csv``; default: the
            ``folds.csv`` beside the manifest, if any.

    Returns:
        The sidecar written to ``out/materialize.json``.

    Raises:
        DatasetError: source files missing or differing from the manifest (nothing written).
        ManifestError: ``out`` exists and is not an earlier materialize output; bad folds file.
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / SIDECAR).is_file())):
        raise ManifestError("output folder exists and is not an earlier `busi-curate materialize` output; "
                            "choose a new folder", out)
    if settings.size is not None and settings.size < 1:
        raise ManifestError(f"--size must be positive, got {settings.size}")
    rows = manifest.rows if settings.include_removed else manifest.kept()
    if not rows:
        raise ManifestError("the manifest keeps no images", manifest.path)
    fpath = Path(folds_path) if folds_path is not None else manifest.dir / FOLDS_CSV
    folds = read_folds(fpath, manifest) if (folds_path is not None or fpath.is_file()) else None
    root = require_match(manifest, data_dir, {r.key for r in rows})

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        (tmp / "images").mkdir()
        (tmp / "masks").mkdir()
        records = []
        split_of: dict[int, dict[tuple[str, str], str]] = {}
        if folds is not None:
            for f in folds.numbers:
                sel = folds.frame[folds.frame["fold"] == f]
                split_of[f] = dict(zip(zip(sel["class"], sel["id"]), sel["split"]))
        for r in rows:
            gray = read_gray(root / r.image)
            mask = read_mask_union([root / m for m in r.masks], gray.shape, root / r.image)
            img, msk = _resize(gray, mask, settings.size)
            name = f"{r.cls}_{r.id}"
            _save_png(tmp / "images" / f"{name}.png", img)
            _save_png(tmp / "masks" / f"{name}_mask.png", msk)
            rec = {"class": r.cls, "id": r.id, "status": r.status}
            for f in split_of:
                rec[f"fold_{f}"] = split_of[f].get(r.key, "")
            rec.update({
                "source_image": r.image, "source_masks": ";".join(r.masks),
                "pixel_sha256": r.pixel_sha256, "mask_pixel_sha256": r.mask_pixel_sha256,
                "image": f"images/{name}.png", "mask": f"masks/{name}_mask.png",
                "image_pixel_sha256": pixel_sha256(img), "mask_out_pixel_sha256": pixel_sha256(msk),
            })
            records.append(rec)
        mapping = pd.DataFrame(records)
        write_csv(tmp / "mapping.csv", mapping)
        labels = pd.DataFrame({"image": [f"{r.cls}_{r.id}.png" for r in rows], "class": [r.cls for r in rows],
                               "id": [r.id for r in rows], "masks": [f"{r.cls}_{r.id}_mask.png" for r in rows]})
        write_csv(tmp / "labels.csv", labels)
        counts: dict[str, int] = {}
        for r in rows:
            counts[r.cls] = counts.get(r.cls, 0) + 1
        meta = {
            "tool": "busi-curate", "tool_version": __version__, "kind": "materialize",
            "manifest": {"version": manifest.version, "sha256": manifest.sha256, "file": manifest.path.name},
            "folds": None if folds is None else {"file": folds.path.name, "sha256": folds.sha256, "folds": folds.numbers},
            "size": settings.size, "include_removed": settings.include_removed,
            "resampling": {"image": "bilinear (Pillow)", "mask": "nearest (Pillow), union of mask files, 0/255"},
            "counts": dict(sorted(counts.items())) | {"total": len(rows)},
            "files": {"mapping.csv": file_sha256(tmp / "mapping.csv"), "labels.csv": file_sha256(tmp / "labels.csv")},
        }
        write_json(tmp / SIDECAR, meta)
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
            old.rmdir()
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return meta

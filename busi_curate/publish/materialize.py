"""Write the curated images and merged masks as files, for tools that want files rather than a manifest.

Output folder (a dataset in the ``generic`` layout, so it can be scanned again)::

    OUT/images/<class>_<id>.png        8-bit grayscale, resized bilinear (or original size with --size none)
    OUT/masks/<class>_<id>_mask.png    union of the image's mask files, 0/255, resized nearest-neighbour
    OUT/mapping.csv                    source -> output, pixel hashes, status, one split column per fold
    OUT/labels.csv                     image, class, id, masks (the generic layout's label file)
    OUT/materialize.json               sidecar: tool version, manifest version + SHA-256, settings, counts

With ``format="monai"`` the folder also holds ``labels/<class>_<id>.png`` (merged masks as 0/1) and one
MONAI datalist per fold, ``datalist_fold<k>.json`` = ``{"training": [...], "validation": [...],
"testing": [...]}`` with items ``{"image", "label", "class"}`` (paths relative to ``OUT``, as
``monai.data.load_decathlon_datalist(path, data_list_key="training", base_dir=OUT)`` reads them).

With ``format="nnunet"`` it holds an nnU-Net v2 raw dataset ``OUT/Dataset<ID>_<Name>/``: ``imagesTr/<case>_0000.png``,
``labelsTr/<case>.png`` (0 background, 1 tumour), ``imagesTs/`` (empty: every kept image belongs to the
cross-validation), ``dataset.json`` (``channel_names``, ``labels``, ``numTraining``, ``file_ending``) and
``splits_final.json``: one ``{"train": [...], "val": [...]}`` per fold, where nnU-Net's ``val`` is our
fold's *test* images and its ``train`` our train + val images, so nnU-Net's cross-validation is scored
on exactly our test folds (copy it to ``nnUNet_preprocessed/Dataset<ID>_<Name>/`` before training).

The source pixels are verified against the manifest before anything is written; the folder is built
beside ``OUT`` and renamed into place, so ``OUT`` is never half-written.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from busi_curate import __version__
from busi_curate.data.imageio import read_gray, read_mask_union
from busi_curate.errors import ManifestError
from busi_curate.fileio import file_sha256, pixel_sha256, sweep_leftovers, write_csv, write_json
from busi_curate.publish.manifest import FOLDS_CSV, Folds, Manifest, read_folds
from busi_curate.publish.verify import require_match

SIDECAR = "materialize.json"


@dataclass(frozen=True)
class MaterializeSettings:
    """Output size (None = original size) and whether removed images are written too."""

    size: int | None = 128
    include_removed: bool = False
    format: str = "png"
    nnunet_id: int = 501
    nnunet_name: str = "CuratedBUSI"


#: Output formats of ``busi-curate materialize --format``.


#: writes a format's extra files into the partial output folder; returns what the sidecar records about them
FormatWriter = Callable[[Path, list[Any], dict[int, dict[tuple[str, str], str]], "MaterializeSettings"], dict[str, Any]]


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


def materialize(
    manifest: Manifest,
    data_dir: str | Path,
    out: str | Path,
    settings: MaterializeSettings = MaterializeSettings(),
    folds_path: str | Path | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Write the (kept) images and merged masks of ``manifest`` from ``data_dir`` into ``out``.

    Args:
        folds_path: folds file whose splits become ``fold_<k>`` columns of ``mapping.csv``; default: the
            ``folds.csv`` beside the manifest, if any.
        progress: bars on stderr (verify, write) with counts and ETA.

    Returns:
        The sidecar written to ``out/materialize.json``.

    Raises:
        DatasetError: source files missing or differing from the manifest (nothing written).
        ManifestError: ``out`` exists and is not an earlier materialize output; bad folds file.
    """
    out = Path(out)
    _check_request(out, settings)
    rows = manifest.rows if settings.include_removed else manifest.kept()
    if not rows:
        raise ManifestError("the manifest keeps no images", manifest.path)
    fpath = Path(folds_path) if folds_path is not None else manifest.dir / FOLDS_CSV
    folds = read_folds(fpath, manifest) if (folds_path is not None or fpath.is_file()) else None
    root = require_match(manifest, data_dir, {r.key for r in rows}, progress=progress)
    split_of = _splits(folds)

    out.parent.mkdir(parents=True, exist_ok=True)
    sweep_leftovers(out.parent, staging_of=out.name, tmp_files=False)  # staging folders a killed materialize left
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        write_csv(tmp / "mapping.csv", pd.DataFrame(_write_pngs(tmp, rows, root, settings.size, split_of, progress)))
        write_csv(tmp / "labels.csv", _labels(rows))
        meta = _sidecar(tmp, manifest, folds, rows, settings)
        writer = FORMAT_WRITERS[settings.format]
        if writer is not None:
            meta[settings.format] = writer(tmp, rows, split_of, settings)
        meta["format"] = settings.format
        write_json(tmp / SIDECAR, meta)
        _swap_into_place(tmp, out)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError) and exc.filename is None:
            exc.filename = str(out)  # a failed write names no file: name the output
        raise
    return meta


def _check_request(out: Path, settings: MaterializeSettings) -> None:
    """ManifestError for an output folder that is not ours or settings out of range (nothing written yet)."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / SIDECAR).is_file())):
        raise ManifestError(
            "output folder exists and is not an earlier `busi-curate materialize` output; choose a new folder", out
        )
    if settings.size is not None and settings.size < 1:
        raise ManifestError(f"--size must be positive, got {settings.size}")
    if settings.format not in FORMAT_WRITERS:
        raise ManifestError(f"--format must be one of {', '.join(FORMAT_WRITERS)}, got {settings.format!r}")
    if not 1 <= settings.nnunet_id <= 999:
        raise ManifestError(f"the nnU-Net dataset id must lie in 1..999, got {settings.nnunet_id}")


def _splits(folds: Folds | None) -> dict[int, dict[tuple[str, str], str]]:
    """fold -> ``(class, id)`` -> split name; empty without a folds file."""
    if folds is None:
        return {}
    out = {}
    for f in folds.numbers:
        sel = folds.frame[folds.frame["fold"] == f]
        out[f] = dict(zip(zip(sel["class"], sel["id"]), sel["split"]))
    return out


def _write_pngs(
    tmp: Path,
    rows: list[Any],
    root: Path,
    size: int | None,
    split_of: dict[int, dict[tuple[str, str], str]],
    progress: bool = False,
) -> list[dict[str, Any]]:
    """``images/<class>_<id>.png`` and ``masks/<class>_<id>_mask.png`` for every row; the mapping rows."""
    from tqdm.auto import tqdm

    (tmp / "images").mkdir()
    (tmp / "masks").mkdir()
    records = []
    for r in tqdm(rows, desc="write", unit="img", disable=not progress, leave=False, file=sys.stderr):
        gray = read_gray(root / r.image)
        mask = read_mask_union([root / m for m in r.masks], gray.shape, root / r.image)
        img, msk = _resize(gray, mask, size)
        name = f"{r.cls}_{r.id}"
        _save_png(tmp / "images" / f"{name}.png", img)
        _save_png(tmp / "masks" / f"{name}_mask.png", msk)
        rec: dict[str, Any] = {"class": r.cls, "id": r.id, "status": r.status}
        rec.update({f"fold_{f}": split_of[f].get(r.key, "") for f in split_of})
        rec.update(
            {
                "source_image": r.image,
                "source_masks": ";".join(r.masks),
                "pixel_sha256": r.pixel_sha256,
                "mask_pixel_sha256": r.mask_pixel_sha256,
                "image": f"images/{name}.png",
                "mask": f"masks/{name}_mask.png",
                "image_pixel_sha256": pixel_sha256(img),
                "mask_out_pixel_sha256": pixel_sha256(msk),
            }
        )
        records.append(rec)
    return records


def _labels(rows: list[Any]) -> pd.DataFrame:
    """``labels.csv``: one line per image with its class and mask file names."""
    return pd.DataFrame(
        {
            "image": [f"{r.cls}_{r.id}.png" for r in rows],
            "class": [r.cls for r in rows],
            "id": [r.id for r in rows],
            "masks": [f"{r.cls}_{r.id}_mask.png" for r in rows],
        }
    )


def _sidecar(
    tmp: Path, manifest: Manifest, folds: Folds | None, rows: list[Any], settings: MaterializeSettings
) -> dict[str, Any]:
    """What ``materialize.json`` records about the inputs, the settings and the files written so far."""
    counts = Counter(r.cls for r in rows)
    return {
        "tool": "busi-curate",
        "tool_version": __version__,
        "kind": "materialize",
        "manifest": {"version": manifest.version, "sha256": manifest.sha256, "file": manifest.path.name},
        "folds": None if folds is None else {"file": folds.path.name, "sha256": folds.sha256, "folds": folds.numbers},
        "size": settings.size,
        "include_removed": settings.include_removed,
        "resampling": {"image": "bilinear (Pillow)", "mask": "nearest (Pillow), union of mask files, 0/255"},
        "counts": dict(sorted(counts.items())) | {"total": len(rows)},
        "files": {"mapping.csv": file_sha256(tmp / "mapping.csv"), "labels.csv": file_sha256(tmp / "labels.csv")},
    }


def _swap_into_place(tmp: Path, out: Path) -> None:
    """Rename the finished ``tmp`` folder to ``out``, replacing an earlier output only once ``tmp`` is complete."""
    if not out.exists():
        tmp.rename(out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
    old.rmdir()
    out.rename(old)
    tmp.rename(out)
    shutil.rmtree(old)


def _case(cls: str, id_: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_.-]", "-", f"{cls}_{id_}")


def _binary(tmp: Path, name: str) -> np.ndarray:
    from PIL import Image

    return (np.asarray(Image.open(tmp / "masks" / f"{name}_mask.png")) > 0).astype(np.uint8)


def _write_monai(
    tmp: Path, rows: list[Any], split_of: dict[int, dict[tuple[str, str], str]], settings: MaterializeSettings
) -> dict[str, Any]:
    """0/1 label files and one MONAI datalist per fold (all images under "training" without folds)."""
    import json

    (tmp / "labels").mkdir()
    items = {}
    for r in rows:
        name = f"{r.cls}_{r.id}"
        _save_png(tmp / "labels" / f"{name}.png", _binary(tmp, name))
        items[r.key] = {"image": f"images/{name}.png", "label": f"labels/{name}.png", "class": r.cls}
    files = []
    for f, splits in (split_of or {None: {r.key: "train" for r in rows}}).items():  # type: ignore[dict-item]
        lists: dict[str, list[dict[str, str]]] = {"training": [], "validation": [], "testing": []}
        for r in rows:
            key = {"train": "training", "val": "validation", "test": "testing"}.get(splits.get(r.key, ""))
            if key:
                lists[key].append(items[r.key])
        fname = "datalist.json" if f is None else f"datalist_fold{f}.json"
        (tmp / fname).write_text(json.dumps(lists, indent=1) + "\n", encoding="utf-8")
        files.append(fname)
    return {"datalists": files, "label_values": {"0": "background", "1": "tumour"}}


def _write_nnunet(
    tmp: Path, rows: list[Any], split_of: dict[int, dict[tuple[str, str], str]], settings: MaterializeSettings
) -> dict[str, Any]:
    """An nnU-Net v2 raw dataset folder and splits_final.json built from the folds."""
    import json

    name = f"Dataset{settings.nnunet_id:03d}_{settings.nnunet_name}"
    root = tmp / name
    for d in ("imagesTr", "labelsTr", "imagesTs"):
        (root / d).mkdir(parents=True)
    cases = {}
    for r in rows:
        src = f"{r.cls}_{r.id}"
        case = _case(r.cls, r.id)
        shutil.copyfile(tmp / "images" / f"{src}.png", root / "imagesTr" / f"{case}_0000.png")
        _save_png(root / "labelsTr" / f"{case}.png", _binary(tmp, src))
        cases[r.key] = case
    dataset = {
        "channel_names": {"0": "US"},
        "labels": {"background": 0, "tumour": 1},
        "numTraining": len(rows),
        "file_ending": ".png",
        "name": settings.nnunet_name,
        "description": "busi-curate materialize: union masks, one grayscale channel",
    }
    (root / "dataset.json").write_text(json.dumps(dataset, indent=1) + "\n", encoding="utf-8")
    splits = []
    for f in sorted(split_of):
        s = split_of[f]
        splits.append(
            {
                "train": sorted(cases[k] for k, v in s.items() if v in ("train", "val") and k in cases),
                "val": sorted(cases[k] for k, v in s.items() if v == "test" and k in cases),
            }
        )
    if splits:
        (root / "splits_final.json").write_text(json.dumps(splits, indent=1) + "\n", encoding="utf-8")
    return {
        "dataset": name,
        "cases": len(cases),
        "splits_final": bool(splits),
        "split_rule": "nnU-Net val = our fold's test images; nnU-Net train = our train + val images",
    }


#: ``--format`` name -> writer of its extra files (PNG folders, ``mapping.csv`` and ``labels.csv`` are always
#: written). Adding a format is one writer plus one line here.
FORMAT_WRITERS: dict[str, FormatWriter | None] = {"png": None, "monai": _write_monai, "nnunet": _write_nnunet}
FORMATS: tuple[str, ...] = tuple(FORMAT_WRITERS)

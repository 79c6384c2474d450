"""Stage: predict -- masks, classes and refining warnings for new images from a saved checkpoint.

Writes into the output folder: ``<stem>_mask.png`` (0/255, resized back to the image's size with
nearest neighbour), ``predictions.csv`` and ``refine_warnings.csv`` (each with a ``.meta.json``
sidecar naming the checkpoint, its config and the input files' SHA-256).
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from busi_curate.data.dataset import CLASSES
from busi_curate.data.imageio import read_gray
from busi_curate.fileio import atomic_open, file_sha256, write_csv

from .data import preprocess_image
from .errors import ConfigError
from .profiles import RunConfig
from .provenance import provenance, write_sidecar
from .refine import REFINERS, RefineEvent, event, incoherence

log = logging.getLogger("busi_bench")


def expand_images(paths: list[Path]) -> list[Path]:
    """Files as given; folders replaced by their image files (sorted, not recursive).

    Raises:
        DatasetError: a folder without images.
    """
    from busi_curate.data.dataset import IMAGE_SUFFIXES
    from busi_curate.errors import DatasetError

    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = sorted(
                q
                for q in p.iterdir()
                if q.suffix.lower() in IMAGE_SUFFIXES and not q.name.startswith(".") and "_mask" not in q.stem
            )
            if not found:
                raise DatasetError("folder holds no images", p)
            out += found
        else:
            out.append(p)
    return out


def output_stems(paths: list[Path]) -> list[str]:
    """A distinct output name per input: the file stem, or stem + parent folder names when stems repeat
    (``a/x.png`` and ``b/x.png`` -> ``a_x``, ``b_x``), so no output overwrites another."""
    import collections

    counts = collections.Counter(p.stem for p in paths)
    names: list[str] = []
    for p in paths:
        name = p.stem if counts[p.stem] == 1 else "_".join([*p.resolve().parent.parts[-2:], p.stem]).lstrip("/_")
        base, k = name, 2
        while name in names:
            name, k = f"{base}-{k}", k + 1
        names.append(name)
    return names


def _overlay(gray: np.ndarray, mask: np.ndarray, big: Any) -> Any:
    """The image with the predicted mask's outline in yellow (RGB)."""
    from PIL import Image
    from scipy import ndimage

    m = np.asarray(big) > 0
    edge = m & ~ndimage.binary_erosion(m, iterations=max(1, min(gray.shape) // 200))
    rgb = np.stack([gray] * 3, axis=-1).copy()
    rgb[edge] = (255, 214, 0)
    return Image.fromarray(rgb)


def predict_images(
    checkpoint: str | Path, images: list[Path], out: str | Path, refine: str | None = None, device: str = "auto"
) -> list[dict[str, Any]]:
    """Predict every image; returns one row per image (also written to ``predictions.csv``).

    Raises:
        BenchError: unreadable checkpoint. ConfigError: unknown refining rule. DatasetError: unreadable image.
    """
    import torch
    from PIL import Image

    from .models import build_model
    from .train import load_checkpoint, model_options, predict, select_device

    ck = load_checkpoint(checkpoint)
    cfg = RunConfig.from_dict(ck["config"], str(checkpoint))
    rule = refine or (cfg.refine if cfg.task == "mt" else "none")
    if rule not in REFINERS:
        raise ConfigError(f"unknown refining rule {rule!r} (known: {', '.join(REFINERS)})")
    dev = select_device(device)
    model = build_model(cfg.model, task=cfg.task, **model_options(cfg))
    model.load_state_dict(ck["model"])
    model.to(dev)
    images = expand_images(images)
    grays = [read_gray(p) for p in images]
    names = output_stems(images)
    x = torch.from_numpy(np.stack([preprocess_image(g, cfg.image_size) for g in grays])).unsqueeze(1)
    pred = predict(model, x, cfg, dev)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    events: list[RefineEvent] = []
    for i, (path, gray, stem) in enumerate(zip(images, grays, names)):
        row: dict[str, Any] = {"image": str(path), "file_sha256": file_sha256(path)}
        mask = pred.seg_prob[i] >= cfg.threshold if pred.seg_prob is not None else None
        probs = pred.cls_prob[i] if pred.cls_prob is not None else None
        action = disagreement = ""
        cls = int(np.argmax(probs)) if probs is not None else None
        if mask is not None and probs is not None:
            disagreement = incoherence(mask, cls)  # type: ignore[arg-type]
            res = REFINERS[rule](mask, probs, pred.seg_prob[i])  # type: ignore[index]
            ev = event(path.name, mask, probs, res)
            if ev is not None:
                events.append(ev)
                log.warning("refined %s", ev.message())
            mask, cls, action = res.mask, res.cls, res.action
        row["class"] = CLASSES[cls] if cls is not None else ""
        if probs is not None:
            row.update({f"p_{c}": float(probs[k]) for k, c in enumerate(CLASSES)})
            row["p_class"] = float(probs[cls]) if cls is not None else float("nan")
        else:
            row["p_class"] = float("nan")
        row["tumour_pixels"] = int(mask.sum()) if mask is not None else 0
        row["incoherent_before"] = disagreement
        row["refine_action"] = action
        if mask is not None:
            big = Image.fromarray(mask.astype(np.uint8) * 255).resize(
                (gray.shape[1], gray.shape[0]), Image.Resampling.NEAREST
            )
            with atomic_open(out / f"{stem}_mask.png", "wb") as fh:
                big.save(fh, format="PNG")
            overlay = _overlay(gray, mask, big)
            with atomic_open(out / f"{stem}_overlay.png", "wb") as fh:
                overlay.save(fh, format="PNG")
            row["mask"] = f"{stem}_mask.png"
            row["overlay"] = f"{stem}_overlay.png"
        rows.append(row)
    prov = provenance(
        cfg.to_dict(),
        {
            "checkpoint": str(checkpoint),
            "checkpoint_sha256": file_sha256(checkpoint),
            **{str(r["image"]): r["file_sha256"] for r in rows},
        },
        refine=rule,
    )
    write_csv(out / "predictions.csv", pd.DataFrame(rows))
    write_sidecar(out / "predictions.csv", prov)
    cols = list(RefineEvent.__dataclass_fields__)
    write_csv(out / "refine_warnings.csv", pd.DataFrame([asdict(e) for e in events], columns=cols))
    write_sidecar(out / "refine_warnings.csv", prov)
    return rows

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

from busi_curate.dataset import CLASSES
from busi_curate.fileio import atomic_open, file_sha256, write_csv
from busi_curate.imageio import read_gray

from .data import preprocess_image
from .errors import ConfigError
from .profiles import RunConfig
from .provenance import provenance, write_sidecar
from .refine import REFINERS, RefineEvent, event, incoherence

log = logging.getLogger("busi_bench")


def predict_images(checkpoint: str | Path, images: list[Path], out: str | Path, refine: str | None = None,
                   device: str = "auto") -> list[dict[str, Any]]:
    """Predict every image; returns one row per image (also written to ``predictions.csv``).

    Raises:
        BenchError: unreadable checkpoint. ConfigError: unknown refining rule. DatasetError: unreadable image.
    """
    import torch
    from PIL import Image

    from .models import build_model
    from .train import load_checkpoint, predict, select_device

    ck = load_checkpoint(checkpoint)
    cfg = RunConfig.from_dict(ck["config"], str(checkpoint))
    rule = refine or (cfg.refine if cfg.task == "mt" else "none")
    if rule not in REFINERS:
        raise ConfigError(f"unknown refining rule {rule!r} (known: {', '.join(REFINERS)})")
    dev = select_device(device)
    model = build_model(cfg.model, task=cfg.task)
    model.load_state_dict(ck["model"])
    model.to(dev)
    grays = [read_gray(p) for p in images]
    x = torch.from_numpy(np.stack([preprocess_image(g, cfg.image_size) for g in grays])).unsqueeze(1)
    pred = predict(model, x, cfg, dev)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    events: list[RefineEvent] = []
    for i, (path, gray) in enumerate(zip(images, grays)):
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
            big = Image.fromarray(mask.astype(np.uint8) * 255).resize((gray.shape[1], gray.shape[0]), Image.Resampling.NEAREST)
            with atomic_open(out / f"{path.stem}_mask.png", "wb") as fh:
                big.save(fh, format="PNG")
            row["mask"] = f"{path.stem}_mask.png"
        rows.append(row)
    prov = provenance(cfg.to_dict(), {"checkpoint": str(checkpoint), "checkpoint_sha256": file_sha256(checkpoint),
                                      **{str(r["image"]): r["file_sha256"] for r in rows}}, refine=rule)
    write_csv(out / "predictions.csv", pd.DataFrame(rows))
    write_sidecar(out / "predictions.csv", prov)
    cols = list(RefineEvent.__dataclass_fields__)
    write_csv(out / "refine_warnings.csv", pd.DataFrame([asdict(e) for e in events], columns=cols))
    write_sidecar(out / "refine_warnings.csv", prov)
    return rows

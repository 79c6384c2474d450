"""Stage: predict -- masks, classes and refining warnings for new images from a saved checkpoint.

Writes into the output folder: ``<stem>_mask.png`` (0/255, resized back to the image's size with
nearest neighbour), ``predictions.csv`` and ``refine_warnings.csv`` (each with a ``.meta.json``
sidecar naming the checkpoint, its config and the input files' SHA-256).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmark.data.samples import preprocess_image
from benchmark.inference.postprocess import Postprocess
from benchmark.inference.refine import RefineEvent
from benchmark.profiles import RunConfig
from benchmark.provenance import provenance, write_sidecar
from busi_curate.data.dataset import CLASSES
from busi_curate.data.imageio import read_gray
from busi_curate.fileio import atomic_open, file_sha256, write_csv

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


#: overlay colours (RGB): the predicted outline, and the outline of a mask that refining cleared
OUTLINE = (255, 214, 0)
CLEARED = (255, 87, 34)


def _edge(m: np.ndarray, width: int) -> np.ndarray:
    from scipy import ndimage

    return m & ~ndimage.binary_erosion(m, iterations=width)


def overlay_figure(gray: np.ndarray, mask: np.ndarray | None, row: dict[str, Any], cleared: np.ndarray | None) -> Any:
    """The image with the predicted tumour outline (yellow) under a caption band: the class and its probability,
    a legend, and, when refining cleared the mask, that mask's outline in orange and the words saying so.
    ``mask`` and ``cleared`` are native-size bool arrays. Returns a PIL RGB image, fit for a figure."""
    from PIL import Image, ImageDraw, ImageFont

    h, w = gray.shape
    width = max(1, min(h, w) // 200)
    rgb = np.stack([gray] * 3, axis=-1).copy()
    if cleared is not None and cleared.any():
        rgb[_edge(cleared, width)] = CLEARED
    if mask is not None:
        rgb[_edge(mask, width)] = OUTLINE
    size = max(11, min(22, w // 28))
    font = ImageFont.load_default(size=size)
    lines: list[tuple[str, tuple[int, int, int]]] = []
    head = row["class"] or "no class (segmentation only)"
    if row["class"] and np.isfinite(row["p_class"]):
        head += f"  p = {row['p_class']:.2f}"
    lines.append((head, (255, 255, 255)))
    if mask is not None:
        lines.append((f"yellow: predicted tumour ({row['tumour_pixels']} px)", OUTLINE))
    if row["refine_action"]:
        what = "orange: mask cleared by refining" if cleared is not None and cleared.any() else "refined"
        lines.append((f"{what} [{row['refine_action']}]", CLEARED))
    band = (size + 4) * len(lines) + 6
    canvas = Image.new("RGB", (w, h + band), (0, 0, 0))
    canvas.paste(Image.fromarray(rgb), (0, band))
    draw = ImageDraw.Draw(canvas)
    for k, (text, colour) in enumerate(lines):
        draw.text((4, 3 + k * (size + 4)), text, fill=colour, font=font)
    return canvas


def _native(mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A network-size bool mask resized to the image's ``(H, W)`` with nearest neighbour."""
    from PIL import Image

    big = Image.fromarray(mask.astype(np.uint8) * 255).resize((shape[1], shape[0]), Image.Resampling.NEAREST)
    return np.asarray(big) > 0


def network_predictions(cfg: RunConfig, state: dict[str, Any], grays: list[np.ndarray], device: str = "auto") -> Any:
    """The network of ``cfg`` built exactly as training builds it (:func:`benchmark.models.build_network`: model, task,
    ``cls_head``, ``head_norm``, ``image_size``), ``state`` loaded, run over the images preprocessed as the run
    decodes them (``image_size``, ``image_interp``). Returns :class:`benchmark.training.train.Predictions`."""
    import torch

    from benchmark.models import build_network
    from benchmark.training.train import predict, select_device

    dev = select_device(device)
    model = build_network(cfg, dev)
    model.load_state_dict(state)
    x = torch.from_numpy(np.stack([preprocess_image(g, cfg.image_size, cfg.image_interp) for g in grays]))
    return predict(model, x.unsqueeze(1), cfg, dev)


def predict_images(
    checkpoint: str | Path, images: list[Path], out: str | Path, refine: str | None = None, device: str = "auto"
) -> list[dict[str, Any]]:
    """Predict every image (folders stand for their images); returns one row per image (also written to
    ``predictions.csv``); ``tumour_pixels`` counts the saved native-size mask.

    Raises:
        BenchError: unreadable checkpoint. ConfigError: unknown refining rule. DatasetError: unreadable image.
    """
    from benchmark.training.checkpoint import load_checkpoint

    ck = load_checkpoint(checkpoint)
    cfg = RunConfig.from_dict(ck["config"], str(checkpoint))
    post = Postprocess.of(cfg, refine)  # ConfigError for an unknown rule
    images = expand_images(images)
    grays = [read_gray(p) for p in images]
    names = output_stems(images)
    pred = network_predictions(cfg, ck["model"], grays, device)
    res = post([(n, "") for n in names], pred.seg_prob, pred.cls_prob)
    raw, masks, classes, why, events = res.raw_masks, res.masks, res.classes, res.why, res.events
    path_of = {n: str(p) for n, p in zip(names, images)}
    actions = {e.key.strip(): e.action for e in events}
    events = [replace(e, key=path_of[e.key.strip()]) for e in events]  # refine_warnings.csv names the image file
    for ev in events:
        log.warning("refined %s", ev.message())
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = [
        _write_one(out, i, path, gray, stem, pred.cls_prob, raw, masks, classes, why[i], actions.get(stem, ""))
        for i, (path, gray, stem) in enumerate(zip(images, grays, names))
    ]
    prov = provenance(
        cfg.to_dict(),
        {
            "checkpoint": str(checkpoint),
            "checkpoint_sha256": file_sha256(checkpoint),
            **{str(r["image"]): r["file_sha256"] for r in rows},
        },
        refine=post.rule,
    )
    write_csv(out / "predictions.csv", pd.DataFrame(rows))
    write_sidecar(out / "predictions.csv", prov)
    cols = list(RefineEvent.__dataclass_fields__)
    write_csv(out / "refine_warnings.csv", pd.DataFrame([asdict(e) for e in events], columns=cols))
    write_sidecar(out / "refine_warnings.csv", prov)
    return rows


def _write_one(
    out: Path,
    i: int,
    path: Path,
    gray: np.ndarray,
    stem: str,
    cls_prob: np.ndarray | None,
    raw: np.ndarray | None,
    masks: np.ndarray | None,
    classes: np.ndarray | None,
    why: str,
    action: str,
) -> dict[str, Any]:
    """One image's row; its native-size mask and overlay written."""
    from PIL import Image

    cls = int(classes[i]) if classes is not None else None
    row: dict[str, Any] = {
        "image": str(path),
        "file_sha256": file_sha256(path),
        "class": CLASSES[cls] if cls is not None else "",
    }
    if cls_prob is not None:
        row.update({f"p_{c}": float(cls_prob[i][k]) for k, c in enumerate(CLASSES)})
    row["p_class"] = float(cls_prob[i][cls]) if cls_prob is not None and cls is not None else float("nan")
    big = _native(masks[i], gray.shape) if masks is not None else None
    row["tumour_pixels"] = int(big.sum()) if big is not None else 0
    row["incoherent_before"] = why
    row["refine_action"] = action
    if big is not None:
        with atomic_open(out / f"{stem}_mask.png", "wb") as fh:
            Image.fromarray(big.astype(np.uint8) * 255).save(fh, format="PNG")
        before = _native(raw[i], gray.shape) if raw is not None else None
        cleared = before & ~big if before is not None else None
        with atomic_open(out / f"{stem}_overlay.png", "wb") as fh:
            overlay_figure(gray, big, row, cleared).save(fh, format="PNG")
        row["mask"] = f"{stem}_mask.png"
        row["overlay"] = f"{stem}_overlay.png"
    return row

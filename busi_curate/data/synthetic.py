"""A small synthetic BUSI-like dataset with planted near-duplicates, for the demo and the tests.

Every image is a speckled, layered ultrasound-like frame with a dark lesion (benign: round,
malignant: irregular; normal: none). A set of copies is planted, each a known transformation of
a source image: exact copy, crop, rescale, small shift, brightness/contrast change, extra speckle,
a copy filed under another class, and a copy with a different mask.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from busi_curate.fileio import write_csv


@dataclass(frozen=True)
class PlantedPair:
    """A duplicate written on purpose: ``copy`` is ``kind`` applied to ``source``."""

    source_class: str
    source_id: str
    copy_class: str
    copy_id: str
    kind: str


#: transformation kinds planted by :func:`make_synthetic_busi`, in order.
KINDS: tuple[str, ...] = ("identical", "crop", "rescale", "shift", "brightness", "speckle", "relabel", "remask")
#: not a copy: a neighbouring frame of the same sweep (the tissue moved a few pixels, the speckle partly new), the
#: hard case the demo keeps for a person; plant it with ``kinds=KINDS + NEIGHBOUR``
NEIGHBOUR: tuple[str, ...] = ("neighbour",)


def _neighbour(img: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A neighbouring frame: a smooth displacement field of at most 4 px (sigma 20 px) moves the tissue and the
    lesion, and 70 % of the speckle is drawn afresh."""
    h, w = img.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    fields = [ndimage.gaussian_filter(rng.normal(0, 1, (h, w)), 20.0) for _ in range(2)]
    dy, dx = (4.0 * f / (np.abs(f).max() + 1e-9) for f in fields)
    warped = ndimage.map_coordinates(img.astype(np.float64), [yy - dy, xx - dx], order=1, mode="nearest")
    moved = ndimage.map_coordinates(mask.astype(np.float64), [yy - dy, xx - dx], order=0, mode="nearest") > 0.5
    fresh = ndimage.gaussian_filter(warped * rng.rayleigh(1.0, (h, w)) / 1.25, 0.7)
    return np.clip(0.3 * warped + 0.7 * fresh, 0, 255).astype(np.uint8), moved


def _frame(rng: np.random.Generator, h: int, w: int, lesion: str | None) -> tuple[np.ndarray, np.ndarray]:
    """One ultrasound-like frame ``(h, w) uint8`` and its lesion mask ``(h, w) bool``."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    # tissue layers: a few smooth horizontal bands with random phase and tilt
    img = np.zeros((h, w))
    for _ in range(4):
        freq, phase, tilt = rng.uniform(0.01, 0.05), rng.uniform(0, 2 * np.pi), rng.uniform(-0.3, 0.3)
        img += rng.uniform(15, 35) * np.sin(freq * (yy + tilt * xx) + phase)
    img += 90 + 40 * np.exp(-yy / (0.6 * h))  # brighter near the probe
    blobs = ndimage.gaussian_filter(rng.normal(0, 1, (h, w)), sigma=rng.uniform(6, 14))
    img += 60 * blobs / (np.abs(blobs).max() + 1e-9)
    mask = np.zeros((h, w), dtype=bool)
    if lesion is not None:
        cy, cx = rng.uniform(0.35, 0.65) * h, rng.uniform(0.3, 0.7) * w
        ry, rx = rng.uniform(0.08, 0.16) * h, rng.uniform(0.1, 0.2) * w
        ang = np.arctan2(yy - cy, xx - cx)
        wobble = 1.0 if lesion == "benign" else 1 + 0.25 * np.sin(5 * ang + rng.uniform(0, 6)) + 0.1 * np.sin(11 * ang)
        r = np.sqrt(((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2)
        mask = r < wobble
        img = np.where(mask, img * 0.25 + 10, img)
        img += (
            50 * np.exp(-((yy - cy - 1.3 * ry) ** 2) / (2 * (0.4 * ry) ** 2)) * (np.abs(xx - cx) < rx)
        )  # posterior shadow/enhancement
    speckle = rng.rayleigh(1.0, (h, w))
    img = ndimage.gaussian_filter(img * speckle / 1.25, 0.7)
    img[: max(8, h // 25)] = 0  # dark top band, as in scanner frames
    return np.clip(img, 0, 255).astype(np.uint8), mask


def _transform(kind: str, img: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    h, w = img.shape
    if kind in ("identical", "relabel"):
        return img.copy(), mask.copy()
    if kind == "remask":
        return img.copy(), ndimage.binary_dilation(mask, iterations=6) if mask.any() else mask.copy()
    if kind == "crop":
        y0, x0 = int(0.06 * h), int(0.08 * w)
        return img[y0 : h - y0 // 2, x0 : w - x0].copy(), mask[y0 : h - y0 // 2, x0 : w - x0].copy()
    if kind == "rescale":
        s = 0.8
        size = (int(w * s), int(h * s))
        im = np.asarray(Image.fromarray(img).resize(size, Image.Resampling.BILINEAR))
        mk = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize(size, Image.Resampling.NEAREST)) > 0
        return im, mk
    if kind == "shift":
        dy, dx = 3, 4
        return img[dy:, dx:].copy(), mask[dy:, dx:].copy()
    if kind == "brightness":
        return np.clip(img.astype(np.float64) * 1.15 + 12, 0, 255).astype(np.uint8), mask.copy()
    if kind == "neighbour":
        return _neighbour(img, mask, rng)
    if kind == "speckle":
        noisy = img.astype(np.float64) + rng.normal(0, 6, img.shape)
        return np.clip(noisy, 0, 255).astype(np.uint8), mask.copy()
    raise ValueError(f"unknown kind {kind!r}")


def _save(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, optimize=False)


def make_synthetic_busi(
    out: str | Path,
    n_per_class: tuple[int, int, int] = (14, 8, 6),
    seed: int = 0,
    kinds: tuple[str, ...] = KINDS,
) -> list[PlantedPair]:
    """Write a BUSI-layout dataset under ``out/Dataset_BUSI_with_GT`` and return its planted pairs.

    Args:
        out: destination folder (created).
        n_per_class: numbers of *unique* benign, malignant and normal frames; the planted copies
            come on top (one per kind, appended to the class they are filed under).
        seed: the whole dataset is a function of this seed.
        kinds: which transformations to plant (see :data:`KINDS`).

    Also writes ``out/planted.csv`` listing the planted pairs.
    """
    rng = np.random.default_rng(seed)
    base = Path(out) / "Dataset_BUSI_with_GT"
    classes = ("benign", "malignant", "normal")
    counters = dict.fromkeys(classes, 0)
    frames: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}

    def add(cls: str, img: np.ndarray, mask: np.ndarray, extra_mask: bool = False) -> str:
        counters[cls] += 1
        id_ = str(counters[cls])
        stem = base / cls / f"{cls} ({id_})"
        _save(stem.with_name(stem.name + ".png"), img)
        m = mask.astype(np.uint8) * 255
        if extra_mask and mask.any():
            # split the lesion mask into two files, as BUSI does for some images (_mask, _mask_1)
            half = mask.copy()
            half[:, : mask.shape[1] // 2] = False
            _save(stem.with_name(stem.name + "_mask.png"), (mask & ~half).astype(np.uint8) * 255)
            _save(stem.with_name(stem.name + "_mask_1.png"), half.astype(np.uint8) * 255)
        else:
            _save(stem.with_name(stem.name + "_mask.png"), m)
        frames[(cls, id_)] = (img, mask)
        return id_

    for cls, n in zip(classes, n_per_class):
        for k in range(n):
            h, w = int(rng.integers(300, 460)), int(rng.integers(320, 560))
            img, mask = _frame(rng, h, w, None if cls == "normal" else cls)
            add(cls, img, mask, extra_mask=(k == 1 and cls == "benign"))

    planted: list[PlantedPair] = []
    sources = [key for key in frames if key[0] != "normal"]
    for i, kind in enumerate(kinds):
        src_cls, src_id = sources[(3 * i) % len(sources)]
        img, mask = frames[(src_cls, src_id)]
        cimg, cmask = _transform(kind, img, mask, rng)
        dst_cls = ("malignant" if src_cls == "benign" else "benign") if kind == "relabel" else src_cls
        cid = add(dst_cls, cimg, cmask)
        planted.append(PlantedPair(src_cls, src_id, dst_cls, cid, kind))

    import pandas as pd

    write_csv(Path(out) / "planted.csv", pd.DataFrame([asdict(p) for p in planted]))
    return planted

"""Stage: load -- read and validate a manifest and its folds, split a fold, decode and preprocess images.

Preprocessing (documented in benchmark/README.md): 8-bit grayscale (``busi_curate.imageio.read_gray``),
resized to ``size x size`` with Pillow bilinear for images and nearest-neighbour for masks (as the
paper's code does), intensities scaled linearly from [0, 255] to [0, 1] (``x / 255``), masks {0, 1}.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from busi_curate.dataset import CLASSES, record_sort_key
from busi_curate.fileio import file_sha256, pixel_sha256
from busi_curate.imageio import read_gray, read_mask_union

from .errors import BenchError, ManifestError

MANIFEST_COLUMNS: tuple[str, ...] = (
    "dataset", "version", "class", "id", "image", "masks", "pixel_sha256", "mask_pixel_sha256",
    "file_sha256", "width", "height", "tumour_pixels", "bbox", "group", "status", "reason",
)
FOLDS_COLUMNS: tuple[str, ...] = ("class", "id", "fold", "split")
SPLITS: tuple[str, ...] = ("train", "val", "test")
NORMAL = CLASSES.index("normal")


@dataclass
class SampleSet:
    """Preprocessed images of one split, in (class, natural id) order.

    Attributes:
        keys: ``(class, id)`` per image.
        images: ``(N, S, S) float32`` in [0, 1].
        masks: ``(N, S, S) uint8`` in {0, 1}.
        labels: ``(N,) int64`` index into :data:`CLASSES`.
    """

    keys: list[tuple[str, str]]
    images: np.ndarray
    masks: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.keys)

    def take(self, index: Sequence[int] | np.ndarray) -> SampleSet:
        """Rows ``index`` (repeats allowed), as a new set."""
        idx = np.asarray(index, dtype=np.int64)
        return SampleSet([self.keys[i] for i in idx], self.images[idx], self.masks[idx], self.labels[idx])


@dataclass
class FoldSplit:
    """Keys of the train / val / test images of one fold."""

    fold: int
    train: list[tuple[str, str]]
    val: list[tuple[str, str]]
    test: list[tuple[str, str]]


def _read_csv(path: Path, what: str, columns: Sequence[str]) -> pd.DataFrame:
    if not path.is_file():
        raise ManifestError(f"{what} not found", path)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ManifestError(f"cannot parse {what} as CSV ({exc})", path) from exc
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ManifestError(f"{what} lacks column(s) {', '.join(missing)} (expected {', '.join(columns)})", path)
    return frame


def read_manifest(path: str | Path) -> pd.DataFrame:
    """Read ``manifest.csv`` (all columns as text) and check its schema.

    Raises:
        ManifestError: missing file or columns, unknown class or status, duplicate (class, id).
    """
    path = Path(path)
    frame = _read_csv(path, "manifest", MANIFEST_COLUMNS)
    bad_cls = sorted(set(frame["class"]) - set(CLASSES))
    if bad_cls:
        raise ManifestError(f"unknown class(es) {bad_cls} (expected {', '.join(CLASSES)})", path)
    bad_status = sorted(set(frame["status"]) - {"kept", "removed"})
    if bad_status:
        raise ManifestError(f"unknown status value(s) {bad_status} (expected kept or removed)", path)
    dup = frame.duplicated(["class", "id"])
    if dup.any():
        row = frame[dup].iloc[0]
        raise ManifestError(f"duplicate image {row['class']} {row['id']}", path)
    return frame


def read_folds(path: str | Path, manifest: pd.DataFrame) -> pd.DataFrame:
    """Read ``folds.csv`` and check it against the manifest.

    Raises:
        ManifestError: missing columns, non-integer fold, unknown split, ids not in the manifest or
            not ``kept`` there, an image listed twice in one fold, a fold without test images.
    """
    path = Path(path)
    frame = _read_csv(path, "folds file", FOLDS_COLUMNS)
    try:
        frame["fold"] = frame["fold"].astype(int)
    except ValueError as exc:
        raise ManifestError(f"column 'fold' must hold integers ({exc})", path) from exc
    bad_split = sorted(set(frame["split"]) - set(SPLITS))
    if bad_split:
        raise ManifestError(f"unknown split value(s) {bad_split} (expected {', '.join(SPLITS)})", path)
    kept = manifest[manifest["status"] == "kept"]
    kept_keys = set(zip(kept["class"], kept["id"]))
    all_keys = set(zip(manifest["class"], manifest["id"]))
    keys = list(zip(frame["class"], frame["id"]))
    unknown = [k for k in keys if k not in all_keys]
    if unknown:
        raise ManifestError(f"{len(unknown)} image(s) not in the manifest, first {unknown[0][0]} {unknown[0][1]}", path)
    removed = [k for k in keys if k not in kept_keys]
    if removed:
        raise ManifestError(f"{len(removed)} image(s) are not 'kept' in the manifest, first {removed[0][0]} {removed[0][1]}", path)
    if frame.duplicated(["class", "id", "fold"]).any():
        row = frame[frame.duplicated(["class", "id", "fold"])].iloc[0]
        raise ManifestError(f"image {row['class']} {row['id']} listed twice in fold {row['fold']}", path)
    for k, grp in frame.groupby("fold"):
        if not (grp["split"] == "test").any():
            raise ManifestError(f"fold {k} has no test images", path)
    return frame


def fold_numbers(folds: pd.DataFrame) -> list[int]:
    """Sorted fold numbers present in a folds table."""
    return sorted(int(k) for k in folds["fold"].unique())


def split_fold(folds: pd.DataFrame, fold: int, folds_path: str | Path = "folds.csv") -> FoldSplit:
    """Train / val / test keys of ``fold``, each in (class, natural id) order.

    Raises:
        ManifestError: ``fold`` is not present in the folds file.
    """
    present = fold_numbers(folds)
    if fold not in present:
        raise ManifestError(f"fold {fold} is not in the folds file (folds present: {', '.join(map(str, present))})", folds_path)
    rows = folds[folds["fold"] == fold]

    def keys(split: str) -> list[tuple[str, str]]:
        sel = rows[rows["split"] == split]
        return sorted(zip(sel["class"], sel["id"]), key=lambda k: record_sort_key(*k))

    out = FoldSplit(fold, keys("train"), keys("val"), keys("test"))
    if not out.train:
        raise ManifestError(f"fold {fold} has no training images", folds_path)
    return out


def resize_pair(gray: np.ndarray, mask: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Resize ``(H, W) uint8`` image (bilinear) and ``(H, W) bool`` mask (nearest) to ``(size, size)``.

    Returns:
        ``(size, size) float32`` image in [0, 1] and ``(size, size) uint8`` mask in {0, 1}.
    """
    from PIL import Image

    img = Image.fromarray(gray).resize((size, size), Image.Resampling.BILINEAR)
    msk = Image.fromarray(mask.astype(np.uint8) * 255).resize((size, size), Image.Resampling.NEAREST)
    return np.asarray(img, dtype=np.float32) / 255.0, (np.asarray(msk) > 0).astype(np.uint8)


def preprocess_image(gray: np.ndarray, size: int) -> np.ndarray:
    """Resize ``(H, W) uint8`` to ``(size, size) float32`` in [0, 1] (bilinear), for prediction."""
    return resize_pair(gray, np.zeros_like(gray, dtype=bool), size)[0]


def load_samples(
    manifest: pd.DataFrame,
    keys: Sequence[tuple[str, str]],
    data_dir: str | Path,
    size: int,
    verify: bool = True,
) -> SampleSet:
    """Decode, verify and preprocess the images ``keys`` of the manifest.

    Args:
        manifest: as returned by :func:`read_manifest`.
        keys: ``(class, id)`` of the images wanted, in the order wanted.
        data_dir: folder the manifest's ``image`` / ``masks`` paths are relative to.
        size: side of the output images.
        verify: compare decoded image and mask pixels with ``pixel_sha256`` / ``mask_pixel_sha256``.

    Raises:
        BenchError: a file is missing or its pixels differ from the manifest's hash.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise BenchError("data folder does not exist", data_dir)
    index = manifest.set_index(["class", "id"])
    n = len(keys)
    images = np.zeros((n, size, size), np.float32)
    masks = np.zeros((n, size, size), np.uint8)
    labels = np.zeros(n, np.int64)
    bad: list[str] = []
    for i, (cls, id_) in enumerate(keys):
        row = index.loc[(cls, id_)]
        img_path = data_dir / row["image"]
        if not img_path.is_file():
            raise BenchError(f"image of {cls} {id_} not found (manifest column 'image')", img_path)
        gray = read_gray(img_path)
        mask_paths = [data_dir / m for m in str(row["masks"]).split(";") if m]
        mask = read_mask_union(mask_paths, gray.shape, img_path)
        if verify:
            if pixel_sha256(gray) != row["pixel_sha256"]:
                bad.append(f"{cls} {id_} ({row['image']}: image pixels)")
            elif row["mask_pixel_sha256"] and pixel_sha256(mask.astype(np.uint8)) != row["mask_pixel_sha256"]:
                bad.append(f"{cls} {id_} ({row['image']}: mask pixels)")
        images[i], masks[i] = resize_pair(gray, mask, size)
        labels[i] = CLASSES.index(cls)
    if bad:
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        raise BenchError(f"{len(bad)} image(s) differ from the manifest's pixel hashes: {'; '.join(bad[:3])}{more}", data_dir)
    return SampleSet(list(keys), images, masks, labels)


def input_checksums(manifest_path: str | Path, folds_path: str | Path) -> dict[str, str]:
    """SHA-256 of the manifest and folds files, for provenance records."""
    return {"manifest_sha256": file_sha256(manifest_path), "folds_sha256": file_sha256(folds_path)}

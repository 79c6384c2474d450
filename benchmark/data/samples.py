"""Stage: load -- read and validate a manifest and its folds, split a fold, decode and preprocess images.

Preprocessing (documented in benchmark/README.md): 8-bit grayscale (``busi_curate.data.imageio.read_gray``),
resized to ``size x size`` with Pillow bilinear for images and nearest-neighbour for masks (as the
paper's code does), intensities scaled linearly from [0, 255] to [0, 1] (``x / 255``), masks {0, 1}.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark.errors import BenchError, ManifestError
from busi_curate.data.dataset import CLASSES, record_sort_key, resize_gray
from busi_curate.data.imageio import read_gray, read_mask_union
from busi_curate.fileio import check_inside, pixel_sha256
from busi_curate.publish.manifest import Folds, Manifest, read_folds, read_manifest

log = logging.getLogger("busi_bench")

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
    """Keys of the train / val / test images of one fold, each in record order."""

    fold: int
    train: list[tuple[str, str]]
    val: list[tuple[str, str]]
    test: list[tuple[str, str]]


def split_key(text: object) -> tuple[str, str]:
    """``"class id"`` as stored in ``predictions.npz`` and ``packed.npz`` -> ``(class, id)`` (split at the first space)."""
    cls, _, id_ = str(text).partition(" ")
    return cls, id_


def read_inputs(manifest: str | Path, folds: str | Path) -> tuple[Manifest, Folds]:
    """Read and validate a manifest and its folds with the curation half's readers (schema, sidecar
    checksums, ids present and kept, every kept image in exactly one test fold).

    Raises:
        ManifestError: naming the file at fault.
    """
    m = read_manifest(manifest)
    return m, read_folds(folds, m)


#: ``class_subset`` setting -> classes kept (Table 4 trains and tests on benign + malignant only, and on all).
CLASS_SUBSETS: dict[str, tuple[str, ...]] = {"all": tuple(CLASSES), "benign-malignant": ("benign", "malignant")}


def split_fold(folds: Folds, fold: int, class_subset: str = "all") -> FoldSplit:
    """Train / val / test keys of ``fold``, restricted to the classes of ``class_subset`` (the same test
    images minus the dropped classes, so subset folds come from the published folds).

    Raises:
        ManifestError: ``fold`` is not in the folds file, or it has no training or validation images.
    """
    parts = folds.split(fold)
    keep = set(CLASS_SUBSETS[class_subset])
    parts = {k: [key for key in v if key[0] in keep] for k, v in parts.items()}
    out = FoldSplit(fold, parts["train"], parts["val"], parts["test"])
    for name in ("train", "val"):
        if not getattr(out, name):
            raise ManifestError(
                f"fold {fold} has no {name} images (needed for training and model selection)", folds.path
            )
    return out


def resize_pair(
    gray: np.ndarray, mask: np.ndarray, size: int, interp: str = "bilinear"
) -> tuple[np.ndarray, np.ndarray]:
    """Resize ``(H, W) uint8`` image (bilinear) and ``(H, W) bool`` mask (nearest) to ``(size, size)``.

    Returns:
        ``(size, size) float32`` image in [0, 1] and ``(size, size) uint8`` mask in {0, 1}.
    """
    from PIL import Image

    msk = Image.fromarray(mask.astype(np.uint8) * 255).resize((size, size), Image.Resampling.NEAREST)
    return preprocess_image(gray, size, interp), (np.asarray(msk) > 0).astype(np.uint8)


def preprocess_image(gray: np.ndarray, size: int, interp: str = "bilinear") -> np.ndarray:
    """Resize ``(H, W) uint8`` to ``(size, size) float32`` in [0, 1], scaled by 1/255.

    ``interp="bilinear"`` is the curation half's :func:`busi_curate.data.dataset.resize_gray` (Pillow bilinear,
    the paper's text); ``"nearest"`` is Pillow nearest neighbour (the authors' code).
    """
    if interp == "nearest":
        from PIL import Image

        small = np.asarray(Image.fromarray(gray).resize((size, size), Image.Resampling.NEAREST), dtype=np.uint8)
        return small.astype(np.float32) / 255.0
    return resize_gray(gray, size).astype(np.float32) / 255.0


def load_samples(
    manifest: Manifest,
    keys: Sequence[tuple[str, str]],
    data_dir: str | Path,
    size: int,
    verify: bool = True,
    interp: str = "bilinear",
) -> SampleSet:
    """Decode, verify and preprocess the images ``keys`` of the manifest.

    Args:
        manifest: as returned by :func:`read_inputs`.
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
    n = len(keys)
    images = np.zeros((n, size, size), np.float32)
    masks = np.zeros((n, size, size), np.uint8)
    labels = np.zeros(n, np.int64)
    bad: list[str] = []
    for i, (cls, id_) in enumerate(keys):
        row = manifest.get((cls, id_))
        if row is None:
            raise ManifestError(f"image {cls} {id_} is not in the manifest", manifest.path)
        img_path = data_dir / row.image
        if not img_path.is_file():
            raise BenchError(f"image of {cls} {id_} not found (manifest column 'image')", img_path)
        mask_paths = [data_dir / m for m in row.masks]
        for p in (img_path, *mask_paths):
            check_inside(p, data_dir)  # a link out of the data folder is refused (the one rule of every reader)
        gray = read_gray(img_path)
        mask = read_mask_union(mask_paths, gray.shape, img_path)
        if verify:
            if pixel_sha256(gray) != row.pixel_sha256:
                bad.append(f"{cls} {id_} ({row.image}: image pixels)")
            elif row.mask_pixel_sha256 and pixel_sha256(mask.astype(np.uint8)) != row.mask_pixel_sha256:
                bad.append(f"{cls} {id_} ({row.image}: mask pixels)")
        images[i], masks[i] = resize_pair(gray, mask, size, interp)
        labels[i] = CLASSES.index(cls)
    if bad:
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        raise BenchError(
            f"{len(bad)} image(s) differ from the manifest's pixel hashes: {'; '.join(bad[:3])}{more}", data_dir
        )
    return SampleSet(list(keys), images, masks, labels)


def input_checksums(manifest: Manifest, folds: Folds) -> dict[str, str]:
    """SHA-256 of the manifest and folds files, for provenance records."""
    return {"manifest_sha256": manifest.sha256, "folds_sha256": folds.sha256, "manifest_version": manifest.version}


@dataclass
class RunInputs:
    """The three inputs of a run, read and verified once.

    Attributes:
        manifest_path, folds_path, data_dir: as given on the command line.
        manifest, folds: validated tables.
        checksums: SHA-256 of the manifest and folds files.
    """

    manifest_path: Path
    folds_path: Path
    data_dir: Path
    manifest: Manifest
    folds: Folds
    checksums: dict[str, str]
    _cache: dict[tuple[int, str], SampleSet] | None = None

    @classmethod
    def read(cls, manifest: str | Path, folds: str | Path, data_dir: str | Path) -> RunInputs:
        """Read and validate the manifest and folds (no images decoded yet).

        Raises:
            ManifestError: see :func:`benchmark.data.samples.read_manifest` and :func:`benchmark.data.samples.read_folds`.
        """
        m, f = read_inputs(manifest, folds)
        return cls(m.path, f.path, Path(data_dir), m, f, input_checksums(m, f))

    def samples(self, size: int, interp: str = "bilinear") -> tuple[SampleSet, dict[tuple[str, str], int]]:
        """Every image named in the folds file, decoded, hash-verified and preprocessed once per size."""
        self._cache = self._cache or {}
        if (size, interp) not in self._cache:
            keys = sorted(
                set(zip(self.folds.frame["class"], self.folds.frame["id"])), key=lambda k: record_sort_key(*k)
            )
            t0 = time.perf_counter()
            self._cache[size, interp] = load_samples(
                self.manifest, keys, self.data_dir, size, verify=True, interp=interp
            )
            log.info("decoded and verified %d images in %.1f s", len(keys), time.perf_counter() - t0)
        s = self._cache[size, interp]
        return s, {k: i for i, k in enumerate(s.keys)}

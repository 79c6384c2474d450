"""A torch ``Dataset`` over one fold's split of a manifest: image, union mask and class per item.

>>> from benchmark.data.torch_data import ManifestDataset                                   # doctest: +SKIP
>>> ds = ManifestDataset("manifests/curated_busi_v1/manifest.csv", "manifests/curated_busi_v1/folds.csv",
...                      "../shared/data/BUSI", fold=0, split="train", size=128)        # doctest: +SKIP
>>> item = ds[0]; item["image"].shape, item["mask"].shape, item["label"]              # doctest: +SKIP
((1, 128, 128), (1, 128, 128), 0)

Items are dictionaries (``image``, ``mask``, ``label``, ``class``, ``id``) as MONAI's dictionary
transforms expect, so ``monai.data.Dataset(ds, transform=...)`` or a ``DataLoader`` work directly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmark.data.samples import resize_pair
from benchmark.errors import BenchError
from busi_curate.data.dataset import CLASSES
from busi_curate.data.imageio import read_gray, read_mask_union
from busi_curate.fileio import pixel_sha256
from busi_curate.publish.split import load_split


class ManifestDataset(torch.utils.data.Dataset):
    """Images of ``split`` (train / val / test) of ``fold``; pixels checked against the manifest on read.

    Args:
        size: resize to ``size x size`` (bilinear image, nearest mask) as ``busi-bench run`` does; None keeps
            the original size (images then differ in size: batch them with a MONAI transform).
        verify: compare each decoded image with the manifest's ``pixel_sha256``.
    """

    def __init__(
        self,
        manifest: str | Path,
        folds: str | Path,
        data: str | Path,
        fold: int,
        split: str,
        size: int | None = 128,
        verify: bool = True,
    ) -> None:
        self.table = load_split(manifest, folds, data, fold, split)
        self.size = size
        self.verify = verify

    def __len__(self) -> int:
        return len(self.table)

    def __getitem__(self, i: int) -> dict[str, Any]:
        row = self.table.iloc[i]
        gray = read_gray(row["image_path"])
        if self.verify and pixel_sha256(gray) != row["pixel_sha256"]:
            raise BenchError("pixels differ from the manifest's pixel_sha256", row["image_path"])
        mask = read_mask_union(row["mask_paths"], gray.shape, row["image_path"])
        if self.size is None:
            img, msk = gray.astype(np.float32) / 255.0, mask.astype(np.uint8)
        else:
            img, msk = resize_pair(gray, mask, self.size)
        return {
            "image": torch.from_numpy(img)[None],
            "mask": torch.from_numpy(msk.astype(np.float32))[None],
            "label": CLASSES.index(row["class"]),
            "class": row["class"],
            "id": row["id"],
        }

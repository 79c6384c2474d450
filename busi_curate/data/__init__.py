"""Stage 1 -- load: find a dataset on disk, decode its images and masks, name them.

* :mod:`.dataset` -- layouts (BUSI, generic ``class/image + mask`` folders), :func:`load_dataset`;
* :mod:`.layouts` -- any tree of images (classes and masks optional, DICOM frames), the layout registry;
* :mod:`.public` -- BUS-BRA, BUS-UCLM and BrEaST as published;
* :mod:`.dicom` -- DICOM frames at full depth and the stated windowing (the ``[dicom]`` extra);
* :mod:`.imageio` -- safe decoding of one image or mask (size limits, corrupt files, union masks, 16-bit);
* :mod:`.ids` -- the ``(class, id)`` keys every later stage uses;
* :mod:`.synthetic` -- a small BUSI-like dataset with planted duplicates, for the demo and tests.
"""

from __future__ import annotations

from busi_curate.data.dataset import ImageRecord, LoadedDataset, detect_layout, load_dataset
from busi_curate.data.ids import Key, check_id
from busi_curate.data.imageio import read_gray, read_mask, read_mask_union
from busi_curate.data.synthetic import make_synthetic_busi

__all__ = [
    "ImageRecord",
    "Key",
    "LoadedDataset",
    "check_id",
    "detect_layout",
    "load_dataset",
    "make_synthetic_busi",
    "read_gray",
    "read_mask",
    "read_mask_union",
]

"""Stage: use -- one fold's split of a published manifest as a table a notebook or a training script can use.

>>> from busi_curate import load_split                                         # doctest: +SKIP
>>> test = load_split("manifests/curated_busi_v1/manifest.csv",                # doctest: +SKIP
...                   "manifests/curated_busi_v1/folds.csv", "../shared/data/BUSI", fold=0, split="test")
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from busi_curate.errors import DatasetError, ManifestError
from busi_curate.publish.manifest import read_folds, read_manifest

SPLITS = ("train", "val", "test")
SPLIT_COLUMNS = ("class", "id", "image_path", "mask_paths", "group", "fold", "split", "pixel_sha256", "width", "height")


def _data_root(data: Path, first_image: str) -> Path:
    from busi_curate.data.dicom import split_frame  # a DICOM frame is named ``cine.dcm#3``

    if split_frame(data / first_image)[0].exists():
        return data
    if split_frame(data.parent / first_image)[0].exists():  # the Dataset_BUSI_with_GT folder itself was given
        return data.parent
    raise DatasetError(f"does not hold the manifest's images (looked for {first_image})", data)


def load_split(manifest: str | Path, folds: str | Path, data: str | Path, fold: int, split: str) -> pd.DataFrame:
    """The images of one ``split`` (``train``, ``val`` or ``test``) of ``fold``, in record order.

    Columns: ``class, id, image_path, mask_paths, group, fold, split, pixel_sha256, width, height``;
    ``image_path`` is absolute, ``mask_paths`` a list of absolute paths (empty for normal images),
    ``group`` the manifest's duplicate-group number or ``None``; then ``patient`` when the manifest names patients.

    Raises:
        ManifestError: a damaged manifest or folds file, or a fold that is not in it.
        DatasetError: ``data`` does not hold the manifest's images.
        ValueError: ``split`` is not one of train, val, test.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    m = read_manifest(manifest)
    f = read_folds(folds, m)
    if fold not in f.numbers:
        raise ManifestError(f"fold {fold} is not in the folds file (folds: {f.numbers})", f.path)
    data = Path(data).expanduser()
    if not data.is_dir():
        raise DatasetError("data folder does not exist", data)
    root = _data_root(data, m.rows[0].image).resolve()
    rows = []
    for key in f.split(fold)[split]:
        r = m.get(key)
        assert r is not None  # read_folds checked every key against the manifest
        rows.append(
            {
                "class": r.cls,
                "id": r.id,
                "image_path": str(root / r.image),
                "mask_paths": [str(root / p) for p in r.masks],
                "group": r.group,
                "fold": fold,
                "split": split,
                "pixel_sha256": r.pixel_sha256,
                "width": r.width,
                "height": r.height,
                "patient": r.patient,
            }
        )
    patients = ["patient"] if any(r.patient for r in m.rows) else []
    return pd.DataFrame(rows, columns=[*SPLIT_COLUMNS, *patients])

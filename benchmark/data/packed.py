"""Stage: pack -- a compact, self-verifying dataset file for machines without the raw images (a GPU box).

``busi-bench pack MANIFEST FOLDS DATA --size 128 --out FILE.npz`` decodes and verifies every image of the
folds file once and writes ``FILE.npz`` (``allow_pickle=False``) with:

* ``images`` ``(N, S, S) uint8`` -- the preprocessed network inputs (Pillow bilinear resize; the float
  input is ``images / 255``, exactly what ``busi-bench run`` computes from the raw files);
* ``masks`` ``(N, S, S) uint8`` -- union masks, nearest-neighbour resized, {0, 1};
* ``labels`` ``(N,) int64``, ``keys`` ``(N,)`` "class id", ``pixel_sha256`` of each source image;
* ``folds`` ``(M, 4)`` rows of the folds file (class, id, fold, split);

and ``FILE.json`` beside it: format, size, the manifest's and folds file's SHA-256, counts and the
npz's own SHA-256 (checked before every use). ``busi-bench run --packed FILE.npz`` trains from it
without the raw images; the run's provenance names the packed file and its checksums.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmark.data.packed_checks import check_packed_arrays
from benchmark.data.samples import SampleSet
from benchmark.errors import BenchError
from busi_curate.fileio import atomic_open, file_sha256, write_json
from busi_curate.publish.integrity import check_fold_table, units_of
from busi_curate.publish.manifest import FOLDS_COLUMNS, Folds

PACK_FORMAT = "busi-bench-packed/1"


def pack_dataset(manifest: str | Path, folds: str | Path, data_dir: str | Path, size: int, out: str | Path) -> Path:
    """Write the packed dataset ``out`` (``.npz``) and its ``.json`` sidecar; returns the npz path.

    Raises:
        ManifestError / BenchError: as :meth:`benchmark.data.samples.RunInputs.read` and ``samples``.
    """
    from benchmark.data.samples import RunInputs

    inputs = RunInputs.read(manifest, folds, data_dir)
    samples, _ = inputs.samples(size)
    out = Path(out)
    if out.suffix != ".npz":
        raise BenchError("the packed dataset is a .npz file", out)
    frame = inputs.folds.frame[list(FOLDS_COLUMNS)].astype(str)
    arrays = {
        "images": np.round(samples.images * 255).astype(np.uint8),
        "masks": samples.masks.astype(np.uint8),
        "labels": samples.labels.astype(np.int64),
        "keys": np.array([f"{c} {i}" for c, i in samples.keys]),
        "pixel_sha256": np.array([inputs.manifest.get(k).pixel_sha256 for k in samples.keys]),  # type: ignore[union-attr]
        "folds": frame.to_numpy(dtype=str),
        "units": np.array([units_of(inputs.manifest)[k] for k in samples.keys], np.int64),
    }
    with atomic_open(out, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    try:
        _write_sidecar(out, manifest, folds, size, samples, inputs.checksums)
    except BaseException:
        out.unlink(missing_ok=True)  # a packed file is never left without its sidecar
        raise
    return out


def _write_sidecar(
    out: Path, manifest: str | Path, folds: str | Path, size: int, samples: SampleSet, checksums: dict[str, str]
) -> None:
    write_json(
        out.with_suffix(".json"),
        {
            "format": PACK_FORMAT,
            "image_size": size,
            "n_images": len(samples),
            "npz_sha256": file_sha256(out),
            "manifest": str(manifest),
            "folds": str(folds),
            **checksums,
            "counts": {str(c): int(n) for c, n in zip(*np.unique([k[0] for k in samples.keys], return_counts=True))},
            "preprocessing": "Pillow bilinear resize of the 8-bit grayscale image, stored as uint8 (input = x / 255); "
            "union mask, nearest-neighbour resize",
        },
    )


@dataclass
class PackedInputs:
    """Run inputs read from a packed file (the interface of :class:`benchmark.data.samples.RunInputs`)."""

    manifest_path: Path
    folds_path: Path
    data_dir: Path
    folds: Folds
    checksums: dict[str, str]
    size: int
    _samples: SampleSet

    @classmethod
    def read(cls, path: str | Path) -> PackedInputs:
        """Read and verify a packed dataset (its sidecar's format and the npz's SHA-256).

        Raises:
            BenchError: missing or damaged file, a checksum that differs, not a packed dataset.
        """
        path = Path(path)
        side = path.with_suffix(".json")
        if path.is_symlink() or not path.is_file():
            raise BenchError("packed dataset not found (or not a regular file)", path)
        try:
            meta: dict[str, Any] = json.loads(side.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise BenchError(f"cannot read the packed dataset's sidecar ({exc})", side) from exc
        if not isinstance(meta, dict) or meta.get("format") != PACK_FORMAT:
            raise BenchError(f"not a {PACK_FORMAT} sidecar", side)
        if file_sha256(path) != meta.get("npz_sha256"):
            raise BenchError("content differs from the SHA-256 its sidecar recorded (damaged or edited)", path)
        try:
            with np.load(path, allow_pickle=False) as z:
                arr = {k: z[k] for k in ("images", "masks", "labels", "keys", "folds")}
                if "units" in z.files:
                    arr["units"] = z["units"]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise BenchError(f"cannot read the packed dataset ({str(exc)[:200]})", path) from exc
        keys = check_packed_arrays(arr, meta, path)
        samples = SampleSet(
            keys,
            arr["images"].astype(np.float32) / 255.0,
            arr["masks"].astype(np.uint8),
            arr["labels"].astype(np.int64),
        )
        units = {k: int(u) for k, u in zip(keys, arr["units"])} if "units" in arr else None
        frame = check_fold_table(pd.DataFrame(arr["folds"], columns=list(FOLDS_COLUMNS)), keys, path, units)
        checks = {k: str(meta.get(k, "")) for k in ("manifest_sha256", "folds_sha256", "manifest_version")}
        checks["packed_sha256"] = str(meta["npz_sha256"])
        checks["packed"] = str(path)
        return cls(
            path,
            path,
            path.parent,
            Folds(path, frame, checks["folds_sha256"]),
            checks,
            int(meta["image_size"]),
            samples,
        )

    def samples(self, size: int, interp: str = "bilinear") -> tuple[SampleSet, dict[tuple[str, str], int]]:
        """The packed images; the run's size and interpolation must be the packed ones.

        Raises:
            ConfigError: another image size or interpolation.
        """
        from benchmark.errors import ConfigError

        if size != self.size or interp != "bilinear":
            raise ConfigError(
                f"{self.manifest_path}: packed at {self.size}x{self.size} with bilinear resize; the run asks "
                f"for {size}x{size} with {interp} (pack again with --size {size})"
            )
        return self._samples, {k: i for i, k in enumerate(self._samples.keys)}

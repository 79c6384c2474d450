"""DICOM files (the ``[dicom]`` extra, pydicom): one image per frame, 16-bit at full depth, a stated window.

A multi-frame file (an ultrasound cine loop) is one image per frame; a frame is addressed as
``<file>#<n>`` (``n`` from 1, DICOM's frame numbering). How stored values become the 8-bit view that the
scan, the review and every figure use (:func:`window_to_uint8`, documented in docs/api.md):

1. the Modality LUT (Rescale Slope / Intercept) when the file has one;
2. the file's first VOI window (Window Center / Width, the linear function of DICOM PS3.3 C.11.2.1.2) when
   present, else its VOI LUT Sequence (pydicom's ``apply_voi_lut``, then the LUT's output range), else 8-bit
   data as stored and deeper data (10-16 bits) by the min-max of the frame's own values;
3. MONOCHROME1 is inverted (0 is white there); RGB and YBR are converted to RGB, then to gray with
   Pillow's ITU-R 601-2 luma, as every other colour image here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from busi_curate.errors import DatasetError, MissingExtraError

#: file suffixes taken as DICOM without looking inside (files without a suffix are checked for ``DICM``)
DICOM_SUFFIXES = {".dcm", ".dicom"}
#: DICOM attributes recorded per image (column name -> keyword); patient, study and series are group columns
META_TAGS: dict[str, str] = {
    "patient": "PatientID",
    "study": "StudyInstanceUID",
    "series": "SeriesInstanceUID",
    "instance": "SOPInstanceUID",
}


def _pydicom() -> Any:
    try:
        import pydicom
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise MissingExtraError(
            "reading DICOM needs pydicom: pip install 'busi-curate[dicom]' (or pip install pydicom)"
        ) from exc
    return pydicom


def is_dicom(path: Path) -> bool:
    """True for ``.dcm`` / ``.dicom`` files and for suffix-less files with the ``DICM`` preamble marker."""
    if path.suffix.lower() in DICOM_SUFFIXES:
        return True
    if path.suffix:
        return False
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:] == b"DICM"


def split_frame(path: str | Path) -> tuple[Path, int | None]:
    """``("cine.dcm#3")`` -> ``(Path("cine.dcm"), 3)``; a path without a frame number -> ``(path, None)``.

    A ``#<digits>`` ending is a frame only when the path itself does not exist and the part before it does.
    """
    p = Path(path)
    name, sep, num = p.name.rpartition("#")
    if sep and num.isdigit() and not p.exists():
        base = p.with_name(name)
        if base.exists():
            return base, int(num)
    return p, None


def frame_path(path: Path, frame: int | None) -> Path:
    """The inverse of :func:`split_frame`."""
    return path if frame is None else path.with_name(f"{path.name}#{frame}")


@dataclass(frozen=True)
class DicomInfo:
    """What the loader needs from a DICOM header: frames and the group attributes."""

    frames: int
    meta: tuple[tuple[str, str], ...]


def read_info(path: Path) -> DicomInfo:
    """Header of ``path`` (pixel data not read). Raises DatasetError for a file pydicom cannot parse."""
    pydicom = _pydicom()
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except Exception as exc:  # pydicom raises several types (InvalidDicomError, EOFError, ValueError...)
        raise DatasetError(f"cannot read the DICOM header ({exc})", path) from exc
    if "Rows" not in ds or "Columns" not in ds:
        raise DatasetError("DICOM file holds no image (no Rows/Columns)", path)
    frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    meta = tuple((col, str(getattr(ds, kw, "") or "").strip()) for col, kw in META_TAGS.items())
    return DicomInfo(frames, tuple((k, v) for k, v in meta if v))


def _check_size(ds: Any, path: Path) -> None:
    from busi_curate.data.imageio import MAX_PIXELS

    rows, cols = int(ds.Rows), int(ds.Columns)
    if rows * cols > MAX_PIXELS:
        raise DatasetError(f"declares {cols}x{rows} pixels, above the limit of {MAX_PIXELS:,}", path)


def read_frame(path: str | Path, frame: int | None = None) -> tuple[np.ndarray, Any]:
    """Stored pixels of one frame at full depth (``(H, W)`` or ``(H, W, 3)`` RGB) and the dataset header.

    Raises:
        DatasetError: unreadable file, no pixel data, a frame number out of range, or a multi-frame file
            read without a frame number.
    """
    pydicom = _pydicom()
    path = Path(path)
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except Exception as exc:
        raise DatasetError(f"cannot read the DICOM file ({exc})", path) from exc
    if "Rows" not in ds or "Columns" not in ds:
        raise DatasetError("DICOM file holds no image (no Rows/Columns)", path)
    _check_size(ds, path)
    frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    if frame is None and frames > 1:
        raise DatasetError(f"multi-frame DICOM ({frames} frames): name a frame as '{path.name}#<n>'", path)
    index = (frame or 1) - 1
    if not 0 <= index < frames:
        raise DatasetError(f"frame {frame} out of range (the file has {frames})", path)
    from pydicom.pixels import pixel_array

    try:  # one frame only, not the whole cine; YBR is converted to RGB by pydicom
        arr = pixel_array(str(path), index=index if frames > 1 else None)
    except Exception as exc:
        raise DatasetError(f"cannot decode the DICOM pixel data ({exc})", path) from exc
    return np.asarray(arr), ds


def window_to_uint8(arr: np.ndarray, ds: Any) -> np.ndarray:
    """The stated windowing of the module docstring: stored values -> ``(H, W) uint8``."""
    from PIL import Image

    if arr.ndim == 3:  # RGB (YBR already converted): 8-bit per channel in ultrasound
        rgb = arr if arr.dtype == np.uint8 else _minmax(arr.astype(np.float64))
        return np.asarray(Image.fromarray(np.ascontiguousarray(rgb), "RGB").convert("L"), dtype=np.uint8)
    values = arr.astype(np.float64)
    slope, intercept = float(getattr(ds, "RescaleSlope", 1) or 1), float(getattr(ds, "RescaleIntercept", 0) or 0)
    values = values * slope + intercept
    centre, width = _first(getattr(ds, "WindowCenter", None)), _first(getattr(ds, "WindowWidth", None))
    if centre is not None and width is not None and width >= 1:
        # DICOM PS3.3 C.11.2.1.2.1: linear window onto [0, 255]
        out = ((values - (centre - 0.5)) / (width - 1) + 0.5) * 255.0
        gray = np.clip(np.round(out), 0, 255).astype(np.uint8)
    elif "VOILUTSequence" in ds:
        from pydicom.pixels import apply_voi_lut

        lut = ds.VOILUTSequence[0]
        bits = int(lut.LUTDescriptor[2])
        gray = _scale(np.asarray(apply_voi_lut(arr, ds), dtype=np.float64), 0.0, float(2**bits - 1))
    elif int(getattr(ds, "BitsStored", 8) or 8) <= 8 and slope == 1 and intercept == 0:
        gray = np.clip(values, 0, 255).astype(np.uint8)  # 8-bit data: taken as stored, as an 8-bit PNG is
    else:
        gray = _minmax(values)
    if str(getattr(ds, "PhotometricInterpretation", "")).upper() == "MONOCHROME1":
        gray = 255 - gray
    return np.ascontiguousarray(gray, dtype=np.uint8)


def _first(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value[0]) if hasattr(value, "__len__") and not isinstance(value, str) else float(value)
    except (TypeError, ValueError, IndexError):
        return None


def _scale(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    if hi <= lo:
        return np.zeros(values.shape, np.uint8)
    return np.clip(np.round((values - lo) * 255.0 / (hi - lo)), 0, 255).astype(np.uint8)


def _minmax(values: np.ndarray) -> np.ndarray:
    """Min-max of the values to ``[0, 255]`` (all zeros for a constant image)."""
    if values.size == 0:
        return np.zeros(values.shape, np.uint8)
    return _scale(values, float(values.min()), float(values.max()))


def read_dicom_gray(path: str | Path, frame: int | None = None) -> np.ndarray:
    """One frame as ``(H, W) uint8`` through :func:`window_to_uint8`."""
    arr, ds = read_frame(path, frame)
    return window_to_uint8(arr, ds)

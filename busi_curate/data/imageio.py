"""Decode images and masks the same way everywhere: 8-bit grayscale images, boolean masks."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from busi_curate.errors import DatasetError

_ALPHA_MODES = {"RGBA": "RGB", "LA": "L", "PA": "RGB", "La": "L", "RGBa": "RGB"}

#: Largest image decoded, in pixels (width x height): 64 megapixels, far above any ultrasound frame.
#: A file declaring more (a "decompression bomb") is refused before its pixels are decoded.
MAX_PIXELS = 64_000_000


def _open(path: Path) -> Image.Image:
    import stat
    import warnings

    try:
        st = path.stat()
    except FileNotFoundError as exc:
        raise DatasetError("file not found", path) from exc
    except OSError as exc:
        raise DatasetError(f"cannot read the file ({exc.strerror})", path) from exc
    if not stat.S_ISREG(st.st_mode):
        raise DatasetError("not a regular file (a FIFO, device or folder); refused without reading it", path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(path)
            w, h = img.size
            if w * h > MAX_PIXELS:
                raise DatasetError(
                    f"declares {w}x{h} pixels, above the limit of {MAX_PIXELS:,} "
                    "(busi_curate.data.imageio.MAX_PIXELS); refused as a possible decompression bomb",
                    path,
                )
            img.load()  # force a full decode so truncated files fail here
    except DatasetError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DatasetError(f"refused as a possible decompression bomb ({exc})", path) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DatasetError(f"cannot decode image ({exc}); the file is corrupt or truncated", path) from exc
    return img


def read_full_depth(path: str | Path) -> np.ndarray:
    """Stored pixels at their full depth: ``(H, W)`` uint8 or uint16 (16-bit PNG/TIFF, DICOM), or ``(H, W, 3)``.

    DICOM files (and frames ``file.dcm#n``) need the ``[dicom]`` extra. Floating-point, signed and
    32-bit images are refused (DatasetError), never guessed.
    """
    from busi_curate.data.dicom import is_dicom, read_frame, split_frame

    base, frame = split_frame(path)
    if frame is not None or is_dicom(base):
        return read_frame(base, frame)[0]
    img = _open(base)
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        return _integer_pixels(img, base).astype(np.uint16)
    _refuse_float_or_signed(img, base)
    return np.asarray(img).copy()


def _refuse_float_or_signed(img: Image.Image, path: Path) -> None:
    if img.mode == "F" or "S" in img.mode.partition(";")[2]:  # 32-bit float, signed 16-bit
        raise DatasetError(
            f"{img.mode} pixels (floating-point or signed) have no agreed 8-bit grey mapping; "
            "convert the image to 8- or 16-bit unsigned",
            path,
        )


def _integer_pixels(img: Image.Image, path: Path) -> np.ndarray:
    """``(H, W) int64`` pixels of a 16/32-bit integer image, refused outside 0..65535 (signed or 32-bit)."""
    _refuse_float_or_signed(img, path)
    arr = np.asarray(img, dtype=np.int64)
    if arr.min(initial=0) < 0 or arr.max(initial=0) > 65535:
        raise DatasetError(
            f"pixel values {arr.min()}..{arr.max()} are outside 0..65535 (signed or 32-bit); "
            "convert the image to 8- or 16-bit unsigned",
            path,
        )
    return arr


def read_gray(path: str | Path) -> np.ndarray:
    """Read any PNG/JPEG/DICOM/... as ``(H, W) uint8`` grayscale: the one view every stage scores and shows.

    8-bit modes go through Pillow's ``convert("L")`` (ITU-R 601-2 luma, which is the identity when
    R = G = B). 16-bit grayscale is read at full depth and windowed by the min-max of its values
    (a 32-bit ``I`` image whose values fit in 8 bits is taken as is). DICOM (``file.dcm`` or one frame
    ``file.dcm#n`` of a multi-frame file) follows :func:`busi_curate.data.dicom.window_to_uint8`.
    Floating-point, signed and 32-bit images are refused (DatasetError), never guessed.
    """
    from busi_curate.data.dicom import is_dicom, read_dicom_gray, split_frame

    base, frame = split_frame(path)
    if frame is not None or is_dicom(base):
        return read_dicom_gray(base, frame)
    img = _open(base)
    _refuse_float_or_signed(img, base)
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = _integer_pixels(img, base)
        lo, hi = (int(arr.min()), int(arr.max())) if arr.size else (0, 0)
        if not img.mode.startswith("I;16") and hi <= 255 and lo >= 0:
            return arr.astype(np.uint8)
        if hi <= lo:
            return np.zeros(arr.shape, np.uint8)
        return ((arr - lo) * 255 // (hi - lo)).astype(np.uint8)
    if img.mode in _ALPHA_MODES:
        img = img.convert(_ALPHA_MODES[img.mode])
    if img.mode != "L":
        img = img.convert("L")
    return np.asarray(img, dtype=np.uint8).copy()


def read_mask(path: str | Path) -> np.ndarray:
    """Read one mask file as ``(H, W) bool``: any non-zero colour channel is tumour (alpha ignored)."""
    path = Path(path)
    img = _open(path)
    if img.mode in _ALPHA_MODES:
        img = img.convert(_ALPHA_MODES[img.mode])
    if img.mode == "P":
        img = img.convert("RGB")
    arr = np.asarray(img)
    if arr.ndim == 3:
        return np.asarray(arr.any(axis=2))
    return np.asarray(arr != 0)


def read_mask_union(
    paths: Sequence[str | Path], shape: tuple[int, int], image_path: str | Path | None = None
) -> np.ndarray:
    """Union of several mask files, each required to have ``shape`` ``(H, W)``.

    Raises:
        DatasetError: naming the mask whose size differs from its image.
    """
    out = np.zeros(shape, dtype=bool)
    for p in paths:
        m = read_mask(p)
        if m.shape != tuple(shape):
            ref = f" ({Path(image_path).name})" if image_path is not None else ""
            raise DatasetError(
                f"mask is {m.shape[1]}x{m.shape[0]} (WxH) but its image{ref} is {shape[1]}x{shape[0]}", p
            )
        out |= m
    return out


def bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """Bounding box ``(x0, y0, x1, y1)`` of a boolean mask, exclusive upper bounds; None if empty."""
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1

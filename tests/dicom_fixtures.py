"""Small DICOM files written in code with pydicom (ExplicitVRLittleEndian, uncompressed): the fixtures of the
DICOM tests. Nothing here is committed as a binary."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_dicom(
    path: Path,
    pixels: np.ndarray,
    *,
    photometric: str = "MONOCHROME2",
    patient: str = "P001",
    study: str | None = None,
    series: str | None = None,
    window: tuple[float, float] | None = None,
    frames: bool | None = None,
) -> Path:
    """Write ``pixels`` -- ``(H, W)``, ``(F, H, W)``, ``(H, W, 3)`` or ``(F, H, W, 3)``, uint8 or uint16 -- as a
    DICOM ultrasound file. ``frames`` forces the multi-frame form (default: a 3-D grayscale or 4-D colour array).
    RGB input written as ``YBR_FULL`` is converted to YBR first, as a scanner would store it."""
    import pydicom
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.pixels import convert_color_space
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    colour = photometric in ("RGB", "YBR_FULL")
    multi = frames if frames is not None else pixels.ndim == (4 if colour else 3)
    arr = pixels if multi else pixels[None]
    if photometric == "YBR_FULL":
        arr = np.stack([convert_color_space(f, "RGB", "YBR_FULL") for f in arr])
    uid = generate_uid()
    sop_class = "1.2.840.10008.5.1.4.1.1.3.1" if multi else "1.2.840.10008.5.1.4.1.1.6.1"  # US multi-frame / US
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = sop_class, uid, "US"
    ds.PatientID = patient
    ds.StudyInstanceUID = study or generate_uid()
    ds.SeriesInstanceUID = series or generate_uid()
    bits = 16 if arr.dtype == np.uint16 else 8
    ds.Rows, ds.Columns = int(arr.shape[1]), int(arr.shape[2])
    ds.SamplesPerPixel = 3 if colour else 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, bits, bits - 1, 0
    if colour:
        ds.PlanarConfiguration = 0
    if multi:
        ds.NumberOfFrames = int(arr.shape[0])
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    ds.PixelData = np.ascontiguousarray(arr if multi else arr[0]).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    return path

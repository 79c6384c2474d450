"""Check a data folder against a manifest by decoded pixel content, file by file.

Images are compared by ``pixel_sha256`` (SHA-256 of the decoded 8-bit grayscale pixels), so a copy whose
files were re-encoded (other PNG mode or compression) but whose pixels are equal passes; the file
checksum only tells whether it was re-encoded. The masks of an image are compared as their union
(``mask_pixel_sha256``), each listed mask file must exist, and image files that no manifest row names
are reported as extra.

Statuses per file: ``ok``, ``ok-reencoded`` (pixels equal, file bytes differ), ``missing``, ``changed``
(pixels differ, or the file cannot be decoded), ``extra`` (not named by the manifest).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from busi_curate.data.dataset import IMAGE_SUFFIXES, record_sort_key
from busi_curate.data.dicom import split_frame
from busi_curate.data.imageio import read_gray, read_mask
from busi_curate.errors import DatasetError, ManifestError
from busi_curate.fileio import check_inside, file_sha256, pixel_sha256
from busi_curate.publish.manifest import Manifest, ManifestRow

OK_STATUSES = ("ok", "ok-reencoded")
STATUSES = ("ok", "ok-reencoded", "missing", "changed", "extra")


@dataclass(frozen=True)
class FileCheck:
    """The verdict on one file (an image, one mask file, or an image's mask union)."""

    kind: str  # image | mask | masks (the union of an image's masks) | file (an extra file)
    cls: str
    id: str
    path: str  # relative to the data folder
    status: str
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status in OK_STATUSES


@dataclass
class VerifyReport:
    """Every file check, in manifest order, extras last."""

    data_dir: Path
    checks: list[FileCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def problems(self) -> list[FileCheck]:
        return [c for c in self.checks if not c.ok]

    def counts(self) -> dict[str, dict[str, int]]:
        """``{kind: {status: n}}``."""
        out: dict[str, dict[str, int]] = {}
        for c in self.checks:
            out.setdefault(c.kind, {}).setdefault(c.status, 0)
            out[c.kind][c.status] += 1
        return out

    def summary(self) -> str:
        """One line per kind: how many files are ok, re-encoded, missing, changed, extra."""
        lines = []
        for kind, label in (
            ("image", "images"),
            ("mask", "mask files"),
            ("masks", "mask unions"),
            ("file", "extra files"),
        ):
            c = self.counts().get(kind)
            if c:
                parts = [f"{c[s]} {s}" for s in STATUSES if c.get(s)]
                lines.append(f"{label}: {sum(c.values())} checked: " + ", ".join(parts))
        lines.append(
            "OK: the data matches the manifest pixel for pixel"
            if self.ok
            else f"MISMATCH: {len(self.problems())} problem(s)"
        )
        return "\n".join(lines)

    def rows(self) -> list[dict[str, str]]:
        return [
            {"kind": c.kind, "class": c.cls, "id": c.id, "path": c.path, "status": c.status, "detail": c.detail}
            for c in self.checks
        ]


def resolve_data_root(manifest: Manifest, data_dir: str | Path) -> Path:
    """The folder the manifest's paths are relative to: ``data_dir``, or its parent when the user gave the
    inner ``Dataset_BUSI_with_GT`` folder of a manifest whose paths start with it."""
    root = Path(data_dir)
    if not root.is_dir():
        raise DatasetError("data folder does not exist", root)
    first = manifest.rows[0].image
    if not (root / first).exists() and first.split("/", 1)[0] == root.name and (root.parent / first).exists():
        return root.parent
    return root


def _check_row(row: ManifestRow, root: Path) -> list[FileCheck]:
    img_path = root / row.image
    file_path = split_frame(img_path)[0]  # the file of a DICOM frame (``cine.dcm#3``)
    for p in (file_path, *(root / m for m in row.masks)):
        check_inside(p, root)  # a link out of the data folder is refused (the one rule of every reader)
    out = [_check_image(row, img_path, file_path)]
    union, union_ok = _check_masks(row, root, out)
    if union_ok and pixel_sha256(union.astype(np.uint8)) != row.mask_pixel_sha256:
        # the union is wrong although every file decodes: name the files (all of them: any one may be at fault)
        for i, c in enumerate(out):
            if c.kind == "mask":
                out[i] = FileCheck("mask", c.cls, c.id, c.path, "changed", "mask pixels differ from the manifest")
        if not row.masks:
            out.append(
                FileCheck(
                    "masks",
                    row.cls,
                    row.id,
                    row.image,
                    "changed",
                    "the manifest's mask is not empty but no mask file is listed",
                )
            )
    return out


def _check_image(row: ManifestRow, img_path: Path, file_path: Path) -> FileCheck:
    """The check of a row's image (``img_path``; ``file_path`` is its file, that of a DICOM frame)."""
    if not file_path.is_file():
        return FileCheck("image", row.cls, row.id, row.image, "missing", "file not found")
    try:
        gray = read_gray(img_path)
    except DatasetError as exc:
        return FileCheck("image", row.cls, row.id, row.image, "changed", exc.message)
    if pixel_sha256(gray) != row.pixel_sha256:
        detail = (
            f"pixels differ ({gray.shape[1]}x{gray.shape[0]}, manifest {row.width}x{row.height})"
            if gray.shape != (row.height, row.width)
            else "pixels differ"
        )
        return FileCheck("image", row.cls, row.id, row.image, "changed", detail)
    elif file_sha256(file_path) != row.file_sha256:
        return FileCheck("image", row.cls, row.id, row.image, "ok-reencoded", "file bytes differ, pixels equal")
    return FileCheck("image", row.cls, row.id, row.image, "ok")


def _check_masks(row: ManifestRow, root: Path, out: list[FileCheck]) -> tuple[np.ndarray, bool]:
    """Check each mask file of ``row`` (appended to ``out``); returns the union of the masks, ``(H, W)`` bool,
    and whether every mask file decoded at the image's size (only then is the union compared)."""
    union = np.zeros((row.height, row.width), dtype=bool)
    union_ok = True
    for m in row.masks:
        mp = root / m
        if not mp.is_file():
            out.append(FileCheck("mask", row.cls, row.id, m, "missing", "file not found"))
            union_ok = False
            continue
        try:
            mask = read_mask(mp)
        except DatasetError as exc:
            out.append(FileCheck("mask", row.cls, row.id, m, "changed", exc.message))
            union_ok = False
            continue
        if mask.shape != union.shape:
            out.append(
                FileCheck(
                    "mask",
                    row.cls,
                    row.id,
                    m,
                    "changed",
                    f"mask is {mask.shape[1]}x{mask.shape[0]}, image {row.width}x{row.height}",
                )
            )
            union_ok = False
            continue
        union |= mask
        out.append(FileCheck("mask", row.cls, row.id, m, "ok"))
    return union, union_ok


def _data_files(root: Path) -> list[Path]:
    """Every visible image-like file under ``root`` (recursively)."""
    out = []
    for p in root.rglob("*"):
        rel = p.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES:
            out.append(p)
    return sorted(out)


def verify_data(
    manifest: Manifest, data_dir: str | Path, workers: int = 4, progress: bool = False, extras: bool = True
) -> VerifyReport:
    """Check every image and mask the manifest names (kept and removed) in ``data_dir``.

    Args:
        manifest: from :func:`busi_curate.publish.manifest.read_manifest`.
        data_dir: the data folder the manifest's paths are relative to (its inner BUSI folder is accepted too).
        workers: decoding threads.
        extras: also list image files under ``data_dir`` that no row names.

    Raises:
        DatasetError: ``data_dir`` does not exist. (Mismatches are reported, not raised.)
    """
    root = resolve_data_root(manifest, data_dir)
    from tqdm.auto import tqdm

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        per_row = list(
            tqdm(
                pool.map(lambda r: _check_row(r, root), manifest.rows),
                total=len(manifest),
                desc="verify",
                unit="img",
                disable=not progress,
                leave=False,
            )
        )
    report = VerifyReport(root, [c for cs in per_row for c in cs])
    if extras:
        files = {split_frame(root / r.image)[0].relative_to(root).as_posix() for r in manifest.rows}
        named = files | {m for r in manifest.rows for m in r.masks}
        for p in _data_files(root):
            rel = p.relative_to(root).as_posix()
            if rel not in named:
                report.checks.append(FileCheck("file", "", "", rel, "extra", "not named by the manifest"))
    return report


def verify(manifest_path: str | Path, data_dir: str | Path, **kwargs: object) -> VerifyReport:
    """Read the manifest (ManifestError if broken) and verify ``data_dir`` against it."""
    from busi_curate.publish.manifest import read_manifest

    return verify_data(read_manifest(manifest_path), data_dir, **kwargs)  # type: ignore[arg-type]


def require_match(
    manifest: Manifest, data_dir: str | Path, keys: set[tuple[str, str]] | None = None, progress: bool = False
) -> Path:
    """Verify (only ``keys`` when given, no extras); raise DatasetError listing mismatches. Returns the data root."""
    rows = [r for r in manifest.rows if keys is None or r.key in keys]
    sub = Manifest(manifest.path, sorted(rows, key=lambda r: record_sort_key(*r.key)), manifest.meta, manifest.sha256)
    if not sub.rows:
        raise ManifestError("no images selected", manifest.path)
    report = verify_data(sub, data_dir, extras=False, progress=progress)
    bad = report.problems()
    if bad:
        shown = "\n".join(f"  {c.path}: {c.status} ({c.detail})" for c in bad[:20])
        raise DatasetError(
            f"{len(bad)} file(s) differ from the manifest (run `busi-curate verify` for the full table):\n{shown}",
            report.data_dir,
        )
    return report.data_dir

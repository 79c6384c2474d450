"""The Curated-BUSI manifest contract: schema constants, typed rows, and the readers that check them.

A manifest folder (``manifests/<name>/``) holds:

* ``manifest.csv``: one row per source image, columns :data:`MANIFEST_COLUMNS`, in the project-wide
  record order (:func:`busi_curate.data.dataset.record_sort_key`);
* ``manifest.json``: the sidecar (format :data:`MANIFEST_FORMAT`; tool version, policy, decisions hash,
  counts, SHA-256 of ``manifest.csv`` and ``folds.csv``);
* ``folds.csv``: one row per kept image and fold, columns :data:`FOLDS_COLUMNS`.

Every reader here checks what it reads and raises :class:`~busi_curate.errors.ManifestError` naming the
file. ``verify``, ``materialize``, ``folds`` and the benchmark read manifests only through this module.
See ``docs/manifest.md`` for the full schema.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from busi_curate.data.dataset import ImageRecord, record_sort_key
from busi_curate.errors import ManifestError
from busi_curate.fileio import file_sha256
from busi_curate.publish.integrity import check_fold_table, check_manifest_rows, check_relative, units_of

#: ``manifest.csv`` columns, exactly and in this order.
MANIFEST_COLUMNS: tuple[str, ...] = (
    "dataset",
    "version",
    "class",
    "id",
    "image",
    "masks",
    "pixel_sha256",
    "mask_pixel_sha256",
    "file_sha256",
    "width",
    "height",
    "tumour_pixels",
    "bbox",
    "group",
    "status",
    "reason",
)
#: appended to :data:`MANIFEST_COLUMNS` only when some image has a patient (so manifests without patients, the
#: published ones included, keep their bytes); folds keep a patient's images together.
PATIENT_COLUMN = "patient"
#: ``folds.csv`` columns, exactly and in this order.
FOLDS_COLUMNS: tuple[str, ...] = ("class", "id", "fold", "split")
STATUSES: tuple[str, ...] = ("kept", "removed")
SPLITS: tuple[str, ...] = ("test", "train", "val")
#: version of the manifest *format* (the schema), not of a manifest's content.
MANIFEST_FORMAT = 1
MANIFEST_CSV = "manifest.csv"
MANIFEST_JSON = "manifest.json"
FOLDS_CSV = "folds.csv"

_SHA_RE = re.compile(r"^[0-9a-f]{64}$")
_SEMVER_RE = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")

Key = tuple[str, str]


def check_version(version: str) -> str:
    """Return ``version`` if it is ``MAJOR.MINOR.PATCH``; else ManifestError."""
    if not _SEMVER_RE.match(version):
        raise ManifestError(f"manifest version must be MAJOR.MINOR.PATCH (semver), got {version!r}")
    return version


@dataclass(frozen=True)
class ManifestRow:
    """One ``manifest.csv`` row, typed. Paths are relative to the data folder (POSIX)."""

    dataset: str
    version: str
    cls: str
    id: str
    image: str
    masks: tuple[str, ...]
    pixel_sha256: str
    mask_pixel_sha256: str
    file_sha256: str
    width: int
    height: int
    tumour_pixels: int
    bbox: tuple[int, int, int, int] | None
    group: int | None
    status: str
    reason: str
    patient: str = ""

    @classmethod
    def from_record(
        cls, r: ImageRecord, version: str, group: int | None = None, status: str = "kept", reason: str = ""
    ) -> ManifestRow:
        """The row of a loaded image: its identity and checksums from the loader, the curation outcome given."""
        return cls(
            dataset=r.dataset,
            version=version,
            cls=r.cls,
            id=r.id,
            image=r.image,
            masks=r.masks,
            pixel_sha256=r.pixel_sha256,
            mask_pixel_sha256=r.mask_pixel_sha256,
            file_sha256=r.file_sha256,
            width=r.width,
            height=r.height,
            tumour_pixels=r.tumour_pixels,
            bbox=r.bbox,
            group=group,
            status=status,
            reason=reason,
            patient=r.patient,
        )

    @property
    def key(self) -> Key:
        return (self.cls, self.id)

    @property
    def kept(self) -> bool:
        return self.status == "kept"

    def to_csv_dict(self) -> dict[str, str]:
        """The row as ``manifest.csv`` writes it (every value text)."""
        return {
            "dataset": self.dataset,
            "version": self.version,
            "class": self.cls,
            "id": self.id,
            "image": self.image,
            "masks": ";".join(self.masks),
            "pixel_sha256": self.pixel_sha256,
            "mask_pixel_sha256": self.mask_pixel_sha256,
            "file_sha256": self.file_sha256,
            "width": str(self.width),
            "height": str(self.height),
            "tumour_pixels": str(self.tumour_pixels),
            "bbox": "" if self.bbox is None else " ".join(map(str, self.bbox)),
            "group": "" if self.group is None else str(self.group),
            "status": self.status,
            "reason": self.reason,
            PATIENT_COLUMN: self.patient,
        }


def rows_frame(rows: list[ManifestRow]) -> pd.DataFrame:
    """A text DataFrame with :data:`MANIFEST_COLUMNS` (and :data:`PATIENT_COLUMN` when some row has a patient),
    ready for :func:`busi_curate.fileio.write_csv`."""
    columns = list(MANIFEST_COLUMNS) + ([PATIENT_COLUMN] if any(r.patient for r in rows) else [])
    return pd.DataFrame([r.to_csv_dict() for r in rows], columns=columns, dtype=object)


@dataclass
class Manifest:
    """A manifest read from disk: typed rows in file order, the sidecar (or None) and where it came from."""

    path: Path
    rows: list[ManifestRow]
    meta: dict[str, Any] | None = None
    sha256: str = ""
    _by_key: dict[Key, ManifestRow] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._by_key = {r.key: r for r in self.rows}

    @property
    def dir(self) -> Path:
        return self.path.parent

    @property
    def version(self) -> str:
        return self.rows[0].version if self.rows else ""

    def kept(self) -> list[ManifestRow]:
        """Kept rows, in record order."""
        return [r for r in self.rows if r.kept]

    def get(self, key: Key) -> ManifestRow | None:
        return self._by_key.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self._by_key

    def __len__(self) -> int:
        return len(self.rows)

    def counts(self, kept_only: bool = False) -> dict[str, int]:
        """Images per class (and ``total``)."""
        out: dict[str, int] = {}
        for r in self.rows:
            if r.kept or not kept_only:
                out[r.cls] = out.get(r.cls, 0) + 1
        out = dict(sorted(out.items()))
        out["total"] = sum(out.values())
        return out


def manifest_csv_path(path: str | Path) -> Path:
    """Accept a manifest folder or its ``manifest.csv``; return the CSV path."""
    p = Path(path)
    return p / MANIFEST_CSV if p.is_dir() else p


def _read_text_csv(path: Path, what: str, columns: tuple[str, ...], optional: tuple[str, ...] = ()) -> pd.DataFrame:
    if not path.is_file():
        raise ManifestError(f"{what} not found", path)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ManifestError(f"cannot parse {what} as CSV ({exc})", path) from exc
    found = list(frame.columns)
    if found[len(columns) :] == list(optional[: len(found) - len(columns)]) and len(found) > len(columns):
        found = found[: len(columns)]  # the optional trailing columns, in their order
    if found != list(columns):
        missing = [c for c in columns if c not in found]
        extra = [c for c in found if c not in columns]
        parts = []
        if missing:
            parts.append(f"missing column(s) {', '.join(missing)}")
        if extra:
            parts.append(f"unexpected column(s) {', '.join(extra)}")
        if not parts:
            parts.append("columns in the wrong order")
        raise ManifestError(f"{what} schema changed: {'; '.join(parts)} (expected exactly: {', '.join(columns)})", path)
    return frame


def _int(value: str, column: str, line: int, path: Path, minimum: int = 0) -> int:
    try:
        v = int(value)
    except ValueError:
        raise ManifestError(f"line {line}: column {column!r} must be an integer, got {value!r}", path) from None
    if v < minimum:
        raise ManifestError(f"line {line}: column {column!r} must be >= {minimum}, got {v}", path)
    return v


def _parse_row(rec: dict[str, str], line: int, path: Path) -> ManifestRow:
    for col in ("dataset", "version", "class", "id", "image", "status"):
        if not rec[col].strip():
            raise ManifestError(f"line {line}: column {col!r} is empty", path)
    for col in ("pixel_sha256", "mask_pixel_sha256", "file_sha256"):
        if not _SHA_RE.match(rec[col]):
            raise ManifestError(f"line {line}: column {col!r} is not a SHA-256 hex digest: {rec[col]!r}", path)
    if rec["status"] not in STATUSES:
        raise ManifestError(f"line {line}: status must be one of {', '.join(STATUSES)}, got {rec['status']!r}", path)
    bbox: tuple[int, int, int, int] | None = None
    if rec["bbox"]:
        parts = rec["bbox"].split()
        if len(parts) != 4 or not all(p.isdigit() for p in parts):
            raise ManifestError(f"line {line}: bbox must be 'x0 y0 x1 y1' or empty, got {rec['bbox']!r}", path)
        bbox = (int(parts[0]), int(parts[1]), int(parts[2]), int(parts[3]))
    group = _int(rec["group"], "group", line, path, minimum=1) if rec["group"] else None
    return ManifestRow(
        dataset=rec["dataset"],
        version=rec["version"],
        cls=rec["class"],
        id=rec["id"],
        image=check_relative(rec["image"], "image", line, path),
        masks=tuple(check_relative(m, "masks", line, path) for m in rec["masks"].split(";") if m),
        pixel_sha256=rec["pixel_sha256"],
        mask_pixel_sha256=rec["mask_pixel_sha256"],
        file_sha256=rec["file_sha256"],
        width=_int(rec["width"], "width", line, path, 1),
        height=_int(rec["height"], "height", line, path, 1),
        tumour_pixels=_int(rec["tumour_pixels"], "tumour_pixels", line, path),
        bbox=bbox,
        group=group,
        status=rec["status"],
        reason=rec["reason"],
        patient=rec.get(PATIENT_COLUMN, ""),
    )


def read_sidecar(path: str | Path) -> dict[str, Any]:
    """Read and check ``manifest.json`` (written by ``busi-curate export``)."""
    path = Path(path)
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ManifestError(f"cannot read the manifest sidecar ({exc})", path) from exc
    if not isinstance(meta, dict) or meta.get("tool") != "busi-curate" or meta.get("format") != MANIFEST_FORMAT:
        raise ManifestError(f"not a busi-curate manifest sidecar of format {MANIFEST_FORMAT}", path)
    return meta


def read_manifest(path: str | Path, check_sidecar: bool = True) -> Manifest:
    """Read ``manifest.csv`` (or a folder holding it) and check it against the schema and its sidecar.

    Checks: exact columns, one version and dataset throughout, known statuses, integer sizes, hex digests,
    unique ``(class, id)``, rows in record order, and (when ``manifest.json`` is beside it) that the CSV's
    SHA-256 is the one the sidecar recorded, so a hand-edited manifest is refused.

    Raises:
        ManifestError: naming the file (and line) at fault.
    """
    path = manifest_csv_path(path)
    frame = _read_text_csv(path, "manifest", MANIFEST_COLUMNS, (PATIENT_COLUMN,))
    if frame.empty:
        raise ManifestError("manifest lists no images", path)
    rows = [_parse_row(rec, n, path) for n, rec in enumerate(frame.to_dict("records"), start=2)]
    versions = sorted({r.version for r in rows})
    if len(versions) != 1:
        raise ManifestError(f"manifest mixes versions {versions}; one manifest has one version", path)
    seen: set[Key] = set()
    for n, r in enumerate(rows, start=2):
        if r.key in seen:
            raise ManifestError(f"line {n}: image {r.cls} {r.id} is listed twice", path)
        seen.add(r.key)
    order = sorted(rows, key=lambda r: record_sort_key(r.cls, r.id))
    if order != rows:
        raise ManifestError("rows are not in record order (class, then natural id)", path)
    digest = file_sha256(path)
    meta = None
    side = path.with_name(MANIFEST_JSON)
    if check_sidecar:
        # fail closed: a manifest is used only with its sidecar and the checksum it recorded
        if not side.is_file():
            raise ManifestError(
                f"{MANIFEST_JSON} is missing beside it; a manifest is used only with its sidecar "
                "(written by `busi-curate export`)",
                path,
            )
        meta = read_sidecar(side)
        recorded = meta.get("files", {}).get(path.name) if isinstance(meta.get("files"), dict) else None
        if recorded is None:
            raise ManifestError(f"records no SHA-256 for {path.name}; re-run `busi-curate export`", side)
        if recorded != digest:
            raise ManifestError(
                f"content differs from the SHA-256 recorded in {side.name}; manifests are never edited by hand "
                "(re-run `busi-curate export`)",
                path,
            )
        check_manifest_rows(rows, meta, side, path)
    return Manifest(path, rows, meta, digest)


@dataclass
class Folds:
    """A folds table checked against its manifest. ``frame`` has columns :data:`FOLDS_COLUMNS` (fold as int)."""

    path: Path
    frame: pd.DataFrame
    sha256: str = ""

    @property
    def numbers(self) -> list[int]:
        """Fold numbers present, sorted (0-based as written by ``busi-curate export``)."""
        return sorted(int(f) for f in self.frame["fold"].unique())

    def keys(self, fold: int, split: str) -> list[Key]:
        """``(class, id)`` of the images of ``split`` in ``fold``, in record order."""
        if fold not in self.numbers:
            raise ManifestError(f"fold {fold} is not in the folds file (present: {self.numbers})", self.path)
        sel = self.frame[(self.frame["fold"] == fold) & (self.frame["split"] == split)]
        return sorted(zip(sel["class"], sel["id"]), key=lambda k: record_sort_key(*k))

    def split(self, fold: int) -> dict[str, list[Key]]:
        """``{"train": [...], "val": [...], "test": [...]}`` for one fold."""
        return {s: self.keys(fold, s) for s in ("train", "val", "test")}


def check_folds_frame(frame: pd.DataFrame, manifest: Manifest, path: Path) -> pd.DataFrame:
    """Check a text folds table against ``manifest``; returns it with ``fold`` as int.

    Raises:
        ManifestError: bad fold numbers or splits; ids not in the manifest, or removed there; an image twice in a
            fold; a kept image missing from a fold; an image in no test fold or in more than one.
    """
    keys = list(zip(frame["class"], frame["id"]))
    unknown = sorted({k for k in keys if k not in manifest}, key=lambda k: record_sort_key(*k))
    if unknown:
        shown = ", ".join(f"{c} {i}" for c, i in unknown[:10])
        raise ManifestError(f"{len(unknown)} image(s) not in the manifest {manifest.path}: {shown}", path)
    removed = sorted({k for k in keys if not manifest.get(k).kept}, key=lambda k: record_sort_key(*k))  # type: ignore[union-attr]
    if removed:
        shown = ", ".join(f"{c} {i}" for c, i in removed[:10])
        raise ManifestError(f"{len(removed)} image(s) are 'removed' in the manifest but listed in folds: {shown}", path)
    return check_fold_table(frame, [r.key for r in manifest.kept()], path, units_of(manifest))


def read_folds(path: str | Path, manifest: Manifest | str | Path | None = None) -> Folds:
    """Read ``folds.csv`` and check it against its manifest (by default the ``manifest.csv`` beside it).

    Raises:
        ManifestError: see :func:`check_folds_frame`; also a folds file whose SHA-256 differs from the one its
            sidecar (``<stem>.json``, or ``manifest.json`` for the exported ``folds.csv``) recorded.
    """
    path = Path(path)
    if manifest is None:
        manifest = path.with_name(MANIFEST_CSV)
    if not isinstance(manifest, Manifest):
        manifest = read_manifest(manifest)
    frame = _read_text_csv(path, "folds file", FOLDS_COLUMNS)
    frame = check_folds_frame(frame, manifest, path)
    digest = file_sha256(path)
    recorded = None
    own = path.with_suffix(".json")
    if own.is_file() and own.name != MANIFEST_JSON:
        try:
            recorded = json.loads(own.read_text(encoding="utf-8")).get("files", {}).get(path.name)
        except (OSError, json.JSONDecodeError, AttributeError) as exc:
            raise ManifestError(f"cannot read the folds sidecar ({exc})", own) from exc
    elif manifest.meta is not None and path.parent.resolve() == manifest.dir.resolve():
        recorded = manifest.meta.get("files", {}).get(path.name)
    if recorded is None:
        raise ManifestError(
            f"no sidecar records this folds file's SHA-256 (expected {own.name} beside it, or the "
            f"manifest's {MANIFEST_JSON} in the same folder)",
            path,
        )
    if recorded != digest:
        raise ManifestError(
            "content differs from the SHA-256 its sidecar recorded; folds are never edited by hand", path
        )
    return Folds(path, frame, digest)

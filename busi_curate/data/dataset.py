"""Stage 1 -- load: find a dataset's images and masks, decode them, identify them by pixel content.

Two layouts are registered here (:data:`LAYOUTS`; :mod:`.layouts` adds ``folder`` -- any tree of images, DICOM
included -- and :mod:`.public` BUS-BRA, BUS-UCLM and BrEaST):

* ``busi``: ``Dataset_BUSI_with_GT/{benign,malignant,normal}/<class> (<id>).png`` with masks
  ``<class> (<id>)_mask.png``, ``_mask_1.png``, ... (the folder given may be the one holding
  ``Dataset_BUSI_with_GT`` or that folder itself).
* ``generic``: ``images/``, ``masks/`` and ``labels.csv`` (columns ``image, class`` and optionally
  ``id``, ``masks`` and ``patient``; see the README), found by :mod:`.generic`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from busi_curate.data.dicom import split_frame
from busi_curate.data.generic import find_generic
from busi_curate.data.imageio import bbox, read_gray, read_mask_union
from busi_curate.engine import Engine, LocalEngine
from busi_curate.errors import DatasetError
from busi_curate.fileio import check_inside, file_sha256, pixel_sha256

CLASSES: tuple[str, ...] = ("benign", "malignant", "normal")
NORMAL_CLASS = "normal"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}


#: class of an image whose layout gives none (a plain folder of images)
UNLABELLED = "unlabelled"


@dataclass(frozen=True)
class Entry:
    """One image found on disk, before decoding. Paths are absolute (``file.dcm#n`` for a DICOM frame).

    ``meta`` holds group attributes (``patient``, ``study``, ``series``, ``instance``, ``frame``) when the
    layout knows them; ``needs_mask`` is False where the layout makes masks optional.
    """

    cls: str
    id: str
    image: Path
    masks: tuple[Path, ...]
    meta: tuple[tuple[str, str], ...] = ()
    needs_mask: bool = True


@dataclass(frozen=True)
class ImageRecord:
    """One decoded image with its identity. Paths are relative to the dataset root (POSIX)."""

    dataset: str
    cls: str
    id: str
    image: str
    masks: tuple[str, ...]
    width: int
    height: int
    pixel_sha256: str
    file_sha256: str
    mask_pixel_sha256: str
    mask_file_sha256: tuple[str, ...]
    tumour_pixels: int
    bbox: tuple[int, int, int, int] | None
    meta: tuple[tuple[str, str], ...] = ()

    @property
    def patient(self) -> str:
        """The patient (or other group) the image belongs to; empty when the layout names none."""
        return dict(self.meta).get("patient", "")

    @property
    def key(self) -> tuple[str, str]:
        """``(class, id)``: how journals and manifests name an image."""
        return (self.cls, self.id)

    @property
    def bbox_str(self) -> str:
        """Bounding box as ``x0 y0 x1 y1`` (exclusive upper bounds) or empty."""
        return "" if self.bbox is None else " ".join(str(v) for v in self.bbox)


@dataclass
class LoadedDataset:
    """Records sorted by (class, natural id); optional ``(N, S, S) uint8`` thumbnails in the same order."""

    root: Path
    name: str
    layout: str
    records: list[ImageRecord]
    thumbnails: np.ndarray | None = None
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.records)


def natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that orders ``"2"`` before ``"10"``."""
    return tuple((0, int(t)) if t.isdigit() else (1, t) for t in re.split(r"(\d+)", text) if t)


def record_sort_key(cls: str, id_: str) -> tuple[str, tuple[tuple[int, int | str], ...]]:
    """The project-wide order of images: class name, then natural id."""
    return (cls, natural_key(id_))


# --------------------------------------------------------------------------- layouts

_BUSI_RE = re.compile(
    r"^(?P<cls>[a-z]+) \((?P<id>[0-9]+)\)(?P<mask>_mask(?:_(?P<k>[0-9]+))?)?\.png$", re.IGNORECASE | re.ASCII
)


def _busi_root(root: Path) -> Path:
    inner = root / "Dataset_BUSI_with_GT"
    return inner if inner.is_dir() else root


def _visible(p: Path) -> bool:
    return not p.name.startswith(".") and p.name not in {"Thumbs.db", "desktop.ini"}


def find_busi(root: Path, classes: Sequence[str], problems: list[tuple[Path, str]]) -> list[Entry]:
    """Entries of a BUSI-layout folder; layout problems are appended to ``problems``."""
    base = _busi_root(root)
    subdirs = sorted(p for p in base.iterdir() if p.is_dir() and _visible(p))
    if not subdirs:
        raise DatasetError(f"no class folders found (expected {', '.join(classes)})", base)
    found: dict[tuple[str, str], list[Path]] = {}
    masks: dict[tuple[str, str], list[tuple[int, Path]]] = {}
    for sub in subdirs:
        cls = sub.name.lower()
        if cls not in classes:
            problems.append((sub, f"unknown class folder {sub.name!r} (expected one of {', '.join(classes)})"))
            continue
        files = sorted(p for p in sub.iterdir() if _visible(p))
        if not files:
            problems.append((sub, "empty class folder"))
        for f in files:
            m = _BUSI_RE.match(f.name)
            if not f.is_dir() and not f.is_file():
                problems.append((f, "not a regular file (a FIFO, device or broken link); refused without reading it"))
                continue
            if f.is_dir() or m is None:
                problems.append(
                    (f, f"unparseable file name (expected '{cls} (<id>).png' or '{cls} (<id>)_mask[_k].png')")
                )
                continue
            if m["cls"].lower() != cls:
                problems.append((f, f"file of class {m['cls']!r} inside the {cls!r} folder"))
                continue
            key = (cls, str(int(m["id"])))
            if m["mask"]:
                masks.setdefault(key, []).append((int(m["k"] or 0), f))
            else:
                found.setdefault(key, []).append(f)
    # two files naming one (class, id) -- "normal (01).png" beside "normal (1).png", "NORMAL (1).PNG" --
    # would silently replace one another: both are reported (and both skipped with --lenient)
    images: dict[tuple[str, str], Path] = {}
    for key, paths in found.items():
        if len(paths) > 1:
            names = ", ".join(repr(p.name) for p in paths)
            for p in paths:
                problems.append((p, f"{len(paths)} files map to {key[0]} id {key[1]}: {names}; rename all but one"))
        else:
            images[key] = paths[0]
    for key, ms in masks.items():
        numbers = [k for k, _ in ms]
        if len(set(numbers)) != len(numbers):
            names = ", ".join(repr(p.name) for _, p in ms)
            for _, p in ms:
                problems.append((p, f"mask files of {key[0]} id {key[1]} collide: {names}"))
            images.pop(key, None)
            continue
        if key not in images and key not in found:
            for _, f in ms:
                problems.append((f, "mask without an image"))
    return [
        Entry(cls, id_, path, tuple(p for _, p in sorted(masks.get((cls, id_), []))))
        for (cls, id_), path in images.items()
    ]


Finder = Callable[[Path, Sequence[str], list[tuple[Path, str]]], list[Entry]]

#: Layout name -> finder. Adding a layout is one function plus one line here (and one in :data:`DETECTORS`);
#: the layouts of other public datasets and the plain folder are registered by :mod:`.layouts`.
LAYOUTS: dict[str, Finder] = {
    "busi": find_busi,
    "generic": find_generic,
}
#: ``(layout, test)`` in the order tried by :func:`detect_layout`; the first test that holds wins.
DETECTORS: list[tuple[str, Callable[[Path], bool]]] = [("generic", lambda root: (root / "labels.csv").is_file())]


def looks_like_busi(root: Path) -> bool:
    """``Dataset_BUSI_with_GT`` inside, or class folders holding at least one ``<class> (<id>).png`` file."""
    if (root / "Dataset_BUSI_with_GT").is_dir():
        return True
    for sub in root.iterdir():
        if sub.is_dir() and _visible(sub) and sub.name.lower() in CLASSES:
            if any(_BUSI_RE.match(f.name) for f in sub.iterdir()):
                return True
    return False


def detect_layout(root: Path) -> str:
    """Guess the layout of ``root``: the first of :data:`DETECTORS` that matches, else ``busi`` when the
    folder looks like BUSI, else ``folder`` (any tree of images)."""
    for name, test in DETECTORS:
        if test(root):
            return name
    if "folder" in LAYOUTS and root.is_dir() and not looks_like_busi(root):
        return "folder"
    return "busi"


# --------------------------------------------------------------------------- decode


@dataclass
class _Decoded:
    record: ImageRecord | None
    thumb: np.ndarray | None
    problem: tuple[Path, str] | None


def resize_gray(gray: np.ndarray, size: int) -> np.ndarray:
    """Resize ``(H, W) uint8`` to ``(size, size) uint8`` with Pillow's antialiased bilinear filter."""
    from PIL import Image

    return np.asarray(Image.fromarray(gray).resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8)


def decode_entry(
    entry: Entry, root: Path, dataset: str, size: int | None = None
) -> tuple[ImageRecord, np.ndarray | None]:
    """Decode one entry, validate its masks and compute its identity.

    Raises:
        DatasetError: corrupt image or mask, a mask of another size, a tumour image without a mask.
    """
    for p in (entry.image, *entry.masks):
        check_inside(p, root)  # a link out of the data folder is refused (the one rule of every reader)
    gray = read_gray(entry.image)
    if not entry.masks and entry.cls != NORMAL_CLASS and entry.needs_mask:
        raise DatasetError(f"a {entry.cls} image needs at least one mask file, found none", entry.image)
    mask = read_mask_union(entry.masks, gray.shape, entry.image)
    rel = lambda p: p.relative_to(root).as_posix()  # noqa: E731
    rec = ImageRecord(
        dataset=dataset,
        cls=entry.cls,
        id=entry.id,
        image=rel(entry.image),
        masks=tuple(rel(p) for p in entry.masks),
        width=int(gray.shape[1]),
        height=int(gray.shape[0]),
        pixel_sha256=pixel_sha256(gray),
        file_sha256=file_sha256(split_frame(entry.image)[0]),
        mask_pixel_sha256=pixel_sha256(mask.astype(np.uint8)),
        mask_file_sha256=tuple(file_sha256(p) for p in entry.masks),
        tumour_pixels=int(mask.sum()),
        bbox=bbox(mask),
        meta=entry.meta,
    )
    return rec, (resize_gray(gray, size) if size else None)


#: images decoded per block of the engine (a Ray task; the local engine runs the blocks in turn)
DECODE_BLOCK = 256


def _decode_block(job: tuple[Path, str, int | None, int], entries: Sequence[Entry]) -> list[_Decoded]:
    """Decode one block of ``entries`` on ``threads`` threads (``job = (root, dataset, thumbnail size, threads)``),
    in order; a bad file becomes a problem, not an exception."""
    root, name, thumbnail_size, threads = job

    def work(e: Entry) -> _Decoded:
        try:
            rec, th = decode_entry(e, root, name, thumbnail_size)
            return _Decoded(rec, th, None)
        except DatasetError as exc:
            return _Decoded(None, None, (exc.path or e.image, exc.message))

    if threads <= 1:
        return [work(e) for e in entries]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(work, entries))


def _decode_all(
    entries: list[Entry],
    root: Path,
    name: str,
    thumbnail_size: int | None,
    workers: int,
    progress: bool,
    engine: Engine | None = None,
) -> list[_Decoded]:
    """Decode ``entries`` in blocks of :data:`DECODE_BLOCK` on ``engine`` (default: here, ``workers`` threads per
    block; a distributed engine: one core per block), in order."""
    from tqdm.auto import tqdm

    engine = engine or LocalEngine()
    threads = max(1, workers) if isinstance(engine, LocalEngine) else 1
    with tqdm(total=len(entries), desc="load", unit="img", disable=not progress, leave=False) as bar:
        return engine.map_items(_decode_block, entries, DECODE_BLOCK, (root, name, thumbnail_size, threads), bar.update)


def load_dataset(
    root: str | Path,
    *,
    layout: str = "auto",
    classes: Sequence[str] = CLASSES,
    lenient: bool = False,
    thumbnail_size: int | None = None,
    progress: bool = False,
    workers: int = 4,
    engine: Engine | None = None,
) -> LoadedDataset:
    """Find, decode and identify every image of a dataset.

    Args:
        root: dataset folder.
        layout: ``"busi"``, ``"generic"`` or ``"auto"``.
        classes: accepted class names (lower case).
        lenient: skip bad files with a warning instead of failing.
        thumbnail_size: also return ``(N, S, S) uint8`` resized images in record order.
        progress: show a progress bar on stderr.
        workers: decoding threads (Pillow releases the GIL while decoding).
        engine: where the blocks of images are decoded (:mod:`busi_curate.engine`; default: this process).

    Raises:
        DatasetError: every problem found, listed with its file (unless ``lenient``).
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError("dataset folder does not exist", root)
    root = root.absolute()  # an engine's tasks may run in another folder, or on another machine
    layout = detect_layout(root) if layout == "auto" else layout
    if layout not in LAYOUTS:
        raise DatasetError(f"unknown layout {layout!r} (known: {', '.join(LAYOUTS)})", root)
    problems: list[tuple[Path, str]] = []
    entries = LAYOUTS[layout](root, tuple(c.lower() for c in classes), problems)
    entries.sort(key=lambda e: record_sort_key(e.cls, e.id))
    name = "BUSI" if layout == "busi" else (root.name or root.resolve().name)
    decoded = _decode_all(entries, root, name, thumbnail_size, workers, progress, engine)
    problems += [d.problem for d in decoded if d.problem is not None]
    good = [(d.record, d.thumb) for d in decoded if d.record is not None]
    if problems and not lenient:
        shown = "\n".join(f"  {p}: {why}" for p, why in problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise DatasetError(
            f"{len(problems)} problem(s) in the dataset (use --lenient to skip bad files):\n{shown}{more}", root
        )
    if not good:
        raise DatasetError("no usable images found", root)
    thumbs = np.stack([thumb for _, thumb in good if thumb is not None]) if thumbnail_size else None
    return LoadedDataset(
        root,
        name,
        layout,
        [record for record, _ in good],
        thumbs,
        [(str(p), why) for p, why in problems],
    )


from busi_curate.data import layouts as _layouts  # noqa: E402  (registers the other layouts)

_layouts.register(LAYOUTS, DETECTORS)

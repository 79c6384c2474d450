"""The scan stage: load a dataset, score all pairs by exact SSIM, rank candidates, write a scan folder.

A scan folder holds ``index.csv``, ``ssim.npy`` (exhaustive mode), ``pairs.npz`` (pruned mode),
``candidates.csv`` and ``scan.json`` (settings, versions, timings and the SHA-256 of every other
file, checked by :func:`read_scan`).
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from busi_curate import __version__
from busi_curate.data.dataset import ImageRecord, LoadedDataset, load_dataset
from busi_curate.engine import Engine, LocalEngine
from busi_curate.errors import ScanError
from busi_curate.fileio import file_sha256, write_csv, write_json, write_npy
from busi_curate.scan.candidates import candidates_table, top_k_from_matrix, top_k_from_pairs
from busi_curate.ssim import DEFAULT_BACKEND, SSIMSettings, get_backend
from busi_curate.ssim.base import n_pairs

INDEX_COLUMNS = ["row", "dataset", "class", "id", "image", "masks", "width", "height", "pixel_sha256", "file_sha256"]
#: group columns appended to ``index.csv`` (in this order) only when some image has them (DICOM, patient ids)
INDEX_META_COLUMNS = ("patient", "study", "series", "instance", "frame")
SCAN_FORMAT = 1
DEFAULT_SIZE = 128
DEFAULT_TOP_K = 10


@dataclass(frozen=True)
class ScanSettings:
    """Every option of a scan; saved in ``scan.json``."""

    size: int = DEFAULT_SIZE
    backend: str = DEFAULT_BACKEND
    top_k: int = DEFAULT_TOP_K
    window: str = "uniform"
    mode: str = "exhaustive"
    prune_k: int = 50
    finder: str = "ssim-cascade"
    block: int = 64
    layout: str = "auto"
    lenient: bool = False


@dataclass
class ScanResult:
    """A scan folder in memory."""

    dir: Path
    meta: dict[str, Any]
    index: pd.DataFrame
    candidates: pd.DataFrame
    ssim: np.ndarray | None = None
    pairs: pd.DataFrame | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def data_dir(self) -> Path:
        """The scanned data folder (absolute in ``scan.json``: a scan folder is a working folder of one machine;
        the files made to be shared -- manifests, reports, audits -- record relative paths)."""
        return Path(self.meta["data_dir"])

    def patients(self) -> dict[tuple[str, str], str]:
        """``(class, id)`` -> patient, for the images whose patient is known (empty without a patient column)."""
        if "patient" not in self.index.columns:
            return {}
        return {
            (str(c), str(i)): str(p)
            for c, i, p in zip(self.index["class"], self.index["id"], self.index["patient"])
            if str(p)
        }

    @property
    def n(self) -> int:
        return len(self.index)

    def row_of(self, cls: str, id_: str) -> int:
        """Matrix row of image ``(cls, id_)``; KeyError if unknown."""
        lookup = self.extra.setdefault(
            "lookup", {(c, str(i)): r for r, c, i in zip(self.index["row"], self.index["class"], self.index["id"])}
        )
        return int(lookup[(cls, str(id_))])

    def image_path(self, row: int) -> Path:
        return self.data_dir / str(self.index.at[row, "image"])

    def mask_paths(self, row: int) -> list[Path]:
        masks = self.index.at[row, "masks"]
        return [self.data_dir / m for m in str(masks).split(";") if m and m != "nan"]

    def pair_ssim(self, i: int, j: int) -> float:
        """SSIM of rows i and j: from the matrix, or from the computed pairs (NaN if not computed)."""
        if self.ssim is not None:
            return float(self.ssim[i, j])
        table = self.extra.get("pair_lookup")
        if table is None and self.pairs is not None:
            table = {(min(a, b), max(a, b)): v for a, b, v in zip(self.pairs["a"], self.pairs["b"], self.pairs["ssim"])}
            self.extra["pair_lookup"] = table
        return float((table or {}).get((min(i, j), max(i, j)), np.nan))


def index_table(ds: LoadedDataset) -> pd.DataFrame:
    """The ``index.csv`` table of a loaded dataset (row = position in the SSIM matrix); the group columns of
    :data:`INDEX_META_COLUMNS` that some image has are appended."""
    metas = [dict(r.meta) for r in ds.records]
    extra = [c for c in INDEX_META_COLUMNS if any(c in m for m in metas)]
    return pd.DataFrame(
        [
            (row, r.dataset, r.cls, r.id, r.image, ";".join(r.masks), r.width, r.height, r.pixel_sha256, r.file_sha256)
            + tuple(m.get(c, "") for c in extra)
            for row, (r, m) in enumerate(zip(ds.records, metas))
        ],
        columns=INDEX_COLUMNS + extra,
    )


def library_versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version(), "busi-curate": __version__}
    for pkg in ("numpy", "scipy", "scikit-image", "numba", "pillow", "pandas", "torch"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


#: bytes per matrix cell of an exhaustive scan at its peak: the float32 matrix, its float64 copy and the int64
#: argsort of :func:`~busi_curate.scan.candidates.top_k_from_matrix`.
EXHAUSTIVE_BYTES_PER_CELL = 28


def check_exhaustive_fits(n: int, memory: int | None = None) -> None:
    """Refuse an exhaustive scan whose N x N arrays would not fit in half the machine's memory (ScanError)."""
    import os

    if memory is None:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    need = EXHAUSTIVE_BYTES_PER_CELL * n * n
    if need > memory // 2:
        raise ScanError(
            f"--mode exhaustive of {n:,} images needs about {need / 2**30:.1f} GiB for its {n:,} x {n:,} arrays, "
            f"more than half of this machine's {memory / 2**30:.1f} GiB: use --mode pruned --finder faiss"
        )


def compute_ssim(
    ds: LoadedDataset, settings: ScanSettings, progress: bool = False, engine: Engine | None = None
) -> tuple[np.ndarray | None, pd.DataFrame | None, list, list, dict[str, Any]]:
    """Score pairs according to ``settings.mode`` (the exact stage in blocks on ``engine``, default here);
    returns (matrix, pairs, top rows, top values, info)."""
    from tqdm.auto import tqdm

    from busi_curate.scan.blocks import exact_matrix, exact_pairs

    assert ds.thumbnails is not None
    backend = get_backend(settings.backend, settings=SSIMSettings.named(settings.window))
    n = len(ds)
    info: dict[str, Any] = {"backend": backend.name}
    if settings.mode == "exhaustive":
        check_exhaustive_fits(n)
        total = n_pairs(n)
        with tqdm(total=total, desc="ssim", unit="pair", unit_scale=True, disable=not progress, leave=False) as bar:

            def tick(pairs: int) -> None:
                bar.update(pairs)

            matrix = exact_matrix(backend, ds.thumbnails, settings.block, engine, progress=tick)
        rows, vals = top_k_from_matrix(matrix, settings.top_k)
        info["pairs"] = total
        return matrix, None, list(rows), list(vals), info
    if settings.mode == "pruned":
        from busi_curate.scan.prune import shortlist_pairs

        a, b = shortlist_pairs(ds.thumbnails, settings.prune_k, settings.finder, progress=progress)
        with tqdm(
            total=len(a), desc="ssim (pruned)", unit="pair", unit_scale=True, disable=not progress, leave=False
        ) as bar:
            vals = exact_pairs(backend, ds.thumbnails, a, b, engine, progress=bar.update)
        # ranked on the float32 values pairs.npz keeps, as the exhaustive mode ranks its float32 matrix: a scan
        # updated later (scan --update, which reads pairs.npz) ranks exactly as a scan of the whole set
        vals32 = vals.astype(np.float32)
        rows_l, vals_l = top_k_from_pairs(n, a, b, vals32, settings.top_k)
        pairs = pd.DataFrame({"a": a, "b": b, "ssim": vals32})
        info["pairs"] = int(len(a))
        return None, pairs, rows_l, vals_l, info
    raise ScanError(f"unknown scan mode {settings.mode!r} (known: exhaustive, pruned)")


def run_scan(
    data_dir: str | Path, out_dir: str | Path, settings: ScanSettings = ScanSettings(), progress: bool = False,
    engine: Engine | None = None,
) -> ScanResult:  # fmt: skip
    """Load ``data_dir``, score pairs and write the scan folder ``out_dir`` (every file atomically, nothing unless
    the whole dataset loads and scores; a review journal there is left untouched). ``engine``
    (:mod:`busi_curate.engine`) runs the blocks of decoding and exact SSIM: the same files whichever engine ran them.
    """
    engine = engine or LocalEngine()
    t0 = time.perf_counter()
    ds = load_dataset(data_dir, layout=settings.layout, lenient=settings.lenient, thumbnail_size=settings.size,
                      progress=progress, engine=engine)  # fmt: skip
    if len(ds) < 2:
        raise ScanError("a scan needs at least two images", Path(data_dir))
    t1 = time.perf_counter()
    matrix, pairs, rows, vals, info = compute_ssim(ds, settings, progress, engine)
    t2 = time.perf_counter()
    index = index_table(ds)
    cands = candidates_table(list(index["class"]), list(index["id"]), rows, vals)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "index.csv", index)
    files = ["index.csv", "candidates.csv"]
    if matrix is not None:
        write_npy(out / "ssim.npy", matrix)
        files.append("ssim.npy")
    if pairs is not None:
        from busi_curate.fileio import atomic_open

        with atomic_open(out / "pairs.npz", "wb") as fh:
            np.savez(fh, a=pairs["a"].to_numpy(), b=pairs["b"].to_numpy(), ssim=pairs["ssim"].to_numpy())
        files.append("pairs.npz")
    write_csv(out / "candidates.csv", cands)
    t3 = time.perf_counter()
    meta = {
        "format": SCAN_FORMAT,
        "tool": "busi-curate",
        "version": __version__,
        "data_dir": str(Path(data_dir).resolve()),
        "dataset": ds.name,
        "layout": ds.layout,
        "n_images": len(ds),
        "settings": asdict(settings),
        "ssim": SSIMSettings.named(settings.window).to_dict(),
        "skipped": [{"path": p, "reason": r} for p, r in ds.skipped],
        "pairs_scored": info["pairs"],
        "timings_s": {
            "load": round(t1 - t0, 3),
            "ssim": round(t2 - t1, 3),
            "write": round(t3 - t2, 3),
            "total": round(t3 - t0, 3),
        },
        "pairs_per_s": round(info["pairs"] / max(t2 - t1, 1e-9), 1),
        "engine": engine.describe(),
        "libraries": library_versions(),
        "files": {name: file_sha256(out / name) for name in files},
    }
    write_json(out / "scan.json", meta)
    return ScanResult(out, meta, index, cands, matrix, pairs)


def read_scan(scan_dir: str | Path, load_matrix: bool = True) -> ScanResult:
    """Read and check a scan folder written by :func:`run_scan`.

    Raises:
        ScanError: the folder or a file is missing, or a file's checksum differs from ``scan.json``.
    """
    d = Path(scan_dir)
    if not d.is_dir():
        raise ScanError("scan folder does not exist (run `busi-curate scan DATA_DIR --out FOLDER` first)", d)
    meta = _read_meta(d)
    index = _read_index(d)
    cands = pd.read_csv(d / "candidates.csv", dtype={"reference_id": str, "candidate_id": str})
    n = len(index)
    if meta.get("n_images") not in (None, n):
        raise ScanError(f"index.csv lists {n} images, scan.json {meta.get('n_images')}", d / "index.csv")
    matrix = _read_matrix(d, n) if load_matrix and (d / "ssim.npy").is_file() else None
    pairs = _read_pairs(d, n) if (d / "pairs.npz").is_file() else None
    return ScanResult(d, meta, index, cands, matrix, pairs)


def _read_meta(d: Path) -> dict[str, Any]:
    """``scan.json`` of scan folder ``d``, once every file it lists (and every file a reader uses) has the
    recorded checksum; ScanError otherwise."""
    meta_path = d / "scan.json"
    if not meta_path.is_file():
        raise ScanError("not a scan folder: scan.json is missing", d)
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ScanError(f"scan.json is damaged ({exc})", meta_path) from exc
    if not isinstance(meta, dict) or meta.get("tool") != "busi-curate" or meta.get("format") != SCAN_FORMAT:
        raise ScanError(f"scan.json was not written by this tool's scan format {SCAN_FORMAT}", meta_path)
    files = meta.get("files")
    # fail closed: every file a reader uses must have its checksum recorded
    required = (
        ["index.csv", "candidates.csv"]
        + (["ssim.npy"] if (d / "ssim.npy").exists() else [])
        + (["pairs.npz"] if (d / "pairs.npz").exists() else [])
    )
    if not isinstance(files, dict) or any(name not in files for name in required):
        missing = [n for n in required if not isinstance(files, dict) or n not in files]
        raise ScanError(f"scan.json records no checksum for {', '.join(missing)}; re-run the scan", meta_path)
    if "ssim.npy" not in files and "pairs.npz" not in files:
        raise ScanError("scan.json lists neither ssim.npy nor pairs.npz; re-run the scan", meta_path)
    for name, digest in files.items():
        p = d / name
        if not p.is_file():
            raise ScanError("file listed in scan.json is missing", p)
        if file_sha256(p) != digest:
            raise ScanError("file changed since the scan (checksum differs from scan.json); re-run the scan", p)
    return meta


def _read_index(d: Path) -> pd.DataFrame:
    """``index.csv``: :data:`INDEX_COLUMNS`, then optionally some of :data:`INDEX_META_COLUMNS` in that order."""
    index = pd.read_csv(
        d / "index.csv",
        dtype={"id": str, "masks": str, **dict.fromkeys(INDEX_META_COLUMNS, str)},
        keep_default_na=False,
    )
    extra = list(index.columns)[len(INDEX_COLUMNS) :]
    if list(index.columns)[: len(INDEX_COLUMNS)] != INDEX_COLUMNS or extra != [
        c for c in INDEX_META_COLUMNS if c in extra
    ]:
        raise ScanError(
            f"index.csv columns are {list(index.columns)}, expected {INDEX_COLUMNS} "
            f"(then optionally {', '.join(INDEX_META_COLUMNS)})",
            d / "index.csv",
        )
    return index


def _read_matrix(d: Path, n: int) -> np.ndarray:
    """``ssim.npy``: the ``(n, n)`` float32 SSIM matrix."""
    try:
        matrix = np.load(d / "ssim.npy", allow_pickle=False)
    except ValueError as exc:
        raise ScanError(f"cannot read ssim.npy ({exc})", d / "ssim.npy") from exc
    if matrix.shape != (n, n) or matrix.dtype != np.float32:
        raise ScanError(
            f"ssim.npy is {matrix.dtype} {matrix.shape}, expected float32 ({n}, {n}) for index.csv", d / "ssim.npy"
        )
    return matrix


def _read_pairs(d: Path, n: int) -> pd.DataFrame:
    """``pairs.npz``: the scored pairs ``a, b, ssim`` of a pruned scan, rows within the ``n`` images."""
    try:
        z = np.load(d / "pairs.npz", allow_pickle=False)
        pairs = pd.DataFrame({"a": z["a"], "b": z["b"], "ssim": z["ssim"]})
    except (ValueError, KeyError, OSError) as exc:
        raise ScanError(f"cannot read pairs.npz ({exc})", d / "pairs.npz") from exc
    if len(pairs) and (int(pairs[["a", "b"]].to_numpy().min()) < 0 or int(pairs[["a", "b"]].to_numpy().max()) >= n):
        raise ScanError(f"pairs.npz names rows outside the {n} images of index.csv", d / "pairs.npz")
    return pairs


def read_scanned(path: str | Path, pixel_sha256: str | None) -> np.ndarray:
    """Decode ``path`` as ``(H, W) uint8`` and check its pixels are the ones the scan scored.

    The one rule for "the image on disk is the scanned image" (stages that read images after a scan
    use it; :func:`check_scan_images` applies it to every scanned image, :func:`check_scan_data` compares a
    whole reloaded data folder, added images included).
    ``pixel_sha256=None`` skips the comparison (an image the scan did not hash).

    Raises:
        ScanError: the image is missing, cannot be decoded any more, or its pixels changed (named).
    """
    from busi_curate.data.dicom import split_frame
    from busi_curate.data.imageio import read_gray
    from busi_curate.errors import DatasetError
    from busi_curate.fileio import pixel_sha256 as sha

    path = Path(path)
    if not split_frame(path)[0].is_file():
        raise ScanError("scanned image is missing; re-run the scan", path)
    try:
        gray = read_gray(path)
    except DatasetError as exc:
        raise ScanError(f"scanned image cannot be read any more ({exc.message}); re-run the scan", path) from exc
    if pixel_sha256 is not None and sha(gray) != pixel_sha256:
        raise ScanError("image pixels changed since the scan (hash differs from index.csv); re-run the scan", path)
    return gray


def checked_image(scan: ScanResult, row: int) -> np.ndarray:
    """:func:`read_scanned` for row ``row`` of ``scan`` (a link out of the data folder is refused)."""
    from busi_curate.fileio import check_inside

    return read_scanned(check_inside(scan.image_path(row), scan.data_dir), str(scan.index.at[row, "pixel_sha256"]))


def check_scan_images(scan: ScanResult) -> None:
    """:func:`read_scanned` for every scanned image (no mask decoding, no folder walk: cheap enough for the start
    of a review). Raises one ScanError naming each image that is missing, unreadable or changed."""
    if not scan.data_dir.is_dir():
        raise ScanError("the scanned data folder is gone", scan.data_dir)
    bad = []
    for row in range(scan.n):
        try:
            checked_image(scan, row)
        except ScanError as exc:
            bad.append(f"  {exc.path}: {exc.message}")
    if bad:
        raise ScanError(f"{len(bad)} image(s) differ from the scan; re-run the scan:\n" + "\n".join(bad[:20]), scan.dir)


def check_scan_data(scan: ScanResult, data_dir: str | Path | None = None) -> list[ImageRecord]:
    """Re-load the data folder (the scanned one, or ``data_dir``) and check it is the scanned dataset.

    Every image must be in the scan with the same decoded pixels (``pixel_sha256`` of ``index.csv``),
    and every scanned image must still be there.

    Returns:
        The loaded records in the project's order (:func:`~busi_curate.data.dataset.record_sort_key`).

    Raises:
        ScanError: the folder is gone, or images were added, removed or changed since the scan (each named).
    """
    from busi_curate.data.dataset import record_sort_key

    root = Path(data_dir) if data_dir is not None else scan.data_dir
    if not root.is_dir():
        raise ScanError("the scanned data folder is gone", root)
    settings = scan.meta.get("settings", {})
    ds = load_dataset(
        root,
        layout=scan.meta.get("layout", settings.get("layout", "auto")),
        lenient=bool(settings.get("lenient", False)),
    )
    index = {(str(c), str(i)): h for c, i, h in zip(scan.index["class"], scan.index["id"], scan.index["pixel_sha256"])}
    have = {r.key: r for r in ds.records}
    problems = [f"  {c} {i}: in the scan, missing from the data" for c, i in index if (c, i) not in have]
    problems += [f"  {r.cls} {r.id} ({r.image}): not in the scan" for r in ds.records if r.key not in index]
    problems += [
        f"  {r.cls} {r.id} ({r.image}): pixels differ from the scan"
        for r in ds.records
        if r.key in index and index[r.key] != r.pixel_sha256
    ]
    if problems:
        raise ScanError(
            f"{len(problems)} image(s) in {root} differ from the scan; re-run the scan:\n"
            + "\n".join(problems[:20])
            + ("\n  ..." if len(problems) > 20 else ""),
            scan.dir,
        )
    return sorted(ds.records, key=lambda r: record_sort_key(*r.key))

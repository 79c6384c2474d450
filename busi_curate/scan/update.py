"""Stage 3, incremental: add the images new in a scanned data folder to its scan, without rescoring old pairs.

``busi-curate scan --update SCAN DATA`` reloads the scanned data folder ``DATA`` (the same folder, with images
added), checks that every scanned image is still there with the same pixels, appends the new images as new rows
of ``index.csv`` (old rows keep their numbers) and scores only pairs that involve a new image:

* exhaustive scan: every new image against every other image, so the matrix is exactly the one a scan of the
  whole folder gives (rows in another order);
* pruned scan: each new image's shortlist among all images (old and new), by the finder's own measure (the
  ``faiss`` finder: exact descriptor inner products instead of the IVF index, plus its range rule; the others:
  the ``ssim-cascade`` stages restricted to the new rows), then exact SSIM of those pairs.

Every earlier pair keeps its score (read from ``ssim.npy`` / ``pairs.npz``, never recomputed), ``candidates.csv``
is ranked again over all pairs, and the review journal is not touched: every decision stays, keyed by
``(class, id)``. SSIM is a function of the two images alone, so a pair's score never depends on which other
images are in the set. All files are written to temporary names and renamed together, ``scan.json`` last
(:func:`busi_curate.fileio.staged_files`); any error before that leaves the scan folder as it was.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from busi_curate import __version__
from busi_curate.data.dataset import ImageRecord, LoadedDataset, load_dataset
from busi_curate.errors import ScanError
from busi_curate.scan.run import (
    INDEX_COLUMNS,
    INDEX_META_COLUMNS,
    ScanResult,
    ScanSettings,
    check_exhaustive_fits,
    index_table,
    library_versions,
    read_scan,
)

#: rows of new images scored at once against all images by the shortlist (memory ``block x N`` float64).
QUERY_BLOCK = 256


@dataclass
class UpdateResult:
    """What :func:`update_scan` did: the updated scan (re-read), images added, pairs newly scored."""

    scan: ScanResult
    added: int
    new_pairs: int
    seconds: float


def scan_settings(scan: ScanResult) -> ScanSettings:
    """The settings a scan was made with (``scan.json``); ScanError for a sidecar this version cannot use."""
    raw = scan.meta.get("settings")
    known = {f.name for f in fields(ScanSettings)}
    if not isinstance(raw, dict) or set(raw) - known:
        raise ScanError(
            "scan.json holds settings this version does not know; re-run the scan to update it", scan.dir / "scan.json"
        )
    return ScanSettings(**raw)


def _bar(desc: str, total: int, progress: bool, unit: str = "pair") -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, unit_scale=True, disable=not progress, leave=False)


def new_records(scan: ScanResult, ds: LoadedDataset) -> list[ImageRecord]:
    """The records of ``ds`` that ``scan`` does not hold, in the loader's order.

    Raises:
        ScanError: a scanned image is missing from ``ds``, or an image of ``ds`` has a scanned ``(class, id)``
            with other pixels or another file (the ids collide): each named, nothing written.
    """
    old = {
        (str(c), str(i)): (str(img), str(h))
        for c, i, img, h in zip(scan.index["class"], scan.index["id"], scan.index["image"], scan.index["pixel_sha256"])
    }
    have = {r.key for r in ds.records}
    problems = [f"  {c} {i}: scanned, missing from the data" for c, i in old if (c, i) not in have]
    problems += [
        f"  {r.cls} {r.id} ({r.image}): its class and id are scanned ({old[r.key][0]}) with other pixels or another "
        "file; new images need new ids"
        for r in ds.records
        if r.key in old and old[r.key] != (r.image, r.pixel_sha256)
    ]
    if problems:
        raise ScanError(
            f"{len(problems)} image(s) of {ds.root} contradict the scan (scan --update only adds images):\n"
            + "\n".join(problems[:20])
            + ("\n  ..." if len(problems) > 20 else ""),
            scan.dir,
        )
    return [r for r in ds.records if r.key not in old]


def updated_index(scan: ScanResult, ds: LoadedDataset, added: list[ImageRecord]) -> pd.DataFrame:
    """``index.csv`` with the new images appended as rows ``N..N+M-1`` (group columns united, empty where unknown)."""
    new = index_table(LoadedDataset(ds.root, ds.name, ds.layout, added))
    new["row"] = np.arange(scan.n, scan.n + len(added))
    both = pd.concat([scan.index.astype({"row": np.int64}), new], ignore_index=True)
    extra = [c for c in INDEX_META_COLUMNS if c in both.columns]
    for c in extra:
        both[c] = both[c].fillna("").astype(str)
    return both[INDEX_COLUMNS + extra]


def _exact_pairs(backend: Any, thumbnails: np.ndarray, a: np.ndarray, b: np.ndarray, progress: bool) -> np.ndarray:
    """Exact SSIM of pairs ``(a, b)`` by tiles (:func:`busi_curate.scan.blocks.exact_pairs`: the images of one tile
    prepared at a time, as a scan does), ``(P,) float32``."""
    from busi_curate.scan.blocks import exact_pairs

    with _bar("ssim (new pairs)", len(a), progress) as bar:
        return exact_pairs(backend, thumbnails, a, b, progress=bar.update).astype(np.float32)


def all_new_pairs(n_old: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Every pair ``(a < b)`` with ``b`` a new row (``b >= n_old``): new x old and new x new, each once."""
    b = np.repeat(np.arange(n_old, n, dtype=np.int64), np.arange(n_old, n))
    starts = np.repeat(np.cumsum(np.arange(n_old, n)) - np.arange(n_old, n), np.arange(n_old, n))
    a = np.arange(len(b), dtype=np.int64) - starts
    return a, b


def query_top(score_rows: Callable[[np.ndarray], np.ndarray], rows: np.ndarray, n: int, k: int) -> np.ndarray:
    """Each of ``rows``' ``k`` best other rows by ``score_rows(block) -> (len(block), n)``, ``(len(rows), k)``
    int64, ties to the lower row; computed ``QUERY_BLOCK`` rows at a time."""
    k = min(k, n - 1)
    out = np.empty((len(rows), k), dtype=np.int64)
    for s in range(0, len(rows), QUERY_BLOCK):
        blk = rows[s : s + QUERY_BLOCK]
        sims = np.asarray(score_rows(blk), dtype=np.float64)
        sims[np.arange(len(blk)), blk] = -np.inf
        part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        vals = np.take_along_axis(sims, part, axis=1)
        order = np.lexsort((part, -vals), axis=1)
        out[s : s + len(blk)] = np.take_along_axis(part, order, axis=1)
    return out


def _ssim_rows(backend: Any, prepared: object, n: int) -> Callable[[np.ndarray], np.ndarray]:
    """``score_rows`` for :func:`query_top`: exact SSIM of each given row against every row."""

    def score(blk: np.ndarray) -> np.ndarray:
        a = np.repeat(blk.astype(np.int64), n)
        b = np.tile(np.arange(n, dtype=np.int64), len(blk))
        keep = a != b
        vals = np.full(len(a), -np.inf)
        vals[keep] = backend.pairs_prepared(prepared, a[keep], b[keep])
        return vals.reshape(len(blk), n)

    return score


def _unique_pairs(i: np.ndarray, j: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    code = np.unique(np.minimum(i, j) * n + np.maximum(i, j))
    return code // n, code % n


def shortlist_new(
    thumbnails: np.ndarray, n_old: int, settings: ScanSettings, progress: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Pruned scan: the pairs ``(a < b)`` to score for the new rows ``n_old..N-1`` (see the module docstring)."""
    from busi_curate.scan.prune import CASCADE_WINDOW, WIDEN, shrink
    from busi_curate.ssim import SSIMSettings, get_backend

    n, s = len(thumbnails), thumbnails.shape[1]
    rows = np.arange(n_old, n, dtype=np.int64)
    k = settings.prune_k
    cascade = get_backend("numba", settings=SSIMSettings(win_size=CASCADE_WINDOW))
    half = shrink(thumbnails, max(s // 2, 1))
    extra: list[np.ndarray] = []
    keep = k
    with _bar("shortlist (new images)", len(rows), progress, unit="img") as bar:
        if settings.finder == "faiss":
            from busi_curate.scan import ann

            desc = ann.ssim_descriptor(thumbnails)
            wide = query_top(lambda blk: desc[blk] @ desc.T, rows, n, ann.WIDEN * k)
            q, j = np.nonzero(desc[rows] @ desc.T >= ann.RANGE_THRESHOLD)
            extra = [np.minimum(rows[q], j) * n + np.maximum(rows[q], j)]
            extra[0] = extra[0][rows[q] != j]
            keep = ann.KEEP * k
        else:
            quarter = shrink(thumbnails, s // 4) if s // 4 >= 8 else half  # as the cascade: no stage under 8 px
            wide = query_top(_ssim_rows(cascade, cascade.prepare(quarter), n), rows, n, WIDEN * k)
        bar.update(len(rows) // 2)
        a = np.repeat(rows, wide.shape[1])
        vals = cascade.pairs(half, a, wide.reshape(-1)).reshape(wide.shape)
        order = np.lexsort((wide, -vals), axis=1)[:, : min(keep, n - 1)]
        narrow = np.take_along_axis(wide, order, axis=1)
        bar.update(len(rows) - len(rows) // 2)
    ka, kb = _unique_pairs(np.repeat(rows, narrow.shape[1]), narrow.reshape(-1), n)
    code = np.unique(np.concatenate([ka * n + kb, *extra]))
    return code // n, code % n


def score_new(
    scan: ScanResult, thumbnails: np.ndarray, settings: ScanSettings, progress: bool = False
) -> tuple[np.ndarray | None, pd.DataFrame | None, int]:
    """The updated ``ssim.npy`` matrix or ``pairs.npz`` table (old scores copied, new pairs scored) and the number
    of new pairs."""
    from busi_curate.ssim import SSIMSettings, get_backend

    n_old, n = scan.n, len(thumbnails)
    backend = get_backend(settings.backend, settings=SSIMSettings.named(settings.window))
    if settings.mode == "exhaustive":
        check_exhaustive_fits(n)
        if scan.ssim is None:
            raise ScanError("an exhaustive scan without ssim.npy; re-run the scan", scan.dir)
        a, b = all_new_pairs(n_old, n)
        vals = _exact_pairs(backend, thumbnails, a, b, progress)
        matrix = np.full((n, n), np.nan, dtype=np.float32)
        matrix[:n_old, :n_old] = scan.ssim
        matrix[a, b] = vals
        matrix[b, a] = vals
        return matrix, None, len(a)
    if settings.mode != "pruned" or scan.pairs is None:
        raise ScanError(f"cannot update a scan of mode {settings.mode!r} without its pairs; re-run the scan", scan.dir)
    a, b = shortlist_new(thumbnails, n_old, settings, progress)
    vals = _exact_pairs(backend, thumbnails, a, b, progress)
    old = scan.pairs
    pairs = pd.DataFrame(
        {
            "a": np.concatenate([old["a"].to_numpy(np.int64), a]),
            "b": np.concatenate([old["b"].to_numpy(np.int64), b]),
            "ssim": np.concatenate([old["ssim"].to_numpy(np.float32), vals]),
        }
    )
    return None, pairs, len(a)


def _load_grown(scan: ScanResult, data_dir: Path, settings: ScanSettings, progress: bool) -> LoadedDataset:
    if data_dir.resolve() != scan.data_dir.resolve():
        raise ScanError(
            f"is not the scanned data folder {scan.data_dir}: scan --update takes that folder with the new images "
            "added to it (a scan's paths are relative to one folder)",
            data_dir,
        )
    layout = str(scan.meta.get("layout", settings.layout))
    return load_dataset(data_dir, layout=layout, lenient=settings.lenient, thumbnail_size=settings.size,
                        progress=progress)  # fmt: skip


def update_scan(scan_dir: str | Path, data_dir: str | Path, progress: bool = False) -> UpdateResult:
    """Add the images of ``data_dir`` (the scanned folder, grown) that ``scan_dir`` lacks (module docstring).

    Returns ``added == 0`` and writes nothing when there is nothing new.

    Raises:
        ScanError: the scan folder is damaged, ``data_dir`` is another folder, or its images contradict the
            scan (a scanned image missing or changed, a new image reusing a scanned id); nothing is written.
    """
    t0 = time.perf_counter()
    scan = read_scan(scan_dir)
    settings = scan_settings(scan)
    ds = _load_grown(scan, Path(data_dir), settings, progress)
    added = new_records(scan, ds)
    if not added:
        return UpdateResult(scan, 0, 0, time.perf_counter() - t0)
    assert ds.thumbnails is not None
    pos = {r.key: p for p, r in enumerate(ds.records)}
    order = [pos[(str(c), str(i))] for c, i in zip(scan.index["class"], scan.index["id"])] + [pos[r.key] for r in added]
    thumbs = ds.thumbnails[order]
    t1 = time.perf_counter()
    matrix, pairs, new_pairs = score_new(scan, thumbs, settings, progress)
    index = updated_index(scan, ds, added)
    write_update(scan, index, matrix, pairs, settings, ds, entry={
        "added": len(added), "images_before": scan.n, "pairs_scored": new_pairs, "version": __version__,
        "libraries": library_versions(),
        "timings_s": {"load": round(t1 - t0, 3), "score": round(time.perf_counter() - t1, 3)},
    })  # fmt: skip
    return UpdateResult(read_scan(scan.dir), len(added), new_pairs, time.perf_counter() - t0)


def write_update(
    scan: ScanResult,
    index: pd.DataFrame,
    matrix: np.ndarray | None,
    pairs: pd.DataFrame | None,
    settings: ScanSettings,
    ds: LoadedDataset,
    entry: dict[str, Any],
) -> None:
    """Rank the candidates again and replace the scan's files all together, ``scan.json`` last."""
    from busi_curate.fileio import file_sha256, staged_files, write_csv, write_json, write_npy
    from busi_curate.scan.candidates import candidates_table, top_k_from_matrix, top_k_from_pairs

    n = len(index)
    rows: list[np.ndarray] | np.ndarray
    vals: list[np.ndarray] | np.ndarray
    if matrix is not None:
        rows, vals = top_k_from_matrix(matrix, settings.top_k)
    else:
        assert pairs is not None
        rows, vals = top_k_from_pairs(
            n, pairs["a"].to_numpy(), pairs["b"].to_numpy(), pairs["ssim"].to_numpy(np.float32), settings.top_k
        )
    cands = candidates_table(list(index["class"]), list(index["id"]), rows, vals)
    meta = dict(scan.meta)
    with staged_files(scan.dir) as stage:
        files = {"index.csv": stage("index.csv"), "candidates.csv": stage("candidates.csv")}
        write_csv(files["index.csv"], index)
        write_csv(files["candidates.csv"], cands)
        if matrix is not None:
            files["ssim.npy"] = stage("ssim.npy")
            write_npy(files["ssim.npy"], matrix)
        if pairs is not None:
            files["pairs.npz"] = stage("pairs.npz")
            with open(files["pairs.npz"], "wb") as fh:
                np.savez(fh, a=pairs["a"].to_numpy(), b=pairs["b"].to_numpy(), ssim=pairs["ssim"].to_numpy())
        meta.update(
            n_images=n,
            pairs_scored=int(meta.get("pairs_scored", 0)) + int(entry["pairs_scored"]),
            skipped=[{"path": p, "reason": r} for p, r in ds.skipped],
            updates=[*meta.get("updates", []), entry],
            files={name: file_sha256(path) for name, path in files.items()},
        )
        write_json(stage("scan.json"), meta)

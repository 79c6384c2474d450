"""Findings, report: compute the findings of a reviewed scan and write them as CSV tables, figures (300 dpi
PNG + SVG), a thumbnail gallery of every group, Markdown, self-contained HTML and a ``report.json`` sidecar.

The report is a function of the scan folder, the decisions journal, :class:`ReportSettings` and the paths
it was given: the same inputs give byte-identical CSV, Markdown and HTML (no clocks, sorted orders
everywhere; paths in the text are relative to the working folder when they lie under it).
"""

from __future__ import annotations

import json
import math
import shlex
import shutil
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from busi_curate import __version__
from busi_curate.defaults import JOURNAL_NAME
from busi_curate.errors import JournalError
from busi_curate.fileio import (
    bytes_sha256,
    file_sha256,
    portable_path,
    sweep_leftovers,
    write_bytes,
    write_csv,
    write_json,
    write_text,
)
from busi_curate.findings.compute import Findings, compute_findings, journal_summary
from busi_curate.findings.content import build_blocks
from busi_curate.findings.figures import group_strip, plot_ssim_hist
from busi_curate.findings.group_tables import PAPER
from busi_curate.findings.masks import ImageLoader, scan_loader
from busi_curate.findings.render_html import render_html
from busi_curate.findings.render_md import render_markdown
from busi_curate.findings.settings import ReportSettings
from busi_curate.findings.ssim_stats import ssim_stats_table
from busi_curate.review.groups import merged_grades
from busi_curate.review.journal import Decision, read_journal

if TYPE_CHECKING:
    from busi_curate.scan.run import ScanResult

__all__ = ["ReportSettings", "journal_summary", "make_report", "read_decisions", "reproduce_commands", "write_report"]

REPORT_FORMAT = 2
GALLERY_DIR = "gallery"


def read_decisions(scan: ScanResult, decisions_path: Path) -> tuple[list[Decision], list[str]]:
    """Read the journal against the scan's images; returns the decisions and the reader's warnings
    (damaged lines skipped, e.g. a line cut in half by a crash).

    Raises:
        JournalError: the journal is missing, is not a journal, or names images not in the scan.
    """
    import warnings

    if not decisions_path.is_file():
        raise JournalError(
            "decisions journal not found (review the scan first, or pass --decisions FILE)", decisions_path
        )
    known = set(zip(scan.index["class"], scan.index["id"].astype(str)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        decisions = read_journal(decisions_path, known=known)
    return decisions, [str(w.message) for w in caught]


def make_report(
    scan_dir: str | Path,
    out: str | Path,
    decisions_path: str | Path | None = None,
    settings: ReportSettings = ReportSettings(),
    progress: bool = False,
) -> dict[str, Any]:
    """Read the scan and the journal, compute the findings and write the report folder ``out`` (``progress``:
    bars with counts and ETA on stderr for the mask IoU and the gallery).

    Returns the ``report.json`` content. Every file is written atomically; files of an earlier report in
    ``out`` that this one does not write again (e.g. gallery strips of groups that no longer exist) are
    removed.

    Raises:
        ScanError: the scan folder is missing or damaged, or its images changed since the scan.
        JournalError: the journal is missing or names images that are not in the scan.

    Example:
        >>> make_report("scans/busi", "reports/busi", settings=ReportSettings(gallery=False))  # doctest: +SKIP
    """
    from busi_curate.scan.run import read_scan

    scan = read_scan(scan_dir)
    dpath = Path(decisions_path) if decisions_path is not None else Path(scan_dir) / JOURNAL_NAME
    decisions, skipped = read_decisions(scan, dpath)
    load = scan_loader(scan, verify=settings.verify_images)
    f = compute_findings(
        scan,
        decisions,
        include_adjacent=settings.include_adjacent,
        iou_size=settings.iou_size,
        register=settings.register,
        percentile=settings.threshold_percentile,
        load=load,
        progress=progress,
    )
    f.notes[:0] = [f"journal: {m}" for m in skipped]
    return write_report(f, scan, dpath, Path(out), settings, load, progress)


def shell_path(p: str | Path, cwd: Path | None = None) -> str:
    """``p`` for a command line: relative to ``cwd`` (default: the working folder; ``..`` where needed, so
    no user's absolute path lands in a shared report), quoted for a POSIX shell."""
    return shlex.quote(portable_path(p, cwd or Path.cwd()) or ".")


def reproduce_commands(scan: ScanResult, decisions_path: Path, out: Path, settings: ReportSettings) -> list[str]:
    """Shell lines that re-scan the data with the scan's settings into a fresh temporary folder, remake the
    report and remove the temporary scan.

    Run from the working folder of the original run (paths are relative to it when under it).
    """
    s = scan.meta.get("settings", {})
    data = shell_path(scan.meta.get("data_dir", "DATA_DIR"))
    scan_cmd = [f'busi-curate scan {data} --out "$SCAN"']
    for opt, key in (("--size", "size"), ("--backend", "backend"), ("--window", "window"), ("--mode", "mode")):
        if key in s:
            scan_cmd.append(f"{opt} {shlex.quote(str(s[key]))}")
    scan_cmd += [f"--top-k {s['top_k']}"] if "top_k" in s else []
    scan_cmd += [f"--prune-k {s['prune_k']}"] if s.get("mode") == "pruned" and "prune_k" in s else []
    scan_cmd += [f"--layout {shlex.quote(str(s['layout']))}"] if "layout" in s else []
    scan_cmd += ["--lenient"] if s.get("lenient") else []
    rep = [f'busi-curate report "$SCAN" --decisions {shell_path(decisions_path)} --out {shell_path(out)}']
    rep.append(f"--threshold-percentile {settings.threshold_percentile:g} --iou-size {settings.iou_size}")
    rep += ["--include-adjacent"] if settings.include_adjacent else []
    rep += ["--no-register"] if not settings.register else []
    rep += [f"--thumb-height {settings.thumb_height}"] if settings.gallery else ["--no-gallery"]
    rep.append(f"--dpi {settings.figure_dpi}")
    return ["SCAN=$(mktemp -d)", " ".join([*scan_cmd, "--quiet"]), " ".join(rep), 'rm -r "$SCAN"']


def _scan_meta(scan: ScanResult, decisions_path: Path, out: Path, settings: ReportSettings) -> dict[str, Any]:
    """What the report's text says about its inputs."""
    s = scan.meta.get("settings", {})
    return {
        "dataset": scan.meta.get("dataset", "?"),
        "data_dir": portable_path(scan.data_dir, out) if "data_dir" in scan.meta else "?",  # no user's absolute path
        "scan_dir": portable_path(scan.dir, out),
        "n_images": scan.n,
        "scan_size": s.get("size", "?"),
        "scan_mode": s.get("mode", "?"),
        "pairs_scored": int(scan.meta.get("pairs_scored", 0)),
        "journal_name": decisions_path.name,
        "journal_path": portable_path(decisions_path, out),
        "journal_sha256": file_sha256(decisions_path),
        "reproduce": reproduce_commands(scan, decisions_path, out, settings),
    }


def _sidecar(
    f: Findings,
    scan: ScanResult,
    decisions_path: Path,
    meta: dict[str, Any],
    settings: ReportSettings,
    files: dict[str, str],
) -> dict[str, Any]:
    """The content of ``report.json``: versions, settings, input checksums, counts, statistics, files."""
    from busi_curate.scan.run import library_versions

    dist = f.distribution.set_index("policy")
    return _jsonable(
        {
            "tool": "busi-curate",
            "kind": "report",
            "format": REPORT_FORMAT,
            "version": __version__,
            "settings": asdict(settings),
            "scan": {
                "dir": meta["scan_dir"],
                "scan_json_sha256": file_sha256(scan.dir / "scan.json"),
                "files": scan.meta.get("files", {}),
                "dataset": meta["dataset"],
                "data_dir": meta["data_dir"],
                "n_images": scan.n,
                "settings": scan.meta.get("settings", {}),
            },
            "decisions": {"path": meta["journal_path"], "sha256": meta["journal_sha256"], **f.journal},
            "grades_merged": list(merged_grades(settings.include_adjacent)),
            "counts": {
                **f.counts,
                "images_after_remove_all": int(dist.at["remove-all", "total"]),
                "images_after_keep_one": int(dist.at["keep-one", "total"]),
                "iou_pairs": len(f.iou),
            },
            "ssim": f.ssim.to_dict(),
            "paper": PAPER,
            "notes": f.notes,
            "reproduce": meta["reproduce"],
            "libraries": library_versions(),
            "files": dict(sorted(files.items())),
        }
    )


class _Writer:
    """Writes files into the report folder atomically and keeps their SHA-256 for the sidecar."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.files: dict[str, str] = {}

    def csv(self, name: str, frame: pd.DataFrame) -> None:
        write_csv(self.out / name, frame)
        self.files[name] = file_sha256(self.out / name)

    def bytes(self, name: str, data: bytes) -> None:
        (self.out / name).parent.mkdir(parents=True, exist_ok=True)
        write_bytes(self.out / name, data)
        self.files[name] = bytes_sha256(data)

    def text(self, name: str, text: str) -> None:
        write_text(self.out / name, text)
        self.files[name] = bytes_sha256(text.encode("utf-8"))


def write_report(
    f: Findings,
    scan: ScanResult,
    decisions_path: Path,
    out: Path,
    settings: ReportSettings,
    load: ImageLoader,
    progress: bool = False,
) -> dict[str, Any]:
    """Write every file of the report into ``out`` (see :func:`make_report`); a new ``out`` that cannot be
    completed (disk full) is removed again."""
    fresh = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    sweep_leftovers(out)  # temporary files a killed report left
    try:
        return _write_report(f, scan, decisions_path, out, settings, load, progress)
    except BaseException:
        if fresh:
            shutil.rmtree(out, ignore_errors=True)
        raise


def _write_report(
    f: Findings,
    scan: ScanResult,
    decisions_path: Path,
    out: Path,
    settings: ReportSettings,
    load: ImageLoader,
    progress: bool,
) -> dict[str, Any]:
    previous = _previous_files(out)
    w = _Writer(out)
    w.csv("groups.csv", f.groups_table)
    w.csv("class_conflicts.csv", f.conflicts)
    w.csv("mask_iou.csv", f.iou)
    w.csv("iou_summary.csv", f.iou_summary)
    w.csv("ssim_stats.csv", ssim_stats_table(f.ssim))
    w.csv("class_distribution.csv", f.distribution)
    fig5 = plot_ssim_hist(f.samples, f.ssim, dpi=settings.figure_dpi)
    w.bytes("fig5_ssim_hist.png", fig5.png)
    w.text("fig5_ssim_hist.svg", fig5.svg)
    strips: dict[int, str] = {}
    if settings.gallery:
        from tqdm.auto import tqdm

        for g in tqdm(f.groups, desc="gallery", unit="group", disable=not progress, leave=False, file=sys.stderr):
            strips[g.id] = f"{GALLERY_DIR}/group{g.id:03d}_{g.kind}.png"
            w.bytes(strips[g.id], group_strip(g, load, settings.thumb_height))
    meta = _scan_meta(scan, decisions_path, out, settings)
    blocks = build_blocks(f, meta, settings, strips)
    w.text("report.md", render_markdown(blocks))
    w.text("report.html", render_html(blocks, f"Curation report: {meta['dataset']}"))
    report = _sidecar(f, scan, decisions_path, meta, settings, w.files)
    write_json(out / "report.json", report)
    _remove_stale(out, previous - set(w.files) - {"report.json"})
    return report


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return obj


def _safe_name(name: str) -> bool:
    """A file name an earlier report.json may list: a plain name, or ``gallery/<plain name>``."""
    parts = name.split("/")
    plain = all(p not in ("", ".", "..") and "\\" not in p for p in parts)
    return plain and (len(parts) == 1 or (len(parts) == 2 and parts[0] == GALLERY_DIR))


def _previous_files(out: Path) -> set[str]:
    """Files listed by an earlier report.json in ``out`` (plain names and gallery strips only)."""
    try:
        old = json.loads((out / "report.json").read_text(encoding="utf-8"))
        return {n for n in old.get("files", {}) if isinstance(n, str) and _safe_name(n)}
    except (OSError, ValueError, AttributeError):
        return set()


def _remove_stale(out: Path, names: set[str]) -> None:
    """Remove files of an earlier report that this one did not write (only regular files inside ``out``)."""
    for name in sorted(names):
        p = out / name
        if p.is_file() and not p.is_symlink() and p.resolve().is_relative_to(out.resolve()):
            p.unlink()
    gallery = out / GALLERY_DIR
    if gallery.is_dir() and not gallery.is_symlink() and not any(gallery.iterdir()):
        gallery.rmdir()

"""The scale benchmark (``busi-curate bench-scale``): the whole curation pipeline on N distinct synthetic frames.

:mod:`.scale_data` writes N distinct frames with planted copies and neighbouring frames; then the public
commands run, each in its own process so that its CPU time and peak memory are its own
(``os.wait4`` of the child: user + system CPU-seconds of every thread, peak resident set size):

1. ``busi-curate scan DATA --out SCAN --mode pruned [--finder F]``
2. ``busi-curate review SCAN --auto --no-browser``
3. ``busi-curate export SCAN --out MANIFEST --undecided different``

and the journal is scored against the ground truth: a planted copy is *found* when it ends in one
same-frame group (grades identical / same-frame) with its source; a *false merge* is a neighbouring frame
in its source's same-frame group; a *false group* is a same-frame group holding two different base frames.
Optionally (``check_rows``) the shortlist of the scan is checked against exhaustive SSIM on a random sample
of reference rows (every pair of those rows scored): the share of their SSIM top-10 and of their pairs at or
above the screening threshold that the scan scored.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from busi_curate.defaults import SCREEN_THRESHOLD


@dataclass
class Stage:
    """One command's cost: CPU-seconds (user + system, all threads and children), wall seconds, peak RSS."""

    name: str
    cpu_s: float
    wall_s: float
    peak_rss_mb: float
    output: str = ""


@dataclass
class ScaleResult:
    """What :func:`bench_scale` measured."""

    n: int
    settings: dict[str, Any]
    stages: list[Stage] = field(default_factory=list)
    pairs_scored: int = 0
    pairs_verified: int = 0
    questions_left: int = 0
    recall: dict[str, dict[str, int]] = field(default_factory=dict)  # kind -> {planted, found}
    false_merges: int = 0  # neighbouring frames merged with their source
    false_groups: int = 0  # same-frame groups holding two different base frames
    false_adjacent: int = 0  # adjacent-frame grades of two images neither copies nor neighbours of one base frame
    shortlist_check: dict[str, Any] = field(default_factory=dict)
    load: list[float] = field(default_factory=list)
    hardware: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for s in out["stages"]:
            s.pop("output", None)
        return out


def run_stage(name: str, args: list[str], echo: Any = None) -> Stage:
    """Run ``python -m busi_curate ARGS`` in a child process and measure it (stderr passes through)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "busi_curate", *args], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        from busi_curate.studies.robust_bench import BenchError

        raise BenchError(f"`busi-curate {' '.join(args)}` failed with status {proc.returncode}:\n{out[-2000:]}")
    if echo is not None:
        echo(out.rstrip())
        echo(f"[{name}: {usage.ru_utime + usage.ru_stime:.1f} CPU-s, {wall:.1f} s wall, peak RSS "
             f"{usage.ru_maxrss / 1024:.0f} MB, load {os.getloadavg()[0]:.1f}]")  # fmt: skip
    return Stage(name, round(usage.ru_utime + usage.ru_stime, 2), round(wall, 2), round(usage.ru_maxrss / 1024, 1),
                 out)  # fmt: skip


def score_journal(scan_dir: Path, planted: list[dict[str, str]]) -> tuple[dict[str, dict[str, int]], int, int]:
    """(recall per kind, false merges, false groups) of the scan's journal against the planted ground truth."""
    from busi_curate.review.groups import SAME_FRAME_GRADES, UnionFind
    from busi_curate.review.journal import effective, read_journal

    uf = UnionFind()
    for d in effective(read_journal(scan_dir / "decisions.csv")).values():
        if d.answer == "same" and d.grade in SAME_FRAME_GRADES:
            uf.union(d.reference, d.candidate)
    base_of: dict[Any, Any] = {}  # every planted copy belongs to its source's frame; the rest is its own frame
    recall: dict[str, dict[str, int]] = {}
    merges = 0
    for p in planted:
        src, cp = (p["source_class"], str(p["source_id"])), (p["copy_class"], str(p["copy_id"]))
        same = uf.connected(src, cp)
        if p["kind"] == "neighbour":
            merges += int(same)
            continue
        base_of[cp] = src
        row = recall.setdefault(p["kind"], {"planted": 0, "found": 0})
        row["planted"] += 1
        row["found"] += int(same)
    members: dict[Any, set[Any]] = {}
    for item in list(uf.parent):
        members.setdefault(uf.find(item), set()).add(base_of.get(item, item))
    false_groups = sum(1 for bases in members.values() if len(bases) > 1)
    return recall, merges, false_groups


def false_adjacent(scan_dir: Path, planted: list[dict[str, str]]) -> int:
    """Adjacent-frame grades of the scan's journal between two images of different base frames (not a planted copy
    or neighbouring frame of the other, nor of one source): never merged by default, but a wrong grade all the same."""
    from busi_curate.review.journal import effective, read_journal

    base: dict[tuple[str, str], tuple[str, str]] = {}
    for p in planted:
        base[(p["copy_class"], str(p["copy_id"]))] = (p["source_class"], str(p["source_id"]))
    wrong = 0
    for d in effective(read_journal(scan_dir / "decisions.csv")).values():
        if d.answer == "same" and d.grade == "adjacent-frame":
            a, b = (d.reference_class, str(d.reference_id)), (d.candidate_class, str(d.candidate_id))
            wrong += int(base.get(a, a) != base.get(b, b))
    return wrong


def exhaustive_truth(
    backend: Any, prepared: object, n: int, sample: np.ndarray, top: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """Codes ``a * n + b`` (``a < b``) of each sample row's ``top`` best pairs by exact SSIM against every other image
    (score descending, then index) and of its pairs with SSIM >= the screening threshold."""
    tops, band = [], []
    others = np.arange(n, dtype=np.int64)
    for r in sample.tolist():
        b = others[others != r]
        vals = backend.pairs_prepared(prepared, np.full(len(b), r, dtype=np.int64), b)
        codes = np.minimum(r, b) * n + np.maximum(r, b)
        tops.append(codes[np.lexsort((b, -vals))[:top]])
        band.append(codes[vals >= SCREEN_THRESHOLD])
    return np.concatenate(tops), np.concatenate(band)


def shortlist_check(scan_dir: Path, rows: int, seed: int = 0, top: int = 10) -> dict[str, Any]:
    """Exhaustive SSIM of ``rows`` random reference images against every image, compared with the scan's pairs.

    Returns the share of those rows' top-``top`` pairs and of their pairs with SSIM >= the screening threshold
    that ``pairs.npz`` holds (with counts and CPU-seconds).
    """
    from busi_curate.data.dataset import load_dataset
    from busi_curate.scan.run import read_scan
    from busi_curate.ssim import SSIMSettings, get_backend

    t0 = time.process_time()
    scan = read_scan(scan_dir, load_matrix=False)
    if scan.pairs is None:
        return {}
    settings = scan.meta["settings"]
    ds = load_dataset(scan.data_dir, layout=settings["layout"], thumbnail_size=settings["size"])
    assert ds.thumbnails is not None
    n = len(ds)
    backend = get_backend(settings["backend"], settings=SSIMSettings.named(settings["window"]))
    prepared = backend.prepare(ds.thumbnails)
    sample = np.sort(np.random.default_rng([seed, 5]).choice(n, size=min(rows, n), replace=False))
    top_codes, band_codes = exhaustive_truth(backend, prepared, n, sample, top)
    have = scan.pairs["a"].to_numpy() * n + scan.pairs["b"].to_numpy()
    top_total, band_total = len(top_codes), len(band_codes)
    top_found, band_found = int(np.isin(top_codes, have).sum()), int(np.isin(band_codes, have).sum())
    return {"rows": len(sample), "top": top, "top_found": top_found, "top_total": top_total,
            "band_found": band_found, "band_total": band_total, "threshold": SCREEN_THRESHOLD,
            "top_share": top_found / max(top_total, 1), "band_share": band_found / max(band_total, 1),
            "cpu_s": round(time.process_time() - t0, 1)}  # fmt: skip


def bench_scale(
    n: int,
    work: Path,
    seed: int = 0,
    finder: str | None = None,
    check_rows: int = 0,
    quiet: bool = False,
    echo: Any = print,
    scan_only: bool = False,
) -> ScaleResult:
    """Write the data set under ``work/data`` (kept if present and complete), run the three commands, score them.

    ``scan_only``: stop after the scan (its cost and the shortlist check; no review, export or recall)."""
    import pandas as pd

    from busi_curate.studies.scale_data import write_scale_dataset
    from busi_curate.studies.ssim_bench import hardware

    res = ScaleResult(n=n, settings={"seed": seed, "finder": finder, "work": str(work)}, hardware=hardware())
    data, scan, manifest = work / "data", work / "scan", work / "manifest"
    if _complete(data, n, seed):
        planted = pd.read_csv(data / "planted.csv", dtype=str, keep_default_na=False).to_dict("records")
        echo(f"reusing the {n} images of {data}")
    else:
        from tqdm.auto import tqdm

        with tqdm(total=n, desc="writing images", unit="img", disable=quiet, leave=False) as bar:
            planted = write_scale_dataset(data, n, seed=seed, progress=bar.update)  # type: ignore[arg-type]
    for old in (scan, manifest):
        if old.exists():
            import shutil

            shutil.rmtree(old)
    quiet_flag = ["--quiet"] if quiet else []
    scan_args = ["scan", str(data), "--out", str(scan), "--mode", "pruned", *quiet_flag]
    if finder is not None:
        scan_args += ["--finder", finder]
    res.load.append(os.getloadavg()[0])
    res.stages.append(run_stage("scan", scan_args, echo))
    res.pairs_scored = int(json.loads((scan / "scan.json").read_text())["pairs_scored"])
    if check_rows:
        res.shortlist_check = shortlist_check(scan, check_rows, seed)
    if scan_only:
        res.load.append(os.getloadavg()[0])
        return res
    res.stages.append(run_stage("review --auto", ["review", str(scan), "--auto", "--no-browser", *quiet_flag], echo))
    res.stages.append(run_stage("export", ["export", str(scan), "--out", str(manifest), "--undecided", "different"]))
    res.load.append(os.getloadavg()[0])
    review_out = res.stages[1].output
    m = re.search(r"assessed (\d+) pairs", review_out)
    res.pairs_verified = int(m.group(1)) if m else -1
    m = re.search(r"(\d+) question\(s\) left", review_out)
    res.questions_left = int(m.group(1)) if m else -1
    res.recall, res.false_merges, res.false_groups = score_journal(scan, planted)
    res.false_adjacent = false_adjacent(scan, planted)
    return res


def _complete(data: Path, n: int, seed: int) -> bool:
    """Whether ``data`` holds the complete set of ``n`` images for ``seed`` (its ``scale.json``, written last)."""
    try:
        meta = json.loads((data / "scale.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("n") == n and meta.get("seed") == seed


def table(res: ScaleResult) -> str:
    """The result as Markdown: stages, then the quality figures."""
    lines = [f"N = {res.n} distinct frames; load average {res.load[0]:.1f} before, {res.load[-1]:.1f} after",
             "", "| stage | CPU-s | wall s | peak RSS MB |", "|---|---|---|---|"]  # fmt: skip
    for s in res.stages:
        lines.append(f"| {s.name} | {s.cpu_s:.1f} | {s.wall_s:.1f} | {s.peak_rss_mb:.0f} |")
    cpu, wall = sum(s.cpu_s for s in res.stages), sum(s.wall_s for s in res.stages)
    lines.append(f"| **total** | **{cpu:.1f}** | **{wall:.1f}** | {max(s.peak_rss_mb for s in res.stages):.0f} |")
    found = sum(r["found"] for r in res.recall.values())
    total = sum(r["planted"] for r in res.recall.values())
    per_kind = ", ".join(f"{k} {r['found']}/{r['planted']}" for k, r in sorted(res.recall.items()))
    lines += ["", f"pairs scored (exact SSIM) {res.pairs_scored:,}"]
    if len(res.stages) > 1:
        lines[-1] += f"; pairs verified {res.pairs_verified:,}; questions left {res.questions_left}"
        lines += [f"planted copies found {found}/{total} ({per_kind})",
                  f"neighbouring frames merged {res.false_merges}; false groups {res.false_groups}; adjacent-frame "
                  f"grades between different frames {res.false_adjacent}"]  # fmt: skip
    c = res.shortlist_check
    if c:
        lines.append(
            f"shortlist vs exhaustive SSIM on {c['rows']} random rows: top-{c['top']} {c['top_found']}/"
            f"{c['top_total']} ({c['top_share']:.2%}); pairs >= {c['threshold']} {c['band_found']}/"
            f"{c['band_total']} ({c['band_share']:.2%}); {c['cpu_s']} CPU-s"
        )
    return "\n".join(lines)

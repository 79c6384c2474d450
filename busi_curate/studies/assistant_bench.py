"""Timing of the whole automatic pass (``busi-curate bench-auto``): features, shortlist, verification,
the walk's decisions and grouping, with a reference measured in the same run."""

from __future__ import annotations

import os
import platform
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from busi_curate.assistant import Assistant, AssistantSettings
from busi_curate.assistant.features import extract_many
from busi_curate.assistant.verify import verify_pair
from busi_curate.review.auto import collect, run_auto
from busi_curate.review.groups import build_groups, merged_grades
from busi_curate.review.journal import Decision, read_journal
from busi_curate.review.walk import Walk


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


@dataclass
class _Pass:
    """What one timed automatic pass produced, and the seconds of each phase (in the order they ran)."""

    assistant: Assistant
    walk: list[tuple[int, int]]
    extra: list[tuple[int, int]]
    to_verify: list[tuple[int, int]]
    summary: Any
    groups: list[Any]
    groups_adj: list[Any]
    timings_s: dict[str, float] = field(default_factory=dict)


def bench_auto(
    scan_dir: str | Path,
    cold: bool = True,
    reference_pairs: int = 40,
    journal: str | Path | None = None,
    settings: AssistantSettings = AssistantSettings(),
) -> dict[str, Any]:
    """Run the automatic pass on a scan folder and time each phase.

    Args:
        cold: compute features from the images (into a temporary cache) instead of reusing
            ``SCAN_DIR/features``.
        reference_pairs: pairs timed with a naive per-pair approach (both images decoded and
            described again for every pair), extrapolated to the verified pairs as the reference.
        journal: decisions already made (e.g. a person's answers); the walk skips settled pairs.
    """
    from busi_curate.scan.run import read_scan

    scan = read_scan(scan_dir)
    existing = (
        read_journal(journal, known={(str(c), str(i)) for c, i in zip(scan.index["class"], scan.index["id"])})
        if journal
        else []
    )
    tmp = tempfile.TemporaryDirectory(prefix="bench-auto-") if cold else None
    cache_dir = Path(tmp.name) if tmp else scan.dir / "features"
    try:
        run = _timed_pass(scan, existing, cache_dir, settings)
        # reference: naive verification that re-decodes and re-describes both images of every pair
        sample = run.to_verify[:: max(1, len(run.to_verify) // max(reference_pairs, 1))][:reference_pairs]
        t_ref_per_pair = _naive_s_per_pair(scan, sample, settings)
    finally:
        if tmp is not None:
            tmp.cleanup()
    return _report(scan, cold, settings, run, len(sample), t_ref_per_pair)


def _timed_pass(scan: Any, existing: list[Decision], cache_dir: Path, settings: AssistantSettings) -> _Pass:
    """Features, shortlist, verification, the walk's decisions and grouping, each timed."""
    t0 = time.perf_counter()
    assistant = Assistant(scan, cache_dir=cache_dir, settings=settings)
    assistant.features()
    t_feat = time.perf_counter() - t0
    t0 = time.perf_counter()
    extra = assistant.extra_pairs()
    t_short = time.perf_counter() - t0
    walk = sorted(assistant.walk_pairs())
    to_verify = sorted(set(walk) | set(extra))
    t0 = time.perf_counter()
    assistant.assess(to_verify)
    t_verify = time.perf_counter() - t0
    t0 = time.perf_counter()
    new: list[Decision] = []
    walker = Walk(scan, existing, settings.threshold, extra_pairs=extra)
    summary = run_auto(walker, assistant, collect(new))
    t_walk = time.perf_counter() - t0
    t0 = time.perf_counter()
    decisions = list(existing) + new
    groups = build_groups(decisions)
    groups_adj = build_groups(decisions, grades=merged_grades(include_adjacent=True))
    t_group = time.perf_counter() - t0
    timings = {"features": t_feat, "shortlist": t_short, "verification": t_verify, "walk": t_walk}
    timings |= {"grouping": t_group, "total": t_feat + t_short + t_verify + t_walk + t_group}
    return _Pass(assistant, walk, extra, to_verify, summary, groups, groups_adj, timings)


def _naive_s_per_pair(scan: Any, sample: list[tuple[int, int]], settings: AssistantSettings) -> float:
    """Seconds per pair of the naive reference: decode and describe both images of each pair again, then verify."""
    t0 = time.perf_counter()
    for i, j in sample:
        fa, fb = extract_many([scan.image_path(i), scan.image_path(j)], settings.features, workers=1)
        verify_pair(fa, fb, settings.verify)
    return (time.perf_counter() - t0) / max(len(sample), 1)


def _report(
    scan: Any, cold: bool, settings: AssistantSettings, run: _Pass, pairs_timed: int, t_ref_per_pair: float
) -> dict[str, Any]:
    """The bench-auto record (JSON-ready) of one timed pass and its reference."""
    from busi_curate import __version__

    assistant, to_verify, summary, total = run.assistant, run.to_verify, run.summary, run.timings_s["total"]
    n_ident = sum(assistant.identical(i, j) for i, j in to_verify)
    ref_total = t_ref_per_pair * len(to_verify)
    return {
        "tool": "busi-curate bench-auto",
        "version": __version__,
        "scan_dir": str(scan.dir),
        "scan_files": scan.meta.get("files", {}),
        "n_images": scan.n,
        "cold": cold,
        "hardware": f"{cpu_name()}, {os.cpu_count()} logical CPUs, {platform.system()}",
        "workers": settings.workers,
        "timings_s": dict(run.timings_s),
        "features": {"computed": assistant.cache.computed, "from_cache": assistant.cache.loaded_from_cache},
        "pairs": {
            "walk_candidates": len(run.walk),
            "extra": len(run.extra),
            "verified": len(to_verify),
            "identical_pixels": n_ident,
        },
        "pairs_per_s": len(to_verify) / max(run.timings_s["verification"], 1e-9),
        "reference": {
            "method": "naive per-pair: decode + describe both images, then verify",
            "pairs_timed": pairs_timed,
            "s_per_pair": t_ref_per_pair,
            "extrapolated_s": ref_total,
            "speedup": ref_total / max(total, 1e-9),
        },
        "walk": {"same": summary.same, "different": summary.different, "by_route": summary.by_source},
        "questions": summary.uncertain,
        "groups": dict(Counter(g.kind for g in run.groups)),
        "images_in_groups": sum(g.size for g in run.groups),
        "groups_with_adjacent": dict(Counter(g.kind for g in run.groups_adj)),
        "settings": asdict(settings),
    }

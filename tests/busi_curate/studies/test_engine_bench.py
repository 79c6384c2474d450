"""The engine benchmark's comparison: what may differ between a local and a Ray run (timing, engine, the journal's
clock) and what may not (every other byte)."""

from __future__ import annotations

import json
from pathlib import Path

from busi_curate.studies.engine_bench import differing_files

JOURNAL = "reference_class,reference_id,candidate_class,candidate_id,answer,grade,decided_by,evidence,time\n"


def _folder(root: Path, engine: str, seconds: float, when: str, grade: str = "same-frame") -> Path:
    root.mkdir()
    meta = {"n_images": 2, "engine": {"name": engine}, "timings_s": {"total": seconds}, "pairs_per_s": 1 / seconds}
    (root / "scan.json").write_text(json.dumps(meta))
    (root / "decisions.csv").write_text(JOURNAL + f"benign,1,benign,2,same,{grade},auto,ssim=0.9,{when}\n")
    (root / ".review.lock").write_text(f"{len(engine)}\n")  # a process id: ignored
    (root / "features").mkdir()
    (root / "features" / "features.npz").write_bytes(b"\x00\x01")
    return root


def test_only_timing_engine_and_clock_may_differ(tmp_path: Path) -> None:
    a = _folder(tmp_path / "local", "local", 1.0, "2026-12-07T10:00:00Z")
    b = _folder(tmp_path / "ray", "ray", 2.5, "2026-12-07T11:00:00Z")
    assert differing_files(a, b) == []
    (b / "features" / "features.npz").write_bytes(b"\x00\x02")
    assert differing_files(a, b) == ["features/features.npz"]


def test_a_decision_a_setting_or_a_missing_file_differs(tmp_path: Path) -> None:
    a = _folder(tmp_path / "local", "local", 1.0, "2026-12-07T10:00:00Z")
    b = _folder(tmp_path / "ray", "ray", 1.0, "2026-12-07T10:00:00Z", grade="adjacent-frame")
    meta = json.loads((b / "scan.json").read_text())
    (b / "scan.json").write_text(json.dumps({**meta, "n_images": 3}))
    (b / "extra.csv").write_text("x\n")
    assert differing_files(a, b) == ["decisions.csv", "extra.csv", "scan.json"]

"""The committed real-BUSI report folder is complete, matches its sidecar, stays small and was made from the
committed journal with the current report format (gallery, print-ready figures, reproduce command)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from busi_curate.fileio import file_sha256
from busi_curate.findings.report import REPORT_FORMAT

REPO = Path(__file__).resolve().parents[3]
REPORT = REPO / "reports" / "curated_busi_v1"
JOURNAL = REPO / "manifests" / "curated_busi_v1" / "decisions.csv"
REMAKE = (
    "busi-curate report SCAN --decisions manifests/curated_busi_v1/decisions.csv --out reports/curated_busi_v1/ "
    "(see docs/report.md)"
)

pytestmark = pytest.mark.skipif(not (REPORT / "report.json").is_file(), reason="no committed report yet")


def sidecar() -> dict:  # type: ignore[type-arg]
    return json.loads((REPORT / "report.json").read_text(encoding="utf-8"))


def on_disk() -> set[str]:
    return {p.relative_to(REPORT).as_posix() for p in REPORT.rglob("*") if p.is_file()}


def test_files_match_sidecar_and_stay_small() -> None:
    rep = sidecar()
    assert rep["tool"] == "busi-curate" and rep["kind"] == "report"
    assert rep["format"] == REPORT_FORMAT, f"the report format changed: re-run {REMAKE}"
    for name, digest in rep["files"].items():
        assert file_sha256(REPORT / name) == digest, f"{name} differs from report.json: re-run the report"
    assert on_disk() == set(rep["files"]) | {"report.json"}
    assert sum(p.stat().st_size for p in REPORT.rglob("*") if p.is_file()) < 3 * 2**20


def test_made_from_the_committed_journal() -> None:
    if not JOURNAL.is_file():
        pytest.skip("journal not committed")
    assert sidecar()["decisions"]["sha256"] == file_sha256(JOURNAL), (
        f"the committed journal changed since the report was made: re-run {REMAKE}"
    )


def test_tables_agree_with_counts() -> None:
    rep = sidecar()
    groups = pd.read_csv(REPORT / "groups.csv", dtype=str)
    assert groups["group"].nunique() == rep["counts"]["groups"]
    assert len(groups) == rep["counts"]["images"]
    dist = pd.read_csv(REPORT / "class_distribution.csv").set_index("policy")
    assert dist.at["remove-all", "total"] == rep["scan"]["n_images"] - rep["counts"]["images"]
    assert len(pd.read_csv(REPORT / "mask_iou.csv")) == rep["counts"]["iou_pairs"]


def test_gallery_figures_and_reproduce_command() -> None:
    rep = sidecar()
    strips = sorted(n for n in rep["files"] if n.startswith("gallery/"))
    assert len(strips) == rep["counts"]["groups"]  # every group, not a selection
    assert {"fig5_ssim_hist.png", "fig5_ssim_hist.svg"} <= set(rep["files"])
    assert rep["settings"]["figure_dpi"] == 300
    md = (REPORT / "report.md").read_text(encoding="utf-8")
    assert all(f"]({s})" in md for s in strips)
    # the pasteable commands: paths relative to the repository root, where the report was made
    assert "--decisions manifests/curated_busi_v1/decisions.csv --out reports/curated_busi_v1 " in rep["reproduce"][2]
    assert "\n".join(rep["reproduce"]) in md

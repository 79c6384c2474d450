"""The robustness tables in docs/assistant.md are written by ``python -m busi_curate.studies.robust_bench`` from the
committed ``bench-robust --json`` results (reports/robust/), not copied by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from busi_curate.studies.robust_bench import seeds_table

REPO = Path(__file__).resolve().parents[3]
RUNS = REPO / "reports" / "robust"
DOC = REPO / "docs" / "assistant.md"
IN_SAMPLE = {0, 1, 2, 3, 4, 5, 9}  # the seeds the rule's bounds were set on (docs/assistant.md)


def block(marker: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    return text.split(f"<!-- {marker} -->\n")[1].split(f"<!-- /{marker} -->")[0]


def results(prefix: str) -> list[dict]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(RUNS.glob(f"{prefix}*.json"))]


@pytest.mark.parametrize("marker,prefix", [("robust-table", "syn"), ("robust-table-busi", "busi")])
def test_the_table_is_the_committed_runs(marker, prefix):
    runs = results(prefix)
    has_block = f"<!-- {marker} -->" in DOC.read_text(encoding="utf-8")
    assert has_block == bool(runs), f"{marker}: a table without runs in {RUNS}, or runs without a table"
    if runs:
        assert block(marker) == seeds_table(runs, IN_SAMPLE)


def test_every_out_of_sample_seed_is_there():
    runs = results("syn")
    assert {6, 7, 8, 10, 11, 12} <= {r["settings"]["seed"] for r in runs}
    for r in runs + results("busi"):
        assert r["settings"]["n"] == 2 and r["planted"], r["settings"]

"""docs/assistant.md's side-by-side ``bench-auto`` table is the committed runs' output (reports/assistant_speed/),
and those runs show what the page claims: the same questions and groups, CPU within issue 20's 20 % budget."""

from __future__ import annotations

import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
RUNS = REPO / "reports" / "assistant_speed"
DOC = REPO / "docs" / "assistant.md"


def table_rows() -> dict[str, list[str]]:
    text = DOC.read_text(encoding="utf-8")
    block = text.split("<!-- bench-auto-side-by-side -->")[1].split("<!-- /bench-auto-side-by-side -->")[0]
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in block.strip().splitlines()[2:]]
    return {r[0].split()[0]: r for r in rows}


def run(commit: str) -> tuple[dict, str]:
    return (
        json.loads((RUNS / f"bench-auto-{commit}.json").read_text(encoding="utf-8")),
        (RUNS / f"bench-auto-{commit}.log").read_text(encoding="utf-8"),
    )


def user_seconds(log: str) -> float:
    return float(re.search(r"User time \(seconds\): ([0-9.]+)", log).group(1))


def wall(log: str) -> str:
    return re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", log).group(1)


def test_the_table_is_the_committed_runs():
    rows = table_rows()
    assert set(rows) == {"53b7a32", "975f472"}
    for commit, row in rows.items():
        result, log = run(commit)
        t = result["timings_s"]
        g = result["groups"]
        expected = [
            f"{user_seconds(log):.2f} s",
            wall(log),
            f"{t['features']:.2f} s",
            f"{t['shortlist']:.2f} s",
            f"{t['verification']:.2f} s",
            str(result["questions"]),
            f"{g['duplet']} / {g['triplet']} / {g['quadruplet']}",
        ]
        assert row[1:] == expected, commit


def test_the_runs_agree_and_the_cost_is_within_the_budget():
    (old, old_log), (new, new_log) = run("53b7a32"), run("975f472")
    assert new["settings"]["local"]["enabled"] and "local" not in old["settings"]
    for key in ("questions", "groups", "groups_with_adjacent", "walk", "pairs", "n_images", "scan_files"):
        assert old[key] == new[key], key
    ratio = user_seconds(new_log) / user_seconds(old_log)
    assert ratio <= 1.20
    assert f"+{100 * (ratio - 1):.1f} % CPU" in DOC.read_text(encoding="utf-8")

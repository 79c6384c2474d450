"""The README's "what exists, at which profile" table against the committed report CSVs (it cannot go stale)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[2]


def _rows() -> list[list[str]]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index("| tables | profile | where | regenerate |")
    rows = []
    for line in text[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows


def _tables(cell: str) -> set[str]:
    """``"Tables 5, 7: ..."`` -> ``{"5", "7"}`` (only the numbers before the colon)."""
    m = re.match(r"Tables? ([\d, ]+)", cell)
    return set(re.findall(r"\d", m.group(1))) if m else set()


def _filled(folder: Path) -> dict[str, set[str]]:
    """Committed report tables with at least one row: table number -> the profiles of their rows."""
    out: dict[str, set[str]] = {}
    for csv in folder.glob("table[4-9].csv"):
        try:
            df = pd.read_csv(csv)
        except pd.errors.EmptyDataError:  # an empty table is written as one blank line
            continue
        if len(df) and "profile" in df:
            out[csv.stem[-1]] = set(df["profile"].astype(str))
        elif len(df):
            out[csv.stem[-1]] = set()
    return out


def test_every_claimed_report_table_exists_at_the_stated_profile_and_every_filled_one_is_claimed() -> None:
    claimed: dict[Path, set[str]] = {}
    for tables, profile, where, _ in _rows():
        link = re.search(r"\]\((reports/[^/)]+)/", where)
        nums = _tables(tables)
        if link is None:
            assert "not" in where or "running" in where, f"row without a report folder must say so: {where}"
            continue
        folder = REPO / link.group(1)
        filled = _filled(folder)
        stated = set(re.findall(r"`([a-z0-9-]+)`", profile))
        for n in nums:
            assert n in filled, f"README claims Table {n} in {folder.name}, but table{n}.csv has no row"
            assert filled[n] <= stated, f"{folder.name}/table{n}.csv rows are at {filled[n]}, README says {stated}"
        claimed.setdefault(folder, set()).update(nums)
    for folder in {p.parent for p in (REPO / "reports").glob("*/table[4-9].csv")}:
        unclaimed = set(_filled(folder)) - claimed.get(folder, set())
        assert not unclaimed, f"{folder.name} holds Table(s) {sorted(unclaimed)} the README does not list"


def test_tables_without_a_committed_result_are_listed_as_not_run() -> None:
    rows = _rows()
    done = set().union(*(_tables(r[0]) for r in rows if "](reports/" in r[2]))
    missing = {"4", "5", "6", "7", "8", "9"} - done
    pending = set().union(*(_tables(r[0]) for r in rows if "](reports/" not in r[2]))
    assert missing <= pending, f"Tables {sorted(missing - pending)} are neither committed nor listed as pending"

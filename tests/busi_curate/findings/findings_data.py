"""Hand-made decisions, index tables and scans for the findings tests (imported by the test modules here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from busi_curate.review.journal import Decision
from busi_curate.scan.run import ScanResult


def same(a: tuple[str, str], b: tuple[str, str], grade: str = "same-frame") -> Decision:
    return Decision(a[0], a[1], b[0], b[1], "same", grade, "tester", "", "2026-01-01T00:00:00Z")


def diff(a: tuple[str, str], b: tuple[str, str]) -> Decision:
    return Decision(a[0], a[1], b[0], b[1], "different", "", "tester", "", "2026-01-01T00:00:00Z")


def fake_index(keys: list[tuple[str, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "row": range(len(keys)),
            "dataset": "x",
            "class": [k[0] for k in keys],
            "id": [k[1] for k in keys],
            "image": [f"{c}/{c} ({i}).png" for c, i in keys],
            "masks": [f"{c}/{c} ({i})_mask.png" for c, i in keys],
            "width": 10,
            "height": 10,
            "pixel_sha256": "",
            "file_sha256": "",
        }
    )


def fake_scan(
    keys: list[tuple[str, str]], matrix: np.ndarray | None = None, pairs: pd.DataFrame | None = None
) -> ScanResult:
    return ScanResult(
        Path("/nonexistent"), {"data_dir": "/nonexistent"}, fake_index(keys), pd.DataFrame(), matrix, pairs
    )

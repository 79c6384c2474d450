"""Holm's correction over a family of several comparisons, against statsmodels (issue 25: a family narrowed to one
comparison -- p-values left unadjusted -- passed every report test).

``significance_rows`` runs every test between the pairs of four configurations; each family (one table, one test,
one metric) holds six comparisons, and its ``p_holm`` must be ``multipletests(p, method="holm")`` of exactly
those six p-values.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

from benchmark.reporting.significance import holm, significance_rows

CLASSES = ("benign", "malignant", "normal")


@dataclass
class _Run:
    name: str
    folds: list[dict] = field(default_factory=list)


@dataclass
class _Entry:
    """What ``significance_rows`` reads of a report entry: label, run name and folds, per-image and per-fold values."""

    label: str
    run: _Run
    frame: pd.DataFrame
    per_fold: dict[str, list[float]]

    def per_image(self) -> pd.DataFrame:
        return self.frame

    def fold_values(self, key: str) -> list[float]:
        return self.per_fold[key]


def _entry(i: int, rng: np.random.Generator, n: int = 40) -> _Entry:
    true = [CLASSES[k % 3] for k in range(n)]
    correct = rng.random(n) < 0.55 + 0.1 * i
    pred = [t if ok else CLASSES[(CLASSES.index(t) + 1) % 3] for t, ok in zip(true, correct)]
    frame = pd.DataFrame(
        {
            "class": true,
            "id": [str(k) for k in range(n)],
            "true": true,
            "pred": pred,
            "dice": np.clip(0.6 + 0.04 * i + rng.normal(0, 0.1, n), 0, 1),
        }
    )
    folds = {
        "dsc_avg": list(0.6 + 0.03 * i + rng.normal(0, 0.02, 4)),
        "acc": list(0.7 + 0.02 * i + rng.normal(0, 0.02, 4)),
    }
    return _Entry(f"config {i}", _Run(f"run{i}", [{"fold": f} for f in range(4)]), frame, folds)


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    rng = np.random.default_rng(25)
    entries = [_entry(i, rng) for i in range(4)]
    return pd.DataFrame(significance_rows("table 5", entries, kind="both"))


def test_every_family_holds_all_pairs(rows: pd.DataFrame) -> None:
    sizes = rows.groupby(["table", "test", "metric"]).size()
    assert set(sizes.index.get_level_values("test")) == {"wilcoxon", "mcnemar", "paired-t"}
    assert (sizes == 6).all(), sizes  # C(4, 2) comparisons per family


def test_holm_within_each_family_matches_statsmodels(rows: pd.DataFrame) -> None:
    adjusted_any = False
    for (_, test, _), fam in rows.groupby(["table", "test", "metric"]):
        if test == "paired-t":  # the per-fold t is a descriptive echo of the paper: never adjusted (issue 19)
            assert fam["p_holm"].isna().all()
            continue
        want = multipletests(fam["p"].to_numpy(), method="holm")[1]
        assert fam["p_holm"].to_numpy() == pytest.approx(want)
        adjusted_any |= bool(np.any(fam["p_holm"].to_numpy() > fam["p"].to_numpy() + 1e-12))
    assert adjusted_any  # the correction did something: the test can tell a family of one from a family of six


def test_families_are_not_pooled_across_tests(rows: pd.DataFrame) -> None:
    tested = rows[rows["test"] != "paired-t"]
    pooled = multipletests(tested["p"].to_numpy(), method="holm")[1]
    assert not np.allclose(tested["p_holm"].to_numpy(), pooled)


def test_holm_on_a_textbook_family() -> None:
    # Holm (1979) step-down: sorted p 0.01, 0.02, 0.03, 0.04, 0.05 -> 0.05, 0.08, 0.09, 0.09, 0.09 (monotone)
    got = holm([0.04, 0.01, 0.05, 0.03, 0.02, float("nan")])
    assert got[:5] == pytest.approx([0.09, 0.05, 0.09, 0.09, 0.08]) and np.isnan(got[5])
    assert got[:5] == pytest.approx(list(multipletests([0.04, 0.01, 0.05, 0.03, 0.02], method="holm")[1]))

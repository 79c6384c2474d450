"""Paired significance tests between configurations tested on the same images.

* ``wilcoxon``: Wilcoxon signed-rank on per-image DSC (``scipy.stats.wilcoxon``, two-sided) with Pratt's
  zero handling (zero differences are ranked, then dropped: images both configurations score alike
  count); the p of scipy's default (zeros dropped before ranking) is reported beside it, and
  ``zero_handling_disagrees`` marks the rows where the two fall on different sides of 0.05;
* ``mcnemar``: McNemar's exact test on per-image classification correctness
  (``statsmodels.stats.contingency_tables.mcnemar``);
* ``paired-t``: paired t-test over the per-fold figures (``scipy.stats.ttest_rel``), kept only as a
  descriptive echo of the paper's test: with 4 folds it has 3 degrees of freedom; it is not adjusted.

Every per-image row carries the difference of means (a - b) with a paired bootstrap 95 % CI over images
(:func:`paired_bootstrap_ci`). p-values of the per-image tests are adjusted with Holm's method
(``statsmodels.stats.multitest.multipletests``) within each family: one table, one test, one metric (in
Tables 5 and 6: the proposal against every other row; in Tables 8-9: every pair of methods).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

MIN_PAIRS = 5
#: the Wilcoxon zero handling of the significance table (scipy's ``zero_method``)
ZERO_METHOD = "pratt"
BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_SEED = 1993
DESCRIPTIVE = "descriptive echo of the paper (per-fold paired t, not adjusted)"


def wilcoxon(a: np.ndarray, b: np.ndarray, zero_method: str = "wilcox") -> tuple[float, float]:
    """(statistic, p) of the two-sided Wilcoxon signed-rank test; (0, 1) when every difference is zero.

    ``zero_method``: ``wilcox`` (scipy's default: zero differences dropped) or ``pratt`` (ranked, then dropped).
    """
    from scipy import stats

    d = np.asarray(a, float) - np.asarray(b, float)
    if not np.any(d != 0):
        return 0.0, 1.0
    res = stats.wilcoxon(a, b, zero_method=zero_method)
    return float(res.statistic), float(res.pvalue)


def paired_bootstrap_ci(
    diff: Sequence[float] | np.ndarray,
    level: float = 0.95,
    n_resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of paired per-image differences (images resampled with
    replacement, ``scipy.stats.bootstrap``); (nan, nan) with fewer than two differences."""
    from scipy import stats

    d = np.asarray(diff, float)
    d = d[~np.isnan(d)]
    if len(d) < 2:
        return math.nan, math.nan
    if np.all(d == d[0]):
        return float(d[0]), float(d[0])
    res = stats.bootstrap(
        (d,),
        np.mean,
        confidence_level=level,
        n_resamples=n_resamples,
        method="percentile",
        random_state=np.random.default_rng(seed),
        batch=1000,
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def unpaired_bootstrap_ci(
    a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, n_resamples: int = BOOTSTRAP_RESAMPLES
) -> tuple[float, float]:
    """Percentile bootstrap 95 % CI of mean(a) - mean(b) for two independent samples (each resampled on its own)."""
    from scipy import stats

    x, y = np.asarray(a, float), np.asarray(b, float)
    x, y = x[~np.isnan(x)], y[~np.isnan(y)]
    if len(x) < 2 or len(y) < 2:
        return math.nan, math.nan
    res = stats.bootstrap(
        (x, y),
        lambda u, v, axis=-1: np.mean(u, axis=axis) - np.mean(v, axis=axis),
        n_resamples=n_resamples,
        method="percentile",
        random_state=np.random.default_rng(BOOTSTRAP_SEED),
        batch=1000,
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def _diff_fields(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    d = np.asarray(a, float) - np.asarray(b, float)
    lo, hi = paired_bootstrap_ci(d)
    return {"diff": float(d.mean()), "diff_ci_low": lo, "diff_ci_high": hi}


def mcnemar(correct_a: np.ndarray, correct_b: np.ndarray) -> tuple[float, float]:
    """(statistic, p) of McNemar's exact test on paired booleans (statistic = the smaller discordant count)."""
    from statsmodels.stats.contingency_tables import mcnemar as _mcnemar

    a, b = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
    table = [[int(np.sum(a & b)), int(np.sum(a & ~b))], [int(np.sum(~a & b)), int(np.sum(~a & ~b))]]
    res = _mcnemar(table, exact=True)
    return float(res.statistic), float(res.pvalue)


def paired_t(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """(t, p) of the paired t-test; (nan, nan) with fewer than two pairs or no variance."""
    from scipy import stats

    a_, b_ = np.asarray(a, float), np.asarray(b, float)
    if len(a_) < 2 or np.allclose(a_ - b_, (a_ - b_)[0]):
        return math.nan, math.nan
    res = stats.ttest_rel(a_, b_)
    return float(res.statistic), float(res.pvalue)


def holm(p: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values (NaN stays NaN)."""
    from statsmodels.stats.multitest import multipletests

    arr = np.asarray(p, float)
    out = np.full(arr.shape, np.nan)
    ok = ~np.isnan(arr)
    if ok.any():
        out[ok] = multipletests(arr[ok], method="holm")[1]
    return out.tolist()


def _pairs(entries: Sequence[Any], reference: Any | None) -> list[tuple[Any, Any]]:
    if reference is not None:
        return [(reference, e) for e in entries if e is not reference]
    return list(itertools.combinations(entries, 2))


def significance_rows(
    table: str, entries: Sequence[Any], kind: str = "both", reference: Any | None = None
) -> list[dict[str, Any]]:
    """Every test between the pairs of ``entries`` (each a :class:`benchmark.reporting.runs.Entry`), Holm-adjusted.

    ``kind``: ``dice`` (segmentation tests only) or ``both``.
    """
    rows: list[dict[str, Any]] = []
    for a, b in _pairs(entries, reference):
        pa, pb = a.per_image(), b.per_image()
        merged = pa.merge(pb, on=["class", "id"], suffixes=("_a", "_b"))
        base = {"table": table, "a": a.label, "b": b.label, "run_a": a.run.name, "run_b": b.run.name}
        rows += _wilcoxon_rows(base, merged)
        if kind == "both":
            rows += _mcnemar_rows(base, merged)
        for key in ("dsc_avg", "acc") if kind == "both" else ("dsc_avg",):
            rows += _fold_t_rows(base, a, b, key)
    return _holm_adjusted(rows)


def _wilcoxon_rows(base: dict[str, Any], merged: pd.DataFrame) -> list[dict[str, Any]]:
    """The Wilcoxon test of the per-image Dice of two runs (``merged``: their per-image rows side by side);
    none below :data:`MIN_PAIRS` images."""
    dice = merged.dropna(subset=["dice_a", "dice_b"])
    if len(dice) < MIN_PAIRS:
        return []
    da, db = dice["dice_a"].to_numpy(), dice["dice_b"].to_numpy()
    stat, p = wilcoxon(da, db, ZERO_METHOD)
    p_drop = wilcoxon(da, db, "wilcox")[1]
    return [
        dict(
            base,
            test="wilcoxon",
            metric="dice",
            samples="per image",
            n=len(dice),
            n_zero_differences=int(np.sum(da == db)),
            statistic=stat,
            p=p,
            p_zeros_dropped=p_drop,
            zero_handling_disagrees=(p < 0.05) != (p_drop < 0.05),
            mean_a=float(da.mean()),
            mean_b=float(db.mean()),
            **_diff_fields(da, db),
        )
    ]


def _mcnemar_rows(base: dict[str, Any], merged: pd.DataFrame) -> list[dict[str, Any]]:
    """McNemar's test of the per-image correct class of two runs; none below :data:`MIN_PAIRS` classified images."""
    cls = merged.dropna(subset=["pred_a", "pred_b"])
    cls = cls[(cls["pred_a"] != "") & (cls["pred_b"] != "")]
    if len(cls) < MIN_PAIRS:
        return []
    ca, cb = (cls["pred_a"] == cls["true_a"]).to_numpy(), (cls["pred_b"] == cls["true_b"]).to_numpy()
    stat, p = mcnemar(ca, cb)
    return [
        dict(
            base,
            test="mcnemar",
            metric="correct class",
            samples="per image",
            n=len(cls),
            statistic=stat,
            p=p,
            mean_a=float(ca.mean()),
            mean_b=float(cb.mean()),
            **_diff_fields(ca, cb),
        )
    ]


def _fold_t_rows(base: dict[str, Any], a: Any, b: Any, key: str) -> list[dict[str, Any]]:
    """The paired t-test of fold metric ``key`` over the folds both entries have (descriptive; none below 2)."""
    fa = {f["fold"]: v for f, v in zip(a.run.folds, a.fold_values(key)) if v is not None}
    fb = {f["fold"]: v for f, v in zip(b.run.folds, b.fold_values(key)) if v is not None}
    common = sorted(set(fa) & set(fb))
    if len(common) < 2:
        return []
    stat, p = paired_t([fa[k] for k in common], [fb[k] for k in common])
    return [
        dict(
            base,
            test="paired-t",
            metric=key,
            samples="per fold",
            role=DESCRIPTIVE,
            n=len(common),
            statistic=stat,
            p=p,
            mean_a=float(np.mean([fa[k] for k in common])),
            mean_b=float(np.mean([fb[k] for k in common])),
        )
    ]


def _holm_adjusted(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` with ``p_holm`` (Holm within each family: table, test, metric; paired-t rows stay descriptive),
    ``family`` and ``role``."""
    frame = pd.DataFrame(rows)
    if frame.empty:
        return []
    frame["p_holm"] = np.nan
    frame["family"] = ""
    tested = frame[frame["test"] != "paired-t"]
    for (tab, test, metric), idx in tested.groupby(["table", "test", "metric"]).groups.items():
        frame.loc[idx, "p_holm"] = holm(frame.loc[idx, "p"].tolist())
        frame.loc[idx, "family"] = f"table {tab}, {test}, {metric}: {len(idx)} comparison(s)"
    role = frame["role"] if "role" in frame else pd.Series(np.nan, index=frame.index)
    frame["role"] = role.fillna("test, Holm-adjusted within its family")
    return frame.to_dict("records")


def _short(v: Any) -> str:
    if isinstance(v, float):
        return "–" if math.isnan(v) else f"{v:.4g}"
    return str(v)


def write_significance(out: Path, sig: pd.DataFrame) -> None:
    """``significance.csv`` and its Markdown view (the tests, zero handling, CIs and families stated)."""
    from benchmark.reporting.tables import markdown_table
    from busi_curate.fileio import write_csv, write_text

    write_csv(out / "significance.csv", sig)
    intro = (
        "Wilcoxon signed-rank on per-image DSC with Pratt's zero handling (`p`; scipy's default, zeros dropped, in "
        "`p_zeros_dropped`; `zero_handling_disagrees` where they fall on different sides of 0.05), McNemar (exact) on "
        "per-image classification correctness; `diff` = mean a - mean b with a paired bootstrap 95 % CI over images "
        f"({BOOTSTRAP_RESAMPLES} resamples, percentile, seed {BOOTSTRAP_SEED}); p adjusted with Holm's method within "
        "each family (`family`: one table, one test, one metric). The paired t-test over per-fold figures is a "
        "descriptive echo of the paper only (3 degrees of freedom with 4 folds; not adjusted).\n\n"
    )
    body = (
        intro + markdown_table(list(sig.columns), [[_short(v) for v in r] for r in sig.itertuples(index=False)])
        if not sig.empty
        else "_no comparable pairs of configurations yet_"
    )
    write_text(out / "significance.md", "# Paired significance tests\n\n" + body + "\n")

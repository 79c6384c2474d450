"""Findings, SSIM statistics: SSIM of duplicate vs non-duplicate pairs (paper Table 1, Fig. 5, section 4.3).

Samples, their summaries, Lilliefors normality tests, the Mann-Whitney U test and the percentile ranges
that set the suggested screening threshold of Fig. 5.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from busi_curate.errors import ScanError
from busi_curate.findings.group_tables import group_pairs
from busi_curate.review.groups import Group

if TYPE_CHECKING:
    from busi_curate.scan.run import ScanResult

DEFAULT_PERCENTILE = 99.0


@dataclass(frozen=True)
class SSIMSamples:
    """SSIM values of duplicate pairs (inside a group) and of every other scored pair."""

    duplicate: np.ndarray
    non_duplicate: np.ndarray
    #: duplicate pairs whose SSIM was not computed (pruned scans only).
    duplicate_missing: int = 0


def ssim_samples(scan: ScanResult, groups: Sequence[Group]) -> SSIMSamples:
    """Split the scan's SSIM values into duplicate pairs (all pairs inside a group) and the rest.

    Exhaustive scans use the upper triangle of ``ssim.npy``; pruned scans use only the computed pairs.
    """
    dup_rows: list[tuple[int, int]] = []
    for _, a, b in group_pairs(groups):
        i, j = scan.row_of(*a), scan.row_of(*b)
        dup_rows.append((min(i, j), max(i, j)))
    n = scan.n
    matrix = scan.ssim
    if matrix is not None:
        iu, ju = np.triu_indices(n, k=1)
        values = matrix[iu, ju].astype(np.float64)
        flat = iu.astype(np.int64) * n + ju
    elif scan.pairs is not None:
        p = scan.pairs
        a, b = p["a"].to_numpy(np.int64), p["b"].to_numpy(np.int64)
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        values = p["ssim"].to_numpy(np.float64)
        flat = lo * n + hi
    else:
        raise ScanError("the scan has neither ssim.npy nor pairs.npz", scan.dir)
    dup_flat = np.array(sorted({i * n + j for i, j in dup_rows}), dtype=np.int64)
    is_dup = np.isin(flat, dup_flat)
    ok = ~np.isnan(values)
    dup = values[is_dup & ok]
    non = values[~is_dup & ok]
    return SSIMSamples(np.sort(dup), np.sort(non), duplicate_missing=int(len(dup_flat) - np.count_nonzero(is_dup & ok)))


@dataclass(frozen=True)
class SampleStats:
    """Summary of one SSIM sample (Table 1 row) with its Lilliefors normality test."""

    n: int
    mean: float
    std: float
    median: float
    min: float
    max: float
    #: the range holding ``percentile`` % of the sample (see :func:`ssim_statistics`).
    range_low: float
    range_high: float
    lilliefors_stat: float
    lilliefors_p: float


@dataclass(frozen=True)
class SSIMStatistics:
    """Table 1, the tests of section 4.3 and the Fig. 5 threshold."""

    duplicate: SampleStats
    non_duplicate: SampleStats
    percentile: float
    mannwhitney_u: float
    mannwhitney_p_two_sided: float
    mannwhitney_p_greater: float
    #: U / (n_dup * n_non): probability that a random duplicate pair scores above a random other pair.
    auc: float
    #: the suggested screening threshold: the low end of the duplicates' range (see :func:`ssim_statistics`).
    threshold: float
    #: share of duplicate / non-duplicate pairs at or above the threshold.
    duplicate_recall: float
    non_duplicate_above: int
    ranges_overlap: bool
    duplicate_missing: int = 0

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _nan() -> float:
    return float("nan")


def sample_stats(x: np.ndarray, low_q: float, high_q: float) -> SampleStats:
    """Mean, sample standard deviation (ddof=1), median, extremes, a percentile range and Lilliefors.

    The range ``[low_q, high_q]`` percentiles uses observed values (``lower`` / ``higher`` methods), so it
    holds at least the stated share of a small sample.
    """
    x = np.asarray(x, dtype=np.float64)
    if len(x) == 0:
        return SampleStats(0, *([_nan()] * 9))
    lil_stat, lil_p = _nan(), _nan()
    if len(x) >= 4 and np.ptp(x) > 0:
        from statsmodels.stats.diagnostic import lilliefors

        lil_stat, lil_p = (float(v) for v in lilliefors(x, dist="norm", pvalmethod="table"))
    return SampleStats(
        n=len(x),
        mean=float(np.mean(x)),
        std=float(np.std(x, ddof=1)) if len(x) > 1 else _nan(),
        median=float(np.median(x)),
        min=float(x.min()),
        max=float(x.max()),
        range_low=float(np.percentile(x, low_q, method="lower")),
        range_high=float(np.percentile(x, high_q, method="higher")),
        lilliefors_stat=lil_stat,
        lilliefors_p=lil_p,
    )


def ssim_statistics(samples: SSIMSamples, percentile: float = DEFAULT_PERCENTILE) -> SSIMStatistics:
    """Table 1 and the tests of section 4.3 on duplicate vs non-duplicate SSIM values.

    The shaded ranges of Fig. 5 hold ``percentile`` % of each sample on the side facing the other one:
    duplicates from their ``100 - percentile`` th percentile up to their maximum, non-duplicates from their
    minimum up to their ``percentile`` th percentile. The suggested screening threshold is the low end of
    the duplicates' range: a candidate below it is, on this evidence, a duplicate with probability below
    ``(100 - percentile)`` %, so the review can skip it. When the two ranges do not overlap, any value in
    the gap separates them; the duplicates' low end is still the recall-oriented choice.
    """
    if not 50 < percentile < 100:
        raise ValueError(f"percentile must be in (50, 100), got {percentile}")
    dup = sample_stats(samples.duplicate, 100 - percentile, 100)
    non = sample_stats(samples.non_duplicate, 0, percentile)
    u, p2, pg, auc = _nan(), _nan(), _nan(), _nan()
    if len(samples.duplicate) and len(samples.non_duplicate):
        from scipy.stats import mannwhitneyu

        r2 = mannwhitneyu(samples.duplicate, samples.non_duplicate, alternative="two-sided")
        rg = mannwhitneyu(samples.duplicate, samples.non_duplicate, alternative="greater")
        u, p2, pg = float(r2.statistic), float(r2.pvalue), float(rg.pvalue)
        auc = u / (len(samples.duplicate) * len(samples.non_duplicate))
    thr = dup.range_low
    recall = float(np.mean(samples.duplicate >= thr)) if len(samples.duplicate) else _nan()
    above = int(np.count_nonzero(samples.non_duplicate >= thr)) if not math.isnan(thr) else 0
    overlap = bool(not math.isnan(thr) and not math.isnan(non.range_high) and non.range_high >= thr)
    return SSIMStatistics(dup, non, percentile, u, p2, pg, auc, thr, recall, above, overlap, samples.duplicate_missing)


def ssim_stats_table(st: SSIMStatistics) -> pd.DataFrame:
    """``ssim_stats.csv``: long format ``part, statistic, value`` (values rounded to 6 significant digits)."""

    def fmt(v: float | int | bool) -> str:
        if isinstance(v, bool):
            return str(v).lower()
        if isinstance(v, int):
            return str(v)
        return "nan" if math.isnan(v) else f"{v:.6g}"

    rows = []
    for part, s in (("duplicate", st.duplicate), ("non-duplicate", st.non_duplicate)):
        for k, v in asdict(s).items():
            rows.append((part, k, fmt(v)))
    rows += [
        ("mann-whitney", "u", fmt(st.mannwhitney_u)),
        ("mann-whitney", "p_two_sided", fmt(st.mannwhitney_p_two_sided)),
        ("mann-whitney", "p_greater", fmt(st.mannwhitney_p_greater)),
        ("mann-whitney", "auc", fmt(st.auc)),
        ("threshold", "percentile", fmt(st.percentile)),
        ("threshold", "suggested", fmt(st.threshold)),
        ("threshold", "duplicate_recall", fmt(st.duplicate_recall)),
        ("threshold", "non_duplicate_pairs_above", fmt(st.non_duplicate_above)),
        ("threshold", "ranges_overlap", fmt(st.ranges_overlap)),
        ("threshold", "duplicate_pairs_not_scored", fmt(st.duplicate_missing)),
    ]
    return pd.DataFrame(rows, columns=["part", "statistic", "value"])

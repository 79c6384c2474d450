"""Which common size should images be resized to before SSIM? Measured on a real dataset (``size-study``).

For each size the whole dataset is scored (all pairs, numba backend) and summarised by:

* time and pairs/s;
* the bulk of pairs (median, 99th and 99.9th percentiles) against each image's best candidate:
  how many images have a top-1 above the bulk's 99.9th percentile ("stand-outs"), the median gap
  between their top-1 and top-2, and the median z-score of each image's top-1 within its own row;
* pixel-identical pairs (same ``pixel_sha256``): their worst rank (1 = always first);
* agreement between sizes: mean share of each image's top-K that two sizes have in common, and how
  many of the stand-out pairs of the largest size each size also ranks first;
* with a review journal: the confirmed duplicates (``same``, graded identical or same-frame) -- how
  many each size ranks first (in either direction) and in the top 5, how many score above the bulk's
  99.9th percentile, and the share of all pairs each confirmed pair out-scores (a rank AUC).
"""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from busi_curate.ssim import get_backend
from busi_curate.ssim.base import n_pairs


def _top_k(m: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    from busi_curate.scan.candidates import top_k_from_matrix

    return top_k_from_matrix(m, k)


def _rank(m: np.ndarray, i: int, j: int) -> int:
    """Rank (1 = best) of ``j`` in row ``i`` (ties to the lower index, as in candidates.csv)."""
    row = np.nan_to_num(m[i].astype(np.float64), nan=-np.inf)
    row[i] = -np.inf
    better = np.sum(row > row[j]) + np.sum((row == row[j]) & (np.arange(len(row)) < j))
    return int(better) + 1


def summarise(m: np.ndarray, top: int) -> dict[str, Any]:
    """Separation figures of one all-pairs matrix (see the module docstring)."""
    n = m.shape[0]
    iu = np.triu_indices(n, 1)
    bulk = m[iu].astype(np.float64)
    q50, q99, q999 = np.percentile(bulk, [50, 99, 99.9])
    rows, vals = _top_k(m, max(top, 2))
    vals = vals.astype(np.float64)
    mm = np.nan_to_num(m.astype(np.float64), nan=np.nan)
    mean = np.nanmean(mm, axis=1)
    std = np.nanstd(mm, axis=1)
    z = (vals[:, 0] - mean) / np.where(std > 0, std, np.nan)
    stand = vals[:, 0] > q999
    return {
        "bulk_median": round(float(q50), 4),
        "bulk_p99": round(float(q99), 4),
        "bulk_p999": round(float(q999), 4),
        "top1_median": round(float(np.median(vals[:, 0])), 4),
        "standouts": int(stand.sum()),
        "standout_margin_median": round(float(np.median(vals[stand, 0] - vals[stand, 1])), 4) if stand.any() else None,
        "top1_z_median": round(float(np.nanmedian(z)), 2),
    }


def confirmed_pairs(
    journal: str | Path, row_of: dict[tuple[str, str], int], grades: tuple[str, ...] = ("identical", "same-frame")
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Rows of the pairs a review journal confirms as duplicates (standing ``same`` of ``grades``) and as different."""
    from busi_curate.review.journal import effective, read_journal

    same, different = [], []
    for (ka, kb), d in sorted(effective(read_journal(journal, known=set(row_of))).items()):
        if d.answer == "same" and d.grade in grades:
            same.append((row_of[ka], row_of[kb]))
        elif d.answer == "different":
            different.append((row_of[ka], row_of[kb]))
    return same, different


def confirmed_figures(
    m: np.ndarray, pairs: list[tuple[int, int]], bulk_p999: float, different: list[tuple[int, int]] | None = None
) -> dict[str, Any]:
    """How one size ranks and separates the confirmed duplicate pairs (and, given the reviewed-different
    pairs, how often a duplicate out-scores a reviewed look-alike: an AUC over those two sets)."""
    n = m.shape[0]
    bulk = np.sort(m[np.triu_indices(n, 1)].astype(np.float64))
    ranks = [min(_rank(m, i, j), _rank(m, j, i)) for i, j in pairs]
    vals = np.array([float(m[i, j]) for i, j in pairs])
    auc = np.searchsorted(bulk, vals, side="left") / len(bulk)
    return {
        "confirmed_pairs": len(pairs),
        "confirmed_ranked_first": int(sum(r == 1 for r in ranks)),
        "confirmed_in_top5": int(sum(r <= 5 for r in ranks)),
        "confirmed_above_bulk_p999": int(np.sum(vals > bulk_p999)),
        "confirmed_median_ssim": round(float(np.median(vals)), 4),
        "confirmed_rank_auc_median": round(float(np.median(auc)), 5),
        "confirmed_rank_auc_min": round(float(np.min(auc)), 5),
        **_same_vs_different(m, vals, different or []),
    }


def _same_vs_different(m: np.ndarray, same_vals: np.ndarray, different: list[tuple[int, int]]) -> dict[str, Any]:
    if not different:
        return {}
    diff = np.sort(np.array([float(m[i, j]) for i, j in different]))
    # P(same > different) + 0.5 P(tie): the Mann-Whitney AUC
    below = np.searchsorted(diff, same_vals, side="left")
    ties = np.searchsorted(diff, same_vals, side="right") - below
    auc = float(np.mean((below + 0.5 * ties) / len(diff)))
    return {
        "different_pairs": len(diff),
        "same_vs_different_auc": round(auc, 4),
        "different_median_ssim": round(float(np.median(diff)), 4),
    }


def run_size_study(
    data_dir: str | Path,
    sizes: list[int],
    top: int = 5,
    progress: bool = False,
    journal: str | Path | None = None,
    named_pairs: tuple[tuple[tuple[str, str], tuple[str, str]], ...] = ((("benign", "433"), ("malignant", "145")),),
) -> dict[str, Any]:
    """Score ``data_dir`` at each size and compare (decodes every image once).

    Returns a JSON-ready dict: per-size figures, top-K agreement between sizes, identical pairs.
    """
    from tqdm.auto import tqdm

    from busi_curate.data.dataset import load_dataset, resize_gray
    from busi_curate.data.imageio import read_gray
    from busi_curate.studies.ssim_bench import hardware

    ds = load_dataset(data_dir, progress=progress)
    grays = [read_gray(ds.root / r.image) for r in tqdm(ds.records, desc="decode", disable=not progress, leave=False)]
    keys = [(r.cls, r.id) for r in ds.records]
    row_of = {k: i for i, k in enumerate(keys)}
    identical = _identical_pairs([r.pixel_sha256 for r in ds.records])
    confirmed, different = confirmed_pairs(journal, row_of) if journal is not None else ([], [])
    backend = get_backend("numba")
    backend.matrix(np.zeros((3, 16, 16), dtype=np.uint8))  # JIT warm-up
    per_size: dict[int, dict[str, Any]] = {}
    mats: dict[int, np.ndarray] = {}
    for s in sizes:
        thumbs = np.stack([resize_gray(g, s) for g in grays])
        t0 = time.perf_counter()
        m = backend.matrix(thumbs)
        dt = time.perf_counter() - t0
        mats[s] = m
        fig = summarise(m, top)
        fig.update({"size": s, "seconds": round(dt, 3), "pairs_per_s": round(n_pairs(len(thumbs)) / dt, 1)})
        fig["identical_pairs_worst_rank"] = max(
            (max(_rank(m, i, j), _rank(m, j, i)) for i, j in identical), default=None
        )
        fig["named_pairs"] = _named_pair_figures(m, named_pairs, row_of)
        if confirmed:
            fig.update(confirmed_figures(m, confirmed, fig["bulk_p999"], different))
        per_size[s] = fig
    agreement = _top_k_agreement(mats, sizes, top, len(keys))
    _standouts_ranked_first(per_size, mats, sizes, len(keys))
    return {
        "data_dir": str(Path(data_dir).resolve()),
        "n_images": len(keys),
        "top": top,
        "identical_pairs": [[f"{keys[i][0]} {keys[i][1]}", f"{keys[j][0]} {keys[j][1]}"] for i, j in identical],
        "sizes": [per_size[s] for s in sizes],
        "top_k_agreement": agreement,
        "journal": str(Path(journal).resolve()) if journal is not None else None,
        "hardware": hardware(),
    }


def _identical_pairs(pixel_hashes: list[str]) -> list[tuple[int, int]]:
    """Row pairs ``(i, j)``, ``i < j``, of pixel-identical images (same ``pixel_sha256``), hash by hash."""
    by_hash: dict[str, list[int]] = defaultdict(list)
    for i, h in enumerate(pixel_hashes):
        by_hash[h].append(i)
    return [(g[x], g[y]) for g in by_hash.values() if len(g) > 1 for x in range(len(g)) for y in range(x + 1, len(g))]


def _named_pair_figures(
    m: np.ndarray, named_pairs: tuple[tuple[tuple[str, str], tuple[str, str]], ...], row_of: dict[Any, int]
) -> dict[str, Any]:
    """SSIM and ranks (both directions) of each named pair present in the dataset."""
    named = {}
    for ka, kb in named_pairs:
        if ka in row_of and kb in row_of:
            i, j = row_of[ka], row_of[kb]
            named[f"{ka[0]} {ka[1]} / {kb[0]} {kb[1]}"] = {
                "ssim": round(float(m[i, j]), 6),
                "rank": [_rank(m, i, j), _rank(m, j, i)],
            }
    return named


def _top_k_agreement(mats: dict[int, np.ndarray], sizes: list[int], top: int, n: int) -> dict[str, float]:
    """``"x-y"`` -> mean share of each image's top-``top`` that sizes x < y have in common."""
    tops = {s: _top_k(m, top)[0] for s, m in mats.items()}
    agreement = {}
    for x in sizes:
        for y in sizes:
            if x < y:
                share = np.mean([len(set(tops[x][i]) & set(tops[y][i])) / tops[x].shape[1] for i in range(n)])
                agreement[f"{x}-{y}"] = round(float(share), 4)
    return agreement


def _standouts_ranked_first(
    per_size: dict[int, dict[str, Any]], mats: dict[int, np.ndarray], sizes: list[int], n: int
) -> None:
    """How many stand-out pairs of the largest size (top-1 above its bulk's 99.9th percentile) each size also
    ranks first, into ``per_size[s]["standouts_of_<largest>_ranked_first"]``."""
    largest = max(sizes)
    rows_l, vals_l = _top_k(mats[largest], 1)
    q999 = per_size[largest]["bulk_p999"]
    ref = [(i, int(rows_l[i, 0])) for i in range(n) if vals_l[i, 0] > q999]
    for s in sizes:
        r1 = _top_k(mats[s], 1)[0][:, 0]
        per_size[s][f"standouts_of_{largest}_ranked_first"] = f"{sum(int(r1[i] == j) for i, j in ref)}/{len(ref)}"


def format_table(res: dict[str, Any]) -> str:
    """The per-size figures as a Markdown table (plus agreement and identical pairs)."""
    sizes = res["sizes"]
    largest = max(s["size"] for s in sizes)
    cols = [
        ("size", "size"),
        ("time (s)", "seconds"),
        ("pairs/s", "pairs_per_s"),
        ("bulk median", "bulk_median"),
        ("bulk p99.9", "bulk_p999"),
        ("top-1 median", "top1_median"),
        ("stand-outs", "standouts"),
        ("stand-out margin", "standout_margin_median"),
        ("top-1 z (median)", "top1_z_median"),
        ("identical pairs worst rank", "identical_pairs_worst_rank"),
        (f"{largest}px stand-outs ranked first", f"standouts_of_{largest}_ranked_first"),
    ]
    lines = ["| " + " | ".join(c for c, _ in cols) + " |", "|" + "---|" * len(cols)]
    for s in sizes:
        cells = []
        for _, key in cols:
            v = s.get(key)
            cells.append(f"{v:,.0f}" if key == "pairs_per_s" else str(v))
        lines.append("| " + " | ".join(cells) + " |")
    if "confirmed_pairs" in sizes[0]:
        lines.append("")
        ccols = [
            ("size", "size"),
            ("confirmed pairs", "confirmed_pairs"),
            ("ranked first", "confirmed_ranked_first"),
            ("in top 5", "confirmed_in_top5"),
            ("above bulk p99.9", "confirmed_above_bulk_p999"),
            ("median SSIM", "confirmed_median_ssim"),
            ("rank AUC median", "confirmed_rank_auc_median"),
            ("rank AUC min", "confirmed_rank_auc_min"),
            ("reviewed-different pairs", "different_pairs"),
            ("their median SSIM", "different_median_ssim"),
            ("AUC same vs different", "same_vs_different_auc"),
        ]
        lines.append("| " + " | ".join(c for c, _ in ccols) + " |")
        lines.append("|" + "---|" * len(ccols))
        for s in sizes:
            lines.append("| " + " | ".join(str(s.get(k)) for _, k in ccols) + " |")
    lines.append("")
    lines.append(
        f"top-{res['top']} agreement (mean share of each image's top-{res['top']} in common): "
        + ", ".join(f"{k}: {v:.3f}" for k, v in res["top_k_agreement"].items())
    )
    for s in sizes:
        for name, v in s.get("named_pairs", {}).items():
            lines.append(f"{s['size']}px {name}: SSIM {v['ssim']:.6f}, ranks {v['rank'][0]} and {v['rank'][1]}")
    lines.append(
        f"pixel-identical pairs: {len(res['identical_pairs'])} ({'; '.join(' = '.join(p) for p in res['identical_pairs'])})"
    )
    return "\n".join(lines)

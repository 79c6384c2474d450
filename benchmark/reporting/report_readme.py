"""Stage: report -- the figures a report's README quotes, written by ``busi-bench report`` (never by hand).

When ``OUT/README.md`` holds the markers :data:`BEGIN` and :data:`END`, :func:`update_readme` replaces what
lies between them with :func:`figures_block`: Table 5's rows (both DSC conventions, the share of
predicted-empty masks, accuracy, the paper's figures), how each run trained (draws per epoch, best epochs,
precision) and every per-image test of the significance table with its CI. The prose around the block
quotes no figure of its own; ``tests/benchmark/reporting/test_readme_figures.py`` checks it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

BEGIN = "<!-- figures: begin (written by busi-bench report from the CSVs beside this file; do not edit) -->"
END = "<!-- figures: end -->"
ROW_KEYS = ("dsc_avg", "dsc_lesion", "pred_empty", "acc")


def _ms(sub: pd.DataFrame, key: str) -> str:
    row = sub[sub["metric"] == key]
    if row.empty or math.isnan(row.iloc[0]["mean"]):
        return "–"
    m, s = row.iloc[0]["mean"], row.iloc[0]["std"]
    return f"{m:.3f} ± {s:.3f}" if not math.isnan(s) else f"{m:.3f}"


def _paper(sub: pd.DataFrame) -> str:
    vals = []
    for key in ("dsc_avg", "acc"):
        row = sub[sub["metric"] == key]
        v = row.iloc[0]["paper_mean"] if len(row) else math.nan
        vals.append("–" if math.isnan(v) else f"{v:.3f}")
    return " / ".join(vals)


def table5_lines(table5: pd.DataFrame, order: Sequence[str]) -> list[str]:
    """Markdown rows of Table 5's headline figures."""
    lines = [
        "| row | DSC Average (normal = 1 when both empty) | DSC lesion-only | Pred. empty | ACC | paper DSC Average / ACC |",
        "|---|---|---|---|---|---|",
    ]
    for label in order:
        sub = table5[table5["configuration"] == label]
        if len(sub):
            lines.append(f"| {label} | " + " | ".join(_ms(sub, k) for k in ROW_KEYS) + f" | {_paper(sub)} |")
    return lines


def draws_per_epoch(fold_dir: Path) -> int | None:
    """Images drawn per training epoch, from the fold's ``train.log`` (None without a log)."""
    log = fold_dir / "train.log"
    if not log.is_file():
        return None
    found = re.findall(r"(\d+) drawn per epoch", log.read_text(encoding="utf-8", errors="replace"))
    return int(found[-1]) if found else None


def training_lines(runs: Sequence[Any]) -> list[str]:
    """One line per trained run: draws per epoch and best epoch of each fold, precision."""
    lines = []
    for r in runs:
        best = [f.get("best_epoch") for f in r.folds]
        if not any(b is not None for b in best):
            continue  # combined runs train nothing
        draws = sorted({d for d in (draws_per_epoch(r.path / f"fold{f['fold']}") for f in r.folds) if d})
        lines.append(
            f"- `{r.name}`: {r.config.get('epochs')} epochs of {'/'.join(map(str, draws)) or '?'} draws; best epoch "
            f"per fold {', '.join(str(b) for b in best)}; precision {r.config.get('precision')}"
        )
    return lines


def _p(v: float) -> str:
    return "–" if v is None or math.isnan(v) else f"{v:.2g}"


def significance_lines(sig: pd.DataFrame, table: str = "5") -> list[str]:
    """Every per-image test of one table: difference with its CI, p and Holm p."""
    lines = []
    sub = sig[(sig["table"].astype(str) == table) & (sig["test"] != "paired-t")]
    for r in sub.itertuples(index=False):
        extra = f", zeros dropped p = {_p(r.p_zeros_dropped)}" if r.test == "wilcoxon" else ""
        lines.append(
            f"- {r.a} vs {r.b}, {r.test} on {r.metric} (n {r.n}): diff {r.diff:+.3f} "
            f"[{r.diff_ci_low:+.3f}, {r.diff_ci_high:+.3f}]; p = {_p(r.p)}{extra}; Holm p = {_p(r.p_holm)}"
        )
    return lines


def figures_block(out: Path, runs: Sequence[Any]) -> str:
    """The text between the markers: Table 5's headline rows, training, significance."""
    from benchmark.reporting.report import TABLE5_ORDER

    parts = [BEGIN, ""]
    t5 = out / "table5.csv"
    if t5.is_file() and t5.stat().st_size > 1:
        parts += table5_lines(pd.read_csv(t5), TABLE5_ORDER) + [""]
    parts += ["Training of each run (from its metrics.json and train.log):", "", *training_lines(runs), ""]
    sig = out / "significance.csv"
    if sig.is_file() and sig.stat().st_size > 1:
        parts += [
            "Per-image tests of Table 5 (Wilcoxon with Pratt's zero handling, McNemar exact; diff = a - b with "
            "its paired bootstrap 95 % CI; Holm within each family of significance.csv):",
            "",
            *significance_lines(pd.read_csv(sig)),
            "",
        ]
    return "\n".join([*parts, END])


def update_readme(out: Path, runs: Sequence[Any]) -> list[Path]:
    """Rewrite the marked block of ``out/README.md``; returns ``[path]`` when it changed it, else ``[]``."""
    from busi_curate.fileio import write_text

    path = out / "README.md"
    if not path.is_file():
        return []
    text = path.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        return []
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    new = head + figures_block(out, runs) + tail
    if new != text:
        write_text(path, new)
    return [path]

"""The figures the READMEs quote for the benchmark tables agree with the CSVs and run folders they come from.

The figures block of ``reports/bench_cpu_table5/README.md`` must be exactly what ``busi-bench report`` writes
from the committed runs and CSVs; every ``mean ± std`` row, ``p = ...`` and per-fold figure quoted in the
READMEs is parsed and compared with its source, and a README with one figure changed fails the check.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest

from benchmark.reporting.report_readme import BEGIN, END, figures_block
from benchmark.reporting.runs import load_runs

ROOT = Path(__file__).resolve().parents[3]
T5 = ROOT / "reports" / "bench_cpu_table5"
LABEL_KEYS = {"DSC average": "dsc_avg", "lesion-only": "dsc_lesion", "accuracy": "acc"}


def _block(text: str) -> str:
    return BEGIN + text.split(BEGIN, 1)[1].split(END, 1)[0] + END


def _fmt(mean: float, std: float) -> str:
    return "–" if math.isnan(mean) else (f"{mean:.3f} ± {std:.3f}" if not math.isnan(std) else f"{mean:.3f}")


def table_rows_disagree(text: str, table5: pd.DataFrame) -> list[str]:
    """Rows ``| label | DSC avg | DSC lesion | Pred. empty | ACC | paper |`` whose cells differ from table5.csv."""
    bad = []
    keys = ("dsc_avg", "dsc_lesion", "pred_empty", "acc")
    for line in _block(text).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 6 or "±" not in line:
            continue
        sub = table5[table5["configuration"] == cells[0]].set_index("metric")
        for key, cell in zip(keys, cells[1:5]):
            want = _fmt(sub.at[key, "mean"], sub.at[key, "std"]) if key in sub.index else "–"
            if cell != want:
                bad.append(f"{cells[0]} {key}: README {cell}, table5.csv {want}")
    return bad


def p_values_disagree(text: str, sig: pd.DataFrame) -> list[str]:
    """Every ``p = X`` of the text that is no p of significance.csv (as the report formats them)."""
    known = {f"{v:.2g}" for col in ("p", "p_zeros_dropped", "p_holm") for v in sig[col].dropna()}
    return [m for m in re.findall(r"\bp = ([0-9][0-9.e+-]*[0-9])", text) if m not in known]


def quoted_rows_disagree(text: str, table5: pd.DataFrame) -> list[str]:
    """``LABEL: DSC average M ± S, lesion-only M ± S, accuracy M ± S`` phrases against table5.csv."""
    bad = []
    for label, body in re.findall(
        r"(MT \+ PR \+ DO|MT \+ DO|ST \(Seg\)(?: \+ DO)?): ((?:[a-zA-Z -]+ [0-9.]+ ± [0-9.]+,? ?)+)", text
    ):
        sub = table5[table5["configuration"] == label].set_index("metric")
        for name, m, s in re.findall(r"([a-zA-Z -]+?) ([0-9.]+) ± ([0-9.]+)", body):
            key = LABEL_KEYS.get(name.strip())
            if key is None:
                continue
            want = _fmt(sub.at[key, "mean"], sub.at[key, "std"])
            if f"{m} ± {s}" != want:
                bad.append(f"{label} {key}: README {m} ± {s}, table5.csv {want}")
    return bad


def fold_figures_disagree(text: str, runs_dir: Path) -> list[str]:
    """``\\`RUN\\` fold K: key V, key V`` phrases against the run's fold metrics.json."""
    bad = []
    for run, fold, body in re.findall(r"`([\w.-]+)` fold (\d+): ((?:[a-z_]+ [0-9.]+,? ?)+)", text):
        metrics = json.loads((runs_dir / run / f"fold{fold}" / "metrics.json").read_text(encoding="utf-8"))
        for key, value in re.findall(r"([a-z_]+) ([0-9.]+)", body):
            digits = len(value.split(".")[1]) if "." in value else 0
            if f"{metrics[key]:.{digits}f}" != value:
                bad.append(f"{run} fold {fold} {key}: README {value}, metrics.json {metrics[key]}")
    return bad


def test_figures_block_is_what_the_report_writes() -> None:
    text = (T5 / "README.md").read_text(encoding="utf-8")
    assert _block(text) == figures_block(T5, load_runs(T5 / "runs"))


def test_quoted_figures_agree_with_their_csvs() -> None:
    table5, sig = pd.read_csv(T5 / "table5.csv"), pd.read_csv(T5 / "significance.csv")
    t5_readme = (T5 / "README.md").read_text(encoding="utf-8")
    assert table_rows_disagree(t5_readme, table5) == []
    assert p_values_disagree(t5_readme, sig) == []
    top = (ROOT / "README.md").read_text(encoding="utf-8")
    assert quoted_rows_disagree(top, table5) == [] and re.search(r"DSC average [0-9.]+ ± ", top)
    bench = (ROOT / "benchmark" / "README.md").read_text(encoding="utf-8")
    assert fold_figures_disagree(bench, T5 / "runs") == [] and "`mt-do-fp32` fold 0:" in bench
    for path in (ROOT / "README.md", ROOT / "reports" / "leakage_inflation" / "README.md"):
        assert p_values_disagree(path.read_text(encoding="utf-8"), sig) == [], path


@pytest.mark.parametrize(
    ("old", "new"),
    [("0.690 ± 0.047", "0.691 ± 0.047"), ("Holm p = 1.2e-07", "Holm p = 5.2e-08")],
)
def test_a_changed_figure_is_caught(old: str, new: str) -> None:
    table5, sig = pd.read_csv(T5 / "table5.csv"), pd.read_csv(T5 / "significance.csv")
    text = (T5 / "README.md").read_text(encoding="utf-8")
    assert old in text
    changed = text.replace(old, new, 1)
    assert table_rows_disagree(changed, table5) or p_values_disagree(changed, sig)
    top = "MT + PR + DO: DSC average 0.690 ± 0.047, lesion-only 0.679 ± 0.029, accuracy 0.621 ± 0.029;"
    assert quoted_rows_disagree(top, table5) == [] and quoted_rows_disagree(top.replace("0.621", "0.622"), table5)
    fold = "`mt-do` fold 0: dsc_avg 0.664, acc 0.640"
    assert fold_figures_disagree(fold, T5 / "runs") == []
    assert fold_figures_disagree(fold.replace("0.640", "0.622"), T5 / "runs")

"""Stage: report -- run folders -> the paper's Tables 4-9, significance tests, learning curves, Fig. 6.

``busi-bench report RUNS --out DIR [--grid GRID.yaml] [--cases benign:337,...] [--data DATA]``.

Each run folder (``RUNS/<name>/fold<K>/metrics.json`` + ``per_image.csv``) is placed into the tables by
its resolved config (model, task, oversampling, class subset), or by the ``table`` field of its grid
entry when ``--grid`` is given. Prediction refining is inference-only: a multi-task run gives both its
row without PR (the ``before_pr`` figures) and its row with PR. Mean ± std over folds uses the population
standard deviation (ddof 0), as the paper's code computes it. Every table says which profile, epochs and
hardware produced it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmark.errors import BenchError
from benchmark.evaluation.metric_table import LABELS
from benchmark.profiles import CLS_TASKS, COMBINED_TASK, SEG_TASKS
from benchmark.reporting import paper_figures as paper
from benchmark.reporting.dsc_conventions import NOTE as DSC_NOTE
from benchmark.reporting.dsc_conventions import predicted_empty_count
from benchmark.reporting.progress import TableSink
from benchmark.reporting.runs import Entry, RunData, load_runs
from benchmark.reporting.seeds import seed_fields, seed_siblings, seed_text
from benchmark.reporting.summarize import DEFAULT_DDOF, mean_std
from busi_curate.data.dataset import CLASSES

__all__ = ["build_report", "parse_cases"]

SEG_KEYS = ("dsc_benign", "dsc_malignant", "dsc_normal", "dsc_avg", "dsc_lesion", "pred_empty")
CLS_KEYS = ("f1_benign", "f1_malignant", "f1_normal", "f1_weighted", "acc")
TABLE4_KEYS = ("dsc_avg", "dsc_lesion", "pred_empty", "jac", "hd", "rec", "pre")
TABLE5_ORDER = (
    "ST (Seg)",
    "ST (Seg) + DO",
    "ST (Cls)",
    "ST (Cls) + DO",
    "ST (Seg + Cls) + PR",
    "ST (Seg + Cls) + PR + DO",
    "MT",
    "MT + PR",
    "MT + DO",
    "MT + PR + DO",
)
ABLATION_MODELS = {"5": "mt-unetpp", "6": "mt-nnunet"}
TABLE89_COLUMNS = tuple((column, model) for model, column in paper.TABLE89_MODELS.items())


def ablation_labels(cfg: dict[str, Any]) -> list[tuple[str, str]]:
    """Table 5/6 row labels a run provides, with the scoring of each (PR is inference-only)."""
    do = " + DO" if cfg.get("oversample") else ""
    task = cfg.get("task")
    if task == "seg":
        return [(f"ST (Seg){do}", "after")]
    if task == "cls":
        return [(f"ST (Cls){do}", "after")]
    if task == COMBINED_TASK:
        return [(f"ST (Seg + Cls) + PR{do}", "after")]
    if task == "mt":
        rows = [(f"MT{do}", "before")]
        if cfg.get("refine", "none") != "none":
            rows.append((f"MT + PR{do}", "after"))
        return rows
    return []


def _default(cfg: dict[str, Any]) -> bool:
    """A run at the paper's settings apart from the ablation switches (excluded: other heads, subsets...)."""
    return (
        cfg.get("class_subset", "all") == "all"
        and cfg.get("cls_head", "paper") == "paper"
        and cfg.get("image_interp", "bilinear") == "bilinear"
    )


def _claims(run: RunData, table: str) -> bool:
    if run.tables:
        return table in run.tables
    return _default(run.config)


def ablation_entries(runs: Sequence[RunData], table: str) -> list[Entry]:
    """Rows of Table 5 (UNet++) or 6 (nnU-Net), in the paper's order; the first run claiming a row wins."""
    model = ABLATION_MODELS[table]
    found: dict[str, Entry] = {}
    for run in runs:
        if run.config.get("model") != model or not _claims(run, table):
            continue
        for label, scoring in ablation_labels(run.config):
            found.setdefault(label, Entry(label, run, scoring, seed_siblings(run, runs)))
    return [found[label] for label in TABLE5_ORDER if label in found]


def _cell(values: list[float | None], ddof: int) -> tuple[float, float, int]:
    return mean_std(values, ddof)


def _fmt(m: float, s: float, n: int = 2) -> str:
    if m is None or (isinstance(m, float) and math.isnan(m)):
        return "–"
    return f"{m:.3f} ± {'n/a' if s is None or math.isnan(s) else f'{s:.3f}'}"


def _paper_fmt(fig: tuple[float, float | None] | None) -> str:
    if fig is None:
        return "–"
    return f"{fig[0]:.3f}" + (f" ± {fig[1]:.3f}" if fig[1] is not None else "")


def metric_table(
    entries: Sequence[Entry], keys: Sequence[str], paper_rows: dict[str, dict[str, Any]], ddof: int
) -> pd.DataFrame:
    """Tidy table: one row per (configuration, metric) with mean, std, folds, and the paper's figure."""
    rows = []
    for e in entries:
        cfg = e.run.config
        has_seg, has_cls = cfg.get("task") in SEG_TASKS, cfg.get("task") in CLS_TASKS
        for key in keys:
            if (key in SEG_KEYS and not has_seg) or (key in CLS_KEYS and not has_cls):
                continue
            m, s, n = _cell(e.fold_values(key), ddof)
            fig = paper_rows.get(e.label, {}).get(key)
            sibs = [Entry(e.label, r, e.scoring) for r in e.seeds] or [e]
            spread = seed_fields([x.fold_values(key) for x in sibs], [x.run.config.get("seed") for x in sibs])
            rows.append(
                {
                    "configuration": e.label,
                    "metric": key,
                    "mean": m,
                    "std": s,
                    "n_folds": n,
                    "paper_mean": fig[0] if fig else np.nan,
                    "paper_std": fig[1] if fig and fig[1] is not None else np.nan,
                    "run": e.run.name,
                    "scoring": "before PR" if e.scoring == "before" else "as configured",
                    "profile": cfg.get("profile"),
                    "epochs": cfg.get("epochs"),
                    "image_size": cfg.get("image_size"),
                    **spread,
                }
            )
    return pd.DataFrame(rows)


def wide(tidy: pd.DataFrame, labels: Sequence[str], keys: Sequence[str]) -> tuple[list[str], list[list[str]]]:
    """Rows: each configuration (this run) followed by the paper's figures where the paper gives them."""
    header = ["Configuration", "Source", *[LABELS[k] for k in keys]]
    rows: list[list[str]] = []
    for label in labels:
        sub = tidy[tidy["configuration"] == label].set_index("metric")
        if sub.empty:
            continue
        first = sub.iloc[0]
        folds = int(sub["n_folds"].max())
        src = (
            f"this run ({first['run']}, {first['profile']}, {first['epochs']} ep, {first['image_size']} px, "
            f"{folds} fold{'s' if folds != 1 else ''})"
        )
        cells = [
            _fmt(sub.at[k, "mean"], sub.at[k, "std"]) + seed_text(sub.loc[k]) if k in sub.index else "–" for k in keys
        ]
        rows.append([label, src, *cells])
        if sub["paper_mean"].notna().any():
            rows.append(["", "paper", *[_fmt_paper_row(sub, k) for k in keys]])
    return header, rows


def _fmt_paper_row(sub: pd.DataFrame, k: str) -> str:
    if k not in sub.index or math.isnan(sub.at[k, "paper_mean"]):
        return "–"
    s = sub.at[k, "paper_std"]
    return f"{sub.at[k, 'paper_mean']:.3f}" + ("" if math.isnan(s) else f" ± {s:.3f}")


def provenance_lines(entries: Sequence[Entry]) -> list[str]:
    """The profile of the rows (:mod:`.table_profile`), then one line per run: label, epochs, hardware, commit."""
    from benchmark.reporting.table_profile import fold_hardware, fold_values, profile_lines

    seen, lines = set(), profile_lines(list({id(e.run): e.run for e in entries}.values()))
    for e in entries:
        if e.run.name in seen:
            continue
        seen.add(e.run.name)
        prov, cfg = e.run.provenance, e.run.config
        lines.append(
            f"- `{e.run.name}`: {cfg.get('label', '')} (profile `{cfg.get('profile')}`, {cfg.get('epochs')} epochs "
            f"max, {cfg.get('image_size')} px, precision {cfg.get('precision', 'auto')}); folds "
            f"{[f['fold'] for f in e.run.folds]}; {fold_hardware(e.run)}; commit {fold_values(e.run, 'git_commit')}; "
            f"manifest sha256 {str(prov.get('inputs', {}).get('manifest_sha256', '?'))[:12]}"
        )
    return lines


STD_NOTE = "- mean ± population standard deviation over folds (ddof 0, as the paper's code computes it)"


def confusion_percent(entry: Entry) -> pd.DataFrame:
    """Confusion matrix pooled over the run's test folds, row-normalised, in percent (rows true)."""
    df = entry.per_image()
    cm = pd.crosstab(pd.Categorical(df["true"], CLASSES), pd.Categorical(df["pred"], CLASSES), dropna=False)
    pct = cm.div(cm.sum(1).replace(0, np.nan), axis=0) * 100
    pct.index.name, pct.columns.name = "true", "predicted"
    return pct


def build_report(
    runs_dir: str | Path,
    out: str | Path,
    grid_file: str | Path | None = None,
    cases: Sequence[tuple[str, str]] = (),
    data_dir: str | Path | None = None,
    ddof: int = DEFAULT_DDOF,
) -> list[Path]:
    """Write every table, significance.csv, learning curves and (with ``cases``) the Fig. 6 grid. Returns the files."""
    from benchmark.experiments.grid import load_grid
    from benchmark.reporting.progress import grid_progress, write_progress
    from benchmark.reporting.report_figures import fig6_grid, learning_curves

    out = Path(out)
    grid = load_grid(grid_file) if grid_file else None
    runs = load_runs(runs_dir, grid)
    progress = grid_progress(grid, runs_dir) if grid is not None else []
    sink = TableSink(out, progress)
    sig_rows: list[dict[str, Any]] = []
    for build in TABLE_BUILDERS:
        sig_rows += build(runs, sink, ddof)
    from benchmark.reporting.significance import write_significance

    write_significance(out, pd.DataFrame(sig_rows))
    written = learning_curves(runs, out / "curves")
    if cases:
        t5 = {e.label: e for e in ablation_entries(runs, "5")}  # one entry per row label
        written += fig6_grid(runs, list(t5.values()), cases, out, data_dir)
    from benchmark.reporting.report_readme import update_readme

    written += sorted(out.glob("table*.*")) + [out / "significance.csv", out / "significance.md"]
    written += update_readme(out, runs)
    if grid is not None:
        written += write_progress(out, progress, grid.path)
    return written


def _table4(runs: Sequence[RunData], out: TableSink, ddof: int) -> list[dict[str, Any]]:
    """Table 4: segmentation-only networks by class subset."""
    from benchmark.reporting.significance import significance_rows

    t4 = [
        Entry(f"{r.config['model']} ({r.config.get('class_subset', 'all')})", r)
        for r in runs
        if r.config.get("task") == "seg"
        and _claims(r, "4")
        and r.config.get("cls_head", "paper") == "paper"
        and (bool(r.tables) or not r.config["model"].startswith("mt-"))
    ]
    t4_paper = {f"{m} ({s})": v for (m, s), v in paper.TABLE4.items()}
    tidy4 = metric_table(t4, TABLE4_KEYS, t4_paper, ddof)
    h, rws = wide(tidy4, [e.label for e in t4], TABLE4_KEYS)
    notes = [
        STD_NOTE,
        DSC_NOTE,
        "- the paper's Table 4 is not public as a table; only the UNet++ DSC its text quotes is shown",
        *provenance_lines(t4),
    ]
    out.write("table4", "Table 4: single-task segmentation networks on Curated BUSI", tidy4, h, rws, notes)
    return significance_rows("4", t4, "dice")


def _incoherence_note(entries: Sequence[Entry], ddof: int) -> list[str]:
    """The share of incoherent predictions before refining, for the rows that refine."""
    if not entries:
        return []
    refined = ("ST (Seg + Cls) + PR", "ST (Seg + Cls) + PR + DO", "MT + PR", "MT + PR + DO")
    parts = []
    for e in entries:
        if e.label not in refined:
            continue
        values = (
            e.fold_values("incoherent_before_pr")
            if e.scoring == "after"
            else [f.get("incoherent_before_pr") for f in e.run.folds]
        )
        parts.append(f"{e.label} {_fmt(*mean_std(values, ddof)[:2])}")
    empty = predicted_empty_count([e for e in entries if e.label in refined])
    return [
        "- share of incoherent predictions before refining: "
        + ", ".join(parts)
        + f" (paper: ST {paper.INCOHERENT['ST']:.3f}, MT {paper.INCOHERENT['MT']:.3f}); "
        + (
            "no segmenter here predicts an empty mask before refining, so these count only images classified normal"
            if empty == 0
            else f"{empty} predicted masks are empty before refining (incoherent also when classified a lesion)"
        )
    ]


def _ablation_tables(runs: Sequence[RunData], out: TableSink, ddof: int) -> list[dict[str, Any]]:
    """Tables 5 and 6: the ablations with UNet++ and nnU-Net; the proposal tested against every other row."""
    from benchmark.reporting.significance import significance_rows

    keys = SEG_KEYS + CLS_KEYS
    sig_rows: list[dict[str, Any]] = []
    for table, title, paper_rows in (
        ("5", "Table 5: ablation, UNet++ on Curated BUSI", paper.TABLE5),
        ("6", "Table 6: ablation, nnU-Net on Curated BUSI", paper.TABLE6),
    ):
        entries = ablation_entries(runs, table)
        tidy = metric_table(entries, keys, paper_rows, ddof)
        h, rws = wide(tidy, [e.label for e in entries], keys)
        notes = [
            STD_NOTE,
            DSC_NOTE,
            "- MT and MT + PR are one training scored before and after refining (PR is inference-only)",
            *_incoherence_note(entries, ddof),
            *provenance_lines(entries),
        ]
        out.write(f"table{table}", title, tidy, h, rws, notes)
        proposal = next((e for e in entries if e.label == "MT + PR + DO"), None)
        if proposal is not None:
            others = [e for e in entries if e is not proposal]
            sig_rows += significance_rows(table, [proposal, *others], "both", reference=proposal)
    return sig_rows


def _table7(runs: Sequence[RunData], out: TableSink, ddof: int) -> list[dict[str, Any]]:
    """Table 7: confusion matrices of ST (Cls) and the proposal, pooled over the test folds."""
    t5 = {e.label: e for e in ablation_entries(runs, "5")}
    cm_rows, cm_tidy = [], []
    for label in ("ST (Cls)", "MT + PR + DO"):
        e = t5.get(label)
        if e is None:
            continue
        pct = confusion_percent(e)
        diag = paper.TABLE7_DIAGONAL.get(label)
        for i, t in enumerate(CLASSES):
            cells = [f"{pct.at[t, p]:.1f}" if not math.isnan(pct.at[t, p]) else "–" for p in CLASSES]
            cm_rows.append([label if i == 0 else "", t, *cells, f"{diag[i]:.1f}" if diag else "–"])
            cm_tidy.append(
                {
                    "configuration": label,
                    "run": e.run.name,
                    "true": t,
                    **{f"pred_{p}": pct.at[t, p] for p in CLASSES},
                    "paper_diagonal": diag[i] if diag else np.nan,
                }
            )
    out.write(
        "table7",
        "Table 7: confusion matrices pooled over the test folds (row %)",
        pd.DataFrame(cm_tidy),
        ["Configuration", "True", *[f"Pred {c}" for c in CLASSES], "Paper (diagonal)"],
        cm_rows,
        [
            "- rows: true class; row-normalised percentages over every test image of every fold",
            *provenance_lines([t5[k] for k in ("ST (Cls)", "MT + PR + DO") if k in t5]),
        ],
    )
    return []


def _tables89(runs: Sequence[RunData], out: TableSink, ddof: int) -> list[dict[str, Any]]:
    """Tables 8 and 9: the multi-task methods (segmentation, then classification)."""
    from benchmark.reporting.significance import significance_rows

    t89: list[Entry] = []
    for label, model in TABLE89_COLUMNS:
        cand = [
            r
            for r in runs
            if r.config.get("model") == model
            and r.config.get("task") == "mt"
            and r.config.get("oversample")
            and _claims(r, "8")
        ]
        if cand:
            t89.append(Entry(label, cand[0]))
    for table, ks, title in (
        ("8", SEG_KEYS, "Table 8: segmentation, multi-task methods on Curated BUSI"),
        ("9", CLS_KEYS, "Table 9: classification, multi-task methods on Curated BUSI"),
    ):
        tidy = metric_table(t89, ks, paper.TABLE89, ddof)
        h, rws = wide(tidy, [e.label for e in t89], ks)
        notes89 = [STD_NOTE, DSC_NOTE] if table == "8" else [STD_NOTE]
        out.write(f"table{table}", title, tidy, h, rws, [*notes89, *provenance_lines(t89)])
    return significance_rows("8-9", t89, "both") if len(t89) > 1 else []


#: the tables of the report, in order: each writes its files and returns its significance rows.
#: Adding a table is one builder plus one line here.
TableBuilder = Callable[[Sequence[RunData], TableSink, int], list[dict[str, Any]]]
TABLE_BUILDERS: tuple[TableBuilder, ...] = (_table4, _ablation_tables, _table7, _tables89)


def parse_cases(text: str | None) -> list[tuple[str, str]]:
    """``"benign:337,malignant:176"`` -> ``[("benign", "337"), ("malignant", "176")]``.

    Raises:
        BenchError: an item that is not ``class:id`` with a known class.
    """
    if not text:
        return []
    out = []
    for item in text.split(","):
        cls, _, id_ = item.strip().partition(":")
        if cls not in CLASSES or not id_:
            raise BenchError(f"--cases expects class:id items with a class in {', '.join(CLASSES)}, got {item!r}")
        out.append((cls, id_))
    return out

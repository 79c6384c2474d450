"""Stage: report -- mean +- std over folds in the layout of the paper's Tables 8 and 9, paper figures beside."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.errors import BenchError
from benchmark.evaluation.metric_table import LABELS, PAPER_KEYS
from benchmark.profiles import FOLD_FREE
from benchmark.provenance import read_checked_json
from benchmark.reporting.paper_figures import TABLE89, TABLE89_MODELS
from benchmark.run_folder import require_finished_folds
from busi_curate.fileio import write_text

#: (row label, metrics.json key) in the order of Tables 8 and 9, then the other figures we report.
ROWS: tuple[tuple[str, str], ...] = tuple((LABELS[k], k) for k in PAPER_KEYS)
EXTRA_ROWS: tuple[tuple[str, str], ...] = tuple(
    (LABELS[k], k) for k in ("jac", "hd", "hd_max", "rec", "pre", "incoherent_before_pr")
)


def load_folds(run_dir: str | Path) -> list[dict[str, Any]]:
    """Every ``fold<K>/metrics.json`` of a run, fold order, checked to share one config and one input.

    Raises:
        BenchError: no folds, or folds written with different settings or inputs.
    """
    run_dir = Path(run_dir)
    paths = [f / "metrics.json" for f in require_finished_folds(run_dir, " (run `busi-bench run` first)")]
    folds = [read_checked_json(p) for p in paths]
    ref = folds[0]["provenance"]
    for p, f in zip(paths[1:], folds[1:]):
        prov = f["provenance"]
        diff = [k for k in ref["config"] if k not in FOLD_FREE and prov["config"].get(k) != ref["config"][k]]
        if diff or prov["inputs"].get("manifest_sha256") != ref["inputs"].get("manifest_sha256"):
            raise BenchError(
                f"written with other settings or inputs than {paths[0]} ({', '.join(diff) or 'manifest'})", p
            )
    return folds


#: Default spread over folds: the population standard deviation (ddof 0), as the paper's code computes it.
DEFAULT_DDOF = 0


def mean_std(values: Sequence[float | None], ddof: int = DEFAULT_DDOF) -> tuple[float, float, int]:
    """Mean and standard deviation (``ddof`` 0 = population, the paper's; 1 = sample) of the non-missing
    values; the spread of a single value is NaN (printed "n/a")."""
    v = np.array([x for x in values if x is not None and not (isinstance(x, float) and math.isnan(x))], float)
    if v.size == 0:
        return math.nan, math.nan, 0
    return float(v.mean()), float(v.std(ddof=ddof)) if v.size > 1 else math.nan, int(v.size)


def _fmt(m: float, s: float, digits: int = 3) -> str:
    if math.isnan(m):
        return "–"
    return f"{m:.{digits}f} ± {'n/a' if math.isnan(s) else f'{s:.{digits}f}'}"


def summary_markdown(folds: list[dict[str, Any]], ddof: int = DEFAULT_DDOF) -> str:
    """The summary as Markdown: a header describing the run, Table 8/9 rows, extra rows, per-fold figures."""
    prov = folds[0]["provenance"]
    cfg = prov["config"]
    column = TABLE89_MODELS.get(cfg["model"])
    paper_name, paper = (f"Paper {column}", TABLE89[column]) if column else ("Paper", {})
    epochs_run = [f.get("epochs_run") for f in folds]
    best = [f.get("best_epoch") for f in folds]
    lines = [
        f"# busi-bench summary: {cfg['model']} ({cfg['task']}{' + PR ' + cfg['refine'] if cfg['refine'] != 'none' else ''}"
        f"{' + DO' if cfg['oversample'] else ''})",
        "",
        f"- profile: `{cfg['profile']}` -- {cfg['label']}",
        f"- image size {cfg['image_size']}x{cfg['image_size']}, epochs {cfg['epochs']} max (run: {epochs_run}, best: {best}), "
        f"batch {cfg['batch_size']}, lr {cfg['lr']}, lambda {cfg['lambda_seg']}, seed {cfg['seed']}",
        f"- hardware: {prov.get('hardware', 'unknown')}; training seconds per fold: "
        f"{[f.get('train_seconds') for f in folds]}",
        f"- tool: {prov['tool']} {prov['version']} (busi-curate {prov['busi_curate_version']}, torch {prov['torch_version']}), "
        f"commit {prov['git_commit']}",
        f"- inputs: manifest {prov['inputs'].get('manifest', '?')} (sha256 {prov['inputs'].get('manifest_sha256', '?')[:12]}, "
        f"version {prov['inputs'].get('manifest_version', '?')}), folds sha256 {prov['inputs'].get('folds_sha256', '?')[:12]}",
        f"- folds: {len(folds)} ({', '.join(str(f['fold']) for f in folds)}); mean ± {'population std (ddof 0, as the paper code)' if ddof == 0 else 'sample std (ddof 1)'} over folds; "
        "DSC per class = mean Dice over the test images of that class (an empty mask predicted for an empty "
        "ground truth scores 1, anything else on a normal image 0); DSC Average = mean over all test images; "
        "figures after prediction refining where PR is on",
        "",
        f"| Metric | This run | {paper_name} (MT + PR + DO) |",
        "|---|---|---|",
    ]
    for label, key in ROWS:
        m, s, _ = mean_std([f.get(key) for f in folds], ddof)
        ref = paper.get(key)
        lines.append(
            f"| {label} | {_fmt(m, s)} | {_fmt(ref[0], math.nan if ref[1] is None else ref[1]) if ref else '–'} |"
        )
    lines += ["", "| Other figure | This run | Before PR |", "|---|---|---|"]
    for label, key in EXTRA_ROWS:
        m, s, _ = mean_std([f.get(key) for f in folds], ddof)
        mb, sb, _ = mean_std([f.get("before_pr", {}).get(key) for f in folds], ddof)
        lines.append(f"| {label} | {_fmt(m, s)} | {_fmt(mb, sb) if key != 'incoherent_before_pr' else '–'} |")
    for label, key in (("DSC Average", "dsc_avg"), ("ACC", "acc")):
        mb, sb, _ = mean_std([f.get("before_pr", {}).get(key) for f in folds], ddof)
        lines.append(f"| {label} before PR | – | {_fmt(mb, sb)} |")
    lines += [
        "",
        "Per fold:",
        "",
        "| Fold | n test | DSC avg | F1 weighted | ACC | incoherent before PR | refined cases |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in folds:
        cells = [
            "–" if f.get(k) is None else f"{f[k]:.3f}"
            for k in ("dsc_avg", "f1_weighted", "acc", "incoherent_before_pr")
        ]
        lines.append(f"| {f['fold']} | {f.get('n_test')} | {' | '.join(cells)} | {f.get('refined_cases')} |")
    return "\n".join(lines) + "\n"


def summarize_run(run_dir: str | Path, md_path: str | Path | None = None, ddof: int = DEFAULT_DDOF) -> str:
    """Summarise a run folder; also write the Markdown to ``md_path`` when given. Returns the text."""
    text = summary_markdown(load_folds(run_dir), ddof)
    if md_path is not None:
        write_text(md_path, text)
    return text

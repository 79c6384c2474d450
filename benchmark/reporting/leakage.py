"""Stage: leakage inflation -- how much a naive split's test score owes to copies of its test images in training.

Given a run trained on a naive split (e.g. the raw 780 BUSI images with the paper code's
StratifiedKFold, no group links) and a review journal (``decisions.csv``: which pairs are the same
frame, which adjacent frames of one sweep), every test image of every fold is put into one subset:

* ``same-frame copy in training``: an image of the same frame (same-frame or identical decision,
  transitively) is in that fold's ``train`` split (*in training* = the train split only, the definition
  :mod:`benchmark.reporting.leakage_paired` states);
* ``same-frame copy only in validation``: copies only in the fold's ``val`` split;
* ``adjacent frame only``: no same-frame copy, but an adjacent-frame partner in ``train`` or ``val``;
* ``no copy``: none of these.

and DSC / accuracy are reported per subset (pooled over folds, and per fold), beside a curated run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmark.data.exclusion import frame_relations
from benchmark.errors import BenchError
from benchmark.reporting.runs import Entry, RunData, load_runs
from benchmark.reporting.summarize import mean_std
from benchmark.reporting.table_profile import fold_hardware, fold_values
from benchmark.reporting.tables import markdown_table
from busi_curate.fileio import write_csv, write_text
from busi_curate.publish.manifest import read_folds, read_manifest

SUBSETS = (
    "same-frame copy in training",
    "same-frame copy only in validation",
    "adjacent frame only (train or val)",
    "no copy (train or val)",
)


def classify_tests(folds_file: str | Path, manifest: str | Path, journal: str | Path) -> pd.DataFrame:
    """``class, id, fold, subset`` for every test image of every fold of a folds file."""
    folds = read_folds(folds_file, read_manifest(manifest))
    uf, adjacent = frame_relations(journal)
    rows = []
    for k in folds.numbers:
        parts = folds.split(k)
        train, val = set(parts["train"]), set(parts["val"])
        for key in parts["test"]:
            copies = [t for t in train if t != key and uf.find(t) == uf.find(key)]
            in_val = [t for t in val if t != key and uf.find(t) == uf.find(key)]
            partners = adjacent.get(key, set()) & (train | val)
            subset = SUBSETS[0] if copies else SUBSETS[1] if in_val else SUBSETS[2] if partners else SUBSETS[3]
            rows.append(
                {
                    "class": key[0],
                    "id": key[1],
                    "fold": k,
                    "subset": subset,
                    "copy_of_other_class": any(c[0] != key[0] for c in copies),
                    "copies_in_train": ";".join(f"{c} {i}" for c, i in sorted(copies)),
                    "copies_in_val": ";".join(f"{c} {i}" for c, i in sorted(in_val)),
                    "adjacent_in_train_or_val": ";".join(f"{c} {i}" for c, i in sorted(partners)),
                }
            )
    return pd.DataFrame(rows)


def _scores(df: pd.DataFrame) -> dict[str, float]:
    return {
        "n": len(df),
        "dsc": float(df["dice"].mean()) if len(df) else np.nan,
        "acc": float((df["pred"] == df["true"]).mean()) if len(df) else np.nan,
    }


def _naive_inputs(
    naive_run: Path, manifest: str | Path | None, folds: str | Path | None
) -> tuple[RunData, dict[str, Any]]:
    """The naive run and its inputs (``manifest`` / ``folds`` override the recorded paths; the folds are checked)."""
    from busi_curate.fileio import file_sha256

    runs = {r.name: r for r in load_runs(naive_run.parent) if r.path == naive_run}
    if naive_run.name not in runs:
        raise BenchError("no finished fold found", naive_run)
    run = runs[naive_run.name]
    inputs = dict(run.provenance["inputs"])
    if manifest is not None or folds is not None:
        inputs.update(manifest=str(manifest or inputs["manifest"]), folds=str(folds or inputs["folds"]))
    for key in ("manifest", "folds"):
        if not Path(inputs[key]).is_file():
            raise BenchError(f"the run's {key} file {inputs[key]} is not here; pass --{key}", naive_run)
    if file_sha256(inputs["folds"]) != run.provenance["inputs"].get("folds_sha256", file_sha256(inputs["folds"])):
        raise BenchError("is not the folds file the run was trained on (SHA-256 differs)", inputs["folds"])
    return run, inputs


def _subset_rows(merged: pd.DataFrame) -> list[dict[str, Any]]:
    """One row per subset (pooled and per-fold DSC and ACC), then all test images."""
    rows: list[dict[str, Any]] = []
    for name in SUBSETS:
        sub = merged[merged["subset"] == name]
        s = _scores(sub)
        fold_dsc = [float(g["dice"].mean()) for _, g in sub.groupby("fold")]
        fold_acc = [float((g["pred"] == g["true"]).mean()) for _, g in sub.groupby("fold")]
        rows.append(
            {
                "subset": name,
                "n_test_images": s["n"],
                "share": s["n"] / len(merged) if len(merged) else np.nan,
                "dsc_pooled": s["dsc"],
                "acc_pooled": s["acc"],
                "dsc_fold_mean": mean_std(fold_dsc)[0],
                "dsc_fold_std": mean_std(fold_dsc)[1],
                "acc_fold_mean": mean_std(fold_acc)[0],
                "acc_fold_std": mean_std(fold_acc)[1],
            }
        )
    allm = _scores(merged)
    all_row = {"subset": "all test images (naive split)", "n_test_images": allm["n"], "share": 1.0}
    rows.append({**all_row, "dsc_pooled": allm["dsc"], "acc_pooled": allm["acc"]})
    return rows


def _curated_row(curated_run: str | Path | None) -> tuple[dict[str, Any] | None, str]:
    """The curated run's pooled row and the line naming it (None, "" without one)."""
    if curated_run is None:
        return None, ""
    cr = [r for r in load_runs(Path(curated_run).parent) if r.path == Path(curated_run)]
    if not cr:
        return None, ""
    c = _scores(Entry("curated", cr[0]).per_image())
    row = {"subset": f"curated_busi_v1 test images ({Path(curated_run).name})", "n_test_images": c["n"]}
    row.update(share=np.nan, dsc_pooled=c["dsc"], acc_pooled=c["acc"])
    return row, f"curated run `{cr[0].name}` (folds {[f['fold'] for f in cr[0].folds]})"


def _by_class(merged: pd.DataFrame) -> list[list[str]]:
    """The by-class table's rows, and the copies filed under another class apart from those of the same class."""

    def cells(label: str, cls: str, s: dict[str, float]) -> list[str]:
        return [label, cls, str(s["n"]), f"{s['dsc']:.3f}", f"{s['acc']:.3f}"]

    by_class = []
    for name in SUBSETS:
        for cls in ("benign", "malignant", "normal"):
            sub = merged[(merged["subset"] == name) & (merged["class"] == cls)]
            if len(sub):
                by_class.append(cells(name, cls, _scores(sub)))
    conflict = merged[merged["subset"] == SUBSETS[0]]
    if len(conflict) and int(conflict["copy_of_other_class"].sum()):
        other = _scores(conflict[conflict["copy_of_other_class"]])
        by_class.append(cells(f"{SUBSETS[0]}, copy filed under another class", "all", other))
        by_class.append(
            cells(f"{SUBSETS[0]}, copy of the same class", "all", _scores(conflict[~conflict["copy_of_other_class"]]))
        )
    return by_class


def _fig(v: Any, pct: bool = False) -> str:
    return "–" if v is None or (isinstance(v, float) and np.isnan(v)) else (f"{100 * v:.1f} %" if pct else f"{v:.3f}")


def leakage_report(
    naive_run: str | Path,
    journal: str | Path,
    out: str | Path,
    curated_run: str | Path | None = None,
    manifest: str | Path | None = None,
    folds: str | Path | None = None,
) -> str:
    """Write ``per_image_subsets.csv``, ``subsets.csv`` and ``README.md`` into ``out``; returns the Markdown.

    Raises:
        BenchError: the run has no finished fold or lacks per-image results.
    """
    naive_run, out = Path(naive_run), Path(out)
    run, inputs = _naive_inputs(naive_run, manifest, folds)
    subsets = classify_tests(inputs["folds"], inputs["manifest"], journal)
    done = {f["fold"] for f in run.folds}
    subsets = subsets[subsets["fold"].isin(done)]
    merged = subsets.merge(Entry("naive", run).per_image(), on=["class", "id", "fold"], how="left")
    if merged["dice"].isna().all():
        raise BenchError("per_image.csv lacks Dice figures", naive_run)
    write_csv(out / "per_image_subsets.csv", merged)
    rows = _subset_rows(merged)
    curated, curated_line = _curated_row(curated_run)
    rows += [curated] if curated else []
    write_csv(out / "subsets.csv", pd.DataFrame(rows))
    cfg = run.config
    md_rows = [[r["subset"], str(r["n_test_images"]), _fig(r.get("share"), True)] for r in rows]
    md_rows = [m + [_fig(r["dsc_pooled"]), _fig(r["acc_pooled"])] for m, r in zip(md_rows, rows)]
    n_leak = rows[0]["n_test_images"]
    lines = [
        "# Leakage inflation: a naive split of raw BUSI, scored by whether a test image has a copy in training",
        "",
        f"- run `{run.name}`: {cfg.get('model')} task {cfg.get('task')}, {cfg.get('label')}; folds {sorted(done)}; "
        f"{fold_hardware(run)}; commit {fold_values(run, 'git_commit')}",
        f"- split: {inputs.get('folds')} (manifest {inputs.get('manifest')}, sha256 {str(inputs.get('manifest_sha256'))[:12]})",
        f"- copies: the standing same-frame / identical / adjacent-frame decisions of `{journal}`",
        f"- {n_leak} of {len(merged)} test images ({_fig(n_leak / len(merged) if len(merged) else np.nan, True)}) have a "
        "same-frame copy in their fold's training split",
        *([f"- beside: {curated_line}"] if curated_line else []),
        "- DSC after prediction refining, per image, pooled over folds; ACC = share of test images classified correctly",
        "",
        markdown_table(["Test images", "n", "share", "DSC", "ACC"], md_rows),
        "",
        "By class (the subsets differ in class mix):",
        "",
        markdown_table(["Test images", "class", "n", "DSC", "ACC"], _by_class(merged)),
        "",
    ]
    return "\n".join(lines + _observational_words(merged, cfg))


def _observational_words(merged: pd.DataFrame, cfg: dict[str, Any]) -> list[str]:
    """What the unpaired subsets show (bootstrap CIs of differences of means) and what they cannot."""
    from benchmark.reporting.leakage_paired import verdict
    from benchmark.reporting.significance import unpaired_bootstrap_ci

    lines = ["### What these observational numbers show", ""]
    copy = merged[merged["subset"] == SUBSETS[0]]
    for other in (SUBSETS[1], SUBSETS[3]):
        ref = merged[merged["subset"] == other]
        parts = []
        for name, col in (("DSC", "dice"), ("accuracy", "correct")):
            a = copy["dice"] if col == "dice" else (copy["pred"] == copy["true"]).astype(float)
            b = ref["dice"] if col == "dice" else (ref["pred"] == ref["true"]).astype(float)
            lo, hi = unpaired_bootstrap_ci(a.to_numpy(), b.to_numpy())
            parts.append(verdict(float(a.mean() - b.mean()), lo, hi, name))
        lines.append(f"- **{SUBSETS[0]} ({len(copy)}) against {other} ({len(ref)})**, unpaired: " + "; ".join(parts))
    lines += [
        "",
        "### What they cannot show",
        "",
        "- Cause: the subsets are different images (class mix, and duplicated frames are where BUSI's annotations "
        "disagree most), scored by one training per fold; '(inflation)' or '(deflation)' above only names the sign "
        "of an unpaired difference. The paired arms (`busi-bench leakage --arms`, grids/cpu_leakage.yaml) "
        "measure the effect of the copies on the same test images.",
        f"- The paper's protocol: profile `{cfg.get('profile')}` ({cfg.get('epochs')} epochs at "
        f"{cfg.get('image_size')} px) underfits and memorises little.",
        "",
    ]
    return lines


PAIRED_PENDING = """# Leakage inflation on a naive split of raw BUSI

**The paired, causal design has no finished runs in this report yet.** Its arms (the same model trained on
the naive folds as they are, with every same-frame copy of the test images removed, and with as many random
images removed) are declared in `grids/cpu_leakage.yaml`; once they have run, `busi-bench leakage ... --arms
RUNS` writes their per-image paired differences by stratum here. Until then, what follows is the earlier
observational result: one training per fold, unpaired subsets of test images.
"""


def write_leakage_report(
    naive_run: str | Path | None,
    journal: str | Path,
    out: str | Path,
    curated_run: str | Path | None = None,
    notes: str = "",
    manifest: str | Path | None = None,
    folds: str | Path | None = None,
    arms: str | Path | None = None,
    mask_iou: str | Path | None = None,
    iou_threshold: float | None = None,
) -> Path:
    """``out/README.md``: the paired arms (``arms``, :mod:`benchmark.reporting.leakage_paired`) first, then the
    observational split of one naive run (:func:`leakage_report`), then ``notes``.

    Raises:
        BenchError: neither a naive run nor arms; arms without ``mask_iou``, ``manifest`` and ``folds``.
    """
    parts = []
    if arms is not None:
        from benchmark.reporting.leakage_paired import IOU_THRESHOLD, paired_report

        if mask_iou is None or manifest is None or folds is None:
            raise BenchError("--arms needs --mask-iou, --manifest and --folds (the naive split the arms share)")
        threshold = IOU_THRESHOLD if iou_threshold is None else iou_threshold
        parts.append(paired_report(arms, journal, mask_iou, manifest, folds, out, threshold))
    else:
        parts.append(PAIRED_PENDING)
    if naive_run is not None:
        text = leakage_report(naive_run, journal, out, curated_run, manifest, folds)
        text = text.replace("# Leakage inflation: ", "## Earlier, observational (one training per fold, unpaired): ", 1)
        parts.append(text)
    if naive_run is None and arms is None:
        raise BenchError("give a naive run, --arms, or both")
    opts = [
        ("--arms", arms),
        ("--mask-iou", mask_iou),
        ("--iou-threshold", iou_threshold if arms is not None else None),
        ("--decisions", journal),
        ("--curated", curated_run),
        ("--manifest", manifest),
        ("--folds", folds),
        ("--out", out),
    ]
    cmd = " ".join(
        ["busi-bench leakage", *([str(naive_run)] if naive_run else [])] + [f"{k} {v}" for k, v in opts if v]
    )
    parts.append(f"## Reproduce\n\n```\n{cmd}\n```\n")
    path = Path(out) / "README.md"
    write_text(path, "\n".join(parts) + ("\n" + notes.strip() + "\n" if notes else ""))
    return path

"""busi-bench report: hand-made run folders aggregate to known tables; significance tests match scipy /
statsmodels on textbook data; Holm's correction."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch")

from benchmark.reporting.report import build_report  # noqa: E402
from benchmark.reporting.significance import holm, mcnemar, paired_t, wilcoxon  # noqa: E402

CLASSES = ("benign", "malignant", "normal")
TOOL = "busi-bench"


def _fold(
    run: Path,
    fold: int,
    cfg: dict,
    metrics: dict,
    before: dict,
    dice: list[float],
    pred: list[str],
    before_dice: list[float] | None = None,
) -> None:
    d = run / f"fold{fold}"
    d.mkdir(parents=True)
    prov = {
        "tool": TOOL,
        "version": "x",
        "config": cfg,
        "inputs": {"manifest_sha256": "m" * 64},
        "hardware": "test",
        "git_commit": "abc",
    }
    json.dump(
        dict(
            metrics,
            fold=fold,
            before_pr=before,
            history=[{"epoch": 1, "train_loss": 1.0, "val_loss": 0.9, "val_dsc": 0.5, "val_acc": 0.5}],
            provenance=prov,
        ),
        open(d / "metrics.json", "w"),
    )
    n = len(dice)
    true = [CLASSES[i % 3] for i in range(n)]
    pd.DataFrame(
        {
            "class": true,
            "id": [str(10 * fold + i) for i in range(n)],
            "true": true,
            "dice": dice,
            "before_dice": before_dice or dice,
            "pred": pred,
            "before_pred": pred,
        }
    ).to_csv(d / "per_image.csv", index=False)


def _cfg(task: str, do: bool, model: str = "mt-unetpp", refine: str = "paper") -> dict:
    return {
        "model": model,
        "task": task,
        "oversample": do,
        "refine": refine,
        "profile": "test",
        "epochs": 1,
        "image_size": 32,
        "label": "hand-made",
        "class_subset": "all",
        "cls_head": "paper",
        "threshold": 0.5,
    }


def test_hand_made_runs_give_known_tables(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    n = 12
    rng = np.random.default_rng(0)
    for fold, (a, b) in enumerate([(0.70, 0.60), (0.80, 0.64)]):
        true = [CLASSES[i % 3] for i in range(n)]
        _fold(
            runs / "mt-do",
            fold,
            _cfg("mt", True),
            {"dsc_avg": a, "acc": b, "f1_weighted": b, "incoherent_before_pr": 0.1},
            {"dsc_avg": a - 0.1, "acc": b},
            list(rng.uniform(0.6, 0.9, n)),
            true,
            list(rng.uniform(0.4, 0.6, n)),
        )
        _fold(
            runs / "st-seg",
            fold,
            _cfg("seg", False),
            {"dsc_avg": a - 0.2},
            {},
            list(rng.uniform(0.1, 0.4, n)),
            [""] * n,
        )
        _fold(
            runs / "st-cls",
            fold,
            _cfg("cls", False),
            {"acc": b - 0.2, "f1_weighted": b - 0.2},
            {},
            [np.nan] * n,
            [true[i] if i % 2 else "normal" for i in range(n)],
        )
    out = tmp_path / "report"
    build_report(runs, out)
    t5 = pd.read_csv(out / "table5.csv")
    row = t5[(t5["configuration"] == "MT + PR + DO") & (t5["metric"] == "dsc_avg")].iloc[0]
    assert row["mean"] == pytest.approx(0.75) and row["std"] == pytest.approx(0.05)  # population std over 2 folds
    assert row["paper_mean"] == pytest.approx(0.751)
    before = t5[(t5["configuration"] == "MT + DO") & (t5["metric"] == "dsc_avg")].iloc[0]
    assert before["mean"] == pytest.approx(0.65)  # the same training scored before PR
    st = t5[(t5["configuration"] == "ST (Seg)") & (t5["metric"] == "dsc_avg")].iloc[0]
    assert st["mean"] == pytest.approx(0.55)
    assert not ((t5["configuration"] == "ST (Seg)") & (t5["metric"] == "acc")).any()  # no classification row
    md = (out / "table5.md").read_text(encoding="utf-8")
    assert "0.750 ± 0.050" in md and "population standard deviation" in md and "paper" in md
    for k in range(4, 10):
        assert (out / f"table{k}.csv").is_file() and (out / f"table{k}.html").is_file()
    t7 = pd.read_csv(out / "table7.csv")
    prop = t7[t7["configuration"] == "MT + PR + DO"]
    assert prop[[f"pred_{c}" for c in CLASSES]].to_numpy().diagonal().tolist() == [100.0, 100.0, 100.0]
    sig = pd.read_csv(out / "significance.csv")
    w = sig[(sig["test"] == "wilcoxon") & (sig["b"] == "ST (Seg)")].iloc[0]
    assert w["n"] == 2 * n and w["p"] < 0.001  # every MT dice is above every ST one
    m = sig[(sig["test"] == "mcnemar") & (sig["b"] == "ST (Cls)")].iloc[0]
    assert m["n"] == 2 * n and set(sig["p_holm"].dropna() >= sig["p"].dropna()) == {True}
    assert (out / "curves" / "mt-do.png").is_file()


def test_wilcoxon_matches_scipy_on_a_textbook_example() -> None:
    from scipy import stats

    # Wilcoxon (1945) / the scipy documentation's example: differences in height of cross- and self-fertilised plants
    d = np.array([6, 8, 14, 16, 23, 24, 28, 29, 41, -48, 49, 56, 60, -67, 75])
    stat, p = wilcoxon(d + 100, np.full(len(d), 100))
    ref = stats.wilcoxon(d)
    assert stat == ref.statistic == 24 and p == pytest.approx(ref.pvalue) and p == pytest.approx(0.0413, abs=1e-3)
    assert wilcoxon(np.ones(5), np.ones(5)) == (0.0, 1.0)


def test_mcnemar_matches_statsmodels() -> None:
    from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar

    a = np.array([True] * 59 + [True] * 6 + [False] * 16 + [False] * 80)
    b = np.array([True] * 59 + [False] * 6 + [True] * 16 + [False] * 80)
    stat, p = mcnemar(a, b)
    ref = sm_mcnemar([[59, 6], [16, 80]], exact=True)
    assert stat == ref.statistic == 6 and p == pytest.approx(ref.pvalue)


def test_paired_t_and_holm() -> None:
    from scipy import stats
    from statsmodels.stats.multitest import multipletests

    a, b = [0.75, 0.74, 0.78, 0.72], [0.70, 0.71, 0.72, 0.70]
    t, p = paired_t(a, b)
    ref = stats.ttest_rel(a, b)
    assert t == pytest.approx(ref.statistic) and p == pytest.approx(ref.pvalue)
    ps = [0.01, 0.04, 0.03, float("nan")]
    adj = holm(ps)
    assert adj[:3] == pytest.approx(list(multipletests(ps[:3], method="holm")[1])) and np.isnan(adj[3])
    assert np.isnan(paired_t([0.5], [0.4])[1])


def test_holm_over_each_stated_family_matches_statsmodels(tmp_path: Path) -> None:
    from statsmodels.stats.multitest import multipletests

    runs, n, rng = tmp_path / "runs", 15, np.random.default_rng(3)
    for fold in range(2):
        true = [CLASSES[i % 3] for i in range(n)]
        for name, task, do, shift in (("mt-do", "mt", True, 0.0), ("mt", "mt", False, 0.05)):
            dice = list(rng.uniform(0.5, 0.9, n) - shift)
            _fold(
                runs / name,
                fold,
                _cfg(task, do),
                {"dsc_avg": 0.7, "acc": 0.6},
                {"dsc_avg": 0.6, "acc": 0.6},
                dice,
                [t if rng.random() < 0.7 else "normal" for t in true],
                list(np.array(dice) - 0.02),
            )
        for name, do, shift in (("st-seg", False, 0.1), ("st-seg-do", True, 0.03)):
            _fold(
                runs / name,
                fold,
                _cfg("seg", do),
                {"dsc_avg": 0.6},
                {},
                list(rng.uniform(0.4, 0.9, n) - shift),
                [""] * n,
            )
    build_report(runs, tmp_path / "report")
    sig = pd.read_csv(tmp_path / "report" / "significance.csv")
    tested = sig[sig["test"] != "paired-t"]
    families = tested.groupby("family")
    assert max(len(g) for _, g in families) >= 4  # MT + PR + DO against MT, MT + PR, MT + DO, ST (Seg), ST (Seg) + DO
    for _, g in families:
        assert g["p_holm"].tolist() == pytest.approx(list(multipletests(g["p"], method="holm")[1]))
    desc = sig[sig["test"] == "paired-t"]
    assert desc["p_holm"].isna().all() and desc["role"].str.contains("descriptive").all()
    w = tested[tested["test"] == "wilcoxon"]
    assert (w["diff_ci_low"] <= w["diff"]).all() and (w["diff"] <= w["diff_ci_high"]).all()
    assert w["diff"].tolist() == pytest.approx((w["mean_a"] - w["mean_b"]).tolist())
    assert "Pratt" in (tmp_path / "report" / "significance.md").read_text(encoding="utf-8")


def test_wilcoxon_zero_handling_pratt_against_scipy() -> None:
    from scipy import stats

    a = np.array([0.5] * 20 + [0.6, 0.7, 0.65, 0.8, 0.75, 0.9])
    b = np.array([0.5] * 20 + [0.5, 0.6, 0.6, 0.7, 0.7, 0.8])  # 20 ties, every other image higher in a
    p_pratt = wilcoxon(a, b, "pratt")[1]
    p_drop = wilcoxon(a, b, "wilcox")[1]
    assert p_pratt == pytest.approx(stats.wilcoxon(a, b, zero_method="pratt").pvalue)
    assert p_drop == pytest.approx(stats.wilcoxon(a, b).pvalue) and p_pratt != p_drop


def test_seed_spread_of_a_row_with_several_seeds(tmp_path: Path) -> None:
    runs, n = tmp_path / "runs", 6
    fold_means = {1993: (0.60, 0.62), 1994: (0.66, 0.64), 1995: (0.58, 0.60)}
    for seed, means in fold_means.items():
        for fold, m in enumerate(means):
            cfg = dict(_cfg("seg", True), seed=seed, threads=seed % 2)  # threads may differ between seeds
            _fold(runs / f"st-seg-do-s{seed}", fold, cfg, {"dsc_avg": m}, {}, [m] * n, [""] * n)
    _fold(
        runs / "zz-st-seg-do-other",
        0,
        dict(_cfg("seg", True), seed=7, epochs=2),
        {"dsc_avg": 0.1},
        {},
        [0.1] * n,
        [""] * n,
    )  # another configuration: not a seed of the row
    build_report(runs, tmp_path / "report")
    t5 = pd.read_csv(tmp_path / "report" / "table5.csv")
    row = t5[(t5["configuration"] == "ST (Seg) + DO") & (t5["metric"] == "dsc_avg")].iloc[0]
    per_seed = [np.mean(v) for v in fold_means.values()]
    assert row["n_seeds"] == 3 and row["seeds"] == "1993,1994,1995"
    assert row["seed_mean"] == pytest.approx(np.mean(per_seed)) and row["seed_std"] == pytest.approx(
        np.std(per_seed, ddof=1)
    )
    assert row["mean"] == pytest.approx(0.61) and row["seed_min"] == pytest.approx(0.59)
    assert "3 seeds: 0.617 ± 0.031, 0.590-0.650" in (tmp_path / "report" / "table5.md").read_text(encoding="utf-8")

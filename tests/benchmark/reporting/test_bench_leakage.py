"""busi-bench leakage: the paired design's exclusion files (derived from the committed naive folds and
journal, no images needed) and its per-image paired analysis on hand-made run folders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmark.data.exclusion import apply_exclusion, leakage_arms, read_exclusion
from benchmark.errors import BenchError
from benchmark.reporting.leakage import classify_tests, frame_relations, write_leakage_report
from benchmark.reporting.leakage_paired import (
    AGREES,
    CONFLICTS,
    LOC_NONE,
    LOC_TRAIN,
    LOC_VAL,
    UNMEASURED,
    agreement,
    image_strata,
    paired_differences,
    read_mask_iou,
    stratum_rows,
    verdict,
)
from benchmark.reporting.significance import paired_bootstrap_ci

ROOT = Path(__file__).resolve().parents[3]
NAIVE = ROOT / "manifests" / "raw_busi_naive"
JOURNAL = ROOT / "manifests" / "curated_busi_v1" / "decisions.csv"
MASK_IOU = ROOT / "reports" / "curated_busi_v1" / "mask_iou.csv"


@pytest.fixture(scope="module")
def arms(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("arms")
    leakage_arms(NAIVE / "folds.csv", NAIVE / "manifest.csv", JOURNAL, out, seeds=(1993, 7))
    return out


def test_copies_removed_drops_exactly_the_copies_of_each_folds_tests(arms: Path) -> None:
    from busi_curate.publish.manifest import read_folds, read_manifest

    folds = read_folds(NAIVE / "folds.csv", read_manifest(NAIVE / "manifest.csv"))
    uf, _ = frame_relations(JOURNAL)
    removed = read_exclusion(arms / "copies-removed.csv")
    for k in folds.numbers:
        parts = folds.split(k)
        roots = {uf.find(t) for t in parts["test"]}
        expect = {(s, key) for s in ("train", "val") for key in parts[s] if uf.find(key) in roots}
        part = removed[removed["fold"] == k]
        got = {(s, (c, i)) for s, c, i in zip(part["split"], part["class"], part["id"])}
        assert got == expect and got
    # the observational classification counts the same copies: 215 test images with a copy in train, 53 only in val
    subsets = classify_tests(NAIVE / "folds.csv", NAIVE / "manifest.csv", JOURNAL)["subset"].value_counts()
    assert subsets["same-frame copy in training"] == 215 and subsets["same-frame copy only in validation"] == 53


def test_control_matches_counts_avoids_copies_and_is_seeded(arms: Path, tmp_path: Path) -> None:
    removed = read_exclusion(arms / "copies-removed.csv")
    control = read_exclusion(arms / "control-seed1993.csv")
    cell = ["fold", "split", "class"]
    assert removed.groupby(cell).size().to_dict() == control.groupby(cell).size().to_dict()
    assert not set(zip(control["fold"], control["class"], control["id"])) & set(
        zip(removed["fold"], removed["class"], removed["id"])
    )
    other = read_exclusion(arms / "control-seed7.csv")
    assert set(zip(other["class"], other["id"])) != set(zip(control["class"], control["id"]))
    again = tmp_path / "again"
    leakage_arms(NAIVE / "folds.csv", NAIVE / "manifest.csv", JOURNAL, again, seeds=(1993,))
    assert (again / "control-seed1993.csv").read_bytes() == (arms / "control-seed1993.csv").read_bytes()


def test_committed_exclusion_files_are_what_the_tool_writes(arms: Path) -> None:
    committed = NAIVE / "leakage"
    assert (committed / "copies-removed.csv").read_bytes() == (arms / "copies-removed.csv").read_bytes()
    for s in (1993, 1994, 1995):
        assert read_exclusion(committed / f"control-seed{s}.csv")["draw_seed"].eq(str(s)).all()


def test_apply_exclusion_and_its_checks(arms: Path, tmp_path: Path) -> None:
    removed = read_exclusion(arms / "copies-removed.csv")
    f0 = removed[removed["fold"] == 0]
    train = [(c, i) for c, i, s in zip(f0["class"], f0["id"], f0["split"]) if s == "train"] + [("benign", "x")]
    val = [(c, i) for c, i, s in zip(f0["class"], f0["id"], f0["split"]) if s == "val"]
    t, v, n = apply_exclusion(train, val, arms / "copies-removed.csv", 0)
    assert t == [("benign", "x")] and v == [] and n == len(f0)
    with pytest.raises(BenchError, match="does not hold"):
        apply_exclusion(train[1:], val, arms / "copies-removed.csv", 0)
    edited = tmp_path / "copies-removed.csv"
    edited.write_text((arms / "copies-removed.csv").read_text().replace("benign,1,", "benign,2,", 1))
    (tmp_path / "copies-removed.json").write_text((arms / "copies-removed.json").read_text())
    with pytest.raises(BenchError, match="SHA-256"):
        read_exclusion(edited)


def test_agreement_rule() -> None:
    iou = {frozenset({("benign", "1"), ("benign", "2")}): 0.9, frozenset({("benign", "1"), ("benign", "3")}): 0.4}
    assert agreement(("benign", "1"), [("benign", "2")], iou, 0.7) == (AGREES, 0.9)
    assert agreement(("benign", "1"), [("benign", "2"), ("benign", "3")], iou, 0.7)[0] == CONFLICTS
    assert agreement(("benign", "1"), [("malignant", "9")], iou, 0.7)[0] == CONFLICTS  # another class
    assert agreement(("benign", "1"), [("benign", "5")], iou, 0.7)[0] == UNMEASURED


def test_strata_on_the_committed_split() -> None:
    strata = image_strata(NAIVE / "folds.csv", NAIVE / "manifest.csv", JOURNAL, read_mask_iou(MASK_IOU))
    counts = strata["location"].value_counts()
    assert counts[LOC_TRAIN] == 215 and counts[LOC_VAL] == 53 and len(strata) == 780
    copied = strata[strata["location"].isin([LOC_TRAIN, LOC_VAL])]
    assert set(copied["agreement"]) <= {AGREES, CONFLICTS, UNMEASURED} and (copied["agreement"] == CONFLICTS).any()
    assert (strata.loc[strata["location"] == LOC_NONE, "agreement"] == "").all()


def _scores(arm: str, seed: int, dice: list[float], correct: list[float]) -> pd.DataFrame:
    n = len(dice)
    return pd.DataFrame(
        {"arm": arm, "seed": seed, "class": "benign", "id": [str(i) for i in range(n)], "fold": 0}
        | {"dice": dice, "correct": correct}
    )


def test_paired_differences_average_common_seeds_and_strata_rows() -> None:
    scores = pd.concat(
        [
            _scores("control", 1, [0.9, 0.8, 0.5, 0.5], [1, 1, 0, 1]),
            _scores("copies-removed", 1, [0.7, 0.8, 0.5, 0.4], [0, 1, 0, 1]),
            _scores("control", 2, [0.8, 0.8, 0.5, 0.5], [1, 1, 1, 1]),
            _scores("copies-removed", 2, [0.8, 0.6, 0.5, 0.3], [1, 1, 0, 1]),
            _scores("control", 3, [0.0, 0.0, 0.0, 0.0], [0, 0, 0, 0]),  # no partner in the other arm: ignored
        ]
    )
    d = paired_differences(scores, "control", "copies-removed")
    assert d["d_dice"].tolist() == pytest.approx([0.1, 0.1, 0.0, 0.15])
    assert d["d_correct"].tolist() == pytest.approx([0.5, 0.0, 0.5, 0.0]) and d.attrs["seeds"] == [1, 2]
    strata = pd.DataFrame(
        {"class": "benign", "id": ["0", "1", "2", "3"], "fold": 0}
        | {"location": [LOC_TRAIN, LOC_TRAIN, LOC_NONE, LOC_VAL], "agreement": [AGREES, CONFLICTS, "", AGREES]}
    )
    rows = {(r["location"], r["agreement"]): r for r in stratum_rows(d, strata, ("control", "copies-removed", "x"))}
    assert rows[("all test images", "any")]["n_images"] == 4
    assert rows[(LOC_TRAIN, "any")]["dsc_diff"] == pytest.approx(0.1)
    assert rows[(LOC_TRAIN, AGREES)]["acc_diff"] == pytest.approx(0.5) and rows[(LOC_VAL, AGREES)]["n_images"] == 1
    assert np.isnan(rows[(LOC_NONE, "any")]["dsc_ci_low"])  # one image: no interval
    assert paired_bootstrap_ci([0.2, 0.2, 0.2]) == (0.2, 0.2)


def test_bootstrap_ci_covers_the_mean_and_shrinks_with_n() -> None:
    rng = np.random.default_rng(0)
    small, large = rng.normal(0.1, 0.2, 50), rng.normal(0.1, 0.2, 2000)
    lo_s, hi_s = paired_bootstrap_ci(small)
    lo_l, hi_l = paired_bootstrap_ci(large)
    assert lo_s < small.mean() < hi_s and lo_l < large.mean() < hi_l and hi_l - lo_l < hi_s - lo_s
    se = large.std(ddof=1) / np.sqrt(len(large))
    assert hi_l - lo_l == pytest.approx(2 * 1.96 * se, rel=0.1)  # normal theory for a large sample
    assert paired_bootstrap_ci(small) == (lo_s, hi_s)  # seeded
    assert np.isnan(paired_bootstrap_ci([0.3])[0])


def test_verdict_words() -> None:
    assert "inflation" in verdict(0.05, 0.01, 0.09, "DSC")
    assert "deflation" in verdict(-0.05, -0.09, -0.01, "DSC")
    assert "not ruled out" in verdict(0.0, -0.1, 0.12, "DSC") and "0.120" in verdict(0.0, -0.1, 0.12, "DSC")


def _arm_run(runs: Path, name: str, exclude: str, seed: int, dice: list[float], folds_sha: str) -> None:
    d = runs / name / "fold0"
    d.mkdir(parents=True)
    cfg = {"model": "mt-unetpp", "task": "mt", "exclude": exclude, "seed": seed, "profile": "test"}
    prov = {"tool": "busi-bench", "config": cfg, "inputs": {"folds_sha256": folds_sha}}
    (d / "metrics.json").write_text(json.dumps({"fold": 0, "provenance": prov}))
    from busi_curate.publish.manifest import read_folds, read_manifest

    test = read_folds(NAIVE / "folds.csv", read_manifest(NAIVE / "manifest.csv")).split(0)["test"][: len(dice)]
    pd.DataFrame(
        {"class": [c for c, _ in test], "id": [i for _, i in test], "true": [c for c, _ in test]}
        | {"pred": [c for c, _ in test], "dice": dice}
    ).to_csv(d / "per_image.csv", index=False)


def test_paired_report_end_to_end(arms: Path, tmp_path: Path) -> None:
    from busi_curate.fileio import file_sha256

    sha = file_sha256(NAIVE / "folds.csv")
    runs = tmp_path / "runs"
    _arm_run(runs, "full", "", 1993, [0.8] * 30, sha)
    _arm_run(runs, "removed", str(arms / "copies-removed.csv"), 1993, [0.6] * 30, sha)
    _arm_run(runs, "control", str(arms / "control-seed1993.csv"), 1993, [0.7] * 30, sha)
    out = tmp_path / "report"
    path = write_leakage_report(
        None, JOURNAL, out, arms=runs, mask_iou=MASK_IOU, manifest=NAIVE / "manifest.csv", folds=NAIVE / "folds.csv"
    )
    table = pd.read_csv(out / "paired_strata.csv")
    main = table[(table["contrast"] == "control - copies-removed") & (table["location"] == "all test images")]
    assert main.iloc[0]["n_images"] == 30 and main.iloc[0]["dsc_diff"] == pytest.approx(0.1)
    text = path.read_text()
    assert "What they cannot show" in text and "higher with the copies (inflation)" in text
    # one fold of one seed: labelled partial (the folds file has 4 folds, the design asks for 3 seeds)
    assert "**Partial, not a result yet:** at most 1 of the folds file's 4 folds and 1 of at least 3 seeds" in text
    _arm_run(runs, "other-model", "", 1993, [0.5], sha)
    (runs / "other-model" / "fold0" / "metrics.json").write_text(
        (runs / "other-model" / "fold0" / "metrics.json").read_text().replace("mt-unetpp", "mt-nnunet")
    )
    with pytest.raises(BenchError, match="different configurations"):
        write_leakage_report(
            None, JOURNAL, out, arms=runs, mask_iou=MASK_IOU, manifest=NAIVE / "manifest.csv", folds=NAIVE / "folds.csv"
        )
    import shutil

    shutil.rmtree(runs / "other-model")
    with pytest.raises(BenchError, match="another folds file"):
        _arm_run(runs, "stray", "", 1994, [0.5], "0" * 64)
        write_leakage_report(
            None, JOURNAL, out, arms=runs, mask_iou=MASK_IOU, manifest=NAIVE / "manifest.csv", folds=NAIVE / "folds.csv"
        )


COMMITTED = ROOT / "reports" / "leakage_inflation"


@pytest.mark.skipif(not (COMMITTED / "arms").is_dir(), reason="no committed paired arms")
def test_the_committed_leakage_report_is_what_the_tool_writes_from_the_committed_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every figure of reports/leakage_inflation (paired strata and README) regenerates from its committed runs."""
    monkeypatch.chdir(ROOT)  # the README quotes the paths as given, relative to the repository root
    t5 = Path("reports/bench_cpu_table5/runs")
    write_leakage_report(
        t5 / "naive-mt-do",
        Path("manifests/curated_busi_v1/decisions.csv"),
        tmp_path,
        curated_run=t5 / "mt-do",
        manifest=Path("manifests/raw_busi_naive/manifest.csv"),
        folds=Path("manifests/raw_busi_naive/folds.csv"),
        arms=Path("reports/leakage_inflation/arms"),
        mask_iou=Path("reports/curated_busi_v1/mask_iou.csv"),
        iou_threshold=0.7,
    )
    for name in ("paired_strata.csv", "subsets.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(tmp_path / name), pd.read_csv(COMMITTED / name), obj=name)
    written = (tmp_path / "README.md").read_text(encoding="utf-8").replace(str(tmp_path), "reports/leakage_inflation")
    assert written == (COMMITTED / "README.md").read_text(encoding="utf-8")

"""Folds: the paper's scheme exactly when images are independent; groups never split; determinism; CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import run_cli_captured as run_cli

from busi_curate.errors import ManifestError
from busi_curate.publish.folds import FoldSettings, fold_units, make_folds
from busi_curate.publish.manifest import read_folds, read_manifest

CLASSES = ("benign", "malignant", "normal")


def _toy(n: tuple[int, int, int] = (40, 25, 15)) -> tuple[list[tuple[str, str]], list[str]]:
    keys = [(c, str(i)) for c, k in zip(CLASSES, n) for i in range(1, k + 1)]
    return keys, [k[0] for k in keys]


def _check_partition(folds: pd.DataFrame, keys: list[tuple[str, str]], k: int) -> None:
    assert sorted(folds["fold"].unique()) == list(range(k))
    for f in range(k):
        sel = folds[folds["fold"] == f]
        assert len(sel) == len(keys) and not sel.duplicated(["class", "id"]).any()  # disjoint splits, all images
        assert set(sel["split"]) == {"train", "val", "test"}
    tests = folds[folds["split"] == "test"]
    counts = tests.groupby(["class", "id"]).size()
    assert len(counts) == len(keys) and (counts == 1).all()  # every image is a test image exactly once


def test_independent_images_reproduce_the_papers_code() -> None:
    from sklearn.model_selection import StratifiedKFold, train_test_split

    keys, labels = _toy()
    folds = make_folds(keys, labels)
    _check_partition(folds, keys, 4)
    y = np.array(labels)
    skf = StratifiedKFold(n_splits=4, shuffle=True, random_state=1993)
    for f, (rest, test) in enumerate(skf.split(np.zeros(len(y)), y)):
        _, val = train_test_split(rest, test_size=0.2, stratify=y[rest], random_state=1993)
        sel = folds[folds["fold"] == f].reset_index(drop=True)
        assert set(np.flatnonzero(sel["split"] == "test")) == set(test)
        assert set(np.flatnonzero(sel["split"] == "val")) == set(val)


def test_folds_are_stratified_and_deterministic() -> None:
    keys, labels = _toy()
    a, b = make_folds(keys, labels), make_folds(keys, labels)
    assert a.equals(b)
    tests = a[a["split"] == "test"]
    per = tests.groupby(["fold", "class"]).size().unstack()
    assert (per.max() - per.min() <= 1).all()  # classes spread evenly over the test folds
    c = make_folds(keys, labels, settings=FoldSettings(seed=7))
    assert not a.equals(c)


def test_grouped_images_share_fold_and_split() -> None:
    keys, labels = _toy()
    groups: list[int | None] = [None] * len(keys)
    groups[0] = groups[5] = groups[9] = 1  # three benign images of one group
    groups[41] = groups[44] = 2
    links = [(("normal", "1"), ("normal", "2"))]
    units = fold_units(keys, groups, links)
    assert units[0] == units[5] == units[9] and units[41] == units[44]
    assert len(set(units)) == len(keys) - 2 - 1 - 1
    folds = make_folds(keys, labels, units)
    _check_partition(folds, keys, 4)
    for f in range(4):
        sel = folds[folds["fold"] == f].set_index(["class", "id"])["split"]
        assert sel[("benign", "1")] == sel[("benign", "6")] == sel[("benign", "10")]
        assert sel[("malignant", "2")] == sel[("malignant", "5")]
        assert sel[("normal", "1")] == sel[("normal", "2")]


def test_val_fraction_zero_and_k() -> None:
    keys, labels = _toy()
    folds = make_folds(keys, labels, settings=FoldSettings(k=5, val_fraction=0))
    assert sorted(folds["fold"].unique()) == [0, 1, 2, 3, 4] and "val" not in set(folds["split"])
    with pytest.raises(ManifestError, match="cannot be split into 4 folds"):
        make_folds(keys[:3], labels[:3])
    with pytest.raises(ManifestError, match="validation fraction"):
        make_folds(keys, labels, settings=FoldSettings(val_fraction=1.0))


def test_folds_cli_regenerates_with_other_settings(
    synthetic_manifest_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "folds_k3.csv"
    code, stdout, _ = run_cli(
        ["folds", str(synthetic_manifest_dir), "--out", str(out), "--k", "3", "--seed", "11"], capsys
    )
    assert code == 0
    assert "test" in stdout and "benign" in stdout  # per-fold class counts
    folds = read_folds(out, synthetic_manifest_dir / "manifest.csv")
    assert folds.numbers == [0, 1, 2]
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["folds"]["k"] == 3 and side["folds"]["seed"] == 11
    assert side["manifest"]["sha256"] == read_manifest(synthetic_manifest_dir).sha256
    # the exported folds.csv is the default settings: regenerating them alone gives the same table
    main_again = tmp_path / "default.csv"
    assert run_cli(["folds", str(synthetic_manifest_dir / "manifest.csv"), "--out", str(main_again)], capsys)[0] == 0
    assert main_again.read_bytes() == (synthetic_manifest_dir / "folds.csv").read_bytes()


def test_folds_cli_refuses_to_overwrite_the_exported_file(
    synthetic_manifest_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = (synthetic_manifest_dir / "folds.csv").read_bytes()
    code, _, err = run_cli(
        ["folds", str(synthetic_manifest_dir), "--out", str(synthetic_manifest_dir / "folds.csv"), "--k", "3"], capsys
    )
    assert code == 2 and "re-run `busi-curate export`" in err
    assert (synthetic_manifest_dir / "folds.csv").read_bytes() == before


def test_exported_folds_cover_kept_images_only(synthetic_manifest_dir: Path) -> None:
    m = read_manifest(synthetic_manifest_dir)
    folds = read_folds(synthetic_manifest_dir / "folds.csv")
    kept = [r.key for r in m.kept()]
    _check_partition(folds.frame, kept, 4)
    split = folds.split(0)
    assert not set(split["train"]) & set(split["test"]) and not set(split["val"]) & set(split["test"])
    assert len(split["train"]) + len(split["val"]) + len(split["test"]) == len(kept)

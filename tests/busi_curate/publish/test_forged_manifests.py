"""Issue 22, FAIL 6: a manifest or folds file edited by hand *with its digests recomputed* still cannot leak.

Built on the committed ``manifests/curated_busi_v1``: folds that put a linked pair (benign 108 / 114, a
``fold_links`` pair) on two sides of a fold, and a manifest that keeps both members of the removed group 1
(benign 1 / 318) and tests one while training on the other, are refused by ``read_folds``, ``load_split``,
``verify`` and ``busi-bench run``, with one line naming the file.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from helpers import run_cli_captured

from busi_curate.errors import ManifestError
from busi_curate.publish.manifest import read_folds, read_manifest
from busi_curate.publish.split import load_split

V1 = Path(__file__).resolve().parents[3] / "manifests" / "curated_busi_v1"


def _resign(d: Path) -> None:
    """Recompute the SHA-256 of manifest.csv and folds.csv in manifest.json, as a forger would."""
    meta = json.loads((d / "manifest.json").read_text())
    for name in ("manifest.csv", "folds.csv"):
        meta["files"][name] = hashlib.sha256((d / name).read_bytes()).hexdigest()
    (d / "manifest.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")


def _csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _write(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False, lineterminator="\n")


@pytest.fixture()
def linked_split(tmp_path: Path) -> Path:
    """Folds where benign 114 is in 'val' of fold 0 while its linked benign 108 is in 'train'."""
    d = tmp_path / "m"
    shutil.copytree(V1, d)
    f = _csv(d / "folds.csv")
    sel = (f["class"] == "benign") & (f["id"] == "114") & (f["fold"] == "0")
    assert f.loc[sel, "split"].tolist() == ["train"]
    f.loc[sel, "split"] = "val"
    _write(f, d / "folds.csv")
    _resign(d)
    return d


@pytest.fixture()
def kept_group(tmp_path: Path) -> Path:
    """A manifest that keeps both members of group 1 (benign 1 / 318): 1 tested in fold 0, 318 trained on."""
    d = tmp_path / "m"
    shutil.copytree(V1, d)
    m = _csv(d / "manifest.csv")
    sel = (m["class"] == "benign") & m["id"].isin(["1", "318"])
    m.loc[sel, "status"], m.loc[sel, "reason"] = "kept", ""
    _write(m, d / "manifest.csv")
    f = _csv(d / "folds.csv")
    extra = [
        ("benign", i, str(k), "test" if (i, k) in (("1", 0), ("318", 1)) else "train")
        for k in range(4)
        for i in ("1", "318")
    ]
    f = pd.concat([f, pd.DataFrame(extra, columns=f.columns)], ignore_index=True)
    _write(f, d / "folds.csv")
    meta = json.loads((d / "manifest.json").read_text())
    meta["counts"]["after"]["benign"] += 2
    meta["counts"]["after"]["total"] += 2
    (d / "manifest.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    _resign(d)
    return d


def test_folds_splitting_a_linked_pair_are_refused(linked_split: Path) -> None:
    m = read_manifest(linked_split)  # the manifest itself is intact
    with pytest.raises(ManifestError, match=r"fold 0 puts benign \d+ \(train\) and benign 114 \(val\)"):
        read_folds(linked_split / "folds.csv", m)
    with pytest.raises(ManifestError, match="linked pair"):
        load_split(linked_split, linked_split / "folds.csv", "/nonexistent", 0, "train")


def test_a_manifest_keeping_a_removed_group_is_refused(kept_group: Path) -> None:
    with pytest.raises(ManifestError, match="keeps 2 member\\(s\\) of duplicate group 1 \\(benign 1, benign 318\\)"):
        read_manifest(kept_group)
    with pytest.raises(ManifestError, match="drop-all"):
        load_split(kept_group, kept_group / "folds.csv", "/nonexistent", 0, "test")


def test_counts_that_disagree_with_the_sidecar_are_refused(tmp_path: Path) -> None:
    d = tmp_path / "m"
    shutil.copytree(V1, d)
    m = _csv(d / "manifest.csv")
    sel = (m["class"] == "benign") & (m["id"] == "1")
    m.loc[sel, "group"], m.loc[sel, "status"], m.loc[sel, "reason"] = "", "kept", ""  # the group erased too
    _write(m, d / "manifest.csv")
    _resign(d)
    with pytest.raises(ManifestError, match="differ from the counts 'after'"):
        read_manifest(d)


@pytest.mark.parametrize("image", ["/etc/passwd", "../outside/x.png", "Dataset_BUSI_with_GT/../../x.png"])
def test_image_paths_leaving_the_data_folder_are_refused(tmp_path: Path, image: str) -> None:
    d = tmp_path / "m"
    shutil.copytree(V1, d)
    m = _csv(d / "manifest.csv")
    m.loc[0, "image"] = image
    _write(m, d / "manifest.csv")
    _resign(d)
    with pytest.raises(ManifestError, match="relative to the data folder"):
        read_manifest(d)


@pytest.mark.realdata
@pytest.mark.parametrize("forged", ["linked_split", "kept_group"])
def test_verify_and_bench_run_refuse_forged_files(forged: str, request, busi_dir: Path, tmp_path: Path, capsys) -> None:
    d: Path = request.getfixturevalue(forged)
    code, _, err = run_cli_captured(["verify", str(d), str(busi_dir), "--quiet"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and str(d) in err, err
    pytest.importorskip("torch")
    from click.testing import CliRunner

    from benchmark.cli import main

    argv = ["run", "--manifest", str(d / "manifest.csv"), "--folds", str(d / "folds.csv"), "--data", str(busi_dir)]
    argv += ["--out", str(tmp_path / "run"), "--profile", "smoke", "--fold", "0", "--epochs", "1"]
    r = CliRunner().invoke(main, argv)
    assert r.exit_code == 2 and "Traceback" not in r.output and str(d) in r.output, r.output
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").rglob("metrics.json"))

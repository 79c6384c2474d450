"""``bench-scale``: distinct frames with recorded ground truth, the same set whatever the workers, scoring of a
journal against the planted pairs, and the whole pipeline end to end on a small set."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from busi_curate.data.imageio import read_gray
from busi_curate.review.journal import Decision, Journal
from busi_curate.studies import scale_data
from busi_curate.studies.scale_bench import false_adjacent, score_journal


def test_plan_roles() -> None:
    p = scale_data.plan(1000, seed=1)
    kinds = [x.kind for x in p]
    assert len(p) == 1000 and kinds.count("neighbour") == 5
    copies = [x for x in p if x.kind not in ("base", "neighbour")]
    assert len(copies) == 20 and set(scale_data.COPY_KINDS) <= {x.kind for x in copies}
    sources = [x.source for x in p if x.kind != "base"]
    assert len(set(sources)) == len(sources) and all(p[s].kind == "base" for s in sources)
    cross = [x for x in p if x.kind == "cross-class"]
    assert all(x.cls != x.source_cls for x in cross)
    assert scale_data.plan(1000, seed=1) == p and scale_data.plan(1000, seed=2) != p
    with pytest.raises(ValueError, match="too small"):
        scale_data.plan(30)


def test_written_set_is_independent_of_workers(tmp_path: Path) -> None:
    rows1 = scale_data.write_scale_dataset(tmp_path / "a", 60, seed=3, workers=1)
    rows2 = scale_data.write_scale_dataset(tmp_path / "b", 60, seed=3, workers=2)
    assert rows1 == rows2 and len(rows1) == 16
    files = sorted((tmp_path / "a" / "Dataset_BUSI_with_GT").glob("*/*.png"))
    assert len(files) == 120
    for f in files[::7]:
        g = tmp_path / "b" / f.relative_to(tmp_path / "a")
        np.testing.assert_array_equal(read_gray(f), read_gray(g))
    exact = next(r for r in rows1 if r["kind"] == "exact")
    root = tmp_path / "a" / "Dataset_BUSI_with_GT"
    src = read_gray(root / exact["source_class"] / f"{exact['source_class']} ({exact['source_id']}).png")
    cp = read_gray(root / exact["copy_class"] / f"{exact['copy_class']} ({exact['copy_id']}).png")
    np.testing.assert_array_equal(src, cp)
    assert pd.read_csv(tmp_path / "a" / "planted.csv").shape == (16, 6)


def test_score_journal(tmp_path: Path) -> None:
    planted = [
        {"kind": "crop", "source_class": "benign", "source_id": "1", "copy_class": "benign", "copy_id": "9"},
        {"kind": "jpeg", "source_class": "benign", "source_id": "2", "copy_class": "benign", "copy_id": "8"},
        {"kind": "neighbour", "source_class": "normal", "source_id": "3", "copy_class": "normal", "copy_id": "7"},
    ]
    with Journal(tmp_path / "decisions.csv") as j:
        j.append(Decision("benign", "1", "benign", "9", "same", "same-frame", "auto"))  # found
        j.append(Decision("normal", "3", "normal", "7", "same", "same-frame", "auto"))  # a false merge
        j.append(Decision("benign", "2", "benign", "5", "same", "identical", "auto"))  # two bases: a false group
    recall, merges, groups = score_journal(tmp_path, planted)
    assert recall == {"crop": {"planted": 1, "found": 1}, "jpeg": {"planted": 1, "found": 0}}
    assert merges == 1 and groups == 2  # the neighbour's group and benign 2 + 5


def test_false_adjacent(tmp_path: Path) -> None:
    planted = [
        {"kind": "neighbour", "source_class": "normal", "source_id": "3", "copy_class": "normal", "copy_id": "7"},
        {"kind": "crop", "source_class": "benign", "source_id": "1", "copy_class": "malignant", "copy_id": "9"},
    ]
    with Journal(tmp_path / "decisions.csv") as j:
        j.append(Decision("normal", "7", "normal", "3", "same", "adjacent-frame", "auto"))  # a planted neighbour
        j.append(Decision("benign", "1", "malignant", "9", "same", "adjacent-frame", "auto"))  # copy: not this count
        j.append(Decision("benign", "4", "benign", "5", "same", "adjacent-frame", "auto"))  # two bases: wrong
        j.append(Decision("normal", "7", "benign", "6", "same", "adjacent-frame", "auto"))  # neighbour of 3 vs 6: wrong
        j.append(Decision("benign", "2", "benign", "6", "same", "same-frame", "auto"))  # not an adjacent grade
        j.append(Decision("benign", "4", "benign", "8", "different", "", "auto"))
    assert false_adjacent(tmp_path, planted) == 2


@pytest.mark.slow
def test_bench_scale_end_to_end(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("faiss")
    from busi_curate.commands.bench import bench_scale

    out = tmp_path / "scale.json"
    args = ["--n", "100", "--work", str(tmp_path / "w"), "--finder", "faiss", "--check-rows", "20", "--json",
            str(out), "--quiet"]  # fmt: skip
    res = CliRunner().invoke(bench_scale, args)
    assert res.exit_code == 0, res.output
    err = capfd.readouterr().err  # the commands' stderr: --quiet reaches every stage (no bar of any)
    assert not any(bar in err for bar in ("features", "automatic pass", "ssim", "writing images")), err[-500:]
    fig = json.loads(out.read_text())
    assert [s["name"] for s in fig["stages"]] == ["scan", "review --auto", "export"]
    assert all(s["cpu_s"] > 0 and s["peak_rss_mb"] > 50 for s in fig["stages"])
    assert sum(r["planted"] for r in fig["recall"].values()) == 14, fig["recall"]
    missed = {kind for kind, r in fig["recall"].items() if r["found"] < r["planted"]}
    assert missed <= KNOWN_MISSES, fig["recall"]
    assert fig["false_merges"] == 0 and fig["false_groups"] == 0
    assert fig["pairs_scored"] > 0 and fig["pairs_verified"] > 0
    assert fig["shortlist_check"]["rows"] == 20 and fig["shortlist_check"]["top_total"] == 200
    assert f"planted copies found {14 - len(missed)}/14" in res.output
    if missed:
        pytest.xfail(f"known open miss of issue 20, graded adjacent-frame without a question: {sorted(missed)}")


# Families a known open issue still misses (the test reports xfail while one stands and passes once it is fixed).
# Empty: the heavy multiplicative-speckle copy (sd 0.26), graded adjacent-frame after merge 8d19252 because a
# whole-frame fit below NCC 0.98 skipped the pixel refinement (no motion measured), is refined again (h13-speckle).
KNOWN_MISSES: set[str] = set()


def test_reuse_only_a_complete_set_of_the_same_seed(tmp_path: Path) -> None:
    from busi_curate.studies.scale_bench import _complete

    scale_data.write_scale_dataset(tmp_path, 60, seed=3, workers=1)
    assert _complete(tmp_path, 60, 3)
    assert not _complete(tmp_path, 60, 4) and not _complete(tmp_path, 61, 3)
    (tmp_path / "scale.json").unlink()
    assert not _complete(tmp_path, 60, 3)

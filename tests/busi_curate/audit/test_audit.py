"""busi-curate audit: leaking pairs of a split or a folds file, exit status for CI, bad split files."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import run_cli
from helpers import planted, review_planted


@pytest.fixture()
def reviewed(scan_copy: Path, synthetic_dir: Path) -> Path:
    review_planted(scan_copy, synthetic_dir, complete=False)
    return scan_copy


def _split(scan: Path, tmp: Path, test_keys: set[tuple[str, str]], folds: bool = False) -> Path:
    idx = pd.read_csv(scan / "index.csv", dtype=str)
    rows = [
        {"class": c, "id": i, "split": "test" if (c, i) in test_keys else "train"}
        for c, i in zip(idx["class"], idx["id"])
    ]
    frame = pd.DataFrame(rows)
    if folds:
        frame = pd.concat([frame.assign(fold="0"), frame.assign(fold="1", split="train")])[
            ["class", "id", "fold", "split"]
        ]
    path = tmp / "split.csv"
    frame.to_csv(path, index=False)
    return path


def test_a_copy_across_the_split_is_found_and_fails(reviewed: Path, synthetic_dir: Path, tmp_path: Path) -> None:
    p = planted(synthetic_dir)[1]  # benign 4 -> benign 16 (crop), same-frame
    split = _split(reviewed, tmp_path, {(p["copy_class"], p["copy_id"])})
    out = tmp_path / "audit"
    code = run_cli(["audit", str(synthetic_dir), "--split", str(split), "--scan", str(reviewed), "--out", str(out)])
    assert code == 1
    leak = pd.read_csv(out / "leakage.csv", dtype=str)
    assert list(leak.columns) == [
        "test_class",
        "test_id",
        "test_split",
        "train_class",
        "train_id",
        "train_split",
        "grade",
        "ssim",
        "evidence",
    ]
    assert (leak["test_id"] == p["copy_id"]).all() and p["source_id"] in set(leak["train_id"])
    meta = json.loads((out / "audit.json").read_text())
    assert meta["test_images_with_same_frame_copy"] == 1 and meta["fails"]
    assert "1 of 1 test images (100.0 %) have a same-frame copy in training" in (out / "leakage.md").read_text()
    assert (out / "panels" / "pair0000.png").is_file() and (out / "leakage.html").is_file()
    # the same pair on one side of the split is clean; --fail-on adjacent-frame still passes a clean split
    clean = _split(reviewed, tmp_path, {(p["copy_class"], p["copy_id"]), (p["source_class"], p["source_id"])})
    assert (
        run_cli(
            [
                "audit",
                str(synthetic_dir),
                "--split",
                str(clean),
                "--scan",
                str(reviewed),
                "--out",
                str(tmp_path / "clean"),
                "--fail-on",
                "adjacent-frame",
            ]
        )
        == 0
    )


def test_folds_files_are_audited_fold_by_fold(reviewed: Path, synthetic_dir: Path, tmp_path: Path) -> None:
    p = planted(synthetic_dir)[0]
    split = _split(reviewed, tmp_path, {(p["copy_class"], p["copy_id"])}, folds=True)
    out = tmp_path / "audit"
    assert (
        run_cli(["audit", str(synthetic_dir), "--split", str(split), "--scan", str(reviewed), "--out", str(out)]) == 1
    )
    leak = pd.read_csv(out / "leakage.csv", dtype=str)
    assert "fold" in leak.columns and set(leak["fold"]) == {"0"}  # fold 1 has no test image
    assert set(leak["grade"]) == {"identical"}
    # --fail-on identical also fails; a same-frame-only leak would not
    assert (
        run_cli(
            [
                "audit",
                str(synthetic_dir),
                "--split",
                str(split),
                "--scan",
                str(reviewed),
                "--out",
                str(out),
                "--fail-on",
                "identical",
            ]
        )
        == 1
    )


@pytest.mark.parametrize(
    "text,needle",
    [
        ("class,id\nbenign,1\n", "missing"),
        ("class,id,split\n", "no images"),
        ("class,id,split\nbenign,1,train\n", "no image has split 'test'"),
        ("class,id,split\nbenign,1,test\nbenign,1,train\n", "listed twice"),
        ("class,id,split\nbenign,999,test\n", "not in the scan"),
    ],
)
def test_bad_split_files_exit_2(
    reviewed: Path, synthetic_dir: Path, tmp_path: Path, capsys, text: str, needle: str
) -> None:
    split = tmp_path / "bad.csv"
    split.write_text(text)
    code = run_cli(
        ["audit", str(synthetic_dir), "--split", str(split), "--scan", str(reviewed), "--out", str(tmp_path / "o")]
    )
    err = capsys.readouterr().err
    assert code == 2 and needle in err and "Traceback" not in err


@pytest.mark.realdata
def test_the_published_folds_do_not_leak(busi_dir: Path, tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[3]
    meta = json.loads((repo / "reports" / "leakage_audit" / "curated_busi_v1" / "audit.json").read_text())
    assert meta["test_images_with_same_frame_copy"] == 0 and not meta["fails"]
    naive = json.loads((repo / "reports" / "leakage_audit" / "naive_folds" / "audit.json").read_text())
    assert naive["test_images_with_same_frame_copy"] > 200


@pytest.mark.parametrize("scan_args", [[], ["--mode", "pruned", "--finder", "faiss", "--prune-k", "5"]])
def test_cross_dataset_mode_lists_the_test_images_with_a_copy_in_train(
    synthetic_dir: Path, tmp_path: Path, scan_args: list[str]
) -> None:
    """Exhaustive (default) and through the FAISS index (issue 21: the audit at scale): the same leak found."""
    import json
    import shutil

    from busi_curate.data.synthetic import make_synthetic_busi

    other = tmp_path / "other"
    make_synthetic_busi(other, n_per_class=(4, 3, 2), seed=5)
    # plant one frame of the first dataset into the second one (as a new benign image)
    src = synthetic_dir / "Dataset_BUSI_with_GT" / "benign"
    dst = other / "Dataset_BUSI_with_GT" / "benign"
    shutil.copy(src / "benign (2).png", dst / "benign (90).png")
    shutil.copy(src / "benign (2)_mask.png", dst / "benign (90)_mask.png")
    out = tmp_path / "x"
    code = run_cli(["audit", "--train", str(synthetic_dir), "--test", str(other), "--out", str(out), "--quiet",
                    *scan_args])  # fmt: skip
    assert code == 1
    leak = pd.read_csv(out / "leakage.csv", dtype=str)
    assert ("benign", "B-90") in set(zip(leak["test_class"], leak["test_id"]))
    settings = json.loads((out / "scan" / "scan.json").read_text())["settings"]
    assert (settings["mode"], settings["finder"]) == (
        ("pruned", "faiss") if scan_args else ("exhaustive", "ssim-cascade")
    )
    assert set(leak["train_id"].str[:2]) == {"A-"} and set(leak["test_id"].str[:2]) == {"B-"}
    # hard links inside the union (a symbolic link out of a data folder is refused by every reader), no copies
    images = list((out / "union" / "images").iterdir())
    assert images and all(not p.is_symlink() and p.stat().st_nlink >= 2 for p in images)


def test_a_same_lesion_link_is_reported_like_an_adjacent_frame(
    scan_copy: Path, synthetic_dir: Path, tmp_path: Path
) -> None:
    """'same lesion, other view' crosses the split as a link: listed, counted with K, fails only --fail-on same-lesion."""
    from busi_curate.review.journal import Decision

    idx = pd.read_csv(scan_copy / "index.csv", dtype=str)
    a, b = (idx.at[0, "class"], idx.at[0, "id"]), (idx.at[1, "class"], idx.at[1, "id"])
    review_planted(
        scan_copy,
        synthetic_dir,
        complete=False,
        extra=[Decision(*a, *b, "same", "same-lesion", "kim", time="2026-01-01T00:00:01Z")],
    )
    split = _split(scan_copy, tmp_path, {b})
    out = tmp_path / "audit"
    argv = ["audit", str(synthetic_dir), "--split", str(split), "--scan", str(scan_copy), "--out", str(out)]
    assert run_cli(argv) == 0  # not a copy: the default --fail-on same-frame passes
    leak = pd.read_csv(out / "leakage.csv", dtype=str)
    assert leak[["test_id", "train_id", "grade"]].values.tolist() == [[b[1], a[1], "same-lesion"]]
    text = (out / "leakage.md").read_text()
    assert "0 of 1 test images (0.0 %) have a same-frame copy in training; 1 more an adjacent frame" in text
    assert "1 of them only the same lesion in another view" in text
    assert run_cli([*argv, "--fail-on", "same-lesion"]) == 1


def test_cross_dataset_mode_resumes_from_the_training_datasets_journal(synthetic_dir: Path, tmp_path: Path) -> None:
    """``--train-decisions``: the training dataset's own journal (its ids) stands in the cross audit. Here a person
    answered that benign 16 (a crop of benign 4) is *not* benign 4; a test image copied from benign 4 then joins
    benign 4 alone (the journal's answer is implied for it), where without the journal it joins both."""
    import shutil

    from busi_curate.data.synthetic import make_synthetic_busi
    from busi_curate.review.journal import Decision, Journal, read_journal

    other = tmp_path / "other"
    make_synthetic_busi(other, n_per_class=(4, 3, 2), seed=5)
    src, dst = (d / "Dataset_BUSI_with_GT" / "benign" for d in (synthetic_dir, other))
    shutil.copy(src / "benign (4).png", dst / "benign (90).png")
    shutil.copy(src / "benign (4)_mask.png", dst / "benign (90)_mask.png")
    journal = tmp_path / "train-decisions.csv"
    with Journal(journal) as j:
        j.append(Decision("benign", "4", "benign", "16", "different", "", "dev-reviewer", "manual: not the same"))

    def linked(out: Path, *extra: str) -> set[str]:
        code = run_cli(["audit", "--train", str(synthetic_dir), "--test", str(other), "--out", str(out), "--quiet",
                        *extra])  # fmt: skip
        assert code == 1
        leak = pd.read_csv(out / "leakage.csv", dtype=str)
        return set(leak[(leak["test_id"] == "B-90") & leak["grade"].isin(["identical", "same-frame"])]["train_id"])

    assert {"A-4", "A-16"} <= linked(tmp_path / "plain")
    seeded = tmp_path / "seeded"
    assert linked(seeded, "--train-decisions", str(journal)) == {"A-4"}
    first = read_journal(seeded / "decisions.csv")[0]
    assert (first.reference, first.candidate, first.answer) == (("benign", "A-4"), ("benign", "A-16"), "different")
    assert "train-decisions.csv" in json.loads((seeded / "audit.json").read_text())["inputs"]["decisions"]


def test_a_training_journal_naming_other_images_exits_2(synthetic_dir: Path, tmp_path: Path, capsys) -> None:
    from busi_curate.review.journal import Decision, Journal

    journal = tmp_path / "foreign.csv"
    with Journal(journal) as j:
        j.append(Decision("benign", "999", "benign", "1", "different", "", "dev-reviewer", "manual: no"))
    out = tmp_path / "x"
    args = ["audit", "--train", str(synthetic_dir), "--test", str(synthetic_dir), "--out", str(out)]
    assert run_cli([*args, "--train-decisions", str(journal), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "foreign.csv" in err and "benign 999" in err
    assert run_cli(["audit", str(synthetic_dir), "--split", str(journal), "--out", str(out),
                    "--train-decisions", str(journal)]) == 2  # fmt: skip

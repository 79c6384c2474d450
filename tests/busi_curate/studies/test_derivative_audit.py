"""Issue 20: a BreastMNIST-style derivative (every image greyscale, resized to a square, split 7:1:2 at random)
loads as a generic-layout dataset, and on real BUSI every derivative image is matched as a copy to its source."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from busi_curate.data.dataset import load_dataset
from busi_curate.studies.derivative_audit import make_derivative


def test_the_derivative_is_seeded_square_and_split_7_1_2(synthetic_dir: Path, tmp_path: Path) -> None:
    a = make_derivative(synthetic_dir, tmp_path / "a", size=32, seed=4)
    b = make_derivative(synthetic_dir, tmp_path / "b", size=32, seed=4)
    c = make_derivative(synthetic_dir, tmp_path / "c", size=32, seed=5)
    assert a.equals(b) and not a.equals(c)
    n = len(load_dataset(synthetic_dir).records)
    ds = load_dataset(tmp_path / "a")
    assert len(ds.records) == len(a) == n
    counts = a["split"].value_counts()
    assert abs(counts["train"] - 0.7 * n) <= 1 and abs(counts["val"] - 0.1 * n) <= 1
    assert counts["train"] + counts["val"] + counts["test"] == n
    assert set(zip(a["source_class"], a["source_id"])) == {(r.cls, r.id) for r in load_dataset(synthetic_dir).records}
    from PIL import Image

    for rec in ds.records[:5]:
        img = np.asarray(Image.open(Path(ds.root) / rec.image))
        assert img.shape == (32, 32)  # greyscale square


def busi_subset(busi_dir: Path, out: Path, share: float = 0.25, seed: int = 0) -> tuple[Path, Path, int]:
    """A BUSI-layout folder of hard links to a seeded ``share`` of BUSI's images, closed under the published journal's
    ``same`` answers (every duplicate group and sweep whole; the adjacent sweep benign 116 / 119 / 122 always in), and
    the journal's lines among them. Returns (folder, journal, images). Keeps the end-to-end audit within CI's time
    (280 of 780 images: the union scan 8x and the features 3x cheaper); the committed reports are the whole set's."""
    import csv
    import os
    import shutil

    from busi_curate.review.groups import UnionFind
    from busi_curate.studies.derivative_audit import JOURNAL

    keys = [(r.cls, r.id) for r in load_dataset(busi_dir).records]
    uf = UnionFind()
    with JOURNAL.open(newline="") as f:
        lines = list(csv.reader(f))
    for row in lines[1:]:
        if row[4] == "same":
            uf.union((row[0], row[1]), (row[2], row[3]))
    draw = np.random.default_rng(seed).random(len(keys))
    roots = {uf.find(k) for k, u in zip(keys, draw) if u < share} | {uf.find(("benign", "116"))}
    keep = {k for k in keys if uf.find(k) in roots}
    root = busi_dir / "Dataset_BUSI_with_GT"
    for cls, i in keep:
        (out / "Dataset_BUSI_with_GT" / cls).mkdir(parents=True, exist_ok=True)
        for src in (root / cls).glob(f"{cls} ({i})*.png"):
            if src.name == f"{cls} ({i}).png" or src.name.startswith(f"{cls} ({i})_mask"):
                try:
                    os.link(src, out / "Dataset_BUSI_with_GT" / cls / src.name)
                except OSError:  # another file system: a copy in the temporary folder
                    shutil.copyfile(src, out / "Dataset_BUSI_with_GT" / cls / src.name)
    journal = out.parent / f"{out.name}-decisions.csv"
    with journal.open("w", newline="") as f:
        csv.writer(f).writerows([lines[0], *(r for r in lines[1:] if (r[0], r[1]) in keep and (r[2], r[3]) in keep)])
    return out, journal, len(keep)


@pytest.fixture(scope="module")
def audit_128(busi_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Both audits of the 128 px derivative (``derivative_audit``: the documented commands) of a quarter of BUSI
    (:func:`busi_subset`), run once."""
    from busi_curate.studies.derivative_audit import derivative_audit

    tmp = tmp_path_factory.mktemp("derivative")
    subset, journal, n = busi_subset(busi_dir, tmp / "busi")
    return {**derivative_audit(subset, tmp / "audit", size=128, seed=0, journal=journal), "n": n}


@pytest.mark.realdata
@pytest.mark.slow
def test_every_128px_derivative_image_is_matched_to_its_busi_source(audit_128: dict) -> None:
    """``busi-curate audit --train BUSI --test DERIVATIVE`` at 128 px (as the issue found it), on a quarter of BUSI
    closed under its groups: every image matched as a copy to the source (or a member of its duplicate group), none to
    another image, no derivative question left (the whole set: the committed reports, tested below)."""
    cross = audit_128["cross"]
    assert cross["matched_to_source"] == cross["images"] == audit_128["n"] > 250, cross
    assert cross["matched_elsewhere_only"] == cross["also_matched_elsewhere"] == 0
    assert cross["questions_derivative_to_source"] == cross["questions_with_derivative"] == 0


@pytest.mark.realdata
@pytest.mark.slow
def test_the_derivative_split_audit_finds_every_copy_the_journal_implies(audit_128: dict) -> None:
    split = audit_128["split"]
    assert split["found_of_expected"] == split["expected_from_journal"] > 0, split


@pytest.mark.realdata
@pytest.mark.slow
def test_the_derivative_split_audit_merges_no_adjacent_frames(audit_128: dict) -> None:
    """At 128 px no speckle is left: benign 116 and 119 / 122 (an adjacent sweep in the journal) read as a blurred
    copy (motion 1.51 px, containment 0.95) and were merged; the rule's low-resolution guard leaves them as
    questions (reports/derivative_audit/README.md)."""
    assert audit_128["split"]["found_not_expected"] == []


REPORT = Path(__file__).resolve().parents[3] / "reports" / "derivative_audit"
# the sizes whose audits are committed with their questions (questions.csv) and run record (run.json)
SIZES = sorted(int(p.name.split("-")[1]) for p in REPORT.glob("cross-*") if (p / "questions.csv").is_file())


@pytest.mark.realdata
def test_the_committed_summary_is_written_by_the_tool(busi_dir: Path) -> None:
    """reports/derivative_audit/summary.md and summary-<size>.json are what ``--evaluate`` derives from the committed
    audits (leakage.csv, questions.csv, run.json) and the truth: no figure there is copied by hand."""
    import json

    from busi_curate.studies.derivative_audit import evaluate, summary_md

    assert SIZES, "no committed cross audit with its questions"
    results = [evaluate(busi_dir, REPORT, size) for size in SIZES]
    for r in results:
        committed = json.loads((REPORT / f"summary-{r['size']}.json").read_text())
        assert {k: committed.get(k) for k in ("cross", "split")} == {k: r.get(k) for k in ("cross", "split")}
    assert (REPORT / "summary.md").read_text() == summary_md(results)


# 224 px: one question is left naming two derivative images (benign 0317 / normal 0767, SSIM 0.13, from the
# descriptor shortlist): in substance benign 318 / normal 121, which BUSI's own walk never asked and on which the
# assistant is uncertain at full resolution too (reports/derivative_audit/README.md)
BAR = [pytest.param(s, marks=pytest.mark.xfail(strict=True, reason="1 question")) if s == 224 else s
       for s in SIZES if s >= 64]  # fmt: skip


@pytest.mark.realdata
@pytest.mark.parametrize("size", BAR)
def test_every_derivative_image_from_64px_is_a_copy_of_its_source_with_no_question(size: int) -> None:
    """Issue 20's bar, on the committed cross audits: from 64 px up every derivative image is matched as a copy to its
    source (or a member of its group), to no other image, and no question names a derivative image."""
    import json

    cross = json.loads((REPORT / f"summary-{size}.json").read_text())["cross"]
    assert cross["matched_to_source"] == cross["images"] == 780, cross
    assert cross["also_matched_elsewhere"] == cross["matched_elsewhere_only"] == 0, cross
    assert cross["questions_derivative_to_source"] == 0, cross
    assert cross["questions_with_derivative"] == 0, cross

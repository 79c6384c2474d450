"""The committed real-BUSI review journal: valid, names real images, complete for its rule's questions."""

from __future__ import annotations

from pathlib import Path

import pytest

from busi_curate.review.groups import build_groups
from busi_curate.review.journal import effective, read_journal

JOURNAL = Path(__file__).resolve().parents[3] / "manifests" / "curated_busi_v1" / "decisions.csv"


def test_journal_is_valid_and_graded():
    decisions = read_journal(JOURNAL)
    assert len(decisions) > 500
    assert {d.decided_by for d in decisions} == {"auto", "dev-reviewer"}
    assert all(d.answer in ("same", "different") for d in decisions)
    assert all(d.evidence for d in decisions)
    manual = [d for d in decisions if d.decided_by == "dev-reviewer"]
    assert manual and all(d.evidence.startswith("manual:") for d in manual)
    standing = effective(decisions)
    pair = (("benign", "433"), ("malignant", "145"))
    assert standing[pair].answer == "same" and standing[pair].grade == "identical"  # the known byte-identical pair
    groups = build_groups(decisions)
    assert all(2 <= g.size <= 4 for g in groups)


@pytest.mark.realdata
def test_journal_names_real_images(busi_dir):
    root = busi_dir / "Dataset_BUSI_with_GT"
    for d in read_journal(JOURNAL):
        for cls, id_ in (d.reference, d.candidate):
            assert (root / cls / f"{cls} ({id_}).png").is_file(), (cls, id_)


@pytest.fixture(scope="module")
def busi_scan(busi_dir, tmp_path_factory):
    import json

    from busi_curate.scan.run import ScanSettings, read_scan, run_scan

    recorded = json.loads((JOURNAL.parent / "manifest.json").read_text())["scan"]["settings"]
    out = tmp_path_factory.mktemp("busi-scan")
    run_scan(busi_dir, out, ScanSettings(**recorded))  # the scan the published journal was made on
    return read_scan(out)


@pytest.mark.realdata
@pytest.mark.slow
def test_the_one_walk_reproduces_the_published_journal(busi_scan, tmp_path):
    """Replaying the committed journal with the automatic pass (the walk of ``review --auto`` and ``bench-auto``)
    decides nothing new and asks nothing; from scratch it gives the same same-frame groups, agrees with every
    standing decision it shares with the journal, and asks fewer questions than the 11 of the previous rule."""
    from busi_curate.assistant import Assistant
    from busi_curate.review.auto import collect, run_auto
    from busi_curate.review.walk import Walk

    assistant = Assistant(busi_scan, cache_dir=tmp_path / "features")
    journal = read_journal(JOURNAL)
    extra = assistant.extra_pairs()
    new: list = []
    summary = run_auto(Walk(busi_scan, journal, extra_pairs=extra), assistant, collect(new))
    assert new == [] and summary.uncertain == 0
    fresh: list = []
    summary = run_auto(Walk(busi_scan, [], extra_pairs=extra), assistant, collect(fresh))
    assert {g.members for g in build_groups(fresh)} == {g.members for g in build_groups(journal)}
    standing = effective(journal)
    disagree = [(d.pair, d.answer, d.grade) for d in fresh if d.pair in standing and
                (standing[d.pair].answer, standing[d.pair].grade) != (d.answer, d.grade)]  # fmt: skip
    assert not disagree
    assert summary.uncertain < 11

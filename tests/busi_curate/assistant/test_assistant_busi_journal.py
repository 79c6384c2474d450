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

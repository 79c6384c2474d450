"""The decisions journal: append-only, fsync'ed, crash-tolerant, validated."""

from __future__ import annotations

import pytest

from busi_curate.errors import JournalError
from busi_curate.review.journal import JOURNAL_COLUMNS, Decision, Journal, effective, read_journal


def D(a: str, b: str, answer: str, grade: str = "", by: str = "alice") -> Decision:
    ca, ia = a.split(":")
    cb, ib = b.split(":")
    return Decision(ca, ia, cb, ib, answer, grade, by, "")


def test_header_and_roundtrip(tmp_path):
    p = tmp_path / "decisions.csv"
    with Journal(p) as j:
        j.append(D("benign:1", "benign:2", "same", "identical"))
        j.append(Decision("benign", "3", "malignant", "4", "different", "", "bob", 'note, with "quotes"'))
    assert p.read_text().splitlines()[0] == ",".join(JOURNAL_COLUMNS)
    got = read_journal(p)
    assert [d.answer for d in got] == ["same", "different"]
    assert got[1].evidence == 'note, with "quotes"'
    assert all(d.time.endswith("Z") for d in got)


def test_half_line_is_skipped_and_healed(tmp_path):
    p = tmp_path / "decisions.csv"
    with Journal(p) as j:
        j.append(D("benign:1", "benign:2", "same", "identical"))
    with open(p, "a") as fh:
        fh.write("benign,5,benign,6,sa")  # a crash mid-line
    with pytest.warns(UserWarning, match="damaged journal line"):
        assert len(read_journal(p)) == 1
    with Journal(p) as j:  # reopening ends the broken line; the next decision is intact
        j.append(D("benign:7", "benign:8", "different"))
    with pytest.warns(UserWarning):
        got = read_journal(p)
    assert [(d.reference_id, d.answer) for d in got] == [("1", "same"), ("7", "different")]


def test_unknown_ids_are_an_error(tmp_path):
    p = tmp_path / "decisions.csv"
    with Journal(p) as j:
        j.append(D("benign:1", "benign:99", "different"))
    with pytest.raises(JournalError, match="benign 99"):
        read_journal(p, known={("benign", "1"), ("benign", "2")})


def test_wrong_header(tmp_path):
    p = tmp_path / "decisions.csv"
    p.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(JournalError, match="header"):
        read_journal(p)


@pytest.mark.parametrize(
    "bad",
    [
        D("benign:1", "benign:2", "same"),
        D("benign:1", "benign:2", "different", "identical"),
        D("benign:1", "benign:1", "different"),
        D("benign:1", "benign:2", "maybe"),
    ],
)
def test_invalid_decisions_are_refused(tmp_path, bad):
    with Journal(tmp_path / "d.csv") as j, pytest.raises(ValueError):
        j.append(bad)


def test_effective_latest_wins_and_undo_revokes():
    ds = [
        D("benign:1", "benign:2", "different"),
        D("benign:2", "benign:1", "same", "same-frame"),  # same unordered pair
        D("benign:3", "benign:4", "same", "identical"),
        D("benign:3", "benign:4", "undo"),
    ]
    eff = effective(ds)
    assert eff[(("benign", "1"), ("benign", "2"))].answer == "same"
    assert (("benign", "3"), ("benign", "4")) not in eff


def test_same_lesion_grade_is_validated_like_the_others(tmp_path):
    p = tmp_path / "decisions.csv"
    with Journal(p) as j:
        j.append(D("benign:1", "benign:2", "same", "same-lesion"))
        for bad in (D("benign:1", "benign:3", "different", "same-lesion"), D("benign:1", "benign:3", "same", "lesion")):
            with pytest.raises(ValueError):
                j.append(bad)
    [d] = read_journal(p)
    assert (d.answer, d.grade) == ("same", "same-lesion")
    # a hand-edited line with the grade on a 'skip' is skipped with a warning, like any invalid line
    with open(p, "a", encoding="utf-8") as fh:
        fh.write("benign,1,benign,4,skip,same-lesion,alice,,2026-01-01T00:00:00Z\n")
    with pytest.warns(UserWarning, match="only 'same' decisions carry a grade"):
        assert len(read_journal(p)) == 1


def test_older_journals_read_unchanged(tmp_path):
    """A journal written before the ``same-lesion`` grade existed reads back line for line."""
    p = tmp_path / "decisions.csv"
    p.write_text(
        ",".join(JOURNAL_COLUMNS) + "\n"
        "benign,1,benign,2,same,identical,alice,ssim=1.0000 rank=1 ssim,2026-11-28T16:20:31Z\n"
        "benign,1,normal,4,different,,alice,ssim=0.2618 rank=2 ssim,2026-11-28T16:20:33Z\n"
        "benign,3,benign,5,same,adjacent-frame,auto,ssim=0.71 inliers=40,2026-11-28T16:20:35Z\n"
        "benign,1,normal,4,undo,,alice,undo different,2026-11-28T16:20:40Z\n",
        encoding="utf-8",
    )
    got = read_journal(p)
    assert [(d.answer, d.grade) for d in got] == [
        ("same", "identical"),
        ("different", ""),
        ("same", "adjacent-frame"),
        ("undo", ""),
    ]
    assert len(effective(got)) == 2

"""The journal's undo rules through replay (issue 25: the duplicated-undo case was only tested over HTTP).

A journal file is written line by line, then read back three ways that must agree: ``effective`` over
``read_journal``, a fresh :class:`Walk` (``session.replay``), and the groups built from it. The rules:

* an undo naming its decision (``undo <answer> @ <time>``, since 0.2) revokes that decision only: written twice
  (a repeated request, a merged copy of the journal) it revokes nothing more;
* an undo naming another decision (other answer, other time) revokes nothing;
* an older undo (no ``@``) revokes whatever stands on its pair.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fake_scan import FakeScan

from busi_curate.review.groups import build_groups
from busi_curate.review.journal import Decision, Journal, effective, read_journal, undo_applies
from busi_curate.review.session import replay

T0, T1, T2 = "2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z", "2026-01-01T00:02:00Z"
P12 = (("benign", "1"), ("benign", "2"))


def _line(answer: str, grade: str = "", evidence: str = "", time: str = T0, a: str = "1", b: str = "2") -> Decision:
    return Decision("benign", a, "benign", b, answer, grade, "alice", evidence, time)  # type: ignore[arg-type]


def _write(path: Path, lines: list[Decision]) -> Path:
    with Journal(path) as j:
        j.extend(lines)
    return path


def _standing(tmp_path: Path, lines: list[Decision]) -> tuple[str | None, str | None, int]:
    """(answer by effective(), answer by a replayed walk, number of groups) for pair 1-2."""
    path = _write(tmp_path / "decisions.csv", lines)
    scan = FakeScan(np.full((3, 3), 0.9), dir=tmp_path)
    decisions = read_journal(path)
    eff = effective(decisions).get(P12)
    walk = replay(scan, path).walk  # type: ignore[arg-type]
    st = walk.standing(0, 1)
    return (eff.answer if eff else None), (st.answer if st else None), len(build_groups(decisions))


def test_a_named_undo_revokes_its_decision(tmp_path: Path) -> None:
    lines = [
        _line("different", time=T0),
        _line("same", "same-frame", time=T1),
        _line("undo", evidence=f"undo same @ {T1}"),
    ]
    assert _standing(tmp_path, lines) == ("different", "different", 0)


def test_a_duplicated_undo_revokes_nothing_more(tmp_path: Path) -> None:
    undo = _line("undo", evidence=f"undo same @ {T1}", time=T2)
    lines = [_line("different", time=T0), _line("same", "same-frame", time=T1), undo, undo]
    assert _standing(tmp_path, lines) == ("different", "different", 0)


def test_a_duplicated_undo_of_a_same_keeps_the_earlier_same(tmp_path: Path) -> None:
    undo = _line("undo", evidence=f"undo different @ {T1}", time=T2)
    lines = [_line("same", "identical", time=T0), _line("different", time=T1), undo, undo]
    assert _standing(tmp_path, lines) == ("same", "same", 1)


@pytest.mark.parametrize("evidence", [f"undo different @ {T1}", f"undo same @ {T0}"])
def test_an_undo_naming_another_decision_revokes_nothing(tmp_path: Path, evidence: str) -> None:
    lines = [_line("same", "same-frame", time=T1), _line("undo", evidence=evidence, time=T2)]
    assert _standing(tmp_path, lines) == ("same", "same", 1)


def test_an_old_undo_revokes_whatever_stands(tmp_path: Path) -> None:
    lines = [_line("different", time=T0), _line("same", "same-frame", time=T1), _line("undo", time=T2)]
    assert _standing(tmp_path, lines) == ("different", "different", 0)
    again = tmp_path / "again"
    again.mkdir()
    lines.append(_line("undo", time=T2))  # a second old-style undo takes back the 'different' too
    assert _standing(again, lines) == (None, None, 0)


def test_an_undo_on_another_pair_leaves_this_one(tmp_path: Path) -> None:
    lines = [
        _line("same", "same-frame", time=T1),
        _line("same", "same-frame", time=T1, a="1", b="3"),
        _line("undo", evidence=f"undo same @ {T1}", time=T2, a="1", b="3"),
    ]
    assert _standing(tmp_path, lines) == ("same", "same", 1)


def test_undo_applies_reads_answer_and_time() -> None:
    top = _line("same", "same-frame", time=T1)
    assert undo_applies(_line("undo", evidence=f"undo same @ {T1}"), top)
    assert not undo_applies(_line("undo", evidence=f"undo same @ {T0}"), top)
    assert not undo_applies(_line("undo", evidence=f"undo different @ {T1}"), top)
    assert undo_applies(_line("undo", evidence=""), top)


def test_the_walk_undo_line_replays_to_the_state_before(tmp_path: Path) -> None:
    """What the review server writes (``Walk.undo_decision``), written twice, replays to the state before."""
    scan = FakeScan(np.full((3, 3), 0.9), dir=tmp_path)
    first = _line("different", time=T0)
    path = _write(tmp_path / "decisions.csv", [first, _line("same", "same-frame", time=T1)])
    walk = replay(scan, path).walk  # type: ignore[arg-type]
    undo = walk.undo_decision("alice")
    assert undo is not None
    _write(path, [undo, undo])
    again = replay(scan, path).walk  # type: ignore[arg-type]
    assert again.standing(0, 1) == first
    assert effective(read_journal(path))[P12] == first

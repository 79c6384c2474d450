"""The walk's two ways to its state agree: answers recorded one by one in a session (the incremental update) and the
same journal replayed into a fresh walk (the rebuild). Both must imply the same pairs: a same-frame group's members
share its 'different' answers; an adjacent frame is joined to nothing for that purpose. Parked extra pairs are
not asked again in the session that parked them.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from fake_scan import FakeScan

from busi_curate.review.journal import Decision
from busi_curate.review.walk import Walk

T = "2026-01-01T00:00:00Z"


def _d(a: int, b: int, answer: str, grade: str = "") -> Decision:
    return Decision("benign", str(a + 1), "benign", str(b + 1), answer, grade, "alice", "", T)  # type: ignore[arg-type]


def _implied(walk: Walk, n: int) -> dict[tuple[int, int], str | None]:
    return {(a, b): walk.known(a, b) for a, b in itertools.combinations(range(n), 2)}


CASES = {
    # 0 ~ 1 adjacent, 0 != 2: nothing is implied for 1 - 2
    "adjacent": [_d(0, 1, "same", "adjacent-frame"), _d(0, 2, "different")],
    # 0 ~ 1 same-frame, 0 != 2: 1 != 2 is implied
    "same-frame": [_d(0, 1, "same", "same-frame"), _d(0, 2, "different")],
    # a mixed chain: 0 = 1 (identical), 1 ~ 3 adjacent, 3 != 2
    "mixed": [_d(0, 1, "same", "identical"), _d(1, 3, "same", "adjacent-frame"), _d(3, 2, "different")],
}
EXPECTED = {
    "adjacent": {(1, 2): None, (0, 1): "same", (0, 2): "different"},
    "same-frame": {(1, 2): "different", (0, 1): "same", (0, 2): "different"},
    "mixed": {(0, 2): None, (1, 2): None, (0, 3): "same", (2, 3): "different"},
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_replay_and_live_session_imply_the_same(case: str) -> None:
    scan = FakeScan(np.full((4, 4), 0.9))
    live = Walk(scan)  # type: ignore[arg-type]
    for d in CASES[case]:
        live.record(d)
    replayed = Walk(scan, CASES[case])  # type: ignore[arg-type]
    got_live, got_replay = _implied(live, 4), _implied(replayed, 4)
    assert got_live == got_replay
    for pair, want in EXPECTED[case].items():
        assert got_replay[pair] == want, (case, pair)


def test_a_parked_extra_pair_is_not_asked_again_in_the_session() -> None:
    ssim = np.full((3, 3), 0.01)  # below the threshold: only the extra pair is asked
    walk = Walk(FakeScan(ssim), extra_pairs=[(0, 2)])  # type: ignore[arg-type]
    q = walk.next_question()
    assert q is not None and q.rows == (0, 2)
    walk.record(q.decision("skip", decided_by="alice"))
    assert walk.next_question() is None
    assert [x.rows for x in walk.open_questions()] == [(0, 2)]  # still open: asked in the next session
    again = Walk(FakeScan(ssim), walk.decisions, extra_pairs=[(0, 2)])  # type: ignore[arg-type]
    nq = again.next_question()
    assert nq is not None and nq.rows == (0, 2)

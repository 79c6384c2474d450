"""The duplicate-recognition walk on hand-made SSIM tables: order, stopping, implications, threshold, undo, resume."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from busi_curate.errors import JournalError
from busi_curate.review.journal import Decision
from busi_curate.review.walk import Walk
from busi_curate.scan.candidates import candidates_table, top_k_from_matrix


def fake_scan(
    sim: dict[tuple[int, int], float],
    n: int,
    top_k: int = 3,
    pruned: bool = False,
    pixels: dict[int, str] | None = None,
) -> SimpleNamespace:
    """A scan-like object over ``n`` images ``benign 0..n-1``; unlisted pairs have SSIM 0.05."""
    m = np.full((n, n), 0.05, dtype=np.float32)
    for (a, b), v in sim.items():
        m[a, b] = m[b, a] = v
    np.fill_diagonal(m, np.nan)
    classes, ids = ["benign"] * n, [str(i) for i in range(n)]
    rows, vals = top_k_from_matrix(m, top_k)
    index = pd.DataFrame(
        {
            "row": range(n),
            "class": classes,
            "id": ids,
            "pixel_sha256": [(pixels or {}).get(i, f"h{i}") for i in range(n)],
        }
    )
    pairs = None
    if pruned:
        a, b = np.triu_indices(n, 1)
        pairs = pd.DataFrame({"a": a, "b": b, "ssim": m[a, b]})
    return SimpleNamespace(
        index=index,
        candidates=candidates_table(classes, ids, list(rows), list(vals)),
        ssim=None if pruned else m,
        pairs=pairs,
        pair_ssim=lambda i, j: float(m[i, j]),
        n=n,
    )


def ans(q, answer: str, grade: str = "", by: str = "alice") -> Decision:
    if answer == "same" and not grade:
        grade = "same-frame"
    return q.decision(answer, grade, by)


def run(walk: Walk, oracle, limit: int = 200) -> list[tuple[int, int]]:
    """Answer every question with ``oracle(ref, cand) -> (answer, grade)``; returns the questions asked."""
    asked = []
    while (q := walk.next_question()) is not None:
        assert len(asked) < limit, "walk does not terminate"
        asked.append(q.rows)
        a, g = oracle(*q.rows)
        walk.record(q.decision(a, g, "alice"))
    return asked


def groups_oracle(groups: list[set[int]], grade: str = "same-frame"):
    def oracle(a: int, b: int) -> tuple[str, str]:
        return ("same", grade) if any(a in g and b in g for g in groups) else ("different", "")

    return oracle


def test_first_different_ends_the_reference():
    scan = fake_scan({(0, 1): 0.9, (0, 2): 0.8, (0, 3): 0.7, (4, 5): 0.6}, 6)
    w = Walk(scan, [], 0.23)
    q = w.next_question()
    assert q.rows == (0, 1) and q.rank == 1 and q.source == "ssim" and q.ssim == pytest.approx(0.9)
    w.record(ans(q, "same"))
    q = w.next_question()
    assert q.rows == (0, 2) and q.rank == 2
    w.record(ans(q, "different"))
    # reference 0 is over: its candidate 3 (0.7) is not asked for it. References 1 (candidates 0: implied
    # same, 2: implied different) and 2 (candidate 0: different) end without a question; 3's top is 0.
    assert w.progress().references_done == 3
    q = w.next_question()
    assert q.rows == (3, 0)


def test_implied_same_pairs_are_not_asked():
    scan = fake_scan({(0, 1): 0.9, (0, 2): 0.85, (1, 2): 0.95, (0, 3): 0.3}, 5)
    asked = run(Walk(scan, [], 0.23), groups_oracle([{0, 1, 2}]))
    assert (0, 1) in asked and (0, 2) in asked
    assert (1, 2) not in asked and (2, 1) not in asked  # implied by 0~1 and 0~2
    assert all(len({a, b} & {1, 2}) < 2 for a, b in asked)


def test_implied_different_through_a_same_frame_group_but_not_adjacent():
    sim = {(0, 1): 0.9, (0, 3): 0.8, (1, 3): 0.8, (1, 0): 0.9}
    # 0 == 1 (same frame), 0 != 3  =>  1 != 3 is implied: not asked
    asked = run(Walk(fake_scan(sim, 5), [], 0.23), groups_oracle([{0, 1}]))
    assert asked[:2] == [(0, 1), (0, 3)]
    assert (1, 3) not in asked
    # with 0 ~ 1 only an adjacent frame, 1 vs 3 must still be asked
    asked = run(Walk(fake_scan(sim, 5), [], 0.23), groups_oracle([{0, 1}], "adjacent-frame"))
    assert (1, 3) in asked


def test_threshold_and_nan_are_never_asked():
    scan = fake_scan({(0, 1): 0.5, (0, 2): 0.22, (3, 4): 0.2299}, 5)
    asked = run(Walk(scan, [], 0.23), lambda a, b: ("same", "same-frame"))
    assert asked == [(0, 1)]
    scan.ssim[0, 1] = scan.ssim[1, 0] = np.nan  # a pair a pruned scan did not score
    scan.candidates.loc[scan.candidates["ssim"] > 0.4, "ssim"] = np.nan
    assert run(Walk(scan, [], 0.23), lambda a, b: ("same", "same-frame")) == []
    assert run(Walk(fake_scan({(0, 2): 0.22}, 3), [], 0.2), lambda a, b: ("different", ""))[0] == (0, 2)


def test_top_k_exhausted_continues_down_the_full_row():
    sim = {(0, 1): 0.9, (0, 2): 0.8, (0, 3): 0.7, (0, 4): 0.6, (0, 5): 0.3}
    for pruned in (False, True):
        asked = run(Walk(fake_scan(sim, 6, top_k=2, pruned=pruned), [], 0.23), groups_oracle([{0, 1, 2, 3, 4}]))
        assert asked[:4] == [(0, 1), (0, 2), (0, 3), (0, 4)], pruned
        assert asked[4][0] == 0 and asked[4][1] == 5  # the first "different" candidate, found past the top-K


def test_undo_goes_back_one_question_and_skips_auto():
    scan = fake_scan({(0, 1): 0.9, (0, 2): 0.8, (3, 4): 0.7}, 5)
    w = Walk(scan, [], 0.23)
    q1 = w.next_question()
    w.record(ans(q1, "same"))
    q2 = w.next_question()
    w.record(ans(q2, "different"))
    q3 = w.next_question()
    u = w.undo_decision("bob")
    assert u.answer == "undo" and u.pair == q2.pair and u.decided_by == "bob"
    w.record(u)
    assert w.next_question() == q2
    w.record(w.undo_decision("bob"))
    assert w.next_question() == q1
    assert w.undo_decision("bob") is None
    # an automatic decision is not what "undo" takes back
    w.record(ans(q1, "same", by="alice"))
    w.record(ans(w.next_question(), "different", by="auto"))
    assert w.undo_decision().pair == q1.pair
    assert q3 is not None


def test_skip_parks_for_this_session_and_comes_back_next_time():
    scan = fake_scan({(0, 1): 0.9, (2, 3): 0.8}, 5)
    w = Walk(scan, [], 0.23)
    q = w.next_question()
    assert q.rows == (0, 1)
    w.record(ans(q, "skip"))
    nxt = w.next_question()
    assert nxt.reference != 0 and nxt.rows != (1, 0)
    assert q.rows in [x.rows for x in w.open_questions()]  # still open (export refuses)
    assert w.progress().parked == 1
    again = Walk(scan, w.decisions, 0.23)  # a later run: the skipped pair is asked again
    assert again.next_question() == q
    w.record(w.undo_decision())  # undoing the skip unparks it
    assert w.next_question() == q


def test_resume_from_journal_gives_the_same_next_question_and_is_deterministic():
    rng = np.random.default_rng(3)
    n = 14
    sim = {(a, b): float(rng.uniform(0.1, 1.0)) for a in range(n) for b in range(a + 1, n) if rng.random() < 0.4}
    groups = [{0, 3, 7}, {2, 9}, {5, 11, 12, 13}]
    scan = fake_scan(sim, n, top_k=4)
    live = Walk(scan, [], 0.23)
    oracle = groups_oracle(groups)
    lines = []
    steps = 0
    while (q := live.next_question()) is not None:
        resumed = Walk(scan, lines, 0.23)
        assert resumed.next_question() == q
        assert [x.rows for x in resumed.open_questions()] == [x.rows for x in live.open_questions()]
        a, g = oracle(*q.rows)
        d = q.decision(a, g, "alice")
        lines.append(d)
        live.record(d)
        steps += 1
        if steps % 5 == 0:  # an undo + redo along the way changes nothing
            u = live.undo_decision("alice")
            lines.append(u)
            live.record(u)
            assert live.next_question() == q
            lines.append(d)
            live.record(d)
    assert steps > 5
    again = run(Walk(scan, [], 0.23), oracle)
    assert len(again) == steps
    assert Walk(scan, lines, 0.23).next_question() is None
    assert Walk(scan, lines, 0.23).progress().references_done == n


def test_open_questions_are_exactly_the_questions_of_an_all_different_review():
    rng = np.random.default_rng(5)
    n = 16
    sim = {(a, b): float(rng.uniform(0.1, 1.0)) for a in range(n) for b in range(a + 1, n) if rng.random() < 0.3}
    scan = fake_scan(sim, n, top_k=3)
    w = Walk(scan, [], 0.23, extra_pairs=[(15, 0), (1, 2)])
    predicted = [q.rows for q in w.open_questions()]
    asked = run(w, lambda a, b: ("different", ""))
    assert asked == predicted


def test_extra_pairs_are_asked_after_the_walk_unless_known():
    scan = fake_scan({(0, 1): 0.9, (1, 2): 0.8}, 5)
    w = Walk(scan, [], 0.23, extra_pairs=[(4, 0), (0, 4), (3, 3), (0, 2), (9, 1)])
    assert w.extra_pairs == [(0, 2), (0, 4)]  # deduplicated, sorted, invalid dropped
    asked = run(w, groups_oracle([{0, 1, 2}]))
    assert asked[-1] == (0, 4) and (0, 2) not in asked  # (0, 2) implied by 0~1~2
    q = Walk(scan, [], 0.23, extra_pairs=[(4, 0)]).open_questions()[-1]
    assert q.source == "extra" and q.rank == 0 and q.ssim == pytest.approx(0.05)  # no threshold on extra pairs


def test_progress_counts_and_pixel_identical_flag():
    scan = fake_scan({(0, 1): 0.99, (0, 2): 0.9, (3, 4): 0.8}, 6, pixels={0: "x", 1: "x"})
    w = Walk(scan, [], 0.23)
    q = w.next_question()
    assert q.pixel_identical
    w.record(ans(q, "same", "identical"))
    w.record(ans(w.next_question(), "same", "adjacent-frame", by="auto"))
    p = w.progress()
    assert (p.same_pairs, p.duplicate_images, p.groups, p.by_person, p.by_auto) == (2, 3, 1, 1, 1)
    assert p.by_grade == {"identical": 1, "adjacent-frame": 1}
    assert p.references_done + p.references_left == 6
    assert "references" in p.line()


def test_unknown_ids_and_invalid_lines_raise_journal_error():
    scan = fake_scan({(0, 1): 0.9}, 3)
    with pytest.raises(JournalError, match="not in the scan"):
        Walk(scan, [Decision("benign", "0", "benign", "77", "different")])
    with pytest.raises(JournalError, match="grade"):
        Walk(scan, [Decision("benign", "0", "benign", "1", "same")])


def test_a_later_line_overrides_and_rebuilds_groups():
    scan = fake_scan({(0, 1): 0.9, (1, 2): 0.8, (0, 2): 0.7}, 4)
    same = Decision("benign", "0", "benign", "1", "same", "same-frame", "a")
    w = Walk(scan, [same, Decision("benign", "1", "benign", "2", "same", "same-frame", "a")])
    assert w.known(0, 2) == "same"
    w.record(Decision("benign", "0", "benign", "1", "different", "", "b"))
    assert w.known(0, 1) == "different" and w.known(1, 2) == "same"
    assert w.known(0, 2) == "different"  # implied now: 0 != 1 and 1 == 2
    assert w.progress().groups == 1


def test_unsettled_candidates_are_the_listed_pairs_the_walk_left_open():
    # 0's candidates: 1 (0.9), 2 (0.8), 3 (0.1, below the threshold); the walk asks (0, 1) and stops at "different"
    scan = fake_scan({(0, 1): 0.9, (0, 2): 0.8, (0, 3): 0.1}, 4, top_k=3)
    walk = Walk(scan, threshold=0.23)
    assert walk.unsettled_candidates() == [(0, 1), (0, 2)]
    q = walk.next_question()
    assert q.rows == (0, 1)
    walk.record(ans(q, "different"))
    assert walk.next_question().rows == (2, 0)  # 2's own walk reaches the pair
    assert walk.unsettled_candidates() == [(0, 2)]
    walk.record(Decision("benign", "0", "benign", "2", "same", "same-frame", "auto"))
    assert walk.unsettled_candidates() == []  # (0, 3) is below the threshold: never a candidate

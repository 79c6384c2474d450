"""The leakage audit's transitive closure, on a chain of copies (issue 25: the audit without its closure -- a copy of
a copy -- passed every audit test).

Chain ``1 ~ 2 ~ 3 ~ 4`` (same-frame, identical, same-frame): with 1, 2, 3 in test and 4 in training, every test
image leaks, two of them only through other copies. Adjacent-frame and same-lesion links are direct: ``5 ~ 6 ~ 7``
(adjacent) with 7 in training leaks 6, not 5. An undone link breaks the chain.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fake_scan import FakeScan

from busi_curate.audit.leakage import audit_split, relations
from busi_curate.review.journal import Decision

T = "2026-01-01T00:00:00Z"


def _same(a: int, b: int, grade: str, time: str = T) -> Decision:
    return Decision("benign", str(a), "benign", str(b), "same", grade, "alice", f"chain {a}-{b}", time)  # type: ignore[arg-type]


CHAIN = [_same(1, 2, "same-frame"), _same(2, 3, "identical"), _same(3, 4, "same-frame")]
LINKS = [
    _same(5, 6, "adjacent-frame"),
    _same(6, 7, "adjacent-frame"),
    _same(8, 9, "same-lesion"),
    _same(9, 10, "same-lesion"),
]
SPLIT = {
    1: "test",
    2: "test",
    3: "test",
    4: "train",
    5: "test",
    6: "test",
    7: "train",
    8: "test",
    9: "val",
    10: "train",
}


def _split(split: dict[int, str], fold: str = "") -> pd.DataFrame:
    return pd.DataFrame({"class": "benign", "id": [str(i) for i in split], "fold": fold, "split": list(split.values())})


def _scan() -> FakeScan:
    return FakeScan(np.full((10, 10), 0.5))


def _pairs(result) -> dict[tuple[str, str], tuple[str, str]]:  # type: ignore[no-untyped-def]
    lk = result.leakage
    return {(t, m): (g, e) for t, m, g, e in zip(lk["test_id"], lk["train_id"], lk["grade"], lk["evidence"])}


def test_a_copy_of_a_copy_is_a_copy() -> None:
    res = audit_split(_scan(), CHAIN + LINKS, _split(SPLIT))  # type: ignore[arg-type]
    pairs = _pairs(res)
    assert pairs[("3", "4")] == ("same-frame", "chain 3-4")  # direct
    assert pairs[("1", "4")] == ("same-frame", "same frame through another copy")
    assert pairs[("2", "4")] == ("same-frame", "same frame through another copy")
    assert res.same_frame_test == 3


def test_links_are_direct_not_transitive() -> None:
    res = audit_split(_scan(), CHAIN + LINKS, _split(SPLIT))  # type: ignore[arg-type]
    pairs = _pairs(res)
    assert pairs[("6", "7")][0] == "adjacent-frame" and ("5", "7") not in pairs
    assert pairs[("8", "9")][0] == "same-lesion" and ("8", "10") not in pairs
    assert res.adjacent_only_test == 2  # 6 and 8; not 5
    assert set(pairs) == {("1", "4"), ("2", "4"), ("3", "4"), ("6", "7"), ("8", "9")}


def test_the_closure_follows_the_chain_in_any_order_and_fold() -> None:
    reordered = [CHAIN[2], CHAIN[0], CHAIN[1]]
    split = {1: "test", 2: "val", 3: "val", 4: "train"}
    frame = pd.concat([_split(split, "0"), _split({1: "train", 2: "val", 3: "val", 4: "test"}, "1")])
    res = audit_split(_scan(), reordered, frame)  # type: ignore[arg-type]
    lk = res.leakage
    got = sorted(zip(lk["fold"], lk["test_id"], lk["train_id"]))
    # fold 0: test 1 has copies 2, 3 (val) and 4 (train); fold 1: test 4 has 1 (train), 2 and 3 (val)
    assert got == [("0", "1", "2"), ("0", "1", "3"), ("0", "1", "4"), ("1", "4", "1"), ("1", "4", "2"), ("1", "4", "3")]


def test_an_undone_link_breaks_the_chain() -> None:
    undo = Decision("benign", "2", "benign", "3", "undo", "", "alice", f"undo same @ {T}", T)
    res = audit_split(_scan(), CHAIN + [undo], _split({1: "test", 2: "test", 3: "train", 4: "train"}))  # type: ignore[arg-type]
    pairs = _pairs(res)
    assert ("1", "3") not in pairs and ("1", "4") not in pairs and ("2", "3") not in pairs and ("2", "4") not in pairs
    assert res.same_frame_test == 0


@pytest.mark.parametrize("grade,joined", [("identical", True), ("same-frame", True), ("adjacent-frame", False)])
def test_relations_join_only_copies(grade: str, joined: bool) -> None:
    uf, same = relations([_same(1, 2, grade)])
    assert uf.connected(("benign", "1"), ("benign", "2")) is joined
    assert len(same) == 1


def test_a_test_image_with_a_copy_and_a_link_counts_once() -> None:
    """Image 1 has a copy (4) and an adjacent frame (7) in training: one same-frame image, not an adjacent-only one."""
    decisions = [_same(1, 4, "same-frame"), _same(1, 7, "adjacent-frame"), _same(5, 6, "adjacent-frame")]
    res = audit_split(_scan(), decisions, _split({1: "test", 4: "train", 7: "train", 5: "test", 6: "train"}))  # type: ignore[arg-type]
    assert set(_pairs(res)) == {("1", "4"), ("1", "7"), ("5", "6")}
    assert (res.n_test, res.same_frame_test, res.adjacent_only_test) == (2, 1, 1)
    assert res.summary.startswith("1 of 2 test images (50.0 %) have a same-frame copy in training; 1 more an adjacent")

"""Union-find groups from duplicate decisions."""

from __future__ import annotations

from busi_curate.review.groups import UnionFind, build_groups, merged_grades
from busi_curate.review.journal import Decision


def same(a: str, b: str, grade: str = "same-frame") -> Decision:
    (ca, ia), (cb, ib) = a.split(":"), b.split(":")
    return Decision(ca, ia, cb, ib, "same", grade, "t", "")


def test_union_find_transitive():
    uf = UnionFind()
    uf.union(("b", "1"), ("b", "2"))
    uf.union(("b", "2"), ("b", "3"))
    assert uf.connected(("b", "1"), ("b", "3"))
    assert not uf.connected(("b", "1"), ("b", "4"))


def test_groups_sizes_order_and_conflicts():
    ds = [
        same("benign:10", "benign:2"),
        same("benign:2", "malignant:5", "identical"),
        same("benign:7", "benign:8"),
        same("benign:8", "benign:9"),
        same("benign:9", "benign:11"),
        same("normal:1", "normal:3", "adjacent-frame"),
        Decision("benign", "7", "benign", "12", "different", "", "t", ""),
    ]
    groups = build_groups(ds)
    assert [g.members for g in groups] == [
        (("benign", "2"), ("benign", "10"), ("malignant", "5")),  # natural id order: 2 before 10
        (("benign", "7"), ("benign", "8"), ("benign", "9"), ("benign", "11")),
    ]
    assert [g.id for g in groups] == [1, 2]
    assert [g.kind for g in groups] == ["triplet", "quadruplet"]
    assert groups[0].class_conflict and not groups[1].class_conflict
    assert groups[0].grades == ("identical", "same-frame")
    with_adjacent = build_groups(ds, merged_grades(include_adjacent=True))
    assert with_adjacent[-1].members == (("normal", "1"), ("normal", "3"))
    assert with_adjacent[-1].kind == "duplet"


def test_undone_same_does_not_merge():
    ds = [same("benign:1", "benign:2"), Decision("benign", "1", "benign", "2", "undo", "", "t", "")]
    assert build_groups(ds) == []

"""Group tables and Table 3 (busi_curate.findings.group_tables) on hand-made groups."""

from __future__ import annotations

from findings_data import diff, fake_index, same

from busi_curate.findings import group_tables as gt
from busi_curate.review.groups import build_groups

KEYS = (
    [("benign", str(i)) for i in range(1, 5)]
    + [("malignant", str(i)) for i in range(1, 4)]
    + [("normal", str(i)) for i in range(1, 4)]
)


def table3_groups():  # type: ignore[no-untyped-def]
    return build_groups(
        [
            same(("benign", "1"), ("benign", "2")),  # benign duplet
            same(("benign", "3"), ("malignant", "1")),  # class-conflict duplet
            same(("normal", "1"), ("normal", "2")),
            same(("normal", "2"), ("normal", "3")),  # normal triplet
            diff(("benign", "4"), ("malignant", "2")),
            same(("malignant", "2"), ("malignant", "3"), "adjacent-frame"),  # not merged by default
        ]
    )


def test_class_distribution_table3() -> None:
    d = gt.class_distribution(fake_index(KEYS), table3_groups()).set_index("policy")
    assert d.loc["none", ["normal", "benign", "malignant", "total"]].tolist() == [3, 4, 3, 10]
    # remove-all: every member of the 3 groups (7 images) removed
    assert d.loc["remove-all", ["normal", "benign", "malignant", "total", "removed"]].tolist() == [0, 1, 2, 3, 7]
    # keep-one: one benign and one normal kept; the conflict group goes entirely
    assert d.loc["keep-one", ["normal", "benign", "malignant", "total", "removed"]].tolist() == [1, 2, 2, 5, 5]
    assert d.loc["none", "benign_pct"] == 40.0


def test_groups_and_conflicts_tables() -> None:
    groups = table3_groups()
    assert [g.kind for g in groups] == ["duplet", "duplet", "triplet"]
    t = gt.groups_table(groups, fake_index(KEYS))
    assert list(t.columns) == ["group", "kind", "size", "class", "id", "image", "masks", "grades"]
    assert len(t) == 7
    assert t.iloc[0]["image"] == "benign/benign (1).png"
    c = gt.class_conflicts_table(groups)
    assert len(c) == 1 and c.iloc[0]["classes"] == "benign;malignant"
    assert c.iloc[0]["members"] == "benign 3; malignant 1"
    counts = gt.group_counts(groups)
    assert counts == {"duplet": 2, "triplet": 1, "groups": 3, "images": 7, "class_conflicts": 1}

"""Findings, groups: the duplicate groups as tables, their counts and the class distribution (Table 3).

Plain data in (a list of :class:`~busi_curate.review.groups.Group`, the scan's ``index.csv`` as a DataFrame),
DataFrames and dicts out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from itertools import combinations
from typing import Any

import pandas as pd

from busi_curate.defaults import SCREEN_THRESHOLD
from busi_curate.review.groups import Group
from busi_curate.review.journal import Key

#: the paper's findings (section 4.3), printed beside ours for reference. Table 1 and Table 2 have no
#: numbers in the paper's text, so none are given here.
PAPER: dict[str, Any] = {
    "groups": {"quadruplet": 5, "triplet": 22, "duplet": 122},
    "images_in_groups": 330,
    "busi": {"normal": 133, "benign": 437, "malignant": 210, "total": 780},
    "curated": {"normal": 64, "benign": 222, "malignant": 164, "total": 450},
    "threshold": SCREEN_THRESHOLD,
    "mann_whitney_p": "< 0.0001",
}

CLASS_ORDER = ("normal", "benign", "malignant")


def key_str(k: Key) -> str:
    """``("benign", "12")`` -> ``"benign 12"``."""
    return f"{k[0]} {k[1]}"


def groups_table(groups: Sequence[Group], index: pd.DataFrame) -> pd.DataFrame:
    """One row per group member: ``group, kind, size, class, id, image, masks, grades``.

    ``image`` and ``masks`` (``;``-joined) are relative to the scanned data folder, as in ``index.csv``;
    ``grades`` are the grades of the decisions that joined the group (``;``-joined).
    """
    lookup = {
        (c, str(i)): (img, m) for c, i, img, m in zip(index["class"], index["id"], index["image"], index["masks"])
    }
    rows = []
    for g in groups:
        for cls, id_ in g.members:
            img, masks = lookup.get((cls, id_), ("", ""))
            rows.append((g.id, g.kind, g.size, cls, id_, img, masks, ";".join(g.grades)))
    return pd.DataFrame(rows, columns=["group", "kind", "size", "class", "id", "image", "masks", "grades"])


def class_conflicts_table(groups: Sequence[Group]) -> pd.DataFrame:
    """Groups whose members carry more than one class: ``group, kind, size, classes, members``."""
    rows = [
        (g.id, g.kind, g.size, ";".join(g.classes), "; ".join(key_str(k) for k in g.members))
        for g in groups
        if g.class_conflict
    ]
    return pd.DataFrame(rows, columns=["group", "kind", "size", "classes", "members"])


def group_counts(groups: Sequence[Group]) -> dict[str, int]:
    """Number of groups of each kind (``duplet``, ``triplet``, ..., smallest first), plus ``groups``,
    ``images`` and ``class_conflicts``."""
    out = dict(Counter(g.kind for g in sorted(groups, key=lambda g: g.size)))
    out["groups"] = len(groups)
    out["images"] = sum(g.size for g in groups)
    out["class_conflicts"] = sum(g.class_conflict for g in groups)
    return out


def group_pairs(groups: Iterable[Group]) -> list[tuple[Group, Key, Key]]:
    """Every unordered pair of members inside every group, in group then member order."""
    return [(g, a, b) for g in groups for a, b in combinations(g.members, 2)]


def class_distribution(index: pd.DataFrame, groups: Sequence[Group]) -> pd.DataFrame:
    """Table 3: class counts of the scanned set, after the paper's policy, and after keep-one.

    * ``remove-all`` (the paper): every image of every duplicate group is removed.
    * ``keep-one`` (for information, the rule of ``busi-curate export --policy keep-one``): one image
      per group is kept unless the group's members disagree on class, in which case the whole group
      is removed (its label is not known). Which member is kept does not change the class counts;
      here it is the first in record order.

    Columns: ``dataset, policy, removed, normal, benign, malignant, total`` and a ``*_pct`` column per
    class (share of the total, in %).
    """
    all_keys = list(zip(index["class"], index["id"].astype(str)))
    in_group = {k for g in groups for k in g.members}
    kept_one = {g.members[0] for g in groups if not g.class_conflict}
    classes = list(CLASS_ORDER) + sorted({c for c, _ in all_keys} - set(CLASS_ORDER))
    sets = (
        ("scanned", "none", all_keys),
        ("curated", "remove-all", [k for k in all_keys if k not in in_group]),
        ("curated", "keep-one", [k for k in all_keys if k not in in_group or k in kept_one]),
    )
    rows = []
    for name, policy, keys in sets:
        tally = Counter(k[0] for k in keys)
        counts = {c: tally.get(c, 0) for c in classes}
        total = len(keys)
        row: dict[str, object] = {"dataset": name, "policy": policy, "removed": len(all_keys) - total}
        row.update(counts)
        row["total"] = total
        for c in classes:
            row[f"{c}_pct"] = round(100 * counts[c] / total, 1) if total else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)

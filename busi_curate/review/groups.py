"""Stage 5 -- group: merge duplicate pairs into groups (union-find) of any size."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from busi_curate.data.dataset import record_sort_key
from busi_curate.review.journal import Decision, Key, effective

#: grades merged by the paper's policy; ``adjacent-frame`` is added by ``include_adjacent``; ``same-lesion``
#: (another view of the same lesion) is never merged: it only keeps its two images in one fold.
SAME_FRAME_GRADES: tuple[str, ...] = ("identical", "same-frame")
SIZE_NAMES = {2: "duplet", 3: "triplet", 4: "quadruplet", 5: "quintuplet", 6: "sextuplet"}


class UnionFind:
    """Disjoint sets over hashable items, with path halving and union by size."""

    def __init__(self) -> None:
        self.parent: dict[Key, Key] = {}
        self.size: dict[Key, int] = {}

    def find(self, x: Key) -> Key:
        self.parent.setdefault(x, x)
        self.size.setdefault(x, 1)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: Key, b: Key) -> Key:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return ra
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]
        return ra

    def connected(self, a: Key, b: Key) -> bool:
        return self.find(a) == self.find(b)


@dataclass(frozen=True)
class Group:
    """A set of images judged to be the same frame. ``id`` counts from 1 in record order."""

    id: int
    members: tuple[Key, ...]
    grades: tuple[str, ...]
    pairs: tuple[tuple[Key, Key, str], ...]

    @property
    def size(self) -> int:
        return len(self.members)

    @property
    def kind(self) -> str:
        return SIZE_NAMES.get(self.size, f"{self.size}-tuplet")

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(sorted({c for c, _ in self.members}))

    @property
    def class_conflict(self) -> bool:
        return len(self.classes) > 1


def merged_grades(include_adjacent: bool = False) -> tuple[str, ...]:
    """Grades that join images into a group under the chosen policy (never ``same-lesion``)."""
    return SAME_FRAME_GRADES + (("adjacent-frame",) if include_adjacent else ())


def build_groups(decisions: Iterable[Decision], grades: Sequence[str] = SAME_FRAME_GRADES) -> list[Group]:
    """Groups from the standing ``same`` decisions whose grade is in ``grades``.

    Groups are ordered by their first member in the project-wide record order and numbered from 1;
    members are in record order too, so the numbering is deterministic.
    """
    uf = UnionFind()
    same: list[tuple[Key, Key, str]] = []
    for (a, b), d in sorted(effective(decisions).items()):
        if d.answer == "same" and d.grade in grades:
            uf.union(a, b)
            same.append((a, b, d.grade))
    members: dict[Key, list[Key]] = {}
    for k in list(uf.parent):
        members.setdefault(uf.find(k), []).append(k)
    key = lambda k: record_sort_key(*k)  # noqa: E731
    sets = sorted((sorted(m, key=key) for m in members.values()), key=lambda m: key(m[0]))
    out = []
    for gid, m in enumerate(sets, start=1):
        ms = set(m)
        ps = tuple(p for p in same if p[0] in ms)
        out.append(Group(gid, tuple(m), tuple(sorted({g for _, _, g in ps})), ps))
    return out

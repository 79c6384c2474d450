"""Stage 4 -- decide: the paper's duplicate-recognition walk (section 4.2), as pure, resumable logic.

For each reference image, in record order, its candidates come in descending SSIM; the reviewer
answers "same" or "different" for the top one; on "same" the next candidate follows; the first
"different" ends that reference. The walk holds no I/O: it is a deterministic function of the scan
and the journal lines given to it, so resuming is building a new :class:`Walk` from the journal.

Rules (also in ``docs/review.md``):

* An answer is *known* for a pair when the journal has a standing ``same``/``different`` on it, or
  when it is implied by the groups known so far:

  - implied same: both images are already connected by ``same`` decisions (union-find over every
    grade; a chain through ``adjacent-frame`` links counts, its grade is left to the groups);
  - implied different: the two images' same-frame groups (``identical``/``same-frame`` links only)
    already have a standing ``different`` between them. Same-frame is an equivalence, so if A is
    the same frame as B and A differs from C, B differs from C. Adjacent-frame links do not carry
    "different" (a sweep's neighbours can be neighbours of each other).

  A known answer is never asked again; it is applied as if the reviewer had given it (a known
  "different" ends the reference, a known "same" moves on to the next candidate).
* A candidate whose SSIM is below ``threshold`` (or NaN) is never asked; it ends the reference.
* When the top-K list of ``candidates.csv`` runs out while answers stay "same", the walk continues
  down the full SSIM row (``ssim.npy``, or the scored pairs of a pruned scan).
* ``skip`` parks a pair for the rest of this :class:`Walk` (its reference is left unfinished and
  the walk moves on). A skip read from an earlier journal does not park: the pair is asked again.
* ``undo`` revokes the latest decision of the pair it names (see :func:`busi_curate.review.journal.effective`);
  :meth:`Walk.undo_decision` builds the undo line for the latest non-automatic decision.
* Extra pairs (a second shortlisting route, e.g. from the assistant) are asked after the SSIM walk,
  whatever their SSIM, unless already known.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from busi_curate.defaults import SCREEN_THRESHOLD
from busi_curate.errors import JournalError
from busi_curate.review.groups import SAME_FRAME_GRADES, UnionFind
from busi_curate.review.journal import Answer, Decision, Grade, Key, apply_line, undo_id

if TYPE_CHECKING:
    from busi_curate.scan.run import ScanResult

#: The paper's suggested screening threshold (Fig. 5): candidates below it are never asked.
AUTO = "auto"

RowPair = tuple[int, int]


@dataclass(frozen=True)
class Question:
    """One question of the walk: is ``candidate`` the same image as ``reference``? (rows of the scan)"""

    reference: int
    candidate: int
    ssim: float
    rank: int  # 1-based position in the reference's SSIM ranking; 0 for an extra pair
    source: str  # "ssim" (the paper's walk) or "extra" (second shortlisting route)
    reference_key: Key
    candidate_key: Key
    pixel_identical: bool = False

    @property
    def rows(self) -> RowPair:
        return (self.reference, self.candidate)

    @property
    def pair(self) -> tuple[Key, Key]:
        a, b = self.reference_key, self.candidate_key
        return (a, b) if a <= b else (b, a)

    def decision(self, answer: Answer, grade: Grade = "", decided_by: str = "", evidence: str = "") -> Decision:
        """The journal line answering this question (validated by the journal on append)."""
        return Decision(
            self.reference_key[0],
            self.reference_key[1],
            self.candidate_key[0],
            self.candidate_key[1],
            answer,
            grade,
            decided_by,
            evidence,
        )


@dataclass(frozen=True)
class Progress:
    """Where the review stands."""

    references: int
    references_done: int
    same_pairs: int  # standing "same" decisions
    duplicate_images: int  # images in a group of size >= 2 (any grade)
    groups: int
    answered: int  # journal answers still standing or superseded (undone ones excluded)
    by_person: int
    by_auto: int
    parked: int  # pairs skipped in this session
    conflicts: int  # standing "different" pairs inside one same-frame group
    by_grade: dict[str, int] = field(default_factory=dict)

    @property
    def references_left(self) -> int:
        return self.references - self.references_done

    def line(self) -> str:
        """One human-readable progress line."""
        grades = ", ".join(f"{g} {n}" for g, n in sorted(self.by_grade.items()))
        return (
            f"references {self.references_done}/{self.references} done ({self.references_left} left); "
            f"{self.same_pairs} duplicate pairs ({grades or 'none'}) -> {self.duplicate_images} images in "
            f"{self.groups} groups; {self.answered} answers ({self.by_person} by people, {self.by_auto} auto)"
            + (f"; {self.parked} skipped" if self.parked else "")
            + (f"; {self.conflicts} conflicting 'different' inside groups" if self.conflicts else "")
        )

    def to_dict(self) -> dict[str, object]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["references_left"] = self.references_left
        return d


class Walk:
    """The duplicate-recognition walk over a scan, given the journal so far.

    Args:
        scan: a :class:`busi_curate.scan.run.ScanResult` (uses ``index``, ``candidates``, ``ssim``/``pairs``).
        decisions: journal lines in order (``undo`` lines included), e.g. from ``read_journal``.
        threshold: SSIM below which a candidate is never asked.
        extra_pairs: row pairs proposed outside the SSIM ranking; asked after the walk.

    Raises:
        JournalError: a decision names an image that is not in the scan.
    """

    def __init__(
        self,
        scan: ScanResult,
        decisions: Iterable[Decision] = (),
        threshold: float = SCREEN_THRESHOLD,
        extra_pairs: Iterable[RowPair] = (),
    ) -> None:
        self.scan = scan
        self.threshold = float(threshold)
        index = scan.index
        self.keys: list[Key] = [(str(c), str(i)) for c, i in zip(index["class"], index["id"])]
        self.n = len(self.keys)
        self._row: dict[Key, int] = {k: r for r, k in enumerate(self.keys)}
        self._pix = [str(h) for h in index["pixel_sha256"]]
        self._top: list[list[tuple[int, float]]] = [[] for _ in range(self.n)]
        cands = scan.candidates
        cols = [
            cands[c].tolist() for c in ("reference_class", "reference_id", "candidate_class", "candidate_id", "ssim")
        ]
        for t in np.lexsort((cands["rank"].to_numpy(),)):  # stable: rank order within each reference
            rr = self._row.get((str(cols[0][t]), str(cols[1][t])))
            cc = self._row.get((str(cols[2][t]), str(cols[3][t])))
            if rr is not None and cc is not None:
                self._top[rr].append((cc, float(cols[4][t])))
        self._full: dict[int, list[tuple[int, float]]] = {}
        seen: set[RowPair] = set()
        self.extra_pairs: list[RowPair] = []
        for a, b in extra_pairs:
            a, b = int(a), int(b)
            if a == b or not (0 <= a < self.n and 0 <= b < self.n):
                continue
            p = (min(a, b), max(a, b))
            if p not in seen:
                seen.add(p)
                self.extra_pairs.append(p)
        self.extra_pairs.sort()
        self.decisions: list[Decision] = []
        self._stacks: dict[RowPair, list[Decision]] = {}
        self._history: list[Decision] = []
        self._parked: set[RowPair] = set()
        # union-finds over rows (``groups.UnionFind`` is generic in practice; typed for keys)
        self._any: Any = UnionFind()  # every standing "same"
        self._strict: Any = UnionFind()  # identical / same-frame only
        self._diffs: list[RowPair] = []  # standing "different" pairs
        self._diff_roots: set[RowPair] | None = None  # their strict-root pairs (None: to recompute)
        self._dirty = True
        for d in decisions:
            self._apply(d, session=False)

    # ------------------------------------------------------------------ state
    def row(self, key: Key) -> int:
        try:
            return self._row[(str(key[0]), str(key[1]))]
        except KeyError:
            raise JournalError(f"decision names image {key[0]} {key[1]}, which is not in the scan") from None

    def _rows(self, d: Decision) -> RowPair:
        a, b = self.row(d.reference), self.row(d.candidate)
        return (min(a, b), max(a, b))

    def _apply(self, d: Decision, session: bool) -> None:
        p = self._rows(d)
        st = self._stacks.setdefault(p, [])
        self.decisions.append(d)
        if d.answer == "undo":
            gone = apply_line(st, d)
            if gone is not None:
                for i in range(len(self._history) - 1, -1, -1):
                    if self._history[i] is gone:
                        del self._history[i]
                        break
                if gone.answer == "skip":
                    self._parked.discard(p)
            self._dirty = True
            return
        try:
            d.validate()
        except ValueError as exc:
            raise JournalError(f"invalid decision on {d.reference} / {d.candidate}: {exc}") from None
        prev = st[-1].answer if st else None
        apply_line(st, d)
        self._history.append(d)
        if d.answer == "skip":
            if session:
                self._parked.add(p)
            if prev in ("same", "different"):
                self._dirty = True
            return
        if self._dirty or prev in ("same", "different"):
            self._dirty = True
            return
        # incremental update for the common case: a first answer on an open pair
        if d.answer == "same":
            self._any.union(*p)
            if d.grade in SAME_FRAME_GRADES:
                self._strict.union(*p)
                self._diff_roots = None
        else:
            self._diffs.append(p)
            if self._diff_roots is not None:
                self._diff_roots.add(self._root_pair(*p))

    def _rebuild(self) -> None:
        self._any, self._strict = UnionFind(), UnionFind()
        self._diffs = []
        self._diff_roots = None
        for p, st in self._stacks.items():
            if not st:
                continue
            d = st[-1]
            if d.answer == "same":
                self._any.union(*p)
                if d.grade in SAME_FRAME_GRADES:
                    self._strict.union(*p)
            elif d.answer == "different":
                self._diffs.append(p)
        self._dirty = False

    def _state(self) -> None:
        if self._dirty:
            self._rebuild()
        if self._diff_roots is None:
            self._diff_roots = {self._root_pair(*p) for p in self._diffs}

    def _root_pair(self, a: int, b: int) -> RowPair:
        ra, rb = self._strict.find(a), self._strict.find(b)
        return (min(ra, rb), max(ra, rb))

    def standing(self, a: int, b: int) -> Decision | None:
        """The standing journal decision on rows ``a``, ``b`` (None if never decided or all undone)."""
        st = self._stacks.get((min(a, b), max(a, b)))
        return st[-1] if st else None

    def known(self, a: int, b: int, hypothetical: set[RowPair] | None = None) -> str | None:
        """``"same"`` / ``"different"`` when the answer for rows ``a``, ``b`` is decided or implied, else None."""
        self._state()
        d = self.standing(a, b)
        if d is not None and d.answer in ("same", "different"):
            return d.answer
        if self._strict.connected(a, b):
            return "same"
        rp = self._root_pair(a, b)
        if rp in (self._diff_roots or ()) or (hypothetical and rp in hypothetical):
            return "different"
        if self._any.connected(a, b):
            return "same"
        return None

    def is_open(self, a: int, b: int) -> bool:
        return self.known(a, b) is None

    # ---------------------------------------------------------------- ranking
    def ranking(self, r: int) -> Iterator[tuple[int, int, float]]:
        """``(rank, candidate row, ssim)`` for reference ``r`` in descending SSIM: top-K, then the full row."""
        listed = self._top[r]
        for k, (c, s) in enumerate(listed, start=1):
            yield k, c, s
        seen = {c for c, _ in listed}
        for k, (c, s) in enumerate((x for x in self._full_row(r) if x[0] not in seen), start=len(listed) + 1):
            yield k, c, s

    def _full_row(self, r: int) -> list[tuple[int, float]]:
        if r not in self._full:
            m = getattr(self.scan, "ssim", None)
            if m is not None:
                v = np.asarray(m[r], dtype=np.float64).copy()
                v[r] = -np.inf
                v[np.isnan(v)] = -np.inf
                order = np.argsort(-v, kind="stable")
                out = [(int(c), float(m[r, c])) for c in order if np.isfinite(v[c])]
            else:
                pairs = getattr(self.scan, "pairs", None)
                out = []
                if pairs is not None:
                    a, b, s = (pairs[c].to_numpy() for c in ("a", "b", "ssim"))
                    sel = (a == r) | (b == r)
                    other = np.where(a[sel] == r, b[sel], a[sel]).astype(np.int64)
                    vals = s[sel].astype(np.float64)
                    ok = np.isfinite(vals)
                    other, vals = other[ok], vals[ok]
                    o = np.lexsort((other, -vals))
                    out = [(int(other[i]), float(vals[i])) for i in o]
            self._full[r] = out
        return self._full[r]

    def question(self, r: int, c: int, ssim: float | None = None, rank: int = 0, source: str = "extra") -> Question:
        if ssim is None:
            ssim = float(self.scan.pair_ssim(r, c))
        return Question(r, c, float(ssim), rank, source, self.keys[r], self.keys[c], self._pix[r] == self._pix[c])

    # ------------------------------------------------------------------- walk
    def _reference(self, r: int, hypothetical: set[RowPair] | None) -> Question | None:
        """The first open question of reference ``r``, or None when its walk ends without one."""
        for rank, c, s in self.ranking(r):
            if not (s >= self.threshold):
                return None
            k = self.known(r, c, hypothetical)
            if k == "same":
                continue
            if k == "different":
                return None
            return self.question(r, c, s, rank, "ssim")
        return None

    def next_question(self) -> Question | None:
        """The next question to put to a reviewer (parked pairs passed over), or None when none is left."""
        for r in range(self.n):
            q = self._reference(r, None)
            if q is not None and (min(q.rows), max(q.rows)) not in self._parked:
                return q
        for a, b in self.extra_pairs:
            if (a, b) not in self._parked and self.known(a, b) is None:
                return self.question(a, b)
        return None

    def open_questions(self) -> list[Question]:
        """Every question the walk would still ask if all remaining answers were "different" (parked included)."""
        hyp: set[RowPair] = set()
        out = []
        for r in range(self.n):
            q = self._reference(r, hyp)
            if q is not None:
                out.append(q)
                hyp.add(self._root_pair(*q.rows))
        for a, b in self.extra_pairs:
            if self.known(a, b, hyp) is None:
                q = self.question(a, b)
                out.append(q)
                hyp.add(self._root_pair(a, b))
        return out

    def unsettled_candidates(self) -> list[RowPair]:
        """Row pairs ``(a, b)``, ``a < b``, of the listed SSIM candidates (``candidates.csv``) at or above the
        threshold whose answer is not known yet, sorted. The walk reaches only some of them (the first
        "different" ends a reference); the automatic pass checks the rest too (see :mod:`.auto`)."""
        out: set[RowPair] = set()
        for r, listed in enumerate(self._top):
            for c, s in listed:
                if s >= self.threshold and r != c:
                    p = (min(r, c), max(r, c))
                    if p not in out and self.known(*p) is None:
                        out.add(p)
        return sorted(out)

    def record(self, decision: Decision) -> None:
        """Apply one journal line (same / different / skip / undo) made in this session."""
        self._apply(decision, session=True)

    def _undoable(self) -> Decision | None:
        for d in reversed(self._history):
            if d.decided_by != AUTO and self._stacks.get(self._rows(d), [None])[-1] is d:
                return d
        return None

    def undo_target(self) -> str | None:
        """Identity of the decision an undo would take back now (``undo_id``), or None."""
        d = self._undoable()
        return None if d is None else undo_id(d)

    def undo_decision(self, decided_by: str = "") -> Decision | None:
        """The ``undo`` line that takes back the latest non-automatic decision still standing, or None.

        Its evidence names that decision (``undo <answer> @ <time>``), so replaying a duplicated undo
        revokes nothing more (:func:`busi_curate.review.journal.effective`).
        """
        d = self._undoable()
        if d is None:
            return None
        return Decision(
            d.reference_class,
            d.reference_id,
            d.candidate_class,
            d.candidate_id,
            "undo",
            "",
            decided_by or d.decided_by,
            f"undo {d.answer} @ {d.time}",
        )

    # --------------------------------------------------------------- summary
    def progress(self) -> Progress:
        self._state()
        done = sum(1 for r in range(self.n) if self._reference(r, None) is None)
        standing = [st[-1] for st in self._stacks.values() if st]
        same = [d for d in standing if d.answer == "same"]
        by_grade: dict[str, int] = dict(Counter(d.grade for d in same))
        sizes = Counter(self._any.find(r) for r in range(self.n))
        conflicts = sum(1 for p in self._diffs if self._strict.connected(*p))
        return Progress(
            references=self.n,
            references_done=done,
            same_pairs=len(same),
            duplicate_images=sum(s for s in sizes.values() if s > 1),
            groups=sum(1 for s in sizes.values() if s > 1),
            answered=sum(1 for d in self._history if d.answer in ("same", "different")),
            by_person=sum(1 for d in self._history if d.answer in ("same", "different") and d.decided_by != AUTO),
            by_auto=sum(1 for d in self._history if d.answer in ("same", "different") and d.decided_by == AUTO),
            parked=len(self._parked),
            conflicts=conflicts,
            by_grade=by_grade,
        )


def walk_order(questions: Sequence[Question]) -> list[RowPair]:
    """The row pairs of ``questions``, in order (a small helper for tests and summaries)."""
    return [q.rows for q in questions]

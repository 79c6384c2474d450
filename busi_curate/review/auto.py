"""The automatic pass of the review: the assistant answers the walk's questions it is confident about.

The assistant (``busi_curate.assistant.Assistant``, or anything with the same ``assess``) is asked
about every question of the walk's frontier (:meth:`Walk.open_questions`) in batches. A ``same``
verdict with a valid grade or a ``different`` verdict is appended to the journal with
``decided_by=auto``, the grade and the evidence; ``uncertain`` is left for a person. A ``same``
moves the reference on to its next candidate, so the pass repeats until every question of the
frontier has been assessed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from busi_curate.review.journal import GRADES, Decision
from busi_curate.review.walk import AUTO, Question, RowPair, Walk


class AssessmentLike(Protocol):
    verdict: str  # "same" | "different" | "uncertain"
    grade: str  # "identical" | "same-frame" | "adjacent-frame" | ""
    evidence: str
    score: float


class AssistantLike(Protocol):
    def assess(self, pairs: list[tuple[int, int]]) -> Sequence[AssessmentLike]: ...


@dataclass
class AutoSummary:
    """What the automatic pass did."""

    assessed: int = 0
    same: int = 0
    different: int = 0
    uncertain: int = 0  # questions left for a person
    rounds: int = 0
    seconds: float = 0.0
    by_grade: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        grades = ", ".join(f"{g} {n}" for g, n in sorted(self.by_grade.items()))
        return (
            f"auto: assessed {self.assessed} pairs in {self.rounds} rounds ({self.seconds:.1f} s); decided "
            f"{self.same} same ({grades or 'none'}) and {self.different} different; "
            f"{self.uncertain} questions left for a person"
        )


def auto_decision(q: Question, a: AssessmentLike) -> Decision | None:
    """The journal line for a confident assessment, or None when it must go to a person."""
    evidence = a.evidence or f"score={a.score:.3f}"
    if a.verdict == "same" and a.grade in GRADES:
        return q.decision("same", a.grade, AUTO, evidence)
    if a.verdict == "different":
        return q.decision("different", "", AUTO, evidence)
    return None


def run_auto(
    walk: Walk,
    assistant: AssistantLike,
    append: Callable[[Decision], Decision],
    assessments: dict[RowPair, Any] | None = None,
) -> AutoSummary:
    """Let ``assistant`` decide the walk's confident questions; ``append`` writes a line (e.g. ``Journal.append``).

    ``assessments`` (row pair -> assessment) is filled in place, so a server can show the evidence of the
    uncertain questions without asking again.
    """
    t0 = time.perf_counter()
    cache: dict[RowPair, Any] = {} if assessments is None else assessments
    out = AutoSummary()
    while True:
        todo = [q for q in walk.open_questions() if q.rows not in cache]
        if not todo:
            break
        out.rounds += 1
        results = list(assistant.assess([q.rows for q in todo]))
        if len(results) != len(todo):
            raise RuntimeError(f"assistant returned {len(results)} assessments for {len(todo)} pairs")
        out.assessed += len(todo)
        for q, a in zip(todo, results):
            cache[q.rows] = a
        for q in todo:  # in walk order, so the journal is deterministic
            d = auto_decision(q, cache[q.rows])
            if d is None or not walk.is_open(*q.rows):
                continue
            walk.record(append(d))
            if d.answer == "same":
                out.same += 1
                out.by_grade[d.grade] = out.by_grade.get(d.grade, 0) + 1
            else:
                out.different += 1
    out.uncertain = len(walk.open_questions())
    out.seconds = time.perf_counter() - t0
    return out

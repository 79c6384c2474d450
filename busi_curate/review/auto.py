"""The automatic pass of the review: the paper's walk (section 4.2) driven by the assistant.

This is the one walk used by ``review --auto``, the scripted review behind the published journal and
``bench-auto``. The assistant (``busi_curate.assistant.Assistant``, or anything with the same
``assess``) is asked about every question of the walk's frontier (:meth:`Walk.open_questions`) in
batches. A ``same`` verdict with a valid grade or a ``different`` verdict is appended to the journal
with ``decided_by=auto``, the grade and the evidence; ``uncertain`` is left for a person (the
reference waits there until a person's answer is in the journal). A ``same`` moves the reference on
to its next candidate, so the pass repeats until every question of the frontier has been assessed.

Beyond the paper's walk (``beyond=True``, the default): the first "different" ends a reference, so
a duplicate ranked below an unrelated image would never be asked. The pass therefore also checks
every other listed SSIM candidate at or above the threshold whose answer is not known
(:meth:`Walk.unsettled_candidates`) and records the confident ``same`` verdicts among them (only
those: this adds no question for a person), then walks the frontier again. Extra pairs of a second
shortlisting route are part of the walk's frontier (``Walk(extra_pairs=...)``).

:class:`AutoSummary` counts the decisions by route: ``ssim`` (the paper's walk), ``extra`` and
``beyond``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from busi_curate.review.journal import GRADES, Decision
from busi_curate.review.walk import AUTO, Question, RowPair, Walk


class AssessmentLike(Protocol):
    @property
    def verdict(self) -> str: ...  # "same" | "different" | "uncertain"
    @property
    def grade(self) -> str: ...  # "identical" | "same-frame" | "adjacent-frame" | ""
    @property
    def evidence(self) -> str: ...
    @property
    def score(self) -> float: ...


class AssistantLike(Protocol):
    def assess(self, pairs: Sequence[tuple[int, int]]) -> Sequence[AssessmentLike]: ...


class ProgressLike(Protocol):
    """What the pass reports progress to (a ``tqdm`` bar): pairs to assess are added to ``total`` as the walk
    finds them, ``update`` counts the ones assessed."""

    total: Any

    def update(self, n: int = 1) -> Any: ...

    def refresh(self) -> Any: ...


#: pairs per call to the assistant while a progress bar is shown (its own threads work within a call)
CHUNK = 256


def collect(into: list[Decision]) -> Callable[[Decision], Decision]:
    """An ``append`` for :func:`run_auto` that keeps the decisions in the list ``into`` (no journal file)."""

    def append(d: Decision) -> Decision:
        into.append(d)
        return d

    return append


@dataclass
class AutoSummary:
    """What the automatic pass did."""

    assessed: int = 0
    same: int = 0
    different: int = 0
    uncertain: int = 0  # questions left for a person
    rounds: int = 0
    seconds: float = 0.0
    cached: int = 0  # assessments read from the on-disk cache instead of asking the assistant
    by_grade: dict[str, int] = field(default_factory=dict)
    by_source: dict[str, int] = field(default_factory=dict)  # decisions per route: ssim / extra / beyond

    def line(self) -> str:
        grades = ", ".join(f"{g} {n}" for g, n in sorted(self.by_grade.items()))
        return (
            f"auto: assessed {self.assessed} pairs in {self.rounds} rounds ({self.seconds:.1f} s); decided "
            f"{self.same} same ({grades or 'none'}) and {self.different} different; "
            f"{self.uncertain} questions left for a person"
            + (f"; {self.cached} assessments from the cache" if self.cached else "")
            + (
                f"; by route {', '.join(f'{k} {v}' for k, v in sorted(self.by_source.items()))}"
                if self.by_source
                else ""
            )
        )


def auto_decision(q: Question, a: AssessmentLike) -> Decision | None:
    """The journal line for a confident assessment, or None when it must go to a person."""
    evidence = a.evidence or f"score={a.score:.3f}"
    if a.verdict == "same" and a.grade in GRADES:
        return q.decision("same", a.grade, AUTO, evidence)
    if a.verdict == "different":
        return q.decision("different", "", AUTO, evidence)
    return None


def _assess_new(
    qs: list[Question],
    cache: dict[RowPair, Any],
    assistant: AssistantLike,
    progress: ProgressLike | None,
    out: AutoSummary,
) -> None:
    """Ask ``assistant`` about the questions of ``qs`` not in ``cache`` (one round; :data:`CHUNK` pairs at a
    time when there is a ``progress`` bar) and store its assessments there."""
    todo = [q for q in qs if q.rows not in cache]
    if not todo:
        return
    out.rounds += 1
    results: list[Any] = []
    step = CHUNK if progress is not None else len(todo)
    if progress is not None:
        progress.total = (progress.total or 0) + len(todo)
        progress.refresh()
    for k in range(0, len(todo), step):
        part = todo[k : k + step]
        results += assistant.assess([q.rows for q in part])
        if progress is not None:
            progress.update(len(part))
    if len(results) != len(todo):
        raise RuntimeError(f"assistant returned {len(results)} assessments for {len(todo)} pairs")
    out.assessed += len(todo)
    for q, a in zip(todo, results):
        cache[q.rows] = a


def _record(
    q: Question,
    only_same: bool,
    walk: Walk,
    append: Callable[[Decision], Decision],
    cache: dict[RowPair, Any],
    out: AutoSummary,
) -> bool:
    """Record the assistant's confident answer to ``q`` (only a ``same`` one with ``only_same``) while the pair
    is open; True when a decision was written."""
    d = auto_decision(q, cache[q.rows])
    if d is None or (only_same and d.answer != "same") or not walk.is_open(*q.rows):
        return False
    walk.record(append(d))
    out.by_source[q.source] = out.by_source.get(q.source, 0) + 1
    if d.answer == "same":
        out.same += 1
        out.by_grade[d.grade] = out.by_grade.get(d.grade, 0) + 1
    else:
        out.different += 1
    return True


def run_auto(
    walk: Walk,
    assistant: AssistantLike,
    append: Callable[[Decision], Decision],
    assessments: dict[RowPair, Any] | None = None,
    beyond: bool = True,
    progress: ProgressLike | None = None,
) -> AutoSummary:
    """Let ``assistant`` decide the walk's confident questions; ``append`` writes a line (e.g. ``Journal.append``).

    ``assessments`` (row pair -> assessment) is filled in place, so a server can show the evidence of the
    uncertain questions without asking again. ``beyond``: also record confident ``same`` verdicts on the
    listed candidates the walk does not reach (module docstring). ``progress``: a bar told how many pairs there
    are to assess (growing round by round) and how many are done; the assistant is then asked ``CHUNK`` at a time.
    """
    t0 = time.perf_counter()
    cache: dict[RowPair, Any] = {} if assessments is None else assessments
    out = AutoSummary()

    def ask(qs: list[Question]) -> None:
        _assess_new(qs, cache, assistant, progress, out)

    def record(q: Question, only_same: bool = False) -> bool:
        return _record(q, only_same, walk, append, cache, out)

    while True:
        while True:  # the paper's walk (and the extra pairs), frontier after frontier
            todo = [q for q in walk.open_questions() if q.rows not in cache]
            if not todo:
                break
            ask(todo)
            for q in todo:  # in walk order, so the journal is deterministic
                record(q)
        if not beyond:
            break
        frontier = {(min(q.rows), max(q.rows)) for q in walk.open_questions()}
        rest = [walk.question(a, b, source="beyond") for a, b in walk.unsettled_candidates() if (a, b) not in frontier]
        ask(rest)
        if not sum(record(q, only_same=True) for q in rest):
            break
    out.uncertain = len(walk.open_questions())
    out.seconds = time.perf_counter() - t0
    return out

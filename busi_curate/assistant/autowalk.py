"""The paper's walk (section 4.2) driven by the assistant, without a browser.

For each reference image (record order), its candidates come by descending SSIM; a candidate below
the screening threshold is never asked; a pair already settled in the journal, or implied by a group
already known, is not asked again; the first ``different`` ends the reference. Where the rule is
``uncertain`` the pair becomes a question for a person and the reference stops there until the
question is answered (answers are journal lines; re-running the walk then continues).

Two additions to the paper's walk, both reported separately:

* ``extra``: the pairs of the second shortlisting route (:meth:`Assistant.extra_pairs`), decided by
  the rule (uncertain ones become questions);
* ``beyond``: walk candidates the paper's walk never reaches (after a ``different``) that the rule
  calls ``same`` with confidence; only confident ``same`` verdicts are recorded there, so they add
  no questions.

This is the stage the review UI's ``--auto`` mode performs too; it is kept here so the benchmark
and the scripted BUSI review run without the UI.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from busi_curate.assistant import Assessment, Assistant
from busi_curate.review.groups import SAME_FRAME_GRADES, UnionFind
from busi_curate.review.journal import Decision, Key, effective


@dataclass
class WalkResult:
    """Decisions the rule made (not yet written), the questions left, and counts by route."""

    decisions: list[Decision] = field(default_factory=list)
    questions: list[tuple[int, int, Assessment]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def auto_walk(
    assistant: Assistant,
    existing: Iterable[Decision] = (),
    merge_grades: tuple[str, ...] = SAME_FRAME_GRADES,
    extra: bool = True,
    beyond: bool = True,
    decided_by: str = "auto",
) -> WalkResult:
    """Run the walk over ``assistant.scan`` given the journal lines ``existing``; see the module docstring."""
    scan = assistant.scan
    keys: list[Key] = [(str(c), str(i)) for c, i in zip(scan.index["class"], scan.index["id"])]
    settled: dict[tuple[Key, Key], Decision] = dict(effective(existing))
    uf = UnionFind()
    for (ka, kb), dec in settled.items():
        if dec.answer == "same" and dec.grade in merge_grades:
            uf.union(ka, kb)
    thr = assistant.settings.threshold
    cands: dict[int, list[tuple[int, float]]] = {}
    c = scan.candidates.sort_values(["reference_class", "reference_id", "rank"], kind="stable")
    for rc, ri, cc, ci, s in zip(
        c["reference_class"], c["reference_id"], c["candidate_class"], c["candidate_id"], c["ssim"]
    ):
        cands.setdefault(assistant.row_of(rc, ri), []).append((assistant.row_of(cc, ci), float(s)))
    walk = assistant.walk_pairs()
    assistant.assess(sorted(walk))  # verify every walk candidate once (threaded)
    res = WalkResult()
    counts = dict.fromkeys(
        [
            "walk_same",
            "walk_different",
            "extra_same",
            "extra_different",
            "beyond_same",
            "questions",
            "skipped_settled",
            "skipped_implied",
        ],
        0,
    )
    visited: set[tuple[int, int]] = set()
    pending: set[tuple[Key, Key]] = set()

    def ask(i: int, j: int, a: Assessment) -> None:
        if pkey(i, j) not in pending:
            pending.add(pkey(i, j))
            res.questions.append((i, j, a))
            counts["questions"] += 1

    def record(i: int, j: int, a: Assessment) -> None:
        d = Decision(keys[i][0], keys[i][1], keys[j][0], keys[j][1], a.verdict, a.grade, decided_by, a.evidence)
        res.decisions.append(d)
        settled[d.pair] = d
        if a.verdict == "same" and a.grade in merge_grades:
            uf.union(keys[i], keys[j])

    def pkey(i: int, j: int) -> tuple[Key, Key]:
        a, b = keys[i], keys[j]
        return (a, b) if a <= b else (b, a)

    for ref in range(scan.n):  # index rows are in record order
        for cand, s in cands.get(ref, []):
            if s < thr:
                break
            visited.add((min(ref, cand), max(ref, cand)))
            prior = settled.get(pkey(ref, cand))
            if prior is not None and prior.answer != "skip":
                counts["skipped_settled"] += 1
                if prior.answer == "different":
                    break
                continue
            if uf.connected(keys[ref], keys[cand]):
                counts["skipped_implied"] += 1
                continue
            [a] = assistant.assess([(ref, cand)])
            if a.verdict == "uncertain":
                ask(ref, cand, a)  # the reference waits for the answer
                break
            record(ref, cand, a)
            counts["walk_" + a.verdict] += 1
            if a.verdict == "different":
                break
    if extra:
        pairs = assistant.extra_pairs()
        for (i, j), a in zip(pairs, assistant.assess(pairs)):
            if pkey(i, j) in settled or uf.connected(keys[i], keys[j]):
                continue
            if a.verdict == "uncertain":
                ask(i, j, a)
            else:
                record(i, j, a)
                counts["extra_" + a.verdict] += 1
    if beyond:
        rest = sorted(walk - visited)
        for (i, j), a in zip(rest, assistant.assess(rest)):
            if a.verdict == "same" and pkey(i, j) not in settled and not uf.connected(keys[i], keys[j]):
                record(i, j, a)
                counts["beyond_same"] += 1
    res.counts = counts
    return res

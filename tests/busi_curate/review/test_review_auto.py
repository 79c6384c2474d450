"""The automatic pass with a fake assistant (the real one is tested by its own suite): journal lines,
uncertain questions left for a person, interleaving in the server, and the ``--auto --no-browser`` command."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from conftest import run_cli

from busi_curate.review.auto import collect, run_auto
from busi_curate.review.journal import Journal, read_journal
from busi_curate.review.server import ReviewApp
from busi_curate.review.session import load_journal, open_walk, read_extra_pairs
from busi_curate.scan.run import read_scan


@dataclass(frozen=True)
class Assessment:
    verdict: str
    grade: str
    evidence: str
    score: float


class FakeAssistant:
    """Knows the planted duplicates; unsure about crops and rescales and about high-SSIM strangers."""

    calls: list[int] = []

    def __init__(self, scan, cache_dir: Path) -> None:
        self.scan = scan
        planted = pd.read_csv(Path(scan.data_dir) / "planted.csv", dtype=str)
        self.kind = {}
        for r in planted.itertuples():
            a, b = scan.row_of(r.source_class, r.source_id), scan.row_of(r.copy_class, r.copy_id)
            self.kind[(min(a, b), max(a, b))] = r.kind

    def assess(self, pairs):
        FakeAssistant.calls.append(len(pairs))
        out = []
        for a, b in pairs:
            kind = self.kind.get((min(a, b), max(a, b)))
            s = self.scan.pair_ssim(a, b)
            if kind in ("crop", "rescale") or (kind is None and s > 0.4):
                out.append(Assessment("uncertain", "", f"fake ssim={s:.2f}", 0.5))
            elif kind is None:
                out.append(Assessment("different", "", f"fake ssim={s:.2f}", 0.1))
            else:
                out.append(
                    Assessment(
                        "same",
                        "identical" if kind in ("identical", "relabel") else "same-frame",
                        f"fake kind={kind}",
                        0.95,
                    )
                )
        return out

    def extra_pairs(self):
        ix = self.scan.index
        first_normal = int(ix.index[ix["class"] == "normal"][0])
        return [(0, first_normal), (first_normal, 0), (1, 2)]


def test_run_auto_decides_confident_pairs_and_leaves_the_rest(scan_copy):
    scan = read_scan(scan_copy)
    fake = FakeAssistant(scan, scan_copy / "features")
    walk = open_walk(scan, [])
    assessments: dict = {}
    with Journal(scan_copy / "decisions.csv") as j:
        summary = run_auto(walk, fake, j.append, assessments)
    lines = read_journal(scan_copy / "decisions.csv")
    assert lines and all(d.decided_by == "auto" for d in lines)
    assert summary.same + summary.different == len(lines)
    assert summary.same == sum(d.answer == "same" for d in lines) >= 4
    assert all(d.evidence.startswith("fake") for d in lines)
    assert {d.grade for d in lines if d.answer == "same"} <= {"identical", "same-frame"}
    left = walk.open_questions()
    assert summary.uncertain == len(left) > 0
    for q in left:  # what is left is exactly what the assistant was unsure about
        assert assessments[q.rows].verdict == "uncertain"
    # a second pass finds nothing new to decide
    with Journal(scan_copy / "decisions.csv") as j:
        again = run_auto(walk, fake, j.append, assessments)
    assert again.same == again.different == 0 and again.assessed == 0
    assert len(read_journal(scan_copy / "decisions.csv")) == len(lines)


class BeyondAssistant:
    """Says "different" to reference 0's first candidate and "same" to its second one (a copy the paper's walk
    never reaches: the first "different" ends the reference), "different" to everything else."""

    def __init__(self, first: tuple[int, int], second: tuple[int, int]) -> None:
        self.first, self.second = first, second

    def assess(self, pairs):
        out = []
        for a, b in pairs:
            same = (min(a, b), max(a, b)) == self.second
            out.append(Assessment("same" if same else "different", "same-frame" if same else "", "fake", 0.9))
        return out


def test_the_auto_pass_checks_candidates_beyond_the_first_different(scan_copy):
    scan = read_scan(scan_copy)
    walk = open_walk(scan, [])

    def usable(r: int) -> bool:  # two candidates above the threshold, and the second one's walk starts elsewhere
        top = walk._top[r]
        return sum(s >= walk.threshold for _, s in top[:2]) == 2 and walk._top[top[1][0]][0][0] != r

    ref = next(r for r in range(scan.n) if usable(r))
    (c1, _), (c2, _) = walk._top[ref][:2]
    fake = BeyondAssistant((min(ref, c1), max(ref, c1)), (min(ref, c2), max(ref, c2)))
    plain: list = []
    summary = run_auto(open_walk(scan, []), fake, collect(plain), beyond=False)
    assert not [d for d in plain if d.answer == "same"] and "beyond" not in summary.by_source
    lines: list = []
    summary = run_auto(walk, fake, collect(lines))
    same = [d for d in lines if d.answer == "same"]
    assert summary.by_source.get("beyond") == 1 and len(same) == 1
    assert {same[0].reference, same[0].candidate} == {walk.keys[ref], walk.keys[c2]}
    assert walk.known(ref, c2) == "same"
    # the walk of the same journal asks nothing new: the pass is idempotent
    again: list = []
    run_auto(open_walk(scan, lines), fake, collect(again))
    assert not again


def test_server_asks_the_assistant_before_the_person(scan_copy):
    scan = read_scan(scan_copy)
    fake = FakeAssistant(scan, scan_copy / "features")
    with Journal(scan_copy / "decisions.csv") as j:
        app = ReviewApp(scan, open_walk(scan, []), j.append, "tester", assistant=fake)
        seen = []
        for _ in range(60):
            st = app.state()
            q = st["question"]
            if q is None:
                break
            assert q["assistant"]["verdict"] == "uncertain" and q["assistant"]["evidence"].startswith("fake")
            seen.append((q["reference"]["row"], q["candidate"]["row"]))
            key = (min(seen[-1]), max(seen[-1]))
            same = fake.kind.get(key) is not None
            status, _ = app.answer(
                {
                    "answer": "same" if same else "different",
                    "grade": "same-frame",
                    "reference": seen[-1][0],
                    "candidate": seen[-1][1],
                }
            )
            assert status == 200
    lines = read_journal(scan_copy / "decisions.csv")
    people = [d for d in lines if d.decided_by == "tester"]
    assert len(people) == len(seen) > 0 and any(d.decided_by == "auto" for d in lines)
    assert app.walk.next_question() is None


def test_cli_auto_no_browser(scan_copy, capsys):
    argv = ["review", str(scan_copy), "--auto", "--no-browser", "--assistant", "test_review_auto:FakeAssistant"]
    code = run_cli(argv)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "auto: assessed" in out and "questions left for a person" in out and "2 extra pairs" in out
    n = len(read_journal(scan_copy / "decisions.csv"))
    assert n > 0
    scan = read_scan(scan_copy)
    assert len(read_extra_pairs(scan)) == 2
    decisions, _ = load_journal(scan_copy / "decisions.csv", scan)
    walk = open_walk(scan, decisions)
    assert walk.extra_pairs == sorted(read_extra_pairs(scan))
    assert all(walk.known(a, b) == "different" for a, b in walk.extra_pairs)  # low-SSIM strangers: auto "different"
    assert run_cli(argv) == 0  # idempotent: nothing new to decide
    assert len(read_journal(scan_copy / "decisions.csv")) == n


def test_cli_auto_without_an_assistant_is_one_line_exit_2(scan_copy, capsys):
    code = run_cli(["review", str(scan_copy), "--auto", "--no-browser", "--assistant", "no_such_module:Nope"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1

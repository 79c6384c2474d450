"""``busi-curate review`` from the command line: bad input, replay/merge, and kill -9 + resume of the real server."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli
from PIL import Image

from busi_curate.errors import JournalError
from busi_curate.review.journal import JOURNAL_COLUMNS, Decision, Journal, read_journal
from busi_curate.review.session import review_lock


def one_line_error(capsys, argv: list[str], *needles: str) -> str:
    code = run_cli(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    first = err.splitlines()[0]
    assert first.startswith("error: ")
    for n in needles:
        assert n in err
    assert "Traceback" not in err
    return err


def test_missing_scan_folder(tmp_path, capsys):
    one_line_error(capsys, ["review", str(tmp_path / "nope"), "--no-browser"], "scan folder does not exist")


def test_images_changed_since_the_scan(synthetic_dir, tmp_path, capsys):
    from busi_curate.scan.run import ScanSettings, run_scan

    data = tmp_path / "data"
    shutil.copytree(synthetic_dir, data)
    scan = run_scan(data, tmp_path / "scan", ScanSettings(size=32))
    p = data / scan.index.at[3, "image"]
    a = np.asarray(Image.open(p).convert("L")).copy()
    a[0, 0] ^= 0xFF
    Image.fromarray(a).save(p)
    one_line_error(capsys, ["review", str(tmp_path / "scan"), "--no-browser"], "differ from the scan", p.name)
    shutil.rmtree(data)
    one_line_error(capsys, ["review", str(tmp_path / "scan"), "--no-browser"], "data folder is gone")


def test_journal_naming_unknown_ids(scan_copy, capsys):
    with Journal(scan_copy / "decisions.csv") as j:
        j.append(Decision("benign", "1", "benign", "999", "different", "", "x"))
    one_line_error(capsys, ["review", str(scan_copy), "--no-browser"], "not in the scan", "benign 999")


def test_half_line_is_skipped_with_a_warning_and_earlier_lines_kept(scan_copy, capsys):
    p = scan_copy / "decisions.csv"
    with Journal(p) as j:
        j.append(Decision("benign", "1", "benign", "15", "same", "identical", "x"))
        j.append(Decision("benign", "1", "normal", "4", "different", "", "x"))
    with open(p, "a", encoding="utf-8") as fh:
        fh.write("benign,2,normal,4,diff")  # a crash in the middle of a line
    assert run_cli(["review", str(scan_copy), "--no-browser"]) == 0
    cap = capsys.readouterr()
    assert "warning:" in cap.err and "damaged journal line" in cap.err
    assert "journal" in cap.out and "2 lines" in cap.out
    assert "1 duplicate pairs" in cap.out
    # the next writer heals the cut line; both earlier lines survive, the new one is readable
    with Journal(p) as j:
        j.append(Decision("benign", "2", "normal", "4", "different", "", "x"))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = read_journal(p)
    assert [(d.reference_id, d.candidate_id) for d in got] == [("1", "15"), ("1", "4"), ("2", "4")]


def test_reviewer_auto_is_reserved(scan_copy, capsys):
    one_line_error(capsys, ["review", str(scan_copy), "--no-browser", "--reviewer", "auto"], "reserved")


def _journal(path: Path, lines: list[Decision]) -> None:
    with Journal(path) as j:
        j.extend(lines)


def test_replay_and_merge(scan_copy, tmp_path, capsys):
    shared = tmp_path / "shared.csv"
    _journal(
        shared,
        [
            Decision("benign", "1", "benign", "15", "same", "identical", "alice"),
            Decision("benign", "1", "normal", "4", "different", "", "alice"),
            Decision("malignant", "5", "benign", "20", "same", "identical", "alice"),
        ],
    )
    assert run_cli(["review", str(scan_copy), "--decisions", str(shared)]) == 0
    out = capsys.readouterr().out
    assert (
        "replayed 3 journal lines" in out
        and "2 groups (2 duplet)" in out
        and "1 with members of different classes" in out
    )
    assert not (scan_copy / "decisions.csv").exists()  # replay alone writes nothing
    assert run_cli(["review", str(scan_copy), "--decisions", str(shared), "--merge"]) == 0
    assert "appended 3 new line(s)" in capsys.readouterr().out
    assert run_cli(["review", str(scan_copy), "--decisions", str(shared), "--merge"]) == 0
    assert "appended 0 new line(s)" in capsys.readouterr().out
    assert read_journal(scan_copy / "decisions.csv") == read_journal(shared)
    # the merged journal resumes the same walk as the replay
    assert run_cli(["review", str(scan_copy), "--no-browser"]) == 0
    assert "2 duplicate pairs" in capsys.readouterr().out


def test_replay_bad_input(scan_copy, tmp_path, capsys):
    one_line_error(capsys, ["review", str(scan_copy), "--decisions", str(tmp_path / "none.csv")], "not found")
    bad = tmp_path / "bad.csv"
    _journal(bad, [Decision("normal", "77", "benign", "1", "different", "", "x")])
    one_line_error(capsys, ["review", str(scan_copy), "--decisions", str(bad)], "not in the scan")
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    one_line_error(capsys, ["review", str(scan_copy), "--decisions", str(tmp_path / "other.csv")], "header")
    assert ",".join(JOURNAL_COLUMNS) not in (tmp_path / "other.csv").read_text()


# ----------------------------------------------------------------- the real process, killed


def start_server(scan_dir: Path, *extra: str, cwd: Path | None = None) -> tuple[subprocess.Popen, str]:
    # so that --assistant test_review_auto:FakeAssistant imports (it imports conftest/helpers from tests/)
    # the repository first: with tests/ on the path, tests/busi_curate would otherwise shadow the package
    # (as a namespace package) whenever the server runs outside the repository (cwd)
    repo, here, tests = str(Path(__file__).parents[3]), str(Path(__file__).parent), str(Path(__file__).parents[2])
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": os.pathsep.join(p for p in (repo, here, tests, os.environ.get("PYTHONPATH", "")) if p),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "busi_curate", "review", str(scan_dir), "--reviewer", "kim", "--quiet", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=cwd,
    )
    deadline = time.monotonic() + 180  # the automatic pass of --auto runs first (slow on a loaded machine)
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if "serving on " in line:
            return proc, line.split("serving on ", 1)[1].split()[0]
        if not line and proc.poll() is not None:
            raise AssertionError(f"server exited: {proc.stderr.read()}")
    proc.kill()
    raise AssertionError("server did not start")


def api(url: str, path: str, body: dict | None = None, token: str = "") -> dict:
    req = urllib.request.Request(
        url.rstrip("/") + path,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "X-Review-Token": token},
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def token_of(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as r:
        page = r.read().decode()
    return page.split('name="review-token" content="', 1)[1].split('"', 1)[0]


@pytest.mark.slow
def test_kill_9_and_resume(scan_copy):
    proc, url = start_server(scan_copy)
    asked = []
    try:
        assert url.startswith("http://127.0.0.1:")
        tok = token_of(url)
        st = api(url, "/api/question")
        for ans in ("same", "different", "different"):
            q = st["question"]
            asked.append((q["reference"]["id"], q["candidate"]["id"]))
            st = api(
                url,
                "/api/answer",
                {
                    "answer": ans,
                    "grade": "same-frame",
                    "reference": q["reference"]["row"],
                    "candidate": q["candidate"]["row"],
                },
                tok,
            )
        expected_next = st["question"]
        with pytest.raises(JournalError, match="another review"):  # one writer per journal
            with review_lock(scan_copy):
                pass
        assert run_cli(["review", str(scan_copy), "--no-browser"]) == 0  # reading is fine
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    lines = read_journal(scan_copy / "decisions.csv")
    assert [(d.reference_id, d.candidate_id) for d in lines] == asked
    assert [d.answer for d in lines] == ["same", "different", "different"] and {d.decided_by for d in lines} == {"kim"}
    proc, url = start_server(scan_copy)
    try:
        st = api(url, "/api/question")
        assert st["question"] == expected_next
        assert st["progress"]["by_person"] == 3
        assert token_of(url) != tok  # a new session, a new token
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert "stopped." in out


def test_a_plain_review_explains_with_the_assistant_but_decides_nothing(scan_copy):
    """Without --auto the real assistant gives evidence and the registration; every question stays the person's."""
    from busi_curate.review.journal import read_journal

    proc, url = start_server(scan_copy)
    try:
        q = api(url, "/api/question")["question"]
        assert q is not None and q["registration_note"] == "" and q["registration"]["source"]
        assert q["assistant"]["evidence"] and q["assistant"]["plain"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert not (scan_copy / "decisions.csv").exists() or not read_journal(scan_copy / "decisions.csv")
    proc, url = start_server(scan_copy, "--no-explain")
    try:
        q = api(url, "/api/question")["question"]
        assert q["assistant"] is None  # no evidence without the assistant
    finally:
        proc.terminate()
        proc.wait(timeout=30)

"""Issue 22, FAIL 1: a journal write that fails (disk full) never reaches the file later, so it can never
revoke an answer the page was told was saved; the page gets a clear error, not a dropped connection."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
from faults import fill, small_tmpfs

from busi_curate.errors import JournalError
from busi_curate.review.journal import Decision, Journal, read_journal


def _d(i: int, answer: str = "different") -> Decision:
    return Decision("benign", str(i), "malignant", str(i), answer, "", "ann")  # type: ignore[arg-type]


def test_a_failed_line_never_reaches_the_file_on_a_full_disk(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "fs", "64k") as fs:
        path = fs / "decisions.csv"
        j = Journal(path)
        filler = fill(fs)
        confirmed: list[Decision] = []
        failed: Exception | None = None
        for i in range(1, 400):  # the last page of the file may hold a few more lines: fill it
            try:
                confirmed.append(j.append(_d(i)))
            except Exception as exc:  # noqa: BLE001 - the type is checked below
                failed = exc
                break
        assert isinstance(failed, JournalError), failed
        assert "decisions.csv" in str(failed) and "\n" not in str(failed)
        filler.unlink()
        confirmed.append(j.append(_d(999)))  # space is back: the next answer is saved...
        j.close()  # ...and closing writes nothing more (the failed line is not waiting in a buffer)
        assert read_journal(path) == confirmed


def test_a_failed_write_is_cut_back_and_the_journal_stays_usable(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "decisions.csv"
    j = Journal(path)
    first = j.append(_d(1))
    size = path.stat().st_size
    real = os.write
    calls = {"n": 0}

    def half_then_enospc(fd: int, data) -> int:  # noqa: ANN001
        calls["n"] += 1
        if calls["n"] == 1:
            return real(fd, bytes(data)[:10])  # a part of the line lands...
        raise OSError(errno.ENOSPC, "No space left on device")  # ...then the disk is full

    monkeypatch.setattr(os, "write", half_then_enospc)
    with pytest.raises(JournalError, match="No space left"):
        j.append(_d(2))
    monkeypatch.setattr(os, "write", real)
    assert path.stat().st_size == size  # the part that landed is taken back
    third = j.append(_d(3))
    j.close()
    assert read_journal(path) == [first, third]


def test_the_page_gets_a_clear_error_when_the_answer_cannot_be_saved(scan_copy: Path, monkeypatch) -> None:
    import http.client

    from busi_curate.review.http import make_server
    from busi_curate.review.server import ReviewApp
    from busi_curate.review.session import load_journal, open_walk
    from busi_curate.scan.run import read_scan

    scan = read_scan(scan_copy)
    decisions, _ = load_journal(scan_copy / "decisions.csv", scan)
    journal = Journal(scan_copy / "decisions.csv")
    app = ReviewApp(scan, open_walk(scan, decisions), journal.append, "tester")
    server = make_server(app, 0)
    import threading

    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    try:
        q = app.state()["question"]
        real = os.write

        def enospc(fd: int, data) -> int:  # noqa: ANN001
            if fd == journal._fd:
                raise OSError(errno.ENOSPC, "No space left on device")
            return real(fd, data)

        monkeypatch.setattr(os, "write", enospc)
        body = json.dumps(
            {"answer": "different", "reference": q["reference"]["row"], "candidate": q["candidate"]["row"]}
        )
        c = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=30)
        c.request(
            "POST",
            "/api/answer",
            body,
            {
                "Host": f"127.0.0.1:{server.server_address[1]}",
                "Content-Type": "application/json",
                "X-Review-Token": app.token,
            },
        )
        r = c.getresponse()
        data = json.loads(r.read())
        assert r.status == 500 and "No space left" in data["error"] and "decisions.csv" in data["error"]
        monkeypatch.setattr(os, "write", real)
        assert app.state()["question"] == q  # the question is still open: nothing was recorded
    finally:
        server.shutdown()
        server.server_close()
        journal.close()

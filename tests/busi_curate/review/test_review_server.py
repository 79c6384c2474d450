"""The review web server over real HTTP: API, journal-before-reply, session token, loopback only, refused paths."""

from __future__ import annotations

import http.client
import io
import json
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from busi_curate.errors import CurateError
from busi_curate.review.journal import Journal, read_journal
from busi_curate.review.server import ReviewApp, make_server
from busi_curate.review.session import load_journal, open_walk
from busi_curate.scan.run import read_scan


class Running:
    def __init__(self, scan_dir: Path, assistant=None) -> None:
        self.scan = read_scan(scan_dir)
        self.journal_path = scan_dir / "decisions.csv"
        decisions, _ = load_journal(self.journal_path, self.scan)
        self.journal = Journal(self.journal_path)
        self.app = ReviewApp(self.scan, open_walk(self.scan, decisions), self.journal.append, "tester", assistant)
        self.server = make_server(self.app, 0)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        h = {"Host": f"127.0.0.1:{self.port}", **(headers or {})}
        c.putrequest(method, path, skip_host=True, skip_accept_encoding=True)  # raw path, nothing normalised
        for k, v in h.items():
            c.putheader(k, v)
        c.putheader("Content-Length", str(len(body or b"")))
        c.endheaders(body)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, r.getheader("Content-Type", ""), data

    def get_json(self, path: str = "/api/question"):
        status, ctype, data = self.request("GET", path)
        assert status == 200 and ctype.startswith("application/json")
        return json.loads(data)

    def answer(self, body: dict, token: str | None = None, headers: dict | None = None):
        h = {
            "Content-Type": "application/json",
            "X-Review-Token": self.app.token if token is None else token,
            **(headers or {}),
        }
        status, _, data = self.request("POST", "/api/answer", json.dumps(body).encode(), h)
        return status, data

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.journal.close()


@pytest.fixture()
def running(scan_copy):
    r = Running(scan_copy)
    yield r
    r.close()


def test_page_question_answer_and_journal_before_reply(running):
    status, ctype, page = running.request("GET", "/")
    assert status == 200 and ctype.startswith("text/html")
    assert running.app.token.encode() in page and b"{{TOKEN}}" not in page
    for name in ("app.js", "style.css"):
        assert running.request("GET", f"/static/{name}")[0] == 200
    state = running.get_json()
    q = state["question"]
    assert q["reference"]["row"] != q["candidate"]["row"] and q["ssim"] >= 0.23
    assert state["progress"]["references"] == running.scan.n
    before = running.journal_path.read_text().count("\n")
    status, data = running.answer(
        {
            "answer": "same",
            "grade": "same-frame",
            "reference": q["reference"]["row"],
            "candidate": q["candidate"]["row"],
        }
    )
    assert status == 200
    lines = read_journal(running.journal_path)  # on disk by the time the reply arrived
    assert running.journal_path.read_text().count("\n") == before + 1
    d = lines[-1]
    assert (d.answer, d.grade, d.decided_by) == ("same", "same-frame", "tester")
    assert (d.reference_id, d.candidate_id) == (q["reference"]["id"], q["candidate"]["id"])
    assert "ssim=" in d.evidence
    nxt = json.loads(data)
    assert nxt["message"].startswith("saved: same")
    assert nxt["progress"]["same_pairs"] == 1
    # undo (naming the decision it takes back) goes back to the same question
    target = nxt["undo_target"]
    assert target and target.endswith(d.time)
    status, data = running.answer({"answer": "undo", "target": target})
    assert status == 200 and json.loads(data)["question"] == q
    assert read_journal(running.journal_path)[-1].answer == "undo"
    # a duplicated undo (a double click, a retried request) revokes nothing more
    n = len(read_journal(running.journal_path))
    assert running.answer({"answer": "undo", "target": target})[0] == 409
    assert len(read_journal(running.journal_path)) == n


def test_stale_or_bad_answers_are_refused_without_writing(running):
    q = running.get_json()["question"]
    n0 = len(read_journal(running.journal_path))
    stale = {"answer": "different", "reference": q["candidate"]["row"], "candidate": q["reference"]["row"]}
    assert running.answer(stale)[0] == 409
    assert running.answer({"answer": "maybe"})[0] == 400
    assert (
        running.answer(
            {
                "answer": "same",
                "grade": "kind-of",
                "reference": q["reference"]["row"],
                "candidate": q["candidate"]["row"],
            }
        )[0]
        == 400
    )
    assert running.answer({"answer": "undo"})[0] == 400  # an undo must name its decision
    assert running.answer({"answer": "undo", "target": "benign 1|benign 2|same|x"})[0] == 409  # nothing to undo yet
    assert len(read_journal(running.journal_path)) == n0


@pytest.mark.parametrize(
    "headers,status",
    [
        ({"X-Review-Token": "wrong"}, 403),
        ({"X-Review-Token": ""}, 403),
        ({"Origin": "http://evil.example"}, 403),
        ({"Host": "evil.example"}, 403),
        ({"Content-Type": "text/plain"}, 415),
    ],
)
def test_post_needs_token_origin_host_and_json(running, headers, status):
    q = running.get_json()["question"]
    body = {"answer": "different", "reference": q["reference"]["row"], "candidate": q["candidate"]["row"]}
    token = headers.pop("X-Review-Token", None)
    assert running.answer(body, token=token, headers=headers)[0] == status
    assert read_journal(running.journal_path) == []


@pytest.mark.parametrize(
    "path",
    [
        "/img/../scan.json",
        "/img/..%2fscan.json",
        "/img/%2e%2e/%2e%2e/etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/../../etc/passwd",
        "//etc/passwd",
        "/etc/passwd",
        "/img//etc/passwd",
        "/img/-1.png",
        "/img/99999.png",
        "/img/1.PNG",
        "/img/1.png/..",
        "/img/01.png.jpg",
        "/mask/..%2F..%2Fscan.json",
        "/static/../server.py",
        "/static/%2e%2e/server.py",
        "/static/index.html",
        "/decisions.csv",
        "/scan.json",
        "/img/%31.png",
        "http://127.0.0.1/img/0.png",
        "/img/0.png%00",
        "/img/0.png\\..\\scan.json",
    ],
)
def test_other_paths_are_refused(running, path):
    status, _, data = running.request("GET", path)
    assert status in (400, 403, 404)
    assert b"root:" not in data and b"busi-curate" not in data


def test_bad_host_header_refused_on_get(running):
    assert running.request("GET", "/api/question", headers={"Host": "attacker.example:80"})[0] == 403
    assert running.request("GET", "/img/0.png", headers={"Host": f"localhost:{running.port}"})[0] == 200


def test_images_and_outlines_by_row(running):
    n = running.scan.n
    for row in (0, n - 1):
        status, ctype, data = running.request("GET", f"/img/{row}.png")
        assert status == 200 and ctype == "image/png"
        im = Image.open(io.BytesIO(data))
        w, h = int(running.scan.index.at[row, "width"]), int(running.scan.index.at[row, "height"])
        assert max(im.size) <= 512 and abs(im.size[0] / im.size[1] - w / h) < 0.02
        status, _, data = running.request("GET", f"/mask/{row}.png")
        m = Image.open(io.BytesIO(data))
        assert status == 200 and m.mode == "RGBA" and m.size == im.size
    # a benign image has a lesion: its outline has opaque pixels, a thin ring (far fewer than a filled mask)
    row = int(np.flatnonzero(running.scan.index["class"] == "benign")[0])
    alpha = np.asarray(Image.open(io.BytesIO(running.request("GET", f"/mask/{row}.png")[2])))[..., 3]
    assert 0 < (alpha > 0).sum() < 0.2 * alpha.size


def test_symlink_out_of_the_data_folder_is_refused(synthetic_dir, tmp_path):
    from busi_curate.scan.run import ScanSettings, run_scan

    data = tmp_path / "data"
    shutil.copytree(synthetic_dir, data)
    outside = tmp_path / "outside"
    outside.mkdir()
    scan = run_scan(data, tmp_path / "scan", ScanSettings(size=32))
    victim = data / scan.index.at[0, "image"]
    target = outside / "secret.png"
    shutil.move(victim, target)
    victim.symlink_to(target)
    (data / scan.index.at[2, "image"]).write_bytes(b"\x89PNG\r\n\x1a\n broken")  # damaged after the scan
    r = Running(tmp_path / "scan")
    try:
        assert r.request("GET", "/img/0.png")[0] == 403
        assert r.request("GET", "/mask/0.png")[0] == 403
        assert r.request("GET", "/img/1.png")[0] == 200
        status, ctype, body = r.request("GET", "/img/2.png")  # a clear error, not a crash
        assert status == 500 and "cannot decode" in json.loads(body)["error"]
        assert r.request("GET", "/img/1.png")[0] == 200
    finally:
        r.close()


def test_server_binds_loopback_only(scan_copy):
    r = Running(scan_copy)
    try:
        assert r.server.server_address[0] == "127.0.0.1"
    finally:
        r.close()
    with pytest.raises(CurateError, match="only listens on 127.0.0.1"):
        make_server(r.app, 0, host="0.0.0.0")
    with pytest.raises(CurateError):
        make_server(r.app, 0, host="localhost")


def test_other_methods_refused(running):
    assert running.request("PUT", "/api/answer", b"{}")[0] == 405
    assert running.request("DELETE", "/img/0.png")[0] == 405
    assert running.request("POST", "/img/0.png", b"{}")[0] == 404


def test_deeply_nested_json_answers_400(running):
    deep = b'{"answer": ' + b"[" * 100000 + b"]" * 100000 + b"}"
    h = {"Content-Type": "application/json", "X-Review-Token": running.app.token}
    status, _, _ = running.request("POST", "/api/answer", deep[:60000] if len(deep) > 60000 else deep, h)
    assert status in (400, 413)
    from busi_curate.review.server import MAX_BODY

    depth = (MAX_BODY - 20) // 2
    nested = ('{"answer": ' + "[" * depth + "]" * depth + "}").encode()
    status, _, _ = running.request("POST", "/api/answer", nested, h)
    assert status == 400
    assert read_journal(running.journal_path) == []


def test_half_open_connections_do_not_hold_threads_forever(running):
    import socket

    from busi_curate.review.server import MAX_CONNECTIONS, SOCKET_TIMEOUT_S

    assert SOCKET_TIMEOUT_S <= 60 and MAX_CONNECTIONS <= 64
    socks = [socket.create_connection(("127.0.0.1", running.port)) for _ in range(MAX_CONNECTIONS + 8)]
    try:
        for s in socks:
            s.sendall(b"GET / HTTP/1.1\r\n")  # never finished
        time.sleep(0.5)
        alive = [t for t in threading.enumerate() if t.name.startswith("Thread") and t.daemon]
        assert len(alive) <= MAX_CONNECTIONS + 2
    finally:
        for s in socks:
            s.close()
    # the server still answers once they are gone
    time.sleep(0.3)
    assert running.get_json()["progress"] is not None

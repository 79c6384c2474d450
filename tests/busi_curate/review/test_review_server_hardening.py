"""Issue 22, review server: a client that disconnects leaves no traceback, a slow drip of bytes cannot hold a
connection slot past the per-request limit, an image replaced while the page runs is not served, and the
Content-Type must be exactly application/json."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_review_server import Running

from busi_curate.review import http as review_http


@pytest.fixture()
def running(scan_copy: Path):
    r = Running(scan_copy)
    yield r
    r.close()


def test_content_type_must_be_exactly_json(running) -> None:
    q = running.get_json()["question"]
    body = {"answer": "skip", "reference": q["reference"]["row"], "candidate": q["candidate"]["row"]}
    for ctype in ("application/jsonfoo", "application/json-patch+json", "text/plain; application/json"):
        status, _ = running.answer(body, headers={"Content-Type": ctype})
        assert status == 415, ctype
    assert review_http.is_json("application/json; charset=utf-8") and review_http.is_json("Application/JSON")


def test_a_slow_drip_is_cut_at_the_request_time_limit(running, monkeypatch) -> None:
    monkeypatch.setattr(review_http, "REQUEST_TIME_LIMIT_S", 1.0)
    s = socket.create_connection(("127.0.0.1", running.port), timeout=10)
    s.sendall(b"GET / HTTP/1.1\r\n")
    t0 = time.monotonic()
    closed = False
    while time.monotonic() - t0 < 6:  # one header byte every 0.2 s: each read is well within the socket timeout
        try:
            s.sendall(b"X")
            time.sleep(0.2)
            s.setblocking(False)
            try:
                if s.recv(1) == b"":
                    closed = True
                    break
            except BlockingIOError:
                pass
            finally:
                s.setblocking(True)
        except OSError:
            closed = True
            break
    s.close()
    assert closed and time.monotonic() - t0 < 4


def test_a_client_that_disconnects_leaves_no_traceback(running, capsys) -> None:
    server = running.server
    try:
        raise ConnectionResetError(104, "Connection reset by peer")
    except ConnectionResetError:
        server.handle_error(None, ("127.0.0.1", 1))
    try:
        raise BrokenPipeError(32, "Broken pipe")
    except BrokenPipeError:
        server.handle_error(None, ("127.0.0.1", 1))
    assert capsys.readouterr().err == ""
    for _ in range(5):  # real clients that ask for a page and go away at once
        s = socket.create_connection(("127.0.0.1", running.port))
        s.sendall(f"GET /full/0.png HTTP/1.1\r\nHost: 127.0.0.1:{running.port}\r\n\r\n".encode())
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()
    time.sleep(0.5)
    assert "Traceback" not in capsys.readouterr().err
    assert running.get_json()["question"] is not None  # the server still answers


def test_an_image_replaced_while_the_page_runs_is_not_served(running) -> None:
    row = running.get_json()["question"]["reference"]["row"]
    path = Path(running.scan.image_path(row))
    original = path.read_bytes()  # the scan copy's data folder is the session's shared synthetic dataset
    try:
        gray = np.asarray(Image.open(path).convert("L"))
        Image.fromarray(255 - gray).save(path)  # same size, other pixels
        status, _, _ = running.request("GET", f"/full/{row}.png")
        assert status == 403
    finally:
        path.write_bytes(original)

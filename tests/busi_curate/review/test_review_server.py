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
from busi_curate.review.http import make_server
from busi_curate.review.journal import Journal, read_journal
from busi_curate.review.server import ReviewApp
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
    from busi_curate.review.http import MAX_BODY

    depth = (MAX_BODY - 20) // 2
    nested = ('{"answer": ' + "[" * depth + "]" * depth + "}").encode()
    status, _, _ = running.request("POST", "/api/answer", nested, h)
    assert status == 400
    assert read_journal(running.journal_path) == []


def test_half_open_connections_do_not_hold_threads_forever(running):
    import socket

    from busi_curate.review.http import MAX_CONNECTIONS, SOCKET_TIMEOUT_S

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


# ----------------------------------------------------------------------------- issue 11: the review page's data


def test_counter_counts_questions_not_references(running):
    st = running.get_json()
    c = st["counter"]
    assert c["number"] == 1 and c["answered"] == 0 and c["total"] == c["open"] == len(running.app.walk.open_questions())
    q = st["question"]
    body = {"answer": "different", "reference": q["reference"]["row"], "candidate": q["candidate"]["row"]}
    status, data = running.answer(body)
    c2 = json.loads(data)["counter"]
    assert status == 200 and c2["number"] == 2 and c2["answered"] == 1 and c2["total"] == 1 + c2["open"]
    q2 = json.loads(data)["question"]
    status, data = running.answer(
        {"answer": "skip", "reference": q2["reference"]["row"], "candidate": q2["candidate"]["row"]}
    )
    c3 = json.loads(data)["counter"]
    assert c3["number"] == 3 and c3["skipped"] == 1 and c3["total"] == c2["total"]  # a skipped question stays counted


def test_same_lesion_answer_is_journalled_with_its_grade(running):
    q = running.get_json()["question"]
    status, data = running.answer(
        {
            "answer": "same",
            "grade": "same-lesion",
            "reference": q["reference"]["row"],
            "candidate": q["candidate"]["row"],
        }
    )
    assert status == 200 and json.loads(data)["message"].startswith("saved: same (same-lesion)")
    d = read_journal(running.journal_path)[-1]
    assert (d.answer, d.grade, d.decided_by) == ("same", "same-lesion", "tester")
    assert json.loads(data)["progress"]["by_grade"] == {"same-lesion": 1}


def test_media_at_native_size_and_thumbnails(running):
    row = 0
    w, h = int(running.scan.index.at[row, "width"]), int(running.scan.index.at[row, "height"])
    status, ctype, data = running.request("GET", f"/full/{row}.png")
    assert status == 200 and ctype == "image/png" and Image.open(io.BytesIO(data)).size == (w, h)
    full = np.asarray(Image.open(io.BytesIO(data)))
    from busi_curate.data.imageio import read_gray

    assert np.array_equal(full, read_gray(running.scan.image_path(row)))  # the pixels themselves, not a resample
    status, _, data = running.request("GET", f"/fullmask/{row}.png")
    m = Image.open(io.BytesIO(data))
    assert status == 200 and m.mode == "RGBA" and m.size == (w, h)
    status, _, data = running.request("GET", f"/thumb/{row}.png")
    assert status == 200 and max(Image.open(io.BytesIO(data)).size) <= 160
    for path in ("/full/99999.png", "/full/0.png/..", "/fullmask/..%2Fscan.json", "/thumb/-1.png", "/api/pair/0/0"):
        assert running.request("GET", path)[0] == 404


def test_gallery_page_and_api_need_the_token_for_writes(running):
    status, ctype, page = running.request("GET", "/gallery")
    assert status == 200 and ctype.startswith("text/html") and running.app.token.encode() in page
    for name in ("viewer.js", "gallery.js"):
        assert running.request("GET", f"/static/{name}")[0] == 200
    assert running.get_json("/api/auto")["items"] == []  # nothing decided automatically yet
    h = {"Content-Type": "application/json", "X-Review-Token": "wrong"}
    body = json.dumps({"reference": 0, "candidate": 1, "answer": "different", "standing": ""}).encode()
    assert running.request("POST", "/api/overrule", body, h)[0] == 403
    assert (
        running.request(
            "POST", "/api/overrule", body, {**h, "X-Review-Token": running.app.token, "Origin": "http://evil.example"}
        )[0]
        == 403
    )


def _auto_journal(scan_dir: Path) -> list:
    """Two automatic decisions on the synthetic scan: a 'same' on a planted pair and a 'different'."""
    from busi_curate.review.journal import Decision

    scan = read_scan(scan_dir)
    k = lambda r: (str(scan.index.at[r, "class"]), str(scan.index.at[r, "id"]))  # noqa: E731
    lines = [
        Decision(
            *k(0),
            *k(1),
            "same",
            "same-frame",
            "auto",
            "ssim=0.93 inliers=57 ratio=0.62 scale=0.98 rot=0.1 ncc=0.970/0.990 overlap=0.85",
        ),
        Decision(*k(2), *k(3), "different", "", "auto", "ssim=0.41 matches=12 no fit"),
    ]
    with Journal(scan_dir / "decisions.csv") as j:
        for d in lines:
            j.append(d)
    return lines


def test_auto_items_with_words_score_and_confidence(scan_copy):
    _auto_journal(scan_copy)
    r = Running(scan_copy)
    try:
        items = r.get_json("/api/auto")["items"]
        assert [(i["reference"]["row"], i["candidate"]["row"], i["auto"]["label"]) for i in items] == [
            (0, 1, "same-frame"),
            (2, 3, "different"),
        ]
        same, diff = items
        assert same["auto"]["plain"] == (
            "57 landmarks line up; same size and orientation; 85% of the smaller image overlaps; "
            "the tissue matches closely"
        )
        assert same["score"] == pytest.approx(0.62 * 0.97, abs=1e-4) and same["confidence"] == same["score"]
        assert diff["auto"]["plain"] == "no landmarks line up: the two do not match"
        assert diff["score"] == 0.0 and diff["confidence"] == 1.0
        assert not same["overruled"] and same["standing"]["decided_by"] == "auto"
        info = r.get_json("/api/pair/0/1")
        assert info["assistant"]["plain"] == same["auto"]["plain"] and info["registration"] is None
    finally:
        r.close()


def test_overrule_is_journalled_checked_and_undone(scan_copy):
    _auto_journal(scan_copy)
    r = Running(scan_copy)
    try:
        same = r.get_json("/api/auto")["items"][0]
        n = len(read_journal(r.journal_path))

        def overrule(**kw):
            body = {"reference": 0, "candidate": 1, "answer": "different", "standing": same["standing"]["id"], **kw}
            h = {"Content-Type": "application/json", "X-Review-Token": r.app.token}
            status, _, data = r.request("POST", "/api/overrule", json.dumps(body).encode(), h)
            return status, json.loads(data)

        assert overrule(standing="benign 1|benign 2|same|2020-01-01T00:00:00Z")[0] == 409  # stale view
        assert overrule(answer="skip")[0] == 400
        assert overrule(answer="same", grade="kind-of")[0] == 400
        assert overrule(answer="same", grade="same-frame")[0] == 400  # already the standing answer
        assert overrule(reference=4, candidate=5)[0] == 400  # the assistant did not decide that pair
        assert overrule(reference="0")[0] == 400
        assert overrule(reference=False, candidate=True)[0] == 400  # JSON booleans are not rows
        assert len(read_journal(r.journal_path)) == n  # nothing written by any of those
        status, st = overrule()
        assert status == 200 and "overrules auto same-frame" in st["message"]
        d = read_journal(r.journal_path)[-1]  # on disk before the reply
        assert (d.answer, d.grade, d.decided_by) == ("different", "", "tester")
        assert d.evidence.startswith("overrules auto same same-frame: ssim=0.93")
        item = st["items"][0]
        assert item["overruled"] and item["standing"]["decided_by"] == "tester"
        assert st["undo_target"] == item["standing"]["id"]
        assert overrule()[0] == 409  # a repeated click finds the decision changed
        # undo (the page's usual undo) brings the automatic decision back
        status, data = r.answer({"answer": "undo", "target": st["undo_target"]})
        assert status == 200
        back = r.get_json("/api/auto")["items"][0]
        assert not back["overruled"] and back["standing"]["decided_by"] == "auto"
    finally:
        r.close()
    # a restart reads the same from the journal
    r = Running(scan_copy)
    try:
        assert not r.get_json("/api/auto")["items"][0]["overruled"]
        assert [d.answer for d in read_journal(r.journal_path)][-2:] == ["different", "undo"]
    finally:
        r.close()


class FitAssistant:
    """An assistant whose only fit is between rows 0 and 1: p_1 = 0.5 p_0 + (10, -4)."""

    def assess(self, pairs):
        from test_review_auto import Assessment

        return [Assessment("uncertain", "", "fake", 0.5) for _ in pairs]

    def affine(self, i, j):
        return {(0, 1): (0.5, 0.0, 0.0, 0.5, 10.0, -4.0), (1, 0): (2.0, 0.0, 0.0, 2.0, -20.0, 8.0)}.get((i, j))

    def evidence(self, i, j):
        from types import SimpleNamespace

        if (min(i, j), max(i, j)) != (0, 1):
            return SimpleNamespace(inliers=0)
        return SimpleNamespace(inliers=40, inlier_ratio=0.5, scale=0.5, ncc=0.99)


def test_registration_follows_the_assistant_fit(scan_copy):
    scan = read_scan(scan_copy)
    app = ReviewApp(scan, open_walk(scan, []), lambda d: d, "tester", assistant=FitAssistant())
    fwd = app.registration(0, 1, identical=False)
    assert fwd == {
        "matrix": [0.5, 0.0, 0.0, 0.5, 10.0, -4.0],
        "scale": 0.5,
        "rotation_deg": 0.0,
        "shift": [10.0, -4.0],
        "mirrored": False,
        "source": "assistant's fit",
    }
    assert app.registration(1, 0, identical=False)["matrix"] == [2.0, 0.0, 0.0, 2.0, -20.0, 8.0]
    assert app.registration(2, 3, identical=False) is None  # no fit: the page says so
    assert app.registration(2, 3, identical=True)["matrix"] == [1.0, 0.0, 0.0, 1.0, 0.0, 0.0]
    info = app.pair_info(1, 0)
    assert info["registration"]["scale"] == 2.0 and "40 landmarks line up" in info["assistant"]["plain"]
    plain = ReviewApp(scan, open_walk(scan, []), lambda d: d, "t")
    assert plain.registration(0, 1, False) is None  # no assistant
    assert "no assistant in this review" in plain.pair_info(0, 1)["registration_note"]
    assert "found no geometric fit" in app.pair_info(2, 3)["registration_note"] and info["registration_note"] == ""


def test_plain_evidence_words():
    from busi_curate.review.evidence import evidence_figures, plain_evidence

    text = "ssim=0.91 inliers=179 ratio=0.80 scale=1.20 rot=0.0 ncc=0.996/0.999 overlap=0.70"
    assert plain_evidence(text, evidence_figures(text)) == (
        "179 landmarks line up; rescaled ×1.20; 70% of the smaller image overlaps; the tissue matches exactly"
    )
    assert plain_evidence("ssim=1.00 identical pixels", {}) == "identical pixels"
    t2 = "ssim=0.5 inliers=9 ratio=0.1 scale=1.00 rot=3.0 ncc=0.5/0.6 overlap=0.5 (fitted tissue does not correlate)"
    assert plain_evidence(t2, evidence_figures(t2)) == (
        "9 landmarks line up; turned 3°; 50% of the smaller image overlaps; the tissue differs; "
        "the lined-up tissue does not correlate: a chance fit"
    )
    assert plain_evidence("fake ssim=0.45", evidence_figures("fake ssim=0.45")) == ""
    t3 = (
        "ssim=0.80 inliers=120 ratio=0.71 scale=1.25 rot=3.2 ncc=0.991/0.998 overlap=0.90 motion=0.04 "
        "contained=0.99 [mirrored, rotated +3.2 deg, rescaled x1.25] (degraded copy: rigid, detail explained)"
    )
    assert plain_evidence(t3, evidence_figures(t3)) == (
        "120 landmarks line up; rescaled ×1.25; turned 3°; mirrored; 90% of the smaller image overlaps; "
        "the tissue matches exactly; nothing moved; fine detail as in a copy; "
        "a degraded copy (noise or compression): nothing moved"
    )
    # a neighbouring frame: the anatomy lines up, the tissue moved and the speckle is new
    t4 = "ssim=0.70 inliers=30 ratio=0.20 scale=1.00 rot=0.4 ncc=0.930/0.990 overlap=1.00 motion=2.40 contained=0.50"
    assert plain_evidence(t4, evidence_figures(t4)) == (
        "30 landmarks line up; same size and orientation; the smaller image lies wholly inside the other; "
        "the same anatomy, the speckle differs; tissue moved 2.4 px, as between neighbouring frames; "
        "fine detail new, not a copy's"
    )
    assert evidence_figures("ncc=nan/nan scale=inf") == {}


def test_plain_words_use_the_rules_limits():
    """The words' limits are the assistant rule's (the review stage cannot import the assistant)."""
    from busi_curate.assistant.rule import RuleSettings
    from busi_curate.review.evidence import COPY_MAX_MOTION, COPY_MIN_CONTAINED, MIN_FIT_INLIERS, plain_evidence

    s = RuleSettings()
    assert (COPY_MAX_MOTION, COPY_MIN_CONTAINED, MIN_FIT_INLIERS) == (
        s.copy_max_motion,
        s.copy_min_contained,
        s.min_fit_inliers,
    )
    weak = {"inliers": 4.0, "scale": 1.19, "overlap": 0.93, "ncc": 0.5}
    assert plain_evidence("ssim=0.34 inliers=4", weak).startswith("only 4 landmarks line up (chance level); ")


def test_done_state_says_what_to_run_next(scan_copy):
    scan = read_scan(scan_copy)
    walk = open_walk(scan, [])
    app = ReviewApp(scan, walk, lambda d: d, "alice bob")
    while (q := walk.next_question()) is not None:
        walk.record(q.decision("different", "", "alice bob", "t"))
    st = app.state()
    assert st["question"] is None and st["counter"]["number"] == st["counter"]["total"] > 0
    cmds = [s["command"] for s in st["next_steps"]]
    assert [c.split()[1] for c in cmds] == ["review", "report", "export", "verify"]
    assert f"review {scan_copy}" in cmds[0] or "review scan" in cmds[0]
    assert (
        cmds[2].endswith("--policy drop-all --out " + str(scan_copy.parent / "scan-manifest"))
        or "scan-manifest" in cmds[2]
    )


def test_assistant_for_evidence_only_decides_nothing(scan_copy):
    """``auto=False``: the assistant's verdict, words and fit are shown, but every question goes to the person."""
    from test_review_auto import FakeAssistant

    scan = read_scan(scan_copy)
    written = []
    fake = FakeAssistant(scan, scan_copy / "features")
    app = ReviewApp(scan, open_walk(scan, []), lambda d: written.append(d) or d, "t", assistant=fake, auto=False)
    q = app.state()["question"]
    assert written == [] and q["assistant"]["verdict"] in ("same", "different", "uncertain")
    assert q["reference"]["row"] == 0  # the walk's first question, though the fake is sure about it
    auto = ReviewApp(scan, open_walk(scan, []), lambda d: written.append(d) or d, "t", assistant=fake)
    auto.state()
    assert written and {d.decided_by for d in written} == {"auto"}

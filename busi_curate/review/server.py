"""The local review web server: standard library only, loopback only, one reviewer.

Routes (everything else is 404):

* ``GET /`` -- the page (the per-session token is in a ``<meta>`` tag); ``GET /static/<name>`` -- its JS/CSS;
* ``GET /api/question`` -- the current question, its evidence and the progress, as JSON;
* ``POST /api/answer`` -- ``{"answer": same|different|skip|undo, "grade": ..., "reference": row,
  "candidate": row}``; needs the ``X-Review-Token`` header. The decision is appended to the journal
  (flushed + fsync'ed) before the reply, which carries the next question;
* ``GET /img/<row>.png`` and ``GET /mask/<row>.png`` -- a scanned image (downscaled) and its mask outline,
  by row of the scan only; a path whose real location leaves the scanned data folder is refused (403).

Requests whose ``Host`` header is not this server's loopback address are refused (DNS rebinding).
"""

from __future__ import annotations

import io
import json
import re
import secrets
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import numpy as np

from busi_curate.errors import CurateError
from busi_curate.review.journal import GRADES, Decision
from busi_curate.review.walk import Question, RowPair, Walk

LOOPBACK = "127.0.0.1"
STATIC_DIR = Path(__file__).with_name("static")
STATIC_FILES = {"app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8"}
DISPLAY_SIZE = 512
MAX_BODY = 4096
_MEDIA = re.compile(r"^/(img|mask)/([0-9]{1,9})\.png$")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
}


class Refused(CurateError):
    """A request for a file outside the scanned data folder."""


class ReviewApp:
    """The review state behind the web server (thread-safe: one lock around walk and journal).

    Args:
        scan: the :class:`~busi_curate.scan.run.ScanResult` under review.
        walk: its :class:`Walk`, built from the journal.
        append: writes one decision to the journal and returns it as written (``Journal.append``).
        reviewer: the ``decided_by`` of every decision made on the page.
        assistant: optional; when given, each question is assessed first and confident answers are
            recorded with ``decided_by=auto`` (only uncertain questions reach the page).
        assessments: assessments already made (row pair -> assessment), e.g. by the automatic pass.
    """

    def __init__(
        self,
        scan: Any,
        walk: Walk,
        append: Callable[[Decision], Decision],
        reviewer: str,
        assistant: Any = None,
        assessments: dict[RowPair, Any] | None = None,
        display_size: int = DISPLAY_SIZE,
    ) -> None:
        self.scan, self.walk, self.append, self.reviewer = scan, walk, append, reviewer
        self.assistant = assistant
        self.assessments: dict[RowPair, Any] = assessments if assessments is not None else {}
        self.display_size = display_size
        self.token = secrets.token_urlsafe(32)
        self.lock = threading.RLock()
        self.data_root = Path(scan.data_dir).resolve()
        self._png: OrderedDict[tuple[str, int], bytes] = OrderedDict()
        self.last_message = ""

    # ------------------------------------------------------------ questions
    def current(self) -> Question | None:
        """The question for the person: confident assistant answers are recorded first."""
        from busi_curate.review.auto import auto_decision

        while True:
            q = self.walk.next_question()
            if q is None or self.assistant is None:
                return q
            a = self.assessments.get(q.rows)
            if a is None:
                a = self.assistant.assess([q.rows])[0]
                self.assessments[q.rows] = a
            d = auto_decision(q, a)
            if d is None:
                return q
            self.walk.record(self.append(d))

    def _side(self, row: int) -> dict[str, Any]:
        ix = self.scan.index
        masks = [m for m in str(ix.at[row, "masks"]).split(";") if m]
        return {
            "row": row,
            "class": str(ix.at[row, "class"]),
            "id": str(ix.at[row, "id"]),
            "width": int(ix.at[row, "width"]),
            "height": int(ix.at[row, "height"]),
            "image": str(ix.at[row, "image"]),
            "masks": len(masks),
            "img": f"/img/{row}.png",
            "mask": f"/mask/{row}.png",
        }

    def state(self, message: str = "") -> dict[str, Any]:
        """The JSON the page renders: question (or null when done), progress, a status message."""
        with self.lock:
            q = self.current()
            out: dict[str, Any] = {
                "progress": self.walk.progress().to_dict(),
                "message": message,
                "threshold": self.walk.threshold,
                "reviewer": self.reviewer,
                "open": len(self.walk.open_questions()) if q is None else None,
                "undo_target": self.walk.undo_target(),
            }
            if q is None:
                out["question"] = None
                return out
            a = self.assessments.get(q.rows)
            out["question"] = {
                "reference": self._side(q.reference),
                "candidate": self._side(q.candidate),
                "ssim": None if not np.isfinite(q.ssim) else round(q.ssim, 4),
                "rank": q.rank,
                "source": q.source,
                "pixel_identical": q.pixel_identical,
                "default_grade": "identical" if q.pixel_identical else "same-frame",
                "assistant": None
                if a is None
                else {"verdict": a.verdict, "grade": a.grade, "evidence": a.evidence, "score": float(a.score)},
            }
            return out

    def answer(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Apply one answer from the page; returns (HTTP status, state JSON)."""
        ans = body.get("answer")
        with self.lock:
            if ans == "undo":
                # an undo names the decision it takes back: a repeated request finds it already undone
                target = body.get("target")
                if not isinstance(target, str) or not target:
                    return 400, self.state("an undo names the decision it takes back ('target' from the last state)")
                if target != self.walk.undo_target():
                    return 409, self.state("that decision is already undone (or is not the latest)")
                d = self.walk.undo_decision(self.reviewer)
                if d is None:
                    return 409, self.state("nothing to undo")
                d = self.append(d)
                self.walk.record(d)
                return 200, self.state(
                    f"undone: {d.evidence[5:].split(' @ ')[0]} on {d.reference_class} {d.reference_id} / "
                    f"{d.candidate_class} {d.candidate_id}"
                )
            if ans not in ("same", "different", "skip"):
                return 400, self.state(f"unknown answer {ans!r}")
            grade = str(body.get("grade") or "") if ans == "same" else ""
            if ans == "same" and grade not in GRADES:
                return 400, self.state(f"a 'same' answer needs a grade in {GRADES}")
            q = self.current()
            if q is None or [body.get("reference"), body.get("candidate")] != [q.reference, q.candidate]:
                return 409, self.state("the question changed; showing the current one")
            a = self.assessments.get(q.rows)
            evidence = f"ssim={q.ssim:.4f} rank={q.rank} {q.source}" + (
                f"; assistant: {a.verdict} {a.evidence}" if a is not None else ""
            )
            d = self.append(q.decision(ans, grade, self.reviewer, evidence))
            self.walk.record(d)
            label = ans + (f" ({grade})" if grade else "")
            return 200, self.state(
                f"saved: {label} on {q.reference_key[0]} {q.reference_key[1]} / "
                f"{q.candidate_key[0]} {q.candidate_key[1]}"
            )

    # --------------------------------------------------------------- images
    def media_path(self, row: int) -> Path:
        """The real path of image ``row``; CurateError if it is not a file inside the scanned data folder."""
        p = Path(self.scan.image_path(row)).resolve()
        if not p.is_relative_to(self.data_root) or not p.is_file():
            raise Refused("refused: image outside the scanned data folder", p)
        return p

    def png(self, kind: str, row: int) -> bytes:
        """``img``: the image downscaled to at most ``display_size``; ``mask``: its mask outline, same size (RGBA)."""
        key = (kind, row)
        with self.lock:
            if key in self._png:
                self._png.move_to_end(key)
                return self._png[key]
        from PIL import Image

        from busi_curate.data.imageio import read_gray, read_mask_union

        path = self.media_path(row)
        gray = read_gray(path)
        h, w = gray.shape
        s = min(1.0, self.display_size / max(h, w))
        size = (max(1, round(w * s)), max(1, round(h * s)))
        if kind == "img":
            im = Image.fromarray(gray).resize(size, Image.Resampling.LANCZOS) if s < 1 else Image.fromarray(gray)
        else:
            masks = self.scan.mask_paths(row)
            for m in masks:
                if not Path(m).resolve().is_relative_to(self.data_root):
                    raise Refused("refused: mask outside the scanned data folder", m)
            mask = read_mask_union(masks, (h, w), path) if masks else np.zeros((h, w), dtype=bool)
            small = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize(size, Image.Resampling.BOX)) >= 128
            inner = small.copy()
            inner[1:, :] &= small[:-1, :]
            inner[:-1, :] &= small[1:, :]
            inner[:, 1:] &= small[:, :-1]
            inner[:, :-1] &= small[:, 1:]
            edge = small & ~inner
            thick = edge.copy()
            thick[1:, :] |= edge[:-1, :]
            thick[:, 1:] |= edge[:, :-1]
            rgba = np.zeros((*small.shape, 4), dtype=np.uint8)
            rgba[thick] = (255, 214, 0, 255)
            im = Image.fromarray(rgba, mode="RGBA")
        buf = io.BytesIO()
        im.save(buf, format="PNG")
        data = buf.getvalue()
        with self.lock:
            self._png[key] = data
            while len(self._png) > 64:
                self._png.popitem(last=False)
        return data

    def page(self) -> bytes:
        html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
        return html.replace("{{TOKEN}}", self.token).encode("utf-8")


#: Idle-connection timeout and the most connections served at once (one reviewer needs a handful).
SOCKET_TIMEOUT_S = 30
MAX_CONNECTIONS = 32


class ReviewHandler(BaseHTTPRequestHandler):
    """HTTP front of a :class:`ReviewApp` (set as the class attribute ``app``)."""

    app: ReviewApp
    #: seconds a connection may sit idle (a half-open connection does not hold a thread forever)
    timeout = SOCKET_TIMEOUT_S
    server_version = "busi-curate-review"
    sys_version = ""
    quiet = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        if not self.quiet:
            super().log_message(format, *args)

    def _report(self, exc: Exception) -> None:
        sys.stderr.write(f"review server: {exc}\n")

    def _send(self, status: int, body: bytes, ctype: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in {**SECURITY_HEADERS, **(extra or {})}.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj: Any) -> None:
        self._send(status, json.dumps(obj).encode("utf-8"), "application/json; charset=utf-8")

    def _error(self, status: int, text: str) -> None:
        self._send(status, (text + "\n").encode("utf-8"), "text/plain; charset=utf-8")

    def _port(self) -> int:
        return int(cast(ThreadingHTTPServer, self.server).server_port)

    def _host_ok(self) -> bool:
        port = self._port()
        return self.headers.get("Host", "") in (f"{LOOPBACK}:{port}", f"localhost:{port}")

    def do_GET(self) -> None:  # noqa: N802
        if not self._host_ok():
            return self._error(403, "forbidden host")
        path = self.path.split("?", 1)[0]
        try:
            if path in ("/", "/index.html"):
                return self._send(200, self.app.page(), "text/html; charset=utf-8")
            if path.startswith("/static/") and path[8:] in STATIC_FILES:
                return self._send(200, (STATIC_DIR / path[8:]).read_bytes(), STATIC_FILES[path[8:]])
            if path == "/api/question":
                return self._json(200, self.app.state())
            m = _MEDIA.match(path)
            if m and int(m.group(2)) < self.app.scan.n:
                try:
                    data = self.app.png(m.group(1), int(m.group(2)))
                except Refused:
                    return self._error(403, "forbidden")
                return self._send(200, data, "image/png", {"Cache-Control": "private, max-age=3600"})
        except (BrokenPipeError, ConnectionResetError):
            return None
        except CurateError as exc:  # e.g. an image that no longer decodes: say so on the page and the console
            self._report(exc)
            return self._json(500, {"error": str(exc)})
        return self._error(404, "not found")

    do_HEAD = do_GET

    def do_POST(self) -> None:  # noqa: N802
        if not self._host_ok():
            return self._error(403, "forbidden host")
        if self.path != "/api/answer":
            return self._error(404, "not found")
        origin = self.headers.get("Origin")
        port = self._port()
        if origin is not None and origin not in (f"http://{LOOPBACK}:{port}", f"http://localhost:{port}"):
            return self._error(403, "forbidden origin")
        if not secrets.compare_digest(self.headers.get("X-Review-Token", ""), self.app.token):
            return self._error(403, "missing or wrong session token")
        if not self.headers.get("Content-Type", "").startswith("application/json"):
            return self._error(415, "expected application/json")
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            return self._error(400, "bad Content-Length")
        if not 0 < length <= MAX_BODY:
            return self._error(413 if length > MAX_BODY else 400, "bad body size")
        try:
            body = json.loads(self.rfile.read(length))
            if not isinstance(body, dict) or any(isinstance(v, (dict, list)) for v in body.values()):
                raise ValueError("not a flat object")
        except (ValueError, RecursionError):
            return self._error(400, "body is not a flat JSON object")
        try:
            status, state = self.app.answer(body)
        except CurateError as exc:
            self._report(exc)
            return self._json(500, {"error": str(exc)})
        self._json(status, state)

    def do_PUT(self) -> None:  # noqa: N802
        self._error(HTTPStatus.METHOD_NOT_ALLOWED, "method not allowed")

    do_DELETE = do_PATCH = do_OPTIONS = do_PUT


class BoundedServer(ThreadingHTTPServer):
    """A threading server that refuses connections beyond :data:`MAX_CONNECTIONS` instead of spawning threads."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


def make_server(app: ReviewApp, port: int = 0, host: str = LOOPBACK, verbose: bool = False) -> ThreadingHTTPServer:
    """A server for ``app`` bound to the loopback address; any other host is refused.

    Raises:
        CurateError: ``host`` is not 127.0.0.1, or the port cannot be bound.
    """
    if host != LOOPBACK:
        raise CurateError(f"the review server only listens on {LOOPBACK} (got host {host!r})")
    handler = type("BoundReviewHandler", (ReviewHandler,), {"app": app, "quiet": not verbose})
    try:
        server = BoundedServer((LOOPBACK, port), handler)
    except OSError as exc:
        raise CurateError(f"cannot listen on {LOOPBACK}:{port} ({exc.strerror or exc})") from exc
    server.daemon_threads = True
    return server


def url_of(server: ThreadingHTTPServer) -> str:
    return f"http://{LOOPBACK}:{server.server_port}/"

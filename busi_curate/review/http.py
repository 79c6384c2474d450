"""HTTP for the review page: the request handler (routes, token, Host check, size limits) and the server.

Standard library only, loopback only; :class:`BoundedServer` caps connections and socket time. The
page's logic is :class:`~busi_curate.review.server.ReviewApp`; this module only speaks HTTP for it.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import socket
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from busi_curate.errors import CurateError

if TYPE_CHECKING:
    from busi_curate.review.server import ReviewApp

LOOPBACK = "127.0.0.1"
STATIC_DIR = Path(__file__).with_name("static")
STATIC_FILES = {
    "app.js": "text/javascript; charset=utf-8",
    "viewer.js": "text/javascript; charset=utf-8",
    "gallery.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
PAGES = {"/": "index.html", "/index.html": "index.html", "/gallery": "gallery.html"}
MAX_BODY = 4096
_MEDIA = re.compile(r"^/(img|mask|thumb|full|fullmask)/([0-9]{1,9})\.png$")
_PAIR = re.compile(r"^/api/pair/([0-9]{1,9})/([0-9]{1,9})$")
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


#: Idle-connection timeout and the most connections served at once (one reviewer needs a handful).
SOCKET_TIMEOUT_S = 30
MAX_CONNECTIONS = 32
#: The most seconds one request may take from its first byte to the reply (a slow drip of bytes, each within
#: :data:`SOCKET_TIMEOUT_S`, cannot hold a connection slot for longer).
REQUEST_TIME_LIMIT_S = 60
#: Errors of a client that went away: not the server's fault, never a traceback.
CLIENT_GONE = (ConnectionError, TimeoutError, socket.timeout)


def is_json(content_type: str) -> bool:
    """Whether a Content-Type header names exactly ``application/json`` (parameters such as charset allowed)."""
    return content_type.split(";", 1)[0].strip().lower() == "application/json"


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

    def _expire(self) -> None:
        """Close a request that ran past :data:`REQUEST_TIME_LIMIT_S` (unblocks a read waiting on a slow drip)."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def handle_one_request(self) -> None:
        timer = threading.Timer(REQUEST_TIME_LIMIT_S, self._expire)
        timer.name, timer.daemon = "review-request-limit", True
        timer.start()
        try:
            super().handle_one_request()
        except CLIENT_GONE:
            self.close_connection = True
        finally:
            timer.cancel()

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
            if path in PAGES:
                return self._send(200, self.app.page(PAGES[path]), "text/html; charset=utf-8")
            if path.startswith("/static/") and path[8:] in STATIC_FILES:
                return self._send(200, (STATIC_DIR / path[8:]).read_bytes(), STATIC_FILES[path[8:]])
            if path == "/api/question":
                return self._json(200, self.app.state())
            if path == "/api/auto":
                return self._json(200, self.app.auto_items())
            pm = _PAIR.match(path)
            if pm:
                info = self.app.pair_info(int(pm.group(1)), int(pm.group(2)))
                return self._json(200, info) if info is not None else self._error(404, "not found")
            m = _MEDIA.match(path)
            if m and int(m.group(2)) < self.app.scan.n:
                try:
                    data = self.app.png(m.group(1), int(m.group(2)))
                except Refused:
                    return self._error(403, "forbidden")
                return self._send(200, data, "image/png", {"Cache-Control": "private, max-age=3600"})
        except CLIENT_GONE:
            return None
        except CurateError as exc:  # e.g. an image that no longer decodes: say so on the page and the console
            self._report(exc)
            return self._json(500, {"error": str(exc)})
        return self._error(404, "not found")

    do_HEAD = do_GET

    def do_POST(self) -> None:  # noqa: N802
        if not self._host_ok():
            return self._error(403, "forbidden host")
        if self.path not in ("/api/answer", "/api/overrule"):
            return self._error(404, "not found")
        origin = self.headers.get("Origin")
        port = self._port()
        if origin is not None and origin not in (f"http://{LOOPBACK}:{port}", f"http://localhost:{port}"):
            return self._error(403, "forbidden origin")
        if not secrets.compare_digest(self.headers.get("X-Review-Token", ""), self.app.token):
            return self._error(403, "missing or wrong session token")
        if not is_json(self.headers.get("Content-Type", "")):
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
            status, state = self.app.answer(body) if self.path == "/api/answer" else self.app.overrule(body)
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

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away is not an error of the server: no traceback (others keep the default)."""
        if isinstance(sys.exc_info()[1], CLIENT_GONE):
            return
        super().handle_error(request, client_address)

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

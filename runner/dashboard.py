"""The dashboard: a read-only web page of the spool's jobs, served on 127.0.0.1.

    GET /                   the list of jobs (its script polls /api/jobs)
    GET /jobs/<id>          one job: progress, result, error (its script polls /api/jobs/<id>)
    GET /api/jobs           {"spool": ..., "daemons": client.daemons(), "jobs": client.status()}
    GET /api/jobs/<id>      client.inspect() as JSON (with "spool" and "daemons")
    GET /static/<file>      the page's script and style sheet

Everything is read through runner.client at each request, so the page shows what the
spool holds, daemon or not. Nothing here changes the spool: GET and HEAD only.
The standard library's ThreadingHTTPServer is enough for five read-only routes for
one person on loopback; a thread per request means a slow client or a slow read of
a big spool holds up no other request.

Job files, their names and the error messages quoting them come from anyone who can
write to jobs/, so: the page's script inserts them as text, never markup, and a
Content-Security-Policy forbids any script but /static/dashboard.js; JSON escapes
<, > and &; ids in URLs must match JOB_ID_PATTERN (no path ever reaches the
filesystem otherwise); only loopback Host headers are answered (DNS rebinding).
"""

from __future__ import annotations

import html
import json
import logging
import re
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any, Callable, Optional
from urllib.parse import unquote

from . import client
from .errors import SpoolError
from .job import JOB_ID_PATTERN
from .listing import find
from .spool import Spool

HOST = "127.0.0.1"
REQUEST_TIMEOUT_SECONDS = 10  # a client that stalls mid-request frees its thread after this
JS_SAFE_INT_MAX = 2**53 - 1  # larger integers go out as strings: JavaScript would round them
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
STATIC_PREFIX = "/static/"
STATIC_FILES = {  # name under static/ -> content type; the only files ever served
    "dashboard.html": "text/html; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'none'; script-src 'self'; style-src 'self'; "
                                "connect-src 'self'; img-src 'self'; base-uri 'none'; "
                                "form-action 'none'; frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_JOB_PAGE = re.compile(r"/jobs/([^/]+)")
_JOB_API = re.compile(r"/api/jobs/([^/]+)")
_PAGE_404 = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Not found – runner</title>
<link rel="stylesheet" href="/static/dashboard.css"></head>
<body><header><a class="brand" href="/">runner</a></header>
<main><h1>Not found</h1><p>{what}</p><p><a href="/">&larr; all jobs</a></p></main></body></html>
"""

log = logging.getLogger("runner.dashboard")


def serve(spool: Spool, port: int, on_ready: Callable[[str], None] = print) -> None:
    """Serve the dashboard of `spool` on 127.0.0.1:`port` (0: any free port) until
    Ctrl-C; `on_ready` gets the page's URL once it is listening. Raises OSError when the
    port cannot be had."""
    server = DashboardServer(spool, port)
    with server:
        on_ready(f"http://{HOST}:{server.server_address[1]}/")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass


class DashboardServer(ThreadingHTTPServer):
    """The dashboard of one spool, bound to 127.0.0.1:`port`, a thread per request."""

    def __init__(self, spool: Spool, port: int):
        self.spool = spool
        self.static = {name: (resources.files(__package__).joinpath("static", name).read_bytes(),
                              kind) for name, kind in STATIC_FILES.items()}
        super().__init__((HOST, port), DashboardHandler)


class DashboardHandler(BaseHTTPRequestHandler):
    """One request: routed by path, answered from the spool, never changing it."""

    server: DashboardServer
    timeout = REQUEST_TIMEOUT_SECONDS
    server_version = "runner-dashboard"
    sys_version = ""

    def do_GET(self) -> None:
        self._respond(with_body=True)

    def do_HEAD(self) -> None:
        self._respond(with_body=False)

    def _refuse_method(self) -> None:
        self._send(HTTPStatus.METHOD_NOT_ALLOWED, *_json({"error": "the dashboard is read-only"}),
                   with_body=True, extra={"Allow": "GET, HEAD"})

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse_method

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def _respond(self, with_body: bool) -> None:
        if not _loopback_host(self.headers.get("Host", "")):
            status, body, kind = HTTPStatus.MISDIRECTED_REQUEST, b"not a loopback host\n", "text/plain"
        else:
            try:
                status, body, kind = self._route(self.path.split("?", 1)[0])
            except OSError as exc:  # a spool folder gone or unreadable: say so, and live on
                log.warning("dashboard: %s: %s", self.path, exc)
                status, (body, kind) = HTTPStatus.INTERNAL_SERVER_ERROR, _json(
                    {"error": f"the spool could not be read: {exc}"})
            except Exception:  # the page must outlive whatever the spool holds
                log.exception("dashboard: %s failed", self.path)
                status, (body, kind) = HTTPStatus.INTERNAL_SERVER_ERROR, _json(
                    {"error": "the dashboard failed; see its log"})
        self._send(status, body, kind, with_body=with_body)

    def _route(self, path: str) -> tuple[HTTPStatus, bytes, str]:
        spool, static = self.server.spool, self.server.static
        if path == "/":
            return (HTTPStatus.OK, *static["dashboard.html"])
        if path.startswith(STATIC_PREFIX) and path[len(STATIC_PREFIX):] in static:
            return (HTTPStatus.OK, *static[path[len(STATIC_PREFIX):]])
        if path == "/api/jobs":
            return (HTTPStatus.OK, *_json({"spool": str(spool.root), "daemons": client.daemons(spool),
                                            "jobs": client.status(spool)}))
        api = _JOB_API.fullmatch(path)
        if api:
            job_id = _job_id(api.group(1))
            try:
                details = client.inspect(spool, job_id) if job_id else None
            except SpoolError:  # not there, or gone since it was listed
                details = None
            if details is None:
                return (HTTPStatus.NOT_FOUND, *_json({"error": _no_job(api.group(1))}))
            return (HTTPStatus.OK, *_json({"spool": str(spool.root), **details}))
        page = _JOB_PAGE.fullmatch(path)
        if page:
            job_id = _job_id(page.group(1))
            if job_id and find(spool, job_id) is not None:
                return (HTTPStatus.OK, *static["dashboard.html"])
            return _not_found(_no_job(page.group(1)))
        return _not_found(f"Nothing here: {unquote(path)}")

    def _send(self, status: HTTPStatus, body: bytes, kind: str, with_body: bool,
              extra: Optional[dict] = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for name, value in {**SECURITY_HEADERS, **(extra or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        if with_body:
            self.wfile.write(body)


def _job_id(segment: str) -> Optional[str]:
    """The job id a URL segment names, if it is a valid one (so it names no other path)."""
    job_id = unquote(segment)
    return job_id if JOB_ID_PATTERN.fullmatch(job_id) else None


def _no_job(segment: str) -> str:
    return f"No job with id {unquote(segment)!r} in this spool."


def _loopback_host(host: str) -> bool:
    """Whether a Host header names this machine's loopback (any port: SSH tunnels differ)."""
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return name.lower() in LOOPBACK_NAMES


def _not_found(what: str) -> tuple[HTTPStatus, bytes, str]:
    body = _PAGE_404.format(what=html.escape(what)).encode()
    return HTTPStatus.NOT_FOUND, body, STATIC_FILES["dashboard.html"]


def _json(data: Any) -> tuple[bytes, str]:
    """`data` as JSON that no browser can read as markup, big integers as strings."""
    text = json.dumps(_js_safe(data), default=str)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text.encode(), "application/json"


def _js_safe(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > JS_SAFE_INT_MAX:
        return str(value)
    if isinstance(value, dict):
        return {key: _js_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_js_safe(item) for item in value]
    return value

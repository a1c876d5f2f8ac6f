"""An HTTP proxy in front of Keycloak that injects latency and error answers, for fault tests.

Loopback only. Faults can be changed while it runs: the tests slow Keycloak down past the
function timeout, answer a share of user creations (or one user's) with 503 or 429, and then heal it.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

from registrar_local.keycloak_server import free_port

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-encoding", "content-length", "upgrade"}


@dataclass
class Faults:
    latency_seconds: float = 0.0
    status: int | None = None
    every_nth: int = 1
    retry_after_seconds: int | None = None
    method: str = "POST"
    path_suffix: str = "/users"
    body_contains: bytes | None = None
    """Only requests whose body holds these bytes (one user's creation, say)."""
    limit: int | None = None
    """At most this many answers injected (`injected` counts them); after them every request goes through."""


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hangs up (a killed environment, a timed-out request) is expected here."""


class FaultProxy:
    def __init__(self, upstream: str, port: int | None = None) -> None:
        self.upstream = upstream.rstrip("/")
        self.port = port or free_port()
        self.faults = Faults()
        self.injected = 0
        self.forwarded = 0
        self._matching = itertools.count(1)
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", self.port), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def heal(self) -> None:
        self.faults = Faults()

    def _inject(self, method: str, path: str, body: bytes | None) -> Faults | None:
        faults = self.faults
        path = path.split("?", maxsplit=1)[0]
        if faults.status is None or method != faults.method or not path.endswith(faults.path_suffix):
            return None
        if faults.body_contains is not None and faults.body_contains not in (body or b""):
            return None
        with self._lock:
            if faults.limit is not None and self.injected >= faults.limit:
                return None
            if next(self._matching) % faults.every_nth:
                return None
            self.injected += 1
        return faults

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self
        local = threading.local()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if proxy.faults.latency_seconds:
                    time.sleep(proxy.faults.latency_seconds)
                injected = proxy._inject(self.command, self.path, body)
                if injected is not None:
                    self.send_response(injected.status or 503)
                    if injected.retry_after_seconds is not None:
                        self.send_header("Retry-After", str(injected.retry_after_seconds))
                    self.send_header("Content-Type", "application/json")
                    payload = b'{"error":"injected fault"}'
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                session = getattr(local, "session", None)
                if session is None:
                    session = local.session = requests.Session()
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP | {"host"}}
                try:
                    upstream = session.request(
                        self.command, proxy.upstream + self.path, data=body, headers=headers, timeout=60
                    )
                except requests.RequestException:
                    self.send_error(502)
                    return
                with proxy._lock:
                    proxy.forwarded += 1
                self.send_response(upstream.status_code)
                for name, value in upstream.headers.items():
                    if name.lower() not in _HOP_BY_HOP:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(upstream.content)))
                self.end_headers()
                self.wfile.write(upstream.content)

            do_GET = do_POST = do_PUT = do_DELETE = _relay  # noqa: N815 - http.server's naming

        return Handler

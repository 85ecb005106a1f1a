"""A tiny HTTP server on loopback that records every request and answers from a script.

Not a mock of our code: it is the far end of a real HTTP connection, so the tests see the exact
method, path, headers and body that httpx or grafana-client put on the wire.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Recorder:
    url: str
    requests: list[Request] = field(default_factory=list)
    script: list[tuple[int, Any]] = field(default_factory=list)
    """Answers in order (status, JSON body); once used up, every request gets ``default``."""
    default: tuple[int, Any] = (200, {})
    hold: threading.Event | None = None
    """When set to an Event, each request waits for it before answering (a hanging server)."""
    arrived: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextmanager
def recording_server(**kwargs: Any) -> Iterator[Recorder]:
    rec: Recorder

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else b""
            with rec.lock:
                rec.requests.append(
                    Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                status, payload = rec.script.pop(0) if rec.script else rec.default
            rec.arrived.set()
            if rec.hold is not None:
                rec.hold.wait(timeout=30)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    rec = Recorder(url=f"http://127.0.0.1:{server.server_address[1]}", **kwargs)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield rec
    finally:
        if rec.hold is not None:
            rec.hold.set()
        server.shutdown()
        server.server_close()
        t.join(timeout=5)

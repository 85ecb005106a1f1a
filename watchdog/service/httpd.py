"""The HTTP server of ``watchdog serve``: uvicorn with guards against slow, idle and too many clients.

uvicorn closes a keep-alive connection after a response, and ``limit_concurrency`` answers 503 once a
request has arrived; nothing closes a connection whose request never comes, and a descriptor limit
reached by idle connections makes ``accept()`` fail with EMFILE, which asyncio logs with a traceback up
to ``backlog`` times a second. This module adds what is missing, around the same ``H11Protocol``::

    listening socket ── accept ──▶ gate ── under the cap ─────────────▶ connection
                                    │  at the cap: the oldest idle connection is closed (evicted) to make room;
                                    │  none idle (all mid-request, or still being
                                    │  accepted in this burst): refused at once, 503 and closed
                                    └─ accept fails (EMFILE, ENFILE, ENOBUFS, ENOMEM): asyncio retries in 1 s;
                                       one log line per interval counts the failures

    connection ── headers within header_timeout ──▶ request ── body within body_timeout ──▶ app ──▶ response
       │ late: closed (408 first if part of them came)   │ late: 408 (when the app has not answered), closed
       └─ after each response the next request's headers are due header_timeout later (keep-alive)

"Idle" is a connection between requests: none sent yet, headers incomplete, or kept alive after a
response. A connection whose headers came is never evicted: a real request goes on while idle
connections are closed to let it in.

The one rule that bounds descriptors: the gate counts the connections accepted but not yet closed
(closing ones included) and, past the cap by :data:`CLOSING_SLACK`, refuses in the accept call
itself, so a flood cannot hold more than ``max_connections + CLOSING_SLACK`` descriptors.
:func:`watchdog.service.http_limits.fit_to_descriptors` lowers the cap to what the open-file limit
leaves, so the cap, not EMFILE, is what a flood meets.

    server = GuardedServer(app, limits=HttpLimits(header_timeout=10, body_timeout=30, max_connections=512))
    threading.Thread(target=server.run, kwargs={"sockets": [listening_socket]}).start()
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
import time
from collections.abc import Callable
from typing import Any, ClassVar

import h11
import uvicorn
from starlette.requests import ClientDisconnect
from uvicorn.protocols.http.h11_impl import H11Protocol

from watchdog.errors import ConfigError
from watchdog.service.http_limits import CLOSE_REASONS, CLOSING_SLACK, HttpLimits

__all__ = ["CLOSE_REASONS", "AcceptErrorLog", "ConnectionGate", "GuardedH11Protocol", "GuardedServer",
           "GuardedSocket", "HttpLimits", "quiet_disconnects"]

log = logging.getLogger("watchdog.httpd")

ACCEPT_ERRNOS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
"""The accept() failures asyncio retries a second later (asyncio/selector_events.py)."""
ACCEPT_MESSAGE = "socket.accept() out of system resource"
"""The message asyncio gives the loop's exception handler for one of them."""
REFUSALS_PER_CALL = 64
"""Refused connections drained in one accept() call before the loop runs other work."""
PENDING_EXPIRY = 5.0
"""Seconds after which an accepted connection that never reached its protocol stops counting (a failed
handshake between asyncio's accept and ``connection_made``)."""


def _response(status: bytes, sentence: str) -> bytes:
    body = sentence.encode()
    return (b"HTTP/1.1 %s\r\ncontent-type: text/plain; charset=utf-8\r\nconnection: close\r\n"
            b"content-length: %d\r\n\r\n%s" % (status, len(body), body))


_REFUSAL = _response(b"503 Service Unavailable", "Too many open connections; try again later.")


class AcceptErrorLog:
    """The event loop's exception handler: accept() failures make one log line per ``interval`` seconds
    (the first at once, the next with the count of those in between); anything else goes to asyncio's
    default handler."""

    def __init__(self, interval: float, on_error: Callable[[], None] | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.interval = interval
        self.on_error = on_error
        self.clock = clock
        self.total = 0
        self.suppressed = 0
        self._last: float | None = None
        self._last_error = ""

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if context.get("message") != ACCEPT_MESSAGE or not isinstance(exc, OSError):
            loop.default_exception_handler(context)
            return
        self.record(exc)

    def record(self, exc: OSError) -> None:
        self.total += 1
        if self.on_error is not None:
            self.on_error()
        self._last_error = errno.errorcode.get(exc.errno or 0, str(exc.errno))
        now = self.clock()
        if self._last is not None and now - self._last < self.interval:
            self.suppressed += 1
            return
        self._emit(now)

    def flush(self) -> None:
        """Log the failures not logged yet (at shutdown)."""
        if self.suppressed:
            self._emit(self.clock())

    def _emit(self, now: float) -> None:
        log.error("http_accept_failed", extra={
            "error": self._last_error, "since_last_line": self.suppressed, "total": self.total,
            "why": "the process is out of descriptors or memory: new connections wait in the backlog and "
                   "accept() is tried again every second; raise `ulimit -n` or lower --http-max-connections"})
        self._last = now
        self.suppressed = 0


class ConnectionGate:
    """Admits or refuses each accepted connection (see the module's diagram); it counts the connections
    of ``connections`` (uvicorn's set of live protocols) and those accepted but not yet made."""

    def __init__(self, max_connections: int, connections: set[Any],
                 on_close: Callable[[str], None] | None = None, clock: Callable[[], float] = time.monotonic):
        self.max_connections = max_connections
        self.connections = connections
        self.on_close = on_close
        self.clock = clock
        self.pending: dict[int, float] = {}  # descriptor -> when accepted, until its protocol is made
        self.paused_until = 0.0

    def count(self, reason: str) -> None:
        if self.on_close is not None:
            self.on_close(reason)

    def admit(self, conn: socket.socket) -> bool:
        """True to hand ``conn`` to asyncio; False to refuse it. May evict an idle connection."""
        now = self.clock()
        if self.pending:
            self.pending = {fd: t for fd, t in self.pending.items() if now - t < PENDING_EXPIRY}
        held = len(self.connections) + len(self.pending)
        if held < self.max_connections:  # the common case, without a look at each connection
            self.pending[conn.fileno()] = now
            return True
        if held >= self.max_connections + CLOSING_SLACK:
            return False
        live = [c for c in self.connections if not c.transport.is_closing()]
        if len(live) + len(self.pending) >= self.max_connections:
            idle = [c for c in live if getattr(c, "idle_since", None) is not None]
            if not idle:
                return False
            victim = min(idle, key=lambda c: c.idle_since)
            victim.close_idle()
            self.count("evicted")
        self.pending[conn.fileno()] = now
        return True

    def arrived(self, transport: asyncio.BaseTransport) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            self.pending.pop(sock.fileno(), None)


class GuardedSocket(socket.socket):
    """The listening socket as asyncio sees it: each ``accept()`` goes through the gate, refusals are
    answered and closed here (no protocol, no task), and after an accept failure the rest of asyncio's
    accept loop is told there is nothing more (it otherwise tries ``backlog`` times and logs each)."""

    gate: ConnectionGate

    @classmethod
    def wrapping(cls, sock: socket.socket, gate: ConnectionGate) -> GuardedSocket:
        """A second handle on the listening socket ``sock`` (which stays the caller's to close)."""
        guarded = cls(sock.family, sock.type, sock.proto, fileno=os.dup(sock.fileno()))
        guarded.set_inheritable(False)
        guarded.gate = gate
        return guarded

    def accept(self) -> tuple[socket.socket, Any]:
        gate = self.gate
        for _ in range(REFUSALS_PER_CALL):
            if time.monotonic() < gate.paused_until:
                raise BlockingIOError(errno.EAGAIN, "accept paused after a failure")
            try:
                conn, addr = super().accept()
            except OSError as e:
                if e.errno in ACCEPT_ERRNOS:
                    gate.paused_until = time.monotonic() + 0.5  # asyncio tries again in 1 s
                raise
            if gate.admit(conn):
                return conn, addr
            gate.count("refused")
            _refuse(conn)
        raise BlockingIOError(errno.EAGAIN, "refused enough for one loop turn")


def _refuse(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):
        conn.setblocking(False)
        conn.send(_REFUSAL)
    conn.close()


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with the header and body deadlines; ``gate`` and ``limits`` are set on a
    subclass made per server (:meth:`GuardedServer.protocol_class`)."""

    gate: ClassVar[ConnectionGate]
    limits: ClassVar[HttpLimits]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.idle_since: float | None = None
        self._header_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # type: ignore[override]
        super().connection_made(transport)  # type: ignore[arg-type]
        self.gate.arrived(transport)
        self._update()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._update()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._update()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel("header")
        self._cancel("body")
        self.idle_since = None
        super().connection_lost(exc)

    def _update(self) -> None:
        """Arm the deadline of the phase the client is in: headers (idle), body, or none."""
        if self.transport.is_closing():
            self._cancel("header")
            self._cancel("body")
            self.idle_since = None
            return
        state = self.conn.their_state
        if state is h11.IDLE:
            self._cancel("body")
            if self.idle_since is None:
                self.idle_since = self.loop.time()
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(self.limits.header_timeout, self._headers_late)
        elif state is h11.SEND_BODY:
            self._cancel("header")
            self.idle_since = None
            if self._body_timer is None:
                self._body_timer = self.loop.call_later(self.limits.body_timeout, self._body_late)
        else:
            self._cancel("header")
            self._cancel("body")
            self.idle_since = None

    def _cancel(self, which: str) -> None:
        timer = self._header_timer if which == "header" else self._body_timer
        if timer is not None:
            timer.cancel()
        if which == "header":
            self._header_timer = None
        else:
            self._body_timer = None

    def close_idle(self) -> None:
        """Close a connection between requests (evicted, or its headers are late)."""
        self._cancel("header")
        self.idle_since = None
        if self.transport.is_closing():
            return
        with contextlib.suppress(h11.LocalProtocolError):
            self.conn.send(h11.ConnectionClosed())
        self.transport.close()

    def _headers_late(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        self.gate.count("header_timeout")
        if self.conn.trailing_data[0]:  # part of a request came: say why it is cut off
            self.transport.write(_timeout_response(f"The request's headers did not arrive within "
                                                   f"{self.limits.header_timeout:g} s."))
        self.close_idle()

    def _body_late(self) -> None:
        self._body_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.SEND_BODY:
            return
        if self.flow.read_paused:  # the app has not taken what came: the wait is ours, not the client's
            self._body_timer = self.loop.call_later(self.limits.body_timeout, self._body_late)
            return
        self.gate.count("body_timeout")
        cycle = self.cycle
        if cycle is not None and not cycle.response_started:
            cycle.response_started = cycle.response_complete = True
            self.transport.write(_timeout_response(f"The request's body did not arrive within "
                                                   f"{self.limits.body_timeout:g} s."))
        if cycle is not None:  # the app's receive() gets http.disconnect, its reply goes nowhere
            cycle.disconnected = True
            cycle.message_event.set()
        self.transport.close()


def _timeout_response(sentence: str) -> bytes:
    return _response(b"408 Request Timeout", sentence)


def quiet_disconnects(app: Any) -> Any:
    """The ASGI app, but a client gone mid-body (or cut off by the body deadline) ends its request
    quietly instead of an "Exception in ASGI application" traceback per connection."""

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        try:
            await app(scope, receive, send)
        except ClientDisconnect:
            log.debug("http_client_disconnected", extra={"path": scope.get("path")})

    return wrapped


class GuardedServer(uvicorn.Server):
    """A uvicorn server with :class:`HttpLimits`; it must be given its listening sockets
    (``run(sockets=[...])``). ``on_close(reason)`` and ``on_accept_error()`` feed the metrics."""

    def __init__(self, app: Any, limits: HttpLimits, *, on_close: Callable[[str], None] | None = None,
                 on_accept_error: Callable[[], None] | None = None, **config: Any):
        self.limits = limits
        self.accept_log = AcceptErrorLog(limits.accept_log_interval, on_accept_error)
        protocol = self.protocol_class(limits)
        super().__init__(uvicorn.Config(quiet_disconnects(app), http=protocol, ws="none", lifespan="off",
                                        **config))
        self.gate = ConnectionGate(limits.max_connections, self.server_state.connections, on_close)
        protocol.gate = self.gate

    @staticmethod
    def protocol_class(limits: HttpLimits) -> type[GuardedH11Protocol]:
        return type("GuardedH11Protocol", (GuardedH11Protocol,), {"limits": limits})

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        if not sockets:
            raise ConfigError("GuardedServer needs its listening sockets: run(sockets=[...]).")
        asyncio.get_running_loop().set_exception_handler(self.accept_log)
        self._guarded = [GuardedSocket.wrapping(s, self.gate) for s in sockets]
        await super().startup(sockets=self._guarded)  # type: ignore[arg-type]

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await super().shutdown(sockets=getattr(self, "_guarded", sockets))
        self.accept_log.flush()

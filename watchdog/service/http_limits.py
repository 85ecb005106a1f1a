"""The HTTP server's limits, and the ``serve`` flags' types; cheap to import (the server itself,
with uvicorn, is :mod:`watchdog.service.httpd`)."""

from __future__ import annotations

import argparse
import os
import resource
from dataclasses import dataclass

from watchdog.errors import ConfigError

CLOSE_REASONS = ("header_timeout", "body_timeout", "evicted", "refused")
"""Why the server closed a connection itself (``watchdog_http_connections_closed_total{reason}``)."""
CLOSING_SLACK = 16
"""Connections closed but not yet released (they go at the next loop turn) the gate tolerates past the cap."""
DESCRIPTOR_RESERVE = 64
"""Descriptors left to the rest of the service (store, spool, RPC, logs) when the cap is fitted to the limit."""


@dataclass(frozen=True)
class HttpLimits:
    """How long a client may take and how many may be connected.

    header_timeout
        Seconds from the connection (or the previous response) until the request's headers are complete.
    body_timeout
        Seconds from the headers until the body is complete.
    max_connections
        Open connections; past it the oldest idle one is closed, or the new one refused.
    accept_log_interval
        Seconds between two log lines about failed accept() calls; the second counts those in between.
    """

    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_connections: int = 512
    accept_log_interval: float = 10.0

    def __post_init__(self) -> None:
        for name in ("header_timeout", "body_timeout", "accept_log_interval"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and value > 0):
                raise ConfigError(f"{name} must be a positive number of seconds, got {value!r}.")
        if not (isinstance(self.max_connections, int) and self.max_connections >= 1):
            raise ConfigError(f"max_connections must be a whole number of at least 1, got {self.max_connections!r}.")


def connections_arg(text: str) -> int:
    """argparse type of ``--http-max-connections``."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of connections of at least 1, got {text!r}")
    return int(text)


def nofile_limit() -> int | None:
    """The soft open-file limit (``ulimit -n``), or None without one."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else soft


def descriptor_room(reserve: int = DESCRIPTOR_RESERVE) -> int | None:
    """How many more descriptors this process may open, less ``reserve`` and :data:`CLOSING_SLACK`;
    None without a limit."""
    soft = nofile_limit()
    if soft is None:
        return None
    try:
        in_use = len(os.listdir("/proc/self/fd")) - 1  # the listing's own descriptor
    except OSError:  # no /proc: count the lowest descriptors in use instead
        in_use = sum(1 for fd in range(min(soft, 4096)) if _is_open(fd))
    return soft - in_use - reserve - CLOSING_SLACK


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def fit_to_descriptors(requested: int, reserve: int = DESCRIPTOR_RESERVE) -> int:
    """``requested``, or fewer when the open-file limit (``ulimit -n``) leaves less room (at least 1)."""
    room = descriptor_room(reserve)
    return requested if room is None else max(1, min(requested, room))

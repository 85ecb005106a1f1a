"""Reload the policy on SIGHUP, as Prometheus does: a bad new policy is rejected whole, the old one keeps running.

The signal handler only sets a flag; the reload itself happens between records (`PolicyReloader.poll`), so a
record is never evaluated half under one policy and half under another. A good new policy is swapped into the
running engine by `Engine.swap_policy`, which works through each model's runtime (`ModelRuntime.carry_from`):

- a model whose definition (features, prediction, reference) is unchanged keeps its state (reference, label
  join, pending batch, counters), and each of its detectors whose entry is unchanged keeps its window;
  changed or new detectors are built from the reference the model already has;
- the rule evaluator keeps the state of every rule whose definition is unchanged (`rules.Evaluator.restore`),
  and every module's action budget and every rule's cooldown carry over, so a reload can never buy the
  watchdog extra actions.

Outcomes are logged (``policy_reloaded`` / ``policy_reload_failed``) and counted in
``watchdog_policy_reloads_total{outcome}`` (success, failure, unchanged).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any, Self

import rules
from rules import Policy
from watchdog.engine.engine import Engine
from watchdog.errors import WatchdogError
from watchdog.observe.metrics import Metrics

log = logging.getLogger("watchdog.reload")

__all__ = ["PolicyReloader"]


class PolicyReloader:
    """Reloads ``path`` into ``engine`` when SIGHUP arrives (applied by `poll` between records).

    Parameters
    ----------
    path
        The policy file to re-read.
    engine
        The running engine (its `Engine.swap_policy` is called with the new policy).
    metrics
        Where ``watchdog_policy_reloads_total`` lives (default: the engine's).
    on_reload
        Called as ``on_reload(outcome, old_policy, new_policy_or_None, detail)`` after each attempt (audit).
    """

    def __init__(self, path: str | Path, engine: Engine, *, metrics: Metrics | None = None,
                 on_reload: Callable[[str, Policy, Policy | None, dict[str, Any]], None] | None = None) -> None:
        self.path = Path(path)
        self.engine = engine
        self.metrics = metrics if metrics is not None else engine.metrics
        self.on_reload = on_reload
        self.pending = False
        self.last_error: str | None = None
        self._previous: Any = None
        self._installed = False

    def request(self, signum: int | None = None, frame: FrameType | None = None) -> None:
        """The signal handler: only note that a reload is wanted."""
        self.pending = True

    def install(self) -> bool:
        """Handle SIGHUP (main thread only, where Python delivers signals); returns whether it was installed."""
        if not hasattr(signal, "SIGHUP") or threading.current_thread() is not threading.main_thread():
            return False
        self._previous = signal.signal(signal.SIGHUP, self.request)
        self._installed = True
        return True

    def uninstall(self) -> None:
        if self._installed:
            signal.signal(signal.SIGHUP, self._previous if self._previous is not None else signal.SIG_DFL)
            self._installed = False

    def __enter__(self) -> Self:
        self.install()
        return self

    def __exit__(self, *exc: object) -> None:
        self.uninstall()

    def poll(self, _line: int | None = None) -> str | None:
        """Apply a requested reload; returns its outcome, or None when none was requested."""
        if not self.pending:
            return None
        self.pending = False
        return self.reload()

    def reload(self) -> str:
        """Load and validate the file; swap it in when good. Returns "success", "failure" or "unchanged"."""
        old = self.engine.policy
        try:
            new = rules.load_policy(self.path)
        except rules.PolicyError as e:
            return self._failed(old, f"{len(e.errors)} problem(s): " + "; ".join(str(i) for i in e.errors))
        except OSError as e:
            return self._failed(old, f"cannot read {self.path}: {e.strerror}")
        if new.hash == old.hash:
            self.metrics.policy_reloads.labels("unchanged").inc()
            log.info("policy_reload_unchanged", extra={"policy_hash": old.hash})
            self._tell("unchanged", old, new, {})
            return "unchanged"
        try:
            detail = self.engine.swap_policy(new)
        except (WatchdogError, ValueError, OSError) as e:
            return self._failed(old, str(e))
        self.last_error = None
        self.metrics.policy_reloads.labels("success").inc()
        log.warning("policy_reloaded", extra={"old_hash": old.hash, "policy_hash": new.hash,
                                              "fresh": ", ".join(detail["fresh"]) or "nothing"})
        self._tell("success", old, new, detail)
        return "success"

    def _failed(self, old: Policy, why: str) -> str:
        self.last_error = why
        self.metrics.policy_reloads.labels("failure").inc()
        log.error("policy_reload_failed", extra={"path": str(self.path), "error": why, "policy_hash": old.hash})
        self._tell("failure", old, None, {"error": why})
        return "failure"

    def _tell(self, outcome: str, old: Policy, new: Policy | None, detail: dict[str, Any]) -> None:
        if self.on_reload is None:
            return
        try:
            self.on_reload(outcome, old, new, detail)
        except Exception:  # an audit hook must not stop the stream
            log.exception("policy_reload_hook_failed")

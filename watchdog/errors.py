"""Errors of the watchdog service.

Every error the service raises on purpose derives from one root and mixes in the standard error it
resembles, so callers can catch either::

    WatchdogError
    ├── ConfigError(WatchdogError, ValueError)      bad flags, keys, files given to the service
    │   └── KeyLoadError                             a signing key could not be loaded (never shows the key)
    ├── StartupError(WatchdogError, RuntimeError)    the service refuses to start (bad policy, bad reference)
    │   └── SignerRefused                            the signing key is privileged, lacks its role or its funds
    ├── SpoolError(WatchdogError, OSError)           the HTTP ingest spool could not be opened or written
    └── ChainError(WatchdogError, RuntimeError)      the chain refused or failed an action
        └── ActionReverted                            a transaction reverted; ``error_name`` is decoded

Policy errors come from :mod:`rules` (``rules.PolicyError``, a ``ValueError``) and are wrapped in
``StartupError`` when the service refuses a policy.
"""

from __future__ import annotations

from pathlib import Path


class WatchdogError(Exception):
    """Root of every error the watchdog raises on purpose."""


class ConfigError(WatchdogError, ValueError):
    """A flag, file or setting given to the service is wrong; the message says which and how to fix it."""


class KeyLoadError(ConfigError):
    """The signing key could not be loaded. The message never contains key material."""


class StartupError(WatchdogError, RuntimeError):
    """The watchdog refuses to start; the message says why."""


class SignerRefused(StartupError):
    """The watchdog's signing key is not fit to act on-chain (see :func:`watchdog.actions.preflight.preflight`).

    Attributes
    ----------
    address:
        The key's address (never the key).
    reasons:
        One full sentence per problem found, each saying what to do.
    """

    def __init__(self, address: str, reasons: list[str]):
        self.address = address
        self.reasons = list(reasons)
        if len(self.reasons) == 1:
            msg = f"Refusing to start: {self.reasons[0]}"
        else:
            msg = f"Refusing to start, for {len(self.reasons)} reasons:\n" + "\n".join(f"- {r}" for r in self.reasons)
        super().__init__(msg)


class SpoolError(WatchdogError, OSError):
    """The spool could not be opened or written: the batch is not on disk and must not be answered 200.

    ``path`` is the file or directory that failed, ``cause`` the :class:`OSError` the system gave.
    """

    def __init__(self, path: Path, what: str, err: OSError):
        self.path = path
        self.cause = err
        super().__init__(f"The ingest spool {path} could not be {what} ({err.strerror or err}); the records "
                         "were not taken. Free disk space or fix the permissions of the spool directory, "
                         "then send them again.")


class ChainError(WatchdogError, RuntimeError):
    """The chain could not be reached or refused an action."""


class ActionReverted(ChainError):
    """A transaction reverted on-chain.

    Attributes
    ----------
    error_name:
        The custom error's name decoded from the revert data (for example ``IncidentAlreadyUsed``),
        or ``None`` when the revert carried no known error.
    tx_hash:
        The reverted transaction's hash, when it was mined.
    """

    def __init__(self, action: str, error_name: str | None, detail: str = "", tx_hash: str | None = None):
        self.action = action
        self.error_name = error_name
        self.tx_hash = tx_hash
        what = error_name or "an unknown reason"
        msg = f"The {action} transaction reverted with {what}"
        if detail:
            msg += f" ({detail})"
        super().__init__(msg + ".")

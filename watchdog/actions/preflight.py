"""Preflight: what the watchdog checks about its own signing key before it starts, and its funds as it runs.

:func:`preflight` reads the chain once and refuses to start (:class:`~watchdog.errors.SignerRefused`, a
``StartupError``, with every problem at once, one sentence each) when::

    the key holds DEFAULT_ADMIN_ROLE or COUNCIL_ROLE ──▶ refused, unless allow_privileged_key
        (the council's pauses and rollbacks skip the on-chain rate limit, ModelMonitor._checkEmergencyCaller;
         an admin can make itself council: a leaked watchdog key would then be uncontained)
    the key lacks WATCHDOG_ROLE ───────────────────────▶ refused (an allowed council key needs none)
    its balance pays for fewer than min_actions pauses ─▶ refused
        (a pause costs its signed gas limit, 20 % over the estimate, times the current max fee per gas)

and otherwise returns a :class:`PreflightReport` with the balance and how many pauses it still pays for.
The live numbers are a :class:`SignerStatus`: the metrics read its attributes at scrape time
(``watchdog_signer_balance_wei``, ``watchdog_signer_actions_affordable``) and the heartbeat job calls
:meth:`SignerStatus.refresh`. Only the key's address ever appears in a message or a log line.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Protocol

from eth_utils import keccak

from watchdog.actions.chain import GWEI, MonitorClient, fee_per_gas, gas_limit
from watchdog.actions.quorum import pause_config
from watchdog.errors import ActionReverted, ChainError, ConfigError, SignerRefused, StartupError

log = logging.getLogger("watchdog.preflight")

#: Roles with which the watchdog's own actions are not rate-limited on-chain.
PRIVILEGED_ROLES = ("DEFAULT_ADMIN_ROLE", "COUNCIL_ROLE")
WATCHDOG_ROLE = "WATCHDOG_ROLE"
#: Gas assumed for a pause when none can be simulated (every module paused, or the key may not pause);
#: a pause measures about 88,000 on the ModelMonitor of this repository.
FALLBACK_PAUSE_GAS = 150_000
#: Below this many affordable pauses the preflight warns (it refuses below ``min_actions``).
LOW_ACTIONS = 10
#: Modules tried for the gas estimate, at most.
_ESTIMATE_TRIES = 5


class SignerGauges(Protocol):
    """What :func:`preflight` needs of a metrics object: to export a :class:`SignerStatus` at scrape time."""

    def attach_signer(self, status: SignerStatus) -> None: ...


@dataclass
class SignerStatus:
    """The signer's funds: ``balance_wei`` and ``actions_affordable`` (pauses it pays for at ``fee_per_gas_wei``).

    One owner writes them, :meth:`refresh`; the metrics only read them.
    """

    monitor: MonitorClient = field(repr=False)
    gas_per_action: int
    balance_wei: int = 0
    fee_per_gas_wei: int = 0
    actions_affordable: int = 0

    def __post_init__(self) -> None:
        if self.monitor.signer is None:
            raise StartupError("The signer's status needs a monitor client with a signing key.")
        if self.gas_per_action < 1:
            raise ConfigError(f"gas_per_action must be at least 1, got {self.gas_per_action}")

    @property
    def address(self) -> str:
        assert self.monitor.signer is not None
        return self.monitor.signer.address

    @property
    def cost_per_action_wei(self) -> int:
        return self.gas_per_action * self.fee_per_gas_wei

    def refresh(self) -> SignerStatus:
        """Read the balance and the current fee again; a :class:`ChainError` leaves the old values."""
        balance = self.monitor.balance()
        per_gas = current_fee_per_gas(self.monitor)
        self.balance_wei, self.fee_per_gas_wei = balance, per_gas
        self.actions_affordable = balance // max(1, self.gas_per_action * per_gas)
        return self


@dataclass(frozen=True)
class PreflightReport:
    """What the preflight found; ``status`` keeps the numbers up to date after it."""

    address: str
    monitor: str
    roles: tuple[str, ...]  # of PRIVILEGED_ROLES and WATCHDOG_ROLE, those the key holds
    privileged: bool
    gas_estimated: bool  # False: FALLBACK_PAUSE_GAS, no pause could be simulated
    balance_wei: int
    fee_per_gas_wei: int
    gas_per_action: int
    actions_affordable: int
    status: SignerStatus = field(repr=False, compare=False)

    def render(self) -> str:
        roles = ", ".join(self.roles) or "no role"
        gas = f"{self.gas_per_action:,} gas" + ("" if self.gas_estimated else ", assumed")
        return (f"signer {self.address} ({roles}) on monitor {self.monitor}: balance {_eth(self.balance_wei)} ETH "
                f"pays for {self.actions_affordable:,} pause(s) at {self.fee_per_gas_wei / GWEI:.3g} gwei ({gas} each)")


def preflight(monitor: MonitorClient, *, allow_privileged_key: bool, min_actions: int,
              metrics: SignerGauges | None = None) -> PreflightReport:
    """Check the signing key against the monitor before starting; refuse with every reason at once.

    Raises :class:`~watchdog.errors.SignerRefused` (a ``StartupError``) as the module docstring says,
    ``StartupError`` when ``monitor`` has no signing key, ``ConfigError`` for ``min_actions < 1``, and
    lets a :class:`~watchdog.errors.ChainError` through when the chain cannot be read. With ``metrics``, the
    returned report's ``status`` is attached to it (``metrics.attach_signer(status)``) on success.
    """
    if min_actions < 1:
        raise ConfigError(f"min_actions must be at least 1, got {min_actions}")
    signer = monitor.signer
    if signer is None:
        raise StartupError("The preflight needs the watchdog's signing key: load one with --key-file, "
                           "or run with --dry-run to send nothing.")
    address, where = signer.address, f"the ModelMonitor at {monitor.address}"
    held = tuple(r for r in (*PRIVILEGED_ROLES, WATCHDOG_ROLE) if monitor.has_role(r, address))
    reasons: list[str] = []
    if "DEFAULT_ADMIN_ROLE" in held and not allow_privileged_key:
        reasons.append(
            f"The signing key's address {address} holds DEFAULT_ADMIN_ROLE on {where}: an admin can make itself "
            "council, whose pauses and rollbacks skip the on-chain rate limit, so a leaked watchdog key would not "
            "be contained. Give the watchdog a key that holds only WATCHDOG_ROLE, or pass --allow-privileged-key "
            "to start with this one anyway.")
    if "COUNCIL_ROLE" in held and not allow_privileged_key:
        reasons.append(
            f"The signing key's address {address} holds COUNCIL_ROLE on {where}: the council's pauses and "
            "rollbacks are not rate-limited on-chain, so this watchdog could pause every module without bound. "
            "Give the watchdog a key that holds only WATCHDOG_ROLE, or pass --allow-privileged-key to start with "
            "this one anyway.")
    # An allowed council key needs no watchdog role; a refused privileged key is told to use another key, not to
    # get one more role.
    acts_as_council = "COUNCIL_ROLE" in held and allow_privileged_key
    if WATCHDOG_ROLE not in held and not acts_as_council and not reasons:
        role = "0x" + monitor.role_id(WATCHDOG_ROLE).hex()
        reasons.append(
            f"The signing key's address {address} does not hold WATCHDOG_ROLE ({role}) on {where}, so every "
            f"pause it signs would revert. Ask the council to call grantRole(WATCHDOG_ROLE, {address}), or start "
            "with the watchdog's own key.")
    estimate, estimated = pause_gas(monitor)
    status = SignerStatus(monitor, gas_limit(estimate)).refresh()
    if status.actions_affordable < min_actions:
        need = min_actions * status.cost_per_action_wei - status.balance_wei
        reasons.append(
            f"The signing key's address {address} holds {_eth(status.balance_wei)} ETH, which pays for "
            f"{status.actions_affordable} pause(s) at the current fee ({status.fee_per_gas_wei / GWEI:.3g} gwei "
            f"x {status.gas_per_action:,} gas = {_eth(status.cost_per_action_wei)} ETH each); the watchdog needs "
            f"at least {min_actions}. Send at least {_eth(need)} ETH to {address} before starting.")
    if reasons:
        log.error("signer_refused", extra={"address": address, "reasons": len(reasons)})
        raise SignerRefused(address, reasons)
    report = PreflightReport(
        address=address, monitor=monitor.address, roles=held, privileged=any(r in held for r in PRIVILEGED_ROLES),
        gas_estimated=estimated, balance_wei=status.balance_wei, fee_per_gas_wei=status.fee_per_gas_wei,
        gas_per_action=status.gas_per_action, actions_affordable=status.actions_affordable, status=status)
    if report.privileged:
        log.warning("signer_privileged", extra={"address": address, "roles": list(held)})
    if report.actions_affordable < LOW_ACTIONS:
        log.warning("signer_balance_low", extra={"address": address, "balance_wei": report.balance_wei,
                                                 "actions_affordable": report.actions_affordable})
    log.info("signer_preflight", extra={"address": address, "roles": list(held), "balance_wei": report.balance_wei,
                                        "actions_affordable": report.actions_affordable,
                                        "gas_per_action": report.gas_per_action, "gas_estimated": estimated})
    if metrics is not None:
        metrics.attach_signer(status)
    return report


def pause_gas(monitor: MonitorClient) -> tuple[int, bool]:
    """Estimate the gas of a pause as the signer: ``(gas, True)``, or ``(FALLBACK_PAUSE_GAS, False)``.

    The estimate runs on a registered module that is not paused, with a probe incident id that is never
    sent; a revert there (rate limit, no role, a disarmed one-shot key) moves to the next module, up to a few.
    Under a quorum above 1 the outbox sends ``votePause``, so that is what is estimated there: a vote short of
    the quorum costs less than the pause the last vote makes, and the probe is the first vote, so the estimate
    is of a first vote (see the gas report for the vote that pauses).
    """
    assert monitor.signer is not None
    probe = keccak(text=f"watchdog-preflight:{monitor.signer.address}")
    tried = 0
    for module in monitor.registered_modules():
        if tried >= _ESTIMATE_TRIES:
            break
        if monitor.is_paused(module):
            continue
        tried += 1
        try:
            return monitor.simulate(pause_config(monitor, module).pause_method, module, probe, probe), True
        except ActionReverted:
            continue
    return FALLBACK_PAUSE_GAS, False


def current_fee_per_gas(monitor: MonitorClient) -> int:
    """The max fee per gas the outbox would sign with now; the cap when the base fee is above it."""
    try:
        return fee_per_gas(monitor.fees())
    except ChainError:
        monitor.block_number()  # the chain is down: let that ChainError through, not the cap
        return monitor.max_fee_wei


def _eth(wei: int) -> str:
    return f"{wei / 10**18:.6g}"

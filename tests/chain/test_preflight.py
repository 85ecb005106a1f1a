"""The preflight of the watchdog's signing key, on anvil: privileged keys, a key without the watchdog role and a
key without funds are refused with sentences that name the address (never the key); a good key passes and
reports its balance and how many pauses it pays for, exported at scrape time."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from watchdog.actions.chain import MonitorClient, Signer, connect, fee_per_gas, gas_limit
from watchdog.actions.preflight import SignerStatus, pause_gas, preflight
from watchdog.errors import ConfigError, SignerRefused, StartupError

from .conftest import MODULE, deploy

ADMIN, WATCHDOG, COUNCIL, NO_ROLE, BROKE = 0, 3, 5, 6, 7


def _client(node, address, i) -> MonitorClient:
    return MonitorClient(connect(node.url), address, Signer.from_key(node.accounts[i].private_key))


@pytest.fixture
def monitor(node):
    """A fresh monitor: account 0 admin and council, 3 the watchdog, 5 council and watchdog, 7 a broke watchdog."""
    address = deploy(node)
    admin = _client(node, address, ADMIN)
    roles = admin.contract.functions
    admin.transact("grantRole", roles.COUNCIL_ROLE().call(), node.accounts[COUNCIL].address)
    for i in (COUNCIL, BROKE):
        admin.transact("grantRole", roles.WATCHDOG_ROLE().call(), node.accounts[i].address)
    node.rpc("anvil_setBalance", [node.accounts[BROKE].address, "0x0"])
    yield address
    node.rpc("anvil_setBalance", [node.accounts[BROKE].address, hex(10_000 * 10**18)])


def _refused(node, client, **kw) -> SignerRefused:
    kw = {"allow_privileged_key": False, "min_actions": 1, **kw}
    with pytest.raises(SignerRefused) as info:
        preflight(client, **kw)
    err = info.value
    for acct in node.accounts:  # no key of anyone, in any form
        assert acct.private_key[2:].lower() not in str(err).lower()
    assert err.address == client.signer.address and client.signer.address in str(err)
    assert isinstance(err, StartupError)
    return err


def test_an_admin_key_is_refused(node, monitor):
    admin = _client(node, monitor, ADMIN)
    roles = admin.contract.functions
    admin.transact("grantRole", roles.WATCHDOG_ROLE().call(), node.accounts[ADMIN].address)
    admin.transact("renounceRole", roles.COUNCIL_ROLE().call(), node.accounts[ADMIN].address)  # admin only now
    err = _refused(node, admin)
    [reason] = err.reasons
    assert "holds DEFAULT_ADMIN_ROLE" in reason and "rate limit" in reason and "--allow-privileged-key" in reason
    assert str(err).startswith("Refusing to start: The signing key's address")
    report = preflight(admin, allow_privileged_key=True, min_actions=1)
    assert report.privileged and report.roles == ("DEFAULT_ADMIN_ROLE", "WATCHDOG_ROLE")


def test_a_council_key_is_refused_unless_allowed(node, monitor):
    council = _client(node, monitor, COUNCIL)
    [reason] = _refused(node, council).reasons
    assert "holds COUNCIL_ROLE" in reason and "not rate-limited on-chain" in reason
    report = preflight(council, allow_privileged_key=True, min_actions=1)
    assert report.privileged and "COUNCIL_ROLE" in report.roles
    # the deployer holds both: two sentences, one error
    both = _refused(node, _client(node, monitor, ADMIN))
    assert len(both.reasons) == 2 and "for 2 reasons" in str(both)


def test_a_key_without_the_watchdog_role_is_refused(node, monitor):
    client = _client(node, monitor, NO_ROLE)
    [reason] = _refused(node, client).reasons
    role = "0x" + client.role_id("WATCHDOG_ROLE").hex()
    assert f"does not hold WATCHDOG_ROLE ({role})" in reason
    assert f"grantRole(WATCHDOG_ROLE, {node.accounts[NO_ROLE].address})" in reason


def test_a_key_without_funds_is_refused(node, monitor, caplog):
    caplog.set_level(logging.DEBUG)
    client = _client(node, monitor, BROKE)
    [reason] = _refused(node, client).reasons
    assert "holds 0 ETH, which pays for 0 pause(s) at the current fee" in reason
    assert "Send at least" in reason and node.accounts[BROKE].address in reason
    for acct in node.accounts:
        assert acct.private_key[2:].lower() not in caplog.text.lower()


def test_a_good_key_passes_and_reports_its_funds_at_scrape_time(node, monitor, caplog):
    caplog.set_level(logging.DEBUG)
    client = _client(node, monitor, WATCHDOG)
    registry = CollectorRegistry()
    sink = _Gauges(registry)
    report = preflight(client, allow_privileged_key=False, min_actions=1, metrics=sink)
    assert report.roles == ("WATCHDOG_ROLE",) and not report.privileged and report.gas_estimated
    estimate = client.simulate("pause", MODULE, b"\x01" * 32, b"\x01" * 32)
    per_gas = fee_per_gas(client.fees())
    assert report.gas_per_action == gas_limit(estimate) and report.fee_per_gas_wei == per_gas
    assert report.balance_wei == client.w3.eth.get_balance(client.signer.address) > 0
    assert report.actions_affordable == report.balance_wei // (gas_limit(estimate) * per_gas) > 1000
    assert "pays for" in report.render() and client.signer.address in report.render()
    assert registry.get_sample_value("watchdog_signer_balance_wei") == report.balance_wei
    assert registry.get_sample_value("watchdog_signer_actions_affordable") == report.actions_affordable

    # the heartbeat job's refresh: read again at the next scrape
    cost = report.status.cost_per_action_wei
    node.rpc("anvil_setBalance", [client.signer.address, hex(3 * cost + 1)])
    report.status.refresh()
    assert registry.get_sample_value("watchdog_signer_actions_affordable") == 3
    assert registry.get_sample_value("watchdog_signer_balance_wei") == 3 * cost + 1
    # asked for more than it pays for: refused, with what to send
    [reason] = _refused(node, client, min_actions=5).reasons
    assert "pays for 3 pause(s)" in reason and "at least 5" in reason
    node.rpc("anvil_setBalance", [client.signer.address, hex(10_000 * 10**18)])
    assert node.accounts[WATCHDOG].private_key[2:].lower() not in caplog.text.lower()


def test_gas_falls_back_when_no_module_can_be_simulated_and_arguments_are_checked(node, monitor):
    client = _client(node, monitor, WATCHDOG)
    client.transact("pause", MODULE, b"\x02" * 32, b"\x02" * 32)  # the only module is paused now
    assert pause_gas(client) == (150_000, False)
    report = preflight(client, allow_privileged_key=False, min_actions=1)
    assert not report.gas_estimated and report.gas_per_action == gas_limit(150_000)
    with pytest.raises(ConfigError, match="min_actions must be at least 1, got 0"):
        preflight(client, allow_privileged_key=False, min_actions=0)
    with pytest.raises(StartupError, match="signing key"):
        preflight(MonitorClient(connect(node.url), monitor), allow_privileged_key=False, min_actions=1)
    with pytest.raises(StartupError):
        SignerStatus(MonitorClient(connect(node.url), monitor), 100_000)


class _Gauges:
    """The two gauges as the metrics module would export them: read from the status at scrape time."""

    def __init__(self, registry: CollectorRegistry):
        self.registry = registry

    def attach_signer(self, status: SignerStatus) -> None:
        self.registry.register(_SignerCollector(status))


class _SignerCollector(Collector):
    def __init__(self, status: SignerStatus):
        self.status = status

    def collect(self):
        yield GaugeMetricFamily("watchdog_signer_balance_wei", "The signing key's balance, in wei.",
                                value=self.status.balance_wei)
        yield GaugeMetricFamily("watchdog_signer_actions_affordable",
                                "Pauses the signing key's balance pays for at the current fee.",
                                value=self.status.actions_affordable)

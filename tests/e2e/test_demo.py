"""``watchdog demo`` from the installed package, with nothing else running."""

from __future__ import annotations

import re
import time

import pytest

from watchdog.store.store import Store

from .conftest import run_watchdog

pytestmark = pytest.mark.e2e


def test_demo_pauses_the_module_on_its_in_process_chain(tmp_path):
    t0 = time.monotonic()
    proc = run_watchdog("demo", "--out", str(tmp_path / "demo"), "--no-progress", timeout=180)
    took = time.monotonic() - t0
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "rule VolatilityRegimeShift (critical) fired at line" in out
    m = re.search(r"pause sent and mined: tx (0x[0-9a-f]{64}) in block (\d+)", out)
    assert m, out
    assert "isPaused('lending-risk') = True; ModulePaused events: 1" in out
    assert "evidence hash matches the store: True" in out
    with Store(tmp_path / "demo" / "watchdog.db") as store:
        action = [a for a in store.actions() if a.kind == "pause"]
        assert len(action) == 1 and action[0].tx_hash == m.group(1) and action[0].block_number == int(m.group(2))
    print(f"demo took {took:.1f} s")

"""Decisions, incidents and checkpoints stay byte-identical to the expectations made before the core change.

The expectations (``*.json`` beside this file) were made by ``make_golden.py`` from commit 71f73ed, before the
engine was cut into packages; a change that alters any of them on purpose regenerates them and says why.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from tests.golden import make_golden

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module", params=sorted(make_golden.CASES))
def case(request: pytest.FixtureRequest) -> tuple[str, dict, dict]:
    name = request.param
    want = orjson.loads((HERE / f"{name}.json").read_bytes())
    got = orjson.loads(orjson.dumps(make_golden.expected(name), option=orjson.OPT_SORT_KEYS))
    return name, want, got


@pytest.mark.parametrize("path", ["lines", "columnar"])
def test_decisions_and_checkpoints_are_unchanged(case: tuple[str, dict, dict], path: str) -> None:
    name, want, got = case
    assert got[path]["decisions"] == want[path]["decisions"], f"{name}/{path}: the decisions changed"
    assert got[path]["quarantined"] == want[path]["quarantined"], f"{name}/{path}: the quarantine changed"
    assert got[path]["checkpoint"] == want[path]["checkpoint"], f"{name}/{path}: the checkpoint changed"


def test_incidents_are_unchanged(case: tuple[str, dict, dict]) -> None:
    name, want, got = case
    assert got["incidents"] == want["incidents"], f"{name}: the incidents or their evidence changed"
    assert want["incidents"], f"{name}: the case must fire at least once to mean anything"

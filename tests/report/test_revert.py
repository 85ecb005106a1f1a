"""Revert data made readable: a known custom error by name and arguments, anything else cut with an ellipsis."""

from __future__ import annotations

import doctest

import pytest

from rules import module_id_bytes32
from watchdog.report import revert
from watchdog.report.revert import readable_error

LENDING = module_id_bytes32("lending-risk").hex()


def test_the_docstring_runs():
    assert doctest.testmod(revert).failed == 0


@pytest.mark.parametrize("text, expected", [
    (f"The pause transaction reverted with AlreadyPaused (0xeecf4ae1{LENDING}).",
     "The pause transaction reverted with AlreadyPaused(module lending-risk)."),
    # an argument that is not a known module: its first four bytes
    (f"The pause transaction reverted with IncidentAlreadyUsed (0x{'00' * 4}{'cd' * 32}).",
     "The pause transaction reverted with IncidentAlreadyUsed (0x00000000… (36 bytes))."),
    # a selector the ABI does not know, inside a node's message
    ("The rollback transaction reverted with an unknown reason (execution reverted: 0x12345678" + "00" * 64 + ").",
     "The rollback transaction reverted with an unknown reason (execution reverted: 0x12345678… (68 bytes))."),
    # a known selector without its name in front
    (f"execution reverted: 0x84d057f8{LENDING}{7:064x}",
     "execution reverted: VersionNotFound(module lending-risk, version 7)"),
    # data that does not decode as the error's arguments is cut, not decoded
    (f"reverted with VersionNotFound (0x84d057f8{LENDING})", "reverted with VersionNotFound (0x84d057f8… (36 bytes))"),
    # a transaction hash or an incident id (32 bytes) is what a reader copies: left whole
    ("pause mined (tx 0x" + "ab" * 32 + ")", "pause mined (tx 0x" + "ab" * 32 + ")"),
    (None, None),
    ("", ""),
])
def test_readable_error(text, expected):
    assert readable_error(text, ["lending-risk"]) == expected


def test_a_module_id_the_caller_did_not_name_is_shortened():
    assert readable_error(f"reverted with AlreadyPaused (0xeecf4ae1{LENDING}).") == (
        f"reverted with AlreadyPaused(module 0x{LENDING[:8]}…).")

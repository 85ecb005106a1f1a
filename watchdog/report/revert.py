"""Revert data a person can read: the custom error by name and arguments, or the hex cut short.

An outbox error keeps the node's raw revert data, 36 to 100 bytes of hex that no one reads and that
runs off a page::

    The rollback transaction reverted with VersionNotFound (0x84d057f88d61c3af...0003).

:func:`readable_error` replaces each long hex run: with ``Name(argument value, ...)`` when its first
four bytes are a custom error of the monitor's ABI and the rest decodes, else with its first four bytes,
an ellipsis and its length. A 32-byte value (a transaction hash, an incident id) is left whole: it is
what a reader copies into an explorer. Known module ids are shown by name.

>>> from rules import module_id_bytes32
>>> lending = "0x" + module_id_bytes32("lending-risk").hex()
>>> raw = "0x84d057f8" + lending[2:] + f"{3:064x}"
>>> readable_error(f"The rollback transaction reverted with VersionNotFound ({raw}).", ["lending-risk"])
'The rollback transaction reverted with VersionNotFound(module lending-risk, version 3).'
>>> readable_error("reverted: 0x" + "ab" * 40)
'reverted: 0xabababab… (40 bytes)'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

from eth_abi import decode
from eth_utils import keccak

from rules import module_id_bytes32
from watchdog.actions.chain import load_artifact

__all__ = ["readable_error"]

_HEX = re.compile(r"0x[0-9a-fA-F]{65,}")  # longer than a 32-byte value
# "with Name (0x...)": the name is already there; the decoded call replaces both
_NAMED = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*) \((?P<hex>0x[0-9a-fA-F]{8,})\)")


@cache
def _errors() -> Mapping[str, tuple[str, tuple[str, ...], tuple[str, ...]]]:
    """Selector -> (name, argument names, argument types) of the monitor's custom errors."""
    out: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {}
    for item in load_artifact()["abi"]:
        inputs = item.get("inputs", [])
        if item.get("type") != "error" or any(i["type"].startswith("tuple") for i in inputs):
            continue
        types = tuple(i["type"] for i in inputs)
        selector = "0x" + keccak(text=f"{item['name']}({','.join(types)})")[:4].hex()
        out[selector] = (item["name"], tuple(i.get("name") or f"arg{k}" for k, i in enumerate(inputs)), types)
    return out


def _value(v: Any, kind: str, modules: Mapping[str, str]) -> str:
    if kind == "bytes32":
        h = "0x" + bytes(v).hex()
        return modules.get(h, h[:10] + "…")
    if isinstance(v, bytes):
        return "0x" + v.hex()
    return str(v)


def _decoded(data: str, modules: Mapping[str, str]) -> str | None:
    known = _errors().get(data[:10].lower())
    if known is None:
        return None
    name, names, types = known
    try:
        values = decode(list(types), bytes.fromhex(data[10:]), strict=True)
    except Exception:  # data that does not decode as the error's arguments is shown cut
        return None
    args = ", ".join(f"{n} {_value(v, t, modules)}" for n, v, t in zip(names, values, types, strict=True))
    return f"{name}({args})"


def _cut(data: str) -> str:
    return f"{data[:10]}… ({(len(data) - 2) // 2} bytes)"


def readable_error(text: str | None, modules: Iterable[str] = ()) -> str | None:
    """``text`` with its revert data decoded or shortened; ``modules`` are names whose ids it may show."""
    if not text:
        return text
    ids = {"0x" + module_id_bytes32(m).hex(): m for m in modules}

    def named(m: re.Match[str]) -> str:
        decoded = _decoded(m.group("hex"), ids)
        if decoded is not None and decoded.split("(")[0] == m.group("name"):
            return decoded
        return m.group(0) if len(m.group("hex")) <= 66 else f"{m.group('name')} ({_cut(m.group('hex'))})"

    text = _NAMED.sub(named, text)
    return _HEX.sub(lambda m: _decoded(m.group(0), ids) or _cut(m.group(0)), text)

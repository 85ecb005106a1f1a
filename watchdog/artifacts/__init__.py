"""The compiled contracts shipped inside the package (ABI and bytecode, made by contracts/compile.js), so the Python
side needs no Node at run time. Read by the chain client (watchdog.actions.chain), the oracle source and reports."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any


@cache
def load_artifact(name: str = "ModelMonitor") -> dict[str, Any]:
    """The compiled contract ``name`` (its ``abi`` and ``bytecode``)."""
    text = resources.files("watchdog").joinpath("artifacts", f"{name}.json").read_text()
    data: dict[str, Any] = json.loads(text)
    return data

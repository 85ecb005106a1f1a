"""Predictions a model posts on-chain, read from its oracle contract's events after N confirmations.

The oracle (``contracts/src/ModelOracle.sol``, or any contract with the same events) emits::

    event Prediction(bytes32 indexed model, string version, bytes32 indexed id, int256[] features, int256 prediction)
    event Label(bytes32 indexed model, bytes32 indexed id, int256 label)

``model`` is ``keccak256(model id)`` of a model in the policy; ``features`` are that model's numeric
features in the order the policy declares them; numbers are fixed point with ``decimals`` decimals;
``id`` becomes the record id ``0x...`` (hex), the block's timestamp the record's ``ts``. Each log becomes
one JSON record and goes through the same parser as any line, so a bad event is quarantined, not fatal.

A block is read once it has ``confirmations`` blocks on top of it (``block <= head - confirmations``),
whole: the position is the next block to read, so after a restart no log is read twice or skipped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import orjson
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import Web3

from watchdog.artifacts import load_artifact
from watchdog.fmt import iso_utc
from watchdog.ingest.sources.base import Position, RawBatch

log = logging.getLogger("watchdog.sources.chain")


class ChainSource:
    """Oracle events as batches of JSON records; see the module docstring.

    Parameters
    ----------
    w3:
        A connected Web3 (see :func:`watchdog.chain.connect`).
    address:
        The oracle contract.
    features:
        Per model id, the names of its numeric features in the order the events carry them.
    confirmations:
        Blocks on top of a block before its logs are read (0: read the head).
    decimals:
        Fixed-point decimals of the numbers; ``None`` reads ``decimals()`` from the contract.
    abi:
        The event ABI (defaults to ModelOracle's).
    from_block:
        Where to start without a stored position.
    max_blocks:
        Blocks per ``eth_getLogs`` call at most.
    follow:
        Keep polling for new confirmed blocks until ``stop`` is set; otherwise end at the confirmed head.
    """

    def __init__(self, w3: Web3, address: str, features: Mapping[str, Sequence[str]], *, confirmations: int = 12,
                 decimals: int | None = None, abi: list[dict[str, Any]] | None = None, from_block: int = 0,
                 max_blocks: int = 2000, follow: bool = False, poll_interval: float = 2.0,
                 stop: threading.Event | None = None, name: str | None = None):
        if confirmations < 0:
            raise ValueError(f"confirmations must be at least 0, got {confirmations}")
        if max_blocks < 1:
            raise ValueError(f"max_blocks must be at least 1, got {max_blocks}")
        if poll_interval <= 0:
            raise ValueError(f"poll_interval must be positive, got {poll_interval}")
        self.w3 = w3
        self.address = Web3.to_checksum_address(address)
        self.contract = w3.eth.contract(address=self.address, abi=abi or load_artifact("ModelOracle")["abi"])
        self.features = {m: tuple(f) for m, f in features.items()}
        self.models = {keccak(text=m): m for m in self.features}
        self.confirmations = confirmations
        self.scale = 10 ** (decimals if decimals is not None else int(self.contract.functions.decimals().call()))
        self.from_block = from_block
        self.max_blocks = max_blocks
        self.follow = follow
        self.poll_interval = poll_interval
        self.stop = stop or threading.Event()
        self.name = name or f"chain:{self.address}"
        self._topics = {bytes(HexBytes(ev.topic)): ev
                        for ev in (self.contract.events.Prediction(), self.contract.events.Label())}

    def batches(self, start: Position | None = None) -> Iterator[RawBatch]:
        nxt = start.offset if start is not None else self.from_block
        line = start.line if start is not None else 0
        while True:
            safe = int(self.w3.eth.block_number) - self.confirmations
            if nxt > safe:
                if not self.follow:
                    return
                yield RawBatch(source=self.name, position=Position(nxt, line, self.address))
                if self.stop.wait(self.poll_interval):
                    return
                continue
            to = min(safe, nxt + self.max_blocks - 1)
            logs = self.w3.eth.get_logs({"address": self.address, "fromBlock": nxt, "toBlock": to,
                                         "topics": [["0x" + t.hex() for t in self._topics]]})
            lines: list[bytes] = []
            numbers: list[int] = []
            times: dict[int, float] = {}
            for entry in sorted(logs, key=lambda e: (e["blockNumber"], e["logIndex"])):
                line += 1
                lines.append(self._record(entry, times))
                numbers.append(line)
            yield RawBatch(source=self.name, position=Position(to + 1, line, self.address), lines=lines,
                           line_numbers=numbers, first_line=numbers[0] if numbers else line)
            nxt = to + 1

    def _record(self, entry: Any, times: dict[int, float]) -> bytes:
        topic = bytes(entry["topics"][0])
        event = self._topics[topic]
        ev = event.process_log(entry)["args"]
        model = self.models.get(bytes(ev["model"]))
        model_name = model if model is not None else "0x" + bytes(ev["model"]).hex()
        rid = "0x" + bytes(ev["id"]).hex()
        if event.event_name == "Label":
            return orjson.dumps({"model": model_name, "id": rid, "label": ev["label"] / self.scale})
        block = int(entry["blockNumber"])
        if block not in times:
            times[block] = float(self.w3.eth.get_block(block)["timestamp"])
        names = self.features.get(model or "", ())
        values = list(ev["features"])
        feats: Any = {n: v / self.scale for n, v in zip(names, values, strict=False)}
        if len(values) != len(names):  # left as an array: the parser quarantines it as a wrong type
            feats = [v / self.scale for v in values]
        ts = iso_utc(times[block])
        return orjson.dumps({
            "model": model_name, "version": ev["version"], "ts": ts, "id": rid,
            "features": feats,
            "prediction": ev["prediction"] / self.scale,
            "block": block, "log_index": int(entry["logIndex"]),
        })

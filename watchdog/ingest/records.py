"""Records: one logged model call per JSON line, validated against the policy's models.

A prediction record::

    {"model": "lending-risk", "version": "1.4.0", "ts": "2026-11-20T10:00:00Z", "id": "req-1",
     "features": {"utilization": 0.81, "asset_class": "stable"}, "prediction": 0.12, "label": 0.0}

A late label, keyed by the request id of its prediction::

    {"model": "lending-risk", "id": "req-1", "label": 0.0}

Anything that is not a valid record becomes a :class:`Quarantined` value with a reason code (a small
fixed set, safe as a metric label) and a sentence; the caller writes it to the quarantine file and
carries on. A declared feature that is absent or ``null`` is a missing value, not an error; a value
of the wrong type is an error that names the feature.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import orjson

from watchdog.ingest import validate as why

ReasonCode = Literal[
    "bad_utf8", "bad_json", "too_large", "not_object", "missing_field", "wrong_type", "non_finite",
    "unknown_model", "bad_timestamp", "duplicate_id", "future_timestamp", "past_timestamp", "processing_error",
]
# duplicate_id: a prediction whose request id the same model already had among its recent predictions
# (the engine keeps a bounded set of them); future_timestamp: ts later than the engine's clock plus
# the allowed skew; past_timestamp: ts before the engine's floor (default 2000-01-01). The engine
# applies these three (they need state or a clock); the parser applies the rest.
REASON_CODES: tuple[str, ...] = ReasonCode.__args__  # type: ignore[attr-defined]

MAX_LINE_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class ModelSchema:
    """What a record of one model must look like (built from the policy)."""

    id: str
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    prediction_type: Literal["numeric", "categorical"]


@dataclass(slots=True)
class Prediction:
    model: str
    version: str
    ts: float  # seconds since the epoch, UTC
    id: str
    features: dict[str, float | str | None]
    prediction: float | str
    label: float | str | None
    line: int


@dataclass(slots=True)
class Label:
    model: str
    id: str
    label: float | str
    line: int


@dataclass(slots=True)
class Quarantined:
    line: int
    reason_code: str
    reason: str
    raw: str = field(repr=False)
    model: str | None = None  # the policy's model the record named, when it named a known one

    def to_json(self, source: str) -> bytes:
        return orjson.dumps(
            {"source": source, "line": self.line, "reason_code": self.reason_code, "reason": self.reason,
             "raw": self.raw}
        )


class _Bad(Exception):
    def __init__(self, code: str, reason: str):
        self.code = code
        self.reason = reason


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _number(v: Any, what: str) -> float:
    if not _is_number(v):
        raise _Bad("wrong_type", why.wrong_type(what, why.NUMBER, _type_name(v)))
    f = float(v)
    if not math.isfinite(f):
        raise _Bad("non_finite", why.non_finite(what, repr(v)))
    return f


def _type_name(v: Any) -> str:
    if v is None:
        return "null"
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(v), "a number" if _is_number(v) else type(v).__name__
    )


def _text(v: Any, what: str) -> str:
    if isinstance(v, str) and v:
        return v
    if _is_number(v) and float(v).is_integer():
        return str(int(v))
    raise _Bad("wrong_type", why.wrong_type(what, why.TEXT, _type_name(v)))


def parse_ts(v: Any) -> float:
    """Parse an RFC 3339 timestamp with a time zone into seconds since the epoch."""
    if not isinstance(v, str):
        raise _Bad("wrong_type", why.wrong_type("ts", "an RFC 3339 string", _type_name(v)))
    try:
        dt = datetime.fromisoformat(v)
    except ValueError:
        raise _Bad("bad_timestamp", f"ts {v[:64]!r} is not an RFC 3339 timestamp") from None
    if dt.tzinfo is None:
        raise _Bad("bad_timestamp", f"ts {v[:64]!r} has no time zone; add Z or an offset like +00:00")
    return dt.timestamp()


def _decode(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as u:
            raise _Bad("bad_utf8", f"the line is not valid UTF-8 (byte {u.start})") from None
        msg = str(e)
        if "infinity" in msg:
            raise _Bad("non_finite", "the line holds a number too large for a double") from None
        if b"NaN" in raw or b"Infinity" in raw:
            # orjson refuses NaN/Infinity outright; say what it was rather than "unexpected character".
            try:
                json.loads(raw)
            except ValueError:
                pass
            else:
                raise _Bad("non_finite", "the line holds NaN or Infinity, which are not numbers JSON allows") from None
        raise _Bad("bad_json", f"not valid JSON: {msg}") from None


class RecordParser:
    """Turn raw lines into :class:`Prediction`, :class:`Label` or :class:`Quarantined` values."""

    def __init__(self, models: Mapping[str, ModelSchema], max_line_bytes: int = MAX_LINE_BYTES):
        if max_line_bytes < 64:
            raise ValueError(f"max_line_bytes must be at least 64, got {max_line_bytes}")
        self.models = dict(models)
        self.max_line_bytes = max_line_bytes
        self._model: str | None = None  # the known model of the line being parsed, for its quarantine entry

    def parse(self, raw: bytes, line: int) -> Prediction | Label | Quarantined:
        self._model = None
        try:
            if len(raw) > self.max_line_bytes:
                raise _Bad("too_large", f"the line has {len(raw)} bytes, more than the limit of {self.max_line_bytes}")
            return self._parse(_decode(raw), line)
        except _Bad as bad:
            text = raw[:2048].decode("utf-8", errors="replace")
            return Quarantined(line=line, reason_code=bad.code, reason=bad.reason, raw=text, model=self._model)

    def _parse(self, obj: Any, line: int) -> Prediction | Label:
        if not isinstance(obj, dict):
            raise _Bad("not_object", f"a record must be a JSON object, got {_type_name(obj)}")

        def has(name: str) -> bool:  # a field that is null is missing, as an empty cell of a table is
            return obj.get(name) is not None

        if not has("model"):
            raise _Bad("missing_field", why.missing_field("model"))
        model = _text(obj["model"], "model")
        schema = self.models.get(model)
        if schema is None:
            raise _Bad("unknown_model", why.unknown_model(model, list(self.models)))
        self._model = model
        if not has("id"):
            raise _Bad("missing_field", why.missing_field("id"))
        rid = _text(obj["id"], "id")
        if not has("prediction") and not has("features"):
            if not has("label"):
                raise _Bad("missing_field", why.MISSING_TARGET)
            return Label(model=model, id=rid, label=self._target(obj["label"], schema, "label"), line=line)
        for name in ("version", "ts", "features", "prediction"):
            if not has(name):
                raise _Bad("missing_field", why.missing_field(name))
        version = _text(obj["version"], "version")
        ts = parse_ts(obj["ts"])
        feats = obj["features"]
        if not isinstance(feats, dict):
            raise _Bad("wrong_type", why.wrong_type("features", "an object", _type_name(feats)))
        out: dict[str, float | str | None] = {}
        for name in schema.numeric:
            v = feats.get(name)
            out[name] = None if v is None else _number(v, f"features.{name}")
        for name in schema.categorical:
            v = feats.get(name)
            if v is None:
                out[name] = None
            elif isinstance(v, str):
                out[name] = v
            elif _is_number(v) and float(v).is_integer():
                out[name] = str(int(v))
            else:
                raise _Bad("wrong_type", why.wrong_type(f"features.{name}", why.CATEGORY, _type_name(v)))
        label = obj.get("label")
        return Prediction(
            model=model, version=version, ts=ts, id=rid, features=out,
            prediction=self._target(obj["prediction"], schema, "prediction"),
            label=None if label is None else self._target(label, schema, "label"), line=line,
        )

    @staticmethod
    def _target(v: Any, schema: ModelSchema, what: str) -> float | str:
        if schema.prediction_type == "numeric":
            return _number(v, what)
        if isinstance(v, str) and v:
            return v
        if _is_number(v) and float(v).is_integer():
            return str(int(v))
        raise _Bad("wrong_type", why.wrong_type(what, why.class_of(schema.id), _type_name(v)))

"""The columnar path: a pyarrow table of records validated and fed to the detectors without row objects.

A table holds one record per row, in the columns ``model``, ``version``, ``ts``, ``id``,
``prediction``, ``label`` (optional) and one column per feature named ``features.<name>`` (a struct
column ``features`` is flattened to those names). ``ts`` is an RFC 3339 string with a time zone or a
time-zone-aware timestamp. A row with a null ``prediction``, null features and a ``label`` is a late
label. Strings that spell numbers are numbers in numeric columns (CSV has no other way to say it).

Checks are vectorised per column; bad rows are quarantined with the same reason codes as the JSON
Lines parser, in the same order of precedence (model, id, then the prediction's fields, then the
engine's checks: past, future, duplicate id). Good predictions reach the detectors as column slices,
one per evaluation interval, so :meth:`Engine.process_columns` makes the same decisions as feeding
the same records line by line. Python objects are made only for what must be keyed by Python
values: the reference (the first ``first_n`` predictions, once), late labels, the bounded label
join and duplicate-id sets (at most their capacity per table), and the evidence's recent window.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from watchdog.engine.engine import MAX_TS, PREDICTION_KEY, TS_KEY, iso_or_seconds
from watchdog.fmt import iso_utc
from watchdog.ingest.recent import FEW
from watchdog.ingest.records import Label, Prediction, Quarantined, _Bad, parse_ts

if TYPE_CHECKING:
    from watchdog.engine.engine import Engine, ModelRuntime

_NUMBER = r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$"
_NON_FINITE = r"^\s*[+-]?(?i:nan|inf|infinity)\s*$"
_RFC3339 = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|z|[+-]\d{2}:?\d{2})$"


@dataclass
class ColumnsResult:
    predictions: int = 0
    labels: int = 0
    quarantined: list[Quarantined] = field(default_factory=list)


class _Verdicts:
    """The first reason each bad row gets (later checks do not overwrite it)."""

    def __init__(self, n: int):
        self.bad = np.zeros(n, dtype=bool)
        self.why: dict[int, tuple[str, str]] = {}

    def mark(self, mask: np.ndarray, code: str, sentence: str | Callable[[int], str]) -> None:
        new = mask & ~self.bad
        if not new.any():
            return
        for i in np.flatnonzero(new):
            self.why[int(i)] = (code, sentence(int(i)) if callable(sentence) else sentence)
        self.bad |= new


def _np(a: pa.Array | pa.ChunkedArray, **kw: Any) -> np.ndarray:
    return a.to_numpy(zero_copy_only=False, **kw)


def _nulls(a: pa.Array) -> np.ndarray:
    if a.null_count == 0 and not pa.types.is_null(a.type):
        return np.zeros(len(a), dtype=bool)
    return _np(a.is_null())


def _type_word(t: pa.DataType) -> str:
    if pa.types.is_struct(t) or pa.types.is_map(t):
        return "an object"
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return "an array"
    if pa.types.is_boolean(t):
        return "a boolean"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "a string"
    return str(t)


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _is_number(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)


Marks = list[tuple[np.ndarray, str, "str | Callable[[int], str]"]]


def numeric_column(a: pa.Array, what: str, scope: np.ndarray, v: _Verdicts,
                   cache: dict[str, Any] | None = None, *, strings_are_numbers: bool = True) -> np.ndarray:
    """Float values with NaN where missing; rows in ``scope`` with a bad value are marked.

    ``cache`` keeps the conversion of the column named ``what`` for the next model that reads it. A
    string that spells a number is that number only when ``strings_are_numbers`` (CSV has no other way to
    say it; in JSON, as on the line path, a string is the wrong type)."""
    return _converted(cache, what, lambda: _numeric(a, what, strings_are_numbers), scope, v)


def _converted(cache: dict[str, Any] | None, what: str, convert: Callable[[], tuple[Any, Marks]],
               scope: np.ndarray, v: _Verdicts) -> Any:
    """``convert()`` of the column named ``what``, kept in ``cache`` for the next model that reads it;
    its bad rows within ``scope`` are marked."""
    if cache is not None and what in cache:
        value, marks = cache[what]
    else:
        value, marks = convert()
        if cache is not None:
            cache[what] = (value, marks)
    for mask, code, sentence in marks:
        v.mark(scope & mask, code, sentence)
    return value


def _numeric(a: pa.Array, what: str, strings_are_numbers: bool = True) -> tuple[np.ndarray, Marks]:
    t = a.type
    if pa.types.is_null(t):
        return np.full(len(a), np.nan), []
    nulls = _nulls(a)
    if _is_number(t):
        vals = _np(pc.cast(a, pa.float64())).astype(float, copy=False)
        return np.where(nulls, np.nan, vals), [
            (~nulls & ~np.isfinite(vals), "non_finite", lambda i: f"{what} must be a finite number, got {float(vals[i])!r}")]
    if _is_text(t) and not strings_are_numbers:
        return np.full(len(a), np.nan), [(~nulls, "wrong_type", f"{what} must be a number, got a string")]
    if _is_text(t):
        looks = _np(pc.fill_null(pc.match_substring_regex(a, _NUMBER), False))
        vals = _np(pc.cast(pc.if_else(pa.array(looks), a, pa.scalar(None, t)), pa.float64())).astype(float)
        odd = _np(pc.fill_null(pc.match_substring_regex(a, _NON_FINITE), False))
        return np.where(looks, vals, np.nan), [
            (odd | (looks & ~np.isfinite(vals)), "non_finite",
             lambda i: f"{what} must be a finite number, got {a[i].as_py()[:64]!r}"),
            (~nulls & ~looks, "wrong_type", f"{what} must be a number, got a string")]
    return np.full(len(a), np.nan), [(~nulls, "wrong_type", f"{what} must be a number, got {_type_word(t)}")]


class Coded:
    """A string column as dictionary codes: ``words[codes]`` without making the object array until indexed."""

    __slots__ = ("codes", "words")

    def __init__(self, words: np.ndarray, codes: np.ndarray):
        self.words, self.codes = words, codes  # words ends with None, the word of code -1 (missing)

    def __getitem__(self, rows: Any) -> Any:
        return self.words[self.codes[rows]]

    def __len__(self) -> int:
        return len(self.codes)

    def equals(self, word: str) -> np.ndarray:
        """Which rows hold ``word``."""
        at = np.flatnonzero(self.words[:-1] == word)
        return self.codes == at[0] if at.size else np.zeros(len(self.codes), dtype=bool)


def category_column(a: pa.Array, what: str, scope: np.ndarray, v: _Verdicts, *, kind: str = "a category (string)"
                    ) -> np.ndarray:
    """Object array of strings with None where missing; bad rows in ``scope`` are marked."""
    return coded_column(a, what, scope, v, kind=kind)[:]


def coded_column(a: pa.Array, what: str, scope: np.ndarray, v: _Verdicts, *, kind: str = "a category (string)",
                 cache: dict[str, Any] | None = None) -> Coded:
    """:func:`category_column` as codes; ``cache`` keeps the encoding for the next model that reads it."""
    return _converted(cache, what, lambda: _coded(a, what, kind), scope, v)


def _coded(a: pa.Array, what: str, kind: str) -> tuple[Coded, Marks]:
    t = a.type
    n = len(a)
    nothing = Coded(np.array([None], dtype=object), np.full(n, -1, dtype=np.int64))
    if pa.types.is_null(t):
        return nothing, []
    nulls = _nulls(a)
    marks: Marks = []
    if pa.types.is_integer(t):
        a = pc.cast(a, pa.string())
    elif pa.types.is_floating(t):
        vals = _np(a).astype(float)
        whole = np.isfinite(vals) & (np.floor(vals) == vals)
        marks.append((~nulls & ~whole, "wrong_type", f"{what} must be {kind}, got a number"))
        a = pc.cast(pc.cast(pc.if_else(pa.array(whole & ~nulls), a, pa.scalar(None, t)), pa.int64()), pa.string())
    elif not _is_text(t):
        return nothing, [(~nulls, "wrong_type", f"{what} must be {kind}, got {_type_word(t)}")]
    enc = pc.dictionary_encode(a)
    words = np.append(_np(enc.dictionary), None).astype(object)
    return Coded(words, _np(pc.fill_null(enc.indices, -1)).astype(np.int64)), marks


def _column(table: pa.Table, name: str) -> pa.Array | None:
    if name not in table.column_names:
        return None
    col = table.column(name)
    return col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()


def _raw_row(table: pa.Table, i: int) -> str:
    row = table.slice(i, 1).to_pylist()[0]
    return orjson.dumps(row, default=str, option=orjson.OPT_SERIALIZE_NUMPY).decode()[:2048]


def _timestamps(a: pa.Array, scope: np.ndarray, v: _Verdicts, cache: dict[str, Any] | None = None) -> np.ndarray:
    """Seconds since the epoch (NaN where missing or bad); ``cache`` keeps the vectorised parse for the
    next model."""
    t = a.type
    n = len(a)
    out = np.full(n, np.nan)
    nulls = _nulls(a)
    if pa.types.is_timestamp(t):
        if t.tz is None:
            v.mark(scope & ~nulls, "bad_timestamp", "ts has no time zone; store it as a UTC timestamp")
            return out
        us = _np(pc.cast(pc.cast(a, pa.timestamp("us", tz="UTC")), pa.int64()), ).astype(float)
        return np.where(nulls, np.nan, us / 1e6)
    if not _is_text(t):
        v.mark(scope & ~nulls, "wrong_type", f"ts must be an RFC 3339 string, got {_type_word(t)}")
        return out
    if cache is not None and "\0ts" in cache:
        fast_all, seconds = cache["\0ts"]
    else:
        fast_all = _np(pc.fill_null(pc.match_substring_regex(a, _RFC3339), False))
        seconds = out
        if fast_all.any():
            try:
                us = pc.cast(pc.cast(pc.if_else(pa.array(fast_all), a, pa.scalar(None, t)),
                                     pa.timestamp("us", tz="UTC")), pa.int64())
                seconds = np.where(fast_all, _np(us).astype(float) / 1e6, np.nan)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                fast_all = np.zeros(n, dtype=bool)  # some look right but are not (a 13th month): one by one
        if cache is not None:
            cache["\0ts"] = (fast_all, seconds)
    fast = fast_all & scope
    out = np.where(fast, seconds, np.nan)
    for i in np.flatnonzero(scope & ~nulls & ~fast):
        try:
            out[i] = parse_ts(a[int(i)].as_py())
        except _Bad as bad:
            v.mark(np.arange(n) == i, bad.code, bad.reason)
    return out


def process_jsonl(engine: Engine, lines: list[bytes], numbers: list[int], source: str = "",
                  block: int = 32768) -> ColumnsResult:
    """JSON lines through the columnar path: pyarrow parses blocks of lines. A block it cannot read as one
    table (bad JSON, bad UTF-8, NaN, a field whose type changes between lines) is split in halves and
    tried again, down to blocks of ``_LINE_BY_LINE`` lines that go line by line through
    :meth:`Engine.process_line`: every record gets the same verdict either way, and a bad line costs a
    few re-parses of its neighbours rather than a whole block read line by line."""
    res = ColumnsResult()
    for at in range(0, len(lines), block):
        _process_block(engine, lines[at:at + block], numbers[at:at + block], source, res)
    return res


_LINE_BY_LINE = 64


def _process_block(engine: Engine, part: list[bytes], nums: list[int], source: str, res: ColumnsResult) -> None:
    table = _read_json(part)
    if table is None and len(part) > _LINE_BY_LINE:
        half = len(part) // 2
        _process_block(engine, part[:half], nums[:half], source, res)
        _process_block(engine, part[half:], nums[half:], source, res)
        return
    if table is None:
        for raw, n in zip(part, nums):
            rec = engine.process_line(raw, n, source)
            if isinstance(rec, Quarantined):
                res.quarantined.append(rec)
            elif isinstance(rec, Label):
                res.labels += 1
            else:
                res.predictions += 1
        return
    r = process_table(engine, table, source=source, lines=np.asarray(nums, dtype=np.int64), strings_are_numbers=False)
    first = nums[0]
    index = {n: i for i, n in enumerate(nums)} if nums[-1] - first != len(nums) - 1 else None
    for q in r.quarantined:  # the quarantine keeps the line as it was read
        i = (q.line - first) if index is None else index[q.line]
        q.raw = part[i][:2048].decode("utf-8", "replace")
    res.predictions += r.predictions
    res.labels += r.labels
    res.quarantined += r.quarantined


_TS_FIELD = pa.schema([("ts", pa.string())])


def _read_json(lines: list[bytes]) -> pa.Table | None:
    import pyarrow.json as pajson

    body = b"\n".join(lines)
    try:
        body.decode("utf-8")  # pyarrow would take bad UTF-8 into string columns; the line path names it
    except UnicodeDecodeError:
        return None
    try:
        table = pajson.read_json(pa.BufferReader(body), read_options=pajson.ReadOptions(block_size=len(body) + 1),
                                 parse_options=pajson.ParseOptions(explicit_schema=_TS_FIELD,
                                                                   unexpected_field_behavior="infer"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None
    if table.num_rows != len(lines):
        return None
    return table


def process_table(engine: Engine, table: pa.Table, first_line: int = 1, source: str = "",
                  lines: np.ndarray | None = None, *, strings_are_numbers: bool = True) -> ColumnsResult:
    """Validate ``table`` and run its good records through ``engine`` (see the module docstring).

    Row ``i`` has line number ``first_line + i``, or ``lines[i]`` when ``lines`` is given."""
    if any(pa.types.is_struct(f.type) for f in table.schema):
        table = table.flatten()
    n = table.num_rows
    res = ColumnsResult()
    engine.metrics.records_read.labels(source or "stream").inc(n)
    if n == 0:
        return res
    if lines is None:
        lines = np.arange(first_line, first_line + n, dtype=np.int64)
    v = _Verdicts(n)
    everything = np.ones(n, dtype=bool)

    model_col = _column(table, "model")
    if model_col is None:
        v.mark(everything, "missing_field", "missing field 'model'")
        models = Coded(np.array([None], dtype=object), np.full(n, -1, dtype=np.int64))
    else:
        v.mark(_nulls(model_col), "missing_field", "missing field 'model'")
        models = coded_column(model_col, "model", everything, v, kind="a non-empty string")
    mine_of = {mid: models.equals(mid) for mid in engine.runtimes}
    known = np.zeros(n, dtype=bool)
    for m in mine_of.values():
        known |= m
    known_list = ", ".join(sorted(engine.runtimes)) or "none"
    v.mark(~known, "unknown_model", lambda i: f"model {str(models[i])[:64]!r} is not in the policy "
                                              f"(known: {known_list})")
    id_col = _column(table, "id")
    if id_col is None:
        v.mark(everything, "missing_field", "missing field 'id'")
        id_col = pa.nulls(n, pa.string())
    v.mark(_nulls(id_col), "missing_field", "missing field 'id'")
    if pa.types.is_integer(id_col.type) or pa.types.is_large_string(id_col.type):
        id_col = pc.cast(id_col, pa.string())
    elif not _is_text(id_col.type):
        v.mark(~_nulls(id_col), "wrong_type", f"id must be a non-empty string, got {_type_word(id_col.type)}")
        id_col = pa.nulls(n, pa.string())
    v.mark(_np(pc.fill_null(pc.equal(pc.utf8_length(id_col), 0), False)), "wrong_type",
           "id must be a non-empty string, got a string")

    pred_col = _column(table, "prediction")
    label_col = _column(table, "label")
    pred_null = np.ones(n, dtype=bool) if pred_col is None else _nulls(pred_col)
    label_null = np.ones(n, dtype=bool) if label_col is None else _nulls(label_col)
    version_col = _column(table, "version")
    ts_col = _column(table, "ts")
    now = engine.clock() if engine.clock is not None else None

    whole_features = _column(table, "features")
    id_codes = pc.dictionary_encode(id_col)
    ids_distinct = len(id_codes.dictionary) == n  # then no model repeats an id within the table
    converted: dict[str, Any] = {}  # conversions of columns several models read
    has_nan: dict[int, bool] = {}  # by id of a converted column (they live as long as this call)
    per_model: dict[str, dict[str, Any]] = {}
    for mid, rt in engine.runtimes.items():
        mine = mine_of[mid] & ~v.bad
        if not mine.any():
            continue
        schema = rt.schema
        feats = {f: _column(table, f"features.{f}") for f in (*schema.numeric, *schema.categorical)}
        feats_null = np.ones(n, dtype=bool) if whole_features is None else _nulls(whole_features)
        for a in feats.values():
            if a is not None:
                feats_null &= _nulls(a)
        is_label = mine & pred_null & feats_null
        v.mark(is_label & label_null, "missing_field", "missing field 'prediction' (or 'label' for a late label)")
        preds = mine & ~is_label
        v.mark(preds & pred_null, "missing_field", "missing field 'prediction'")
        for name, col in (("version", version_col), ("ts", ts_col)):
            v.mark(preds & (np.ones(n, dtype=bool) if col is None else _nulls(col)), "missing_field",
                   f"missing field {name!r}")
        versions = coded_column(version_col if version_col is not None else pa.nulls(n, pa.string()),
                                "version", preds & ~v.bad, v, kind="a non-empty string", cache=converted)
        ts = _timestamps(ts_col if ts_col is not None else pa.nulls(n, pa.string()), preds & ~v.bad, v, converted)
        if whole_features is not None:  # "features" that is not an object (an object was flattened)
            v.mark(preds & ~_nulls(whole_features), "wrong_type",
                   f"features must be an object, got {_type_word(whole_features.type)}")
        cols: dict[str, np.ndarray] = {}
        for f in schema.numeric:
            a = feats[f]
            cols[f] = (np.full(n, np.nan) if a is None
                       else numeric_column(a, f"features.{f}", preds & ~v.bad, v, converted,
                                           strings_are_numbers=strings_are_numbers))
        for f in schema.categorical:
            a = feats[f]
            cols[f] = (np.full(n, None, dtype=object) if a is None
                       else category_column(a, f"features.{f}", preds & ~v.bad, v))
        numeric_target = schema.prediction_type == "numeric"
        target_kind = f"a class (string) for model {mid!r}"

        def target(col: pa.Array | None, what: str, scope: np.ndarray, numeric_target: bool = numeric_target,
                   target_kind: str = target_kind) -> np.ndarray:
            if col is None:
                return np.full(n, np.nan) if numeric_target else np.full(n, None, dtype=object)
            if numeric_target:
                return numeric_column(col, what, scope, v, converted, strings_are_numbers=strings_are_numbers)
            return category_column(col, what, scope, v, kind=target_kind)

        prediction = target(pred_col, "prediction", preds & ~v.bad)
        label = target(label_col, "label", mine & ~label_null & ~v.bad)
        good = preds & ~v.bad
        v.mark(good & (ts < engine.min_ts), "past_timestamp",
               lambda i, ts=ts: f"ts {iso_or_seconds(ts[i])} is before {iso_utc(engine.min_ts)}, the earliest time accepted")
        if now is not None:
            v.mark(good & (ts > now + engine.max_future_skew), "future_timestamp",
                   lambda i, ts=ts: f"ts {iso_or_seconds(ts[i])} is more than {engine.max_future_skew:g} s ahead of the "
                             "watchdog's clock")
        else:
            v.mark(good & (ts > MAX_TS), "future_timestamp", lambda i, ts=ts: f"ts {iso_or_seconds(ts[i])} is after "
                                                                      f"{iso_utc(MAX_TS)}")
        good = preds & ~v.bad
        rows = np.flatnonzero(good)
        if rows.size:
            ids = id_col.take(pa.array(rows))
            # candidates: ids in the model's recent window, and ids this table holds more than once
            maybe = rt.by_id.contains_many(ids)
            if not ids_distinct:
                codes = _np(pc.fill_null(id_codes.indices, -1))[rows]
                _, where, counts = np.unique(codes, return_inverse=True, return_counts=True)
                maybe |= counts[where] > 1
            dup = _repeats_in_order(rt.by_id, ids, maybe) if maybe.any() else maybe
            if dup.any():
                v.mark(np.isin(np.arange(n), rows[dup]), "duplicate_id",
                       lambda i, mid=mid: f"id {id_col[i].as_py()[:64]!r} repeats a recent prediction of model "
                                          f"{mid!r}")
                rows = rows[~dup]
        per_model[mid] = {"rows": rows, "labels": np.flatnonzero(is_label & ~v.bad), "ts": ts, "cols": cols,
                          "prediction": prediction, "label": label, "label_null": label_null,
                          "versions": versions, "has_nan": has_nan}

    for i in sorted(v.why):
        code, reason = v.why[i]
        q = Quarantined(int(lines[i]), code, reason, _raw_row(table, i), model=models[i] if known[i] else None)
        engine.quarantine(q, source)
        res.quarantined.append(q)

    _run(engine, per_model, id_col, lines, res)
    return res


def _repeats_in_order(by_id: Any, ids: pa.Array, maybe: np.ndarray) -> np.ndarray:
    """Which of one model's predictions in a table (``ids``, in order) the line path refuses as duplicates:
    an id whose latest accepted prediction is among the ``capacity`` predictions before it, as the window
    slides over the table's own rows. Only the candidates in ``maybe`` are looked at, one by one."""
    pos = np.flatnonzero(maybe)
    names = ids.take(pa.array(pos)).to_pylist()
    first, cap = by_id.next_seq, by_id.capacity
    dup = np.zeros(len(ids), dtype=bool)
    latest: dict[str, int] = {}
    refused = 0
    for k, rid in zip(pos.tolist(), names):
        seq = first + k - refused  # the sequence number this prediction gets if accepted
        prior = latest.get(rid)
        if prior is None:
            prior = by_id.seq_of(rid)
        if prior is not None and prior >= seq - cap:
            dup[k] = True
            refused += 1
        else:
            latest[rid] = seq
    return dup


def _run(engine: Engine, per_model: dict[str, dict[str, Any]], id_col: pa.Array, lines: np.ndarray,
         res: ColumnsResult) -> None:
    """Feed each model's good rows in row order: the detectors' columns are cut at evaluations, the label
    join (ids, inline label pairs, the model's clock) is brought up to each late label."""
    events: list[tuple[int, int, str, str]] = []  # (row, order, model, what)
    state: dict[str, dict[str, Any]] = {}
    table_ids: list[list[str]] = []
    for mid, d in per_model.items():
        rt = engine.runtimes[mid]
        rows = d["rows"]
        n_ref = 0
        st = state[mid] = {"post": rows, "at": 0, "at_join": 0, "pending": []}
        target = rt.reference_target
        if (not rt.ready and not rt.reference_rows and target is not None and rows.size >= target
                and not (d["labels"].size and d["labels"][0] < rows[target - 1])):
            _reference_from_columns(rt, d, rows[:target], st)  # the common case, without row objects
            rows = rows[target:]
        elif not rt.ready:
            n_ref = rows.size if target is None else min(rows.size, max(target - len(rt.reference_rows), 0))
        post = rows[n_ref:]
        st["ref_rows"] = rows[:n_ref]
        for r in rows[:n_ref]:
            events.append((int(r), 0, mid, "ref"))
        # a batch carried over a reload or a restart may already hold an interval's worth: evaluate at once
        due = max(1, rt.interval - rt.batch.n) if rt.ready else rt.interval
        for k in range(due - 1, post.size, rt.interval):
            events.append((int(post[k]), 1, mid, "eval"))
        for r in d["labels"]:
            events.append((int(r), 0, mid, "label"))
        st["post"] = post
        engine.metrics.records_accepted.labels(mid, "prediction").inc(d["rows"].size)
        engine.metrics.records_accepted.labels(mid, "label").inc(d["labels"].size)
        res.predictions += int(d["rows"].size)
        res.labels += int(d["labels"].size)
    heapq.heapify(events)
    while events:
        row, _, mid, what = heapq.heappop(events)
        rt, d, st = engine.runtimes[mid], per_model[mid], state[mid]
        if what == "ref":  # the reference rows come before every other prediction of the model
            if "ref" not in st:
                st["ref"] = iter(_predictions(rt, d, id_col, st["ref_rows"], lines))
            rt.add_prediction(next(st["ref"]))
            continue
        _advance(rt, d, int(np.searchsorted(st["post"], row, side="right")), lines, st, columns=what == "eval")
        if what == "eval":
            _commit_ids(rt, d, id_col, st, table_ids)
            engine.evaluate(rt, float(d["ts"][row]), int(lines[row]))
        else:
            if not table_ids:  # late labels: the table's ids as one Python list, made once
                table_ids.append(id_col.to_pylist())
            _commit_ids(rt, d, id_col, st, table_ids)
            lab = Label(mid, table_ids[0][row], d["label"][row].item() if isinstance(d["label"][row], np.floating)
                        else d["label"][row], int(lines[row]))
            if not rt.add_label(lab):
                engine.metrics.labels_unmatched.labels(mid).inc()
    for mid, st in state.items():
        rt, d = engine.runtimes[mid], per_model[mid]
        _advance(rt, d, st["post"].size, lines, st, columns=True)
        _commit_ids(rt, d, id_col, st, table_ids)


def _reference_from_columns(rt: ModelRuntime, d: dict[str, Any], rows: np.ndarray, st: dict[str, Any]) -> None:
    """The model's whole reference lies in this table: build its detectors from column slices."""
    columns = {key: _column_of(d, key)[rows] for key in rt.reference_keys()}
    rt.n_predictions += int(rows.size)
    rt.clock_ts = max(rt.clock_ts, float(columns[TS_KEY].max()))
    st["pending"].append(rows)
    rt._build(f"first {rows.size} records", columns)


def _predictions(rt: ModelRuntime, d: dict[str, Any], id_col: pa.Array, rows: np.ndarray,
                 lines: np.ndarray) -> list[Prediction]:
    """Row objects for the reference rows (a reference that spans tables is kept as rows)."""
    def listed(a: np.ndarray) -> list[Any]:
        vals = a[rows]
        out = vals.tolist()
        if vals.dtype.kind == "f":
            out = [None if math.isnan(v) else v for v in out]
        return out

    names = (*rt.schema.numeric, *rt.schema.categorical)
    feats = [listed(d["cols"][f]) for f in names]
    preds = listed(d["prediction"])
    labels = [None if null else v for null, v in zip(d["label_null"][rows].tolist(), listed(d["label"]))]
    ids = id_col.take(pa.array(rows)).to_pylist()
    versions = d["versions"][rows].tolist()
    ts = d["ts"][rows].tolist()
    ln = lines[rows].tolist()
    return [Prediction(rt.model_id, str(versions[k]), ts[k], ids[k], {f: feats[j][k] for j, f in enumerate(names)},
                       preds[k], labels[k], ln[k]) for k in range(rows.size)]


def _advance(rt: ModelRuntime, d: dict[str, Any], upto: int, lines: np.ndarray, st: dict[str, Any], *,
             columns: bool) -> None:
    """Take the model's rows ``post[:upto]``: into the label join (always), into the detectors' columns
    (when ``columns``: at an evaluation or the table's end; a late label needs only the join)."""
    post = st["post"]
    if upto > st["at_join"]:
        _add_join(rt, d, post[st["at_join"]:upto], st)
        st["at_join"] = upto
    if columns and upto > st["at"]:
        _add_columns(rt, d, post[st["at"]:upto], lines)
        st["at"] = upto


def _add_join(rt: ModelRuntime, d: dict[str, Any], rows: np.ndarray, st: dict[str, Any]) -> None:
    """Rows into the label join: their ids (committed before the next label), the pairs of those that
    carry their label (in row order with the late labels' pairs), the model's clock."""
    b = rt.batch
    if b.predictions or b.pairs_pred:
        rt.seal()
    rt.clock_ts = max(rt.clock_ts, float(d["ts"][rows].max()))
    labelled = ~d["label_null"][rows]
    if labelled.any():
        dtype = float if rt.schema.prediction_type == "numeric" else object
        b.pair_chunks.append((d["prediction"][rows[labelled]].astype(dtype), d["label"][rows[labelled]].astype(dtype)))
    st["pending"].append(rows)


def _add_columns(rt: ModelRuntime, d: dict[str, Any], rows: np.ndarray, lines: np.ndarray) -> None:
    """Rows into the detectors' columns (and the evidence's recent window)."""
    b = rt.batch
    if b.predictions:
        rt.seal()
    chunk, skipped = {}, {}
    tails = rt.column_tails()
    for key in rt.column_keys():
        col = _column_of(d, key)
        need = tails.get(key)
        if need is not None and rows.size > need and col.dtype.kind == "f" and not _has_nan(d, key, col):
            # every detector of this column slides over at most ``need`` values: the rows before those
            # would only pass through, so they are counted, not copied
            chunk[key] = col[rows[rows.size - need:]]
            skipped[key] = rows.size - need
        else:
            chunk[key] = col[rows]
    b.chunks.append(chunk)
    b.chunk_skipped.append(skipped)
    b.chunk_rows += rows.size
    rt.n_predictions += int(rows.size)
    w = rt.recent.maxlen or rows.size
    tail = rows[-w:]
    rt.recent.extend(zip(d["ts"][tail].tolist(), lines[tail].tolist()))
    rt.versions.extend(d["versions"][tail].tolist())


def _has_nan(d: dict[str, Any], key: str, col: np.ndarray) -> bool:
    """Whether column ``col`` of the table has a missing value anywhere (once per table and column: the
    models share the dict, and the converted columns they read)."""
    seen = d["has_nan"]
    if id(col) not in seen:
        seen[id(col)] = bool(np.isnan(col).any())
    return seen[id(col)]


def _commit_ids(rt: ModelRuntime, d: dict[str, Any], id_col: pa.Array, st: dict[str, Any],
                table_ids: list[list[str]]) -> None:
    """Add the predictions fed since the last commit to the model's recent ids and label join (a few rows
    between late labels take their ids from the table's list, ``table_ids[0]``, when it was made)."""
    if not st["pending"]:
        return
    rows = np.concatenate(st["pending"]) if len(st["pending"]) > 1 else st["pending"][0]
    st["pending"] = []
    tail = rows[-rt.join_capacity:]  # the earlier ones would leave the join at once
    ids = ([table_ids[0][r] for r in tail.tolist()] if table_ids and tail.size <= FEW
           else id_col.take(pa.array(tail)))
    rt.by_id.add_many(ids, d["prediction"][tail], d["ts"][tail], d["label_null"][tail],
                      before=rows.size - tail.size)


def _column_of(d: dict[str, Any], key: str) -> Any:
    """A detector column of one model's validated table: the prediction, the timestamps or a feature."""
    if key == PREDICTION_KEY:
        return d["prediction"]
    if key == TS_KEY:
        return d["ts"]
    return d["cols"][key]

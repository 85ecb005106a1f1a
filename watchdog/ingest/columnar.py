"""The columnar path: a pyarrow table of records validated and fed to the detectors without row objects.

A table holds one record per row, in the columns ``model``, ``version``, ``ts``, ``id``,
``prediction``, ``label`` (optional) and one column per feature named ``features.<name>`` (a struct
column ``features`` is flattened to those names). ``ts`` is an RFC 3339 string with a time zone or a
time-zone-aware timestamp. A row with a null ``prediction``, null features and a ``label`` is a late
label. Strings that spell numbers are numbers in numeric columns (CSV has no other way to say it).

Checks are vectorised per column; bad rows get the same reason codes and sentences as the JSON Lines
parser, in the same order of precedence (both take them from :mod:`watchdog.ingest.validate`: model, id,
then the prediction's fields, then the time checks and the duplicate id). :func:`validate_table` returns
a :class:`ValidTable`: per model its good rows as column arrays, and the bad rows as
:class:`~watchdog.ingest.records.Quarantined` values. It knows nothing of the engine: the engine takes a
``ValidTable`` (:mod:`watchdog.engine.tables`) and makes the same decisions as from the same records
line by line. :func:`json_blocks` cuts JSON lines into tables pyarrow can read, and the lines it cannot.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from watchdog.ingest import validate as why
from watchdog.ingest.lines import joined
from watchdog.ingest.recent import RecentPredictions
from watchdog.ingest.records import ModelSchema, Quarantined, _Bad, parse_ts

_NUMBER = r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$"
_NON_FINITE = r"^\s*[+-]?(?i:nan|inf|infinity)\s*$"
_RFC3339 = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|z|[+-]\d{2}:?\d{2})$"


@dataclass
class ModelRows:
    """One model's good rows of a validated table: row indices and the columns the engine reads."""

    rows: np.ndarray  # predictions, in row order
    labels: np.ndarray  # late labels, in row order
    ts: np.ndarray  # seconds since the epoch, per row of the table
    cols: dict[str, Any]  # feature -> float array (NaN missing) or object array (None missing)
    prediction: np.ndarray
    label: np.ndarray
    label_null: np.ndarray
    versions: Any  # Coded
    has_nan: dict[int, bool]  # shared by the table's models: whether a converted column has a gap



TS = "\0ts"  # the conversion cache's key of the timestamps (no feature can be named so)


@dataclass
class ValidTable:
    """A table after validation: per model its good rows, the table's ids and line numbers, the bad rows."""

    per_model: dict[str, ModelRows]
    ids: pa.Array
    lines: np.ndarray
    quarantined: list[Quarantined]
    rows: int


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
    out: np.ndarray = a.to_numpy(zero_copy_only=False, **kw)
    return out


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
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t))


def _is_number(t: pa.DataType) -> bool:
    return bool(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t))


Marks = list[tuple[np.ndarray, str, "str | Callable[[int], str]"]]


def numeric_column(a: pa.Array, what: str, scope: np.ndarray, v: _Verdicts,
                   cache: dict[str, Any] | None = None, *, strings_are_numbers: bool = True) -> np.ndarray:
    """Float values with NaN where missing; rows in ``scope`` with a bad value are marked.

    ``cache`` keeps the conversion of the column named ``what`` for the next model that reads it. A
    string that spells a number is that number only when ``strings_are_numbers`` (CSV has no other way to
    say it; in JSON, as on the line path, a string is the wrong type)."""
    out: np.ndarray = _converted(cache, what, lambda: _numeric(a, what, strings_are_numbers), scope, v)
    return out


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
        # unsafe: an integer beyond 2^53 (a wei amount) becomes the nearest double, as float() makes it
        vals = _np(pc.cast(a, pa.float64(), safe=False)).astype(float, copy=False)
        return np.where(nulls, np.nan, vals), [
            (~nulls & ~np.isfinite(vals), "non_finite", lambda i: why.non_finite(what, repr(float(vals[i]))))]
    if _is_text(t) and not strings_are_numbers:
        return np.full(len(a), np.nan), [(~nulls, "wrong_type", why.wrong_type(what, why.NUMBER, "a string"))]
    if _is_text(t):
        looks = _np(pc.fill_null(pc.match_substring_regex(a, _NUMBER), False))
        vals = _np(pc.cast(pc.if_else(pa.array(looks), a, pa.scalar(None, t)), pa.float64())).astype(float)
        odd = _np(pc.fill_null(pc.match_substring_regex(a, _NON_FINITE), False))
        return np.where(looks, vals, np.nan), [
            (odd | (looks & ~np.isfinite(vals)), "non_finite",
             lambda i: why.non_finite(what, repr(a[i].as_py()[:64]))),
            (~nulls & ~looks, "wrong_type", why.wrong_type(what, why.NUMBER, "a string"))]
    return np.full(len(a), np.nan), [(~nulls, "wrong_type", why.wrong_type(what, why.NUMBER, _type_word(t)))]


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


def category_column(a: pa.Array, what: str, scope: np.ndarray, v: _Verdicts, *, kind: str = why.CATEGORY
                    ) -> np.ndarray:
    """Object array of strings with None where missing; bad rows in ``scope`` are marked."""
    out: np.ndarray = coded_column(a, what, scope, v, kind=kind)[:]
    return out


def coded_column(a: pa.Array, what: str, scope: np.ndarray, v: _Verdicts, *, kind: str = why.CATEGORY,
                 cache: dict[str, Any] | None = None) -> Coded:
    """:func:`category_column` as codes; ``cache`` keeps the encoding for the next model that reads it."""
    out: Coded = _converted(cache, what, lambda: _coded(a, what, kind), scope, v)
    return out


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
        a, whole = _whole_floats_as_text(a, nulls)
        marks.append((~nulls & ~whole, "wrong_type", why.wrong_type(what, kind, "a number")))
    elif not _is_text(t):
        return nothing, [(~nulls, "wrong_type", why.wrong_type(what, kind, _type_word(t)))]
    elif kind == why.TEXT:  # a model, version or id: an empty string is no name
        marks.append((_np(pc.fill_null(pc.equal(pc.utf8_length(a), 0), False)), "wrong_type",
                      why.wrong_type(what, kind, "a string")))
    enc = pc.dictionary_encode(a)
    words = np.concatenate([_np(enc.dictionary).astype(object), np.array([None], dtype=object)])
    return Coded(words, _np(pc.fill_null(enc.indices, -1)).astype(np.int64)), marks


def _flat_features(table: pa.Table) -> pa.Table:
    """A struct column ``features`` as one column per field, ``features.<name>`` (one level: a feature whose
    value is an object stays a struct, the wrong type; and so does any other field that holds an object)."""
    if "features" not in table.column_names or not pa.types.is_struct(table.schema.field("features").type):
        return table
    names = [n for n in table.column_names if n != "features"]
    columns = [table.column(n) for n in names]
    have = set(names)
    for sub, kid in zip(table.schema.field("features").type, table.column("features").flatten(), strict=True):
        name = f"features.{sub.name}"
        if name not in have:  # a flat column of the same name wins
            names.append(name)
            columns.append(kid)
    return pa.Table.from_arrays(columns, names=names)


def _whole_floats_as_text(a: pa.Array, nulls: np.ndarray) -> tuple[pa.Array, np.ndarray]:
    """A float column's whole values as the text of their integer (as ``str(int(v))`` on the line path), None
    elsewhere; and which rows were whole. Values beyond int64 (uint64 hash codes) are written one by one."""
    vals = _np(a).astype(float)
    whole = np.isfinite(vals) & (np.floor(vals) == vals) & ~nulls
    big = whole & (np.abs(vals) >= 2.0**63)
    if big.any():
        return pa.array([str(int(v)) if w else None for v, w in zip(vals.tolist(), whole.tolist(), strict=True)],
                        pa.string()), whole
    kept = pc.if_else(pa.array(whole), a, pa.scalar(None, a.type))
    return pc.cast(pc.cast(kept, pa.int64()), pa.string()), whole


def _column(table: pa.Table, name: str) -> pa.Array | None:
    """Column ``name`` as one array; dictionary-encoded (pandas ``category``) and view columns as plain ones."""
    if name not in table.column_names:
        return None
    col = table.column(name)
    a = col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()
    if pa.types.is_dictionary(a.type):
        a = a.dictionary_decode()
    if pa.types.is_string_view(a.type) or pa.types.is_large_string(a.type):
        a = pc.cast(a, pa.string())
    elif pa.types.is_binary_view(a.type):
        a = pc.cast(a, pa.binary())
    return a


def _raw_row(table: pa.Table, i: int) -> str:
    """Row ``i`` as JSON for the quarantine (a cell Python cannot hold, a timestamp in year 300000, as its raw
    value)."""
    one = table.slice(i, 1)
    try:
        row = one.to_pylist()[0]
    except (OverflowError, ValueError, pa.ArrowException):
        row = {}
        for name, col in zip(one.column_names, one.columns, strict=True):
            try:
                row[name] = col.to_pylist()[0]
            except (OverflowError, ValueError, pa.ArrowException):
                row[name] = str(col.chunk(0).view(pa.int64())[0]) if pa.types.is_timestamp(col.type) else "?"
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
        # from the column's own unit: a cast to microseconds fails for a time outside their range (year 300000)
        per_second = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}[t.unit]
        ticks = _np(pc.cast(a, pa.int64())).astype(float)
        return np.where(nulls, np.nan, ticks / per_second)
    if not _is_text(t):
        v.mark(scope & ~nulls, "wrong_type", why.wrong_type("ts", "an RFC 3339 string", _type_word(t)))
        return out
    if cache is not None and TS in cache:
        fast_all, seconds = cache[TS]
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
            cache[TS] = (fast_all, seconds)
    fast = fast_all & scope
    out = np.where(fast, seconds, np.nan)
    for i in np.flatnonzero(scope & ~nulls & ~fast):
        try:
            out[i] = parse_ts(a[int(i)].as_py())
        except _Bad as bad:
            v.mark(np.arange(n) == i, bad.code, bad.reason)
    return out


_LINE_BY_LINE = 64


def json_blocks(lines: Sequence[bytes], numbers: list[int], block: int = 32768
                ) -> Iterator[tuple[pa.Table | None, Sequence[bytes], list[int]]]:
    """JSON lines as tables pyarrow reads at once: ``(table, lines, numbers)``, or ``(None, lines, numbers)``
    for lines to read one by one. A block pyarrow cannot read as one table (bad JSON, bad UTF-8, NaN, a field
    whose type changes between lines) is split in halves and tried again, down to blocks of
    ``_LINE_BY_LINE`` lines: a bad line costs a few re-parses of its neighbours, not a whole block read line
    by line, and every record gets the same verdict either way."""
    for at in range(0, len(lines), block):
        part, nums = lines[at:at + block], numbers[at:at + block]
        body = joined(part)
        alone = _alone(part, body)
        if not alone:
            yield from _blocks(part, nums, body)
            continue
        start = 0
        for i in alone:  # a line pyarrow would take too long over (or crash on) goes alone, in order
            if i > start:
                yield from _blocks(part[start:i], nums[start:i])
            yield None, part[i:i + 1], nums[i:i + 1]
            start = i + 1
        if start < len(part):
            yield from _blocks(part[start:], nums[start:])


MAX_TABLE_NESTING = 16
"""A line with more opening brackets than this is read by the line path (orjson, depth limit 1,024) instead of
pyarrow, whose JSON reader costs time quadratic in the nesting (0.2 ms a line at 64 levels, 39 ms at 2,048, a
minute at 12,000) and crashes the process at about 20,000. A record has two (itself and its features)."""


_BOM = b"\xef\xbb\xbf"
_NOT_OPENERS = bytes(b for b in range(256) if b not in b"{[\n")


def _alone(part: Sequence[bytes], body: bytes) -> list[int]:
    """Indices of the lines the line path must read alone: more than :data:`MAX_TABLE_NESTING` opening
    brackets (an upper bound of their nesting), or a byte-order mark before the object (pyarrow skips it, orjson
    refuses it). The brackets are counted in one pass over the block (``body``, its lines joined by newlines):
    every byte but brackets and newlines deleted, then the gaps between the newlines left."""
    kept = np.frombuffer(body.translate(None, _NOT_OPENERS), dtype=np.uint8)
    counts = np.diff(np.flatnonzero(kept == 10), prepend=-1, append=len(kept)) - 1
    out = set(np.flatnonzero(counts > MAX_TABLE_NESTING).tolist())
    if not body.isascii() and (body.startswith(_BOM) or b"\n" + _BOM in body):
        out |= {i for i, ln in enumerate(part) if ln.startswith(_BOM)}
    return sorted(out)


def _blocks(part: Sequence[bytes], nums: list[int], body: bytes | None = None
            ) -> Iterator[tuple[pa.Table | None, Sequence[bytes], list[int]]]:
    table = _read_json(part, body)
    if table is None and len(part) > _LINE_BY_LINE:
        half = len(part) // 2
        yield from _blocks(part[:half], nums[:half])
        yield from _blocks(part[half:], nums[half:])
        return
    yield table, part, nums


def restore_raw(quarantined: list[Quarantined], part: Sequence[bytes], nums: list[int]) -> None:
    """The quarantine keeps a JSON line as it was read, not as pyarrow re-serialised its row."""
    if not quarantined:
        return
    first = nums[0]
    index = {n: i for i, n in enumerate(nums)} if nums[-1] - first != len(nums) - 1 else None
    for q in quarantined:
        i = (q.line - first) if index is None else index[q.line]
        q.raw = part[i][:2048].decode("utf-8", "replace")


_TS_FIELD = pa.schema([("ts", pa.string())])


def _read_json(lines: Sequence[bytes], body: bytes | None = None) -> pa.Table | None:
    import pyarrow.json as pajson

    if body is None:
        body = joined(lines)
    if not body.isascii():  # pyarrow would take bad UTF-8 into string columns; the line path names it
        try:
            body.decode("utf-8")
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


def validate_table(table: pa.Table, schemas: Mapping[str, ModelSchema], admission: why.Admission,
                   windows: Mapping[str, RecentPredictions], first_line: int = 1, lines: np.ndarray | None = None,
                   *, strings_are_numbers: bool = True, objects: bool = False) -> ValidTable:
    """Validate ``table`` against the models' ``schemas`` (see the module docstring).

    Row ``i`` has line number ``first_line + i``, or ``lines[i]`` when ``lines`` is given. ``windows`` are the
    models' recent prediction ids (a prediction whose id is among them, or repeats within the table in
    the order the line path would see it, is a ``duplicate_id``); nothing here changes them. ``objects``: the
    rows were JSON objects, so a row whose ``features`` object is absent or null has none (in a flat table, a row
    without features has all its feature cells empty)."""
    features_missing: np.ndarray | None = None
    if objects:
        obj = _column(table, "features")
        features_missing = (np.ones(table.num_rows, dtype=bool) if obj is None
                            else _nulls(obj) if pa.types.is_struct(obj.type) else None)
    table = _flat_features(table)
    n = table.num_rows
    if lines is None:
        lines = np.arange(first_line, first_line + n, dtype=np.int64)
    if n == 0:
        return ValidTable({}, pa.nulls(0, pa.string()), lines, [], 0)
    v = _Verdicts(n)
    everything = np.ones(n, dtype=bool)

    model_col = _column(table, "model")
    if model_col is None:
        v.mark(everything, "missing_field", why.missing_field("model"))
        models = Coded(np.array([None], dtype=object), np.full(n, -1, dtype=np.int64))
    else:
        v.mark(_nulls(model_col), "missing_field", why.missing_field("model"))
        models = coded_column(model_col, "model", everything, v, kind=why.TEXT)
    mine_of = {mid: models.equals(mid) for mid in schemas}
    known = np.zeros(n, dtype=bool)
    for m in mine_of.values():
        known |= m
    v.mark(~known, "unknown_model", lambda i: why.unknown_model(str(models[i]), list(schemas)))
    id_col = _column(table, "id")
    if id_col is None:
        v.mark(everything, "missing_field", why.missing_field("id"))
        id_col = pa.nulls(n, pa.string())
    v.mark(_nulls(id_col), "missing_field", why.missing_field("id"))
    if pa.types.is_integer(id_col.type):
        id_col = pc.cast(id_col, pa.string())
    elif pa.types.is_floating(id_col.type):
        was_null = _nulls(id_col)
        id_col, whole = _whole_floats_as_text(id_col, was_null)
        v.mark(~was_null & ~whole, "wrong_type", why.wrong_type("id", why.TEXT, "a number"))
    elif not _is_text(id_col.type):
        v.mark(~_nulls(id_col), "wrong_type", why.wrong_type("id", why.TEXT, _type_word(id_col.type)))
        id_col = pa.nulls(n, pa.string())
    v.mark(_np(pc.fill_null(pc.equal(pc.utf8_length(id_col), 0), False)), "wrong_type",
           why.wrong_type("id", why.TEXT, "a string"))

    pred_col = _column(table, "prediction")
    label_col = _column(table, "label")
    pred_null = np.ones(n, dtype=bool) if pred_col is None else _nulls(pred_col)
    label_null = np.ones(n, dtype=bool) if label_col is None else _nulls(label_col)
    version_col = _column(table, "version")
    ts_col = _column(table, "ts")
    latest, too_late = admission.latest()

    whole_features = _column(table, "features")
    id_codes = pc.dictionary_encode(id_col)
    ids_distinct = len(id_codes.dictionary) == n  # then no model repeats an id within the table
    converted: dict[str, Any] = {}  # conversions of columns several models read
    has_nan: dict[int, bool] = {}  # by id of a converted column (they live as long as this call)
    per_model: dict[str, ModelRows] = {}
    for mid, schema in schemas.items():
        mine = mine_of[mid] & ~v.bad
        if not mine.any():
            continue
        feats = {f: _column(table, f"features.{f}") for f in (*schema.numeric, *schema.categorical)}
        feats_null = np.ones(n, dtype=bool) if whole_features is None else _nulls(whole_features)
        for a in feats.values():
            if a is not None:
                feats_null &= _nulls(a)
        if features_missing is not None:
            feats_null = features_missing
        is_label = mine & pred_null & feats_null
        v.mark(is_label & label_null, "missing_field", why.MISSING_TARGET)
        preds = mine & ~is_label
        for name, col in (("version", version_col), ("ts", ts_col)):  # in the line path's order
            v.mark(preds & (np.ones(n, dtype=bool) if col is None else _nulls(col)), "missing_field",
                   why.missing_field(name))
        if features_missing is not None:
            v.mark(preds & features_missing, "missing_field", why.missing_field("features"))
        v.mark(preds & pred_null, "missing_field", why.missing_field("prediction"))
        versions = coded_column(version_col if version_col is not None else pa.nulls(n, pa.string()),
                                "version", preds & ~v.bad, v, kind=why.TEXT, cache=converted)
        ts = _timestamps(ts_col if ts_col is not None else pa.nulls(n, pa.string()), preds & ~v.bad, v, converted)
        if whole_features is not None:  # "features" that is not an object (an object was flattened)
            v.mark(preds & ~_nulls(whole_features), "wrong_type",
                   why.wrong_type("features", "an object", _type_word(whole_features.type)))
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
        target_kind = why.class_of(mid)

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
        v.mark(good & (ts < admission.min_ts), "past_timestamp", _at(admission.too_early, ts))
        v.mark(good & (ts > latest), "future_timestamp", _at(too_late, ts))
        good = preds & ~v.bad
        rows = np.flatnonzero(good)
        if rows.size:
            ids = id_col.take(pa.array(rows))
            # candidates: ids in the model's recent window, and ids this table holds more than once
            maybe = windows[mid].contains_many(ids)
            if not ids_distinct:
                codes = _np(pc.fill_null(id_codes.indices, -1))[rows]
                _, where, counts = np.unique(codes, return_inverse=True, return_counts=True)
                maybe |= counts[where] > 1
            dup = _repeats_in_order(windows[mid], ids, maybe) if maybe.any() else maybe
            if dup.any():
                v.mark(np.isin(np.arange(n), rows[dup]), "duplicate_id", partial(_duplicate, id_col, mid))
                rows = rows[~dup]
        per_model[mid] = ModelRows(rows=rows, labels=np.flatnonzero(is_label & ~v.bad), ts=ts, cols=cols,
                                   prediction=prediction, label=label, label_null=label_null, versions=versions,
                                   has_nan=has_nan)
    quarantined = [Quarantined(int(lines[i]), v.why[i][0], v.why[i][1], _raw_row(table, i),
                               model=models[i] if known[i] else None) for i in sorted(v.why)]
    return ValidTable(per_model, id_col, lines, quarantined, n)


def _at(sentence: Callable[[float], str], ts: np.ndarray) -> Callable[[int], str]:
    """The sentence for row ``i`` of a time check, from the row's time."""
    return lambda i: sentence(float(ts[i]))


def _duplicate(ids: pa.Array, model: str, i: int) -> str:
    return why.duplicate_id(ids[i].as_py(), model)


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
    for k, rid in zip(pos.tolist(), names, strict=True):
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

from __future__ import annotations

import math

import orjson
import pytest

from watchdog.ingest.records import REASON_CODES, Label, ModelSchema, Prediction, Quarantined, RecordParser

SCHEMA = ModelSchema(id="m", numeric=("x", "y"), categorical=("c",), prediction_type="numeric")
CLASSES = ModelSchema(id="k", numeric=("x",), categorical=(), prediction_type="categorical")


def parser() -> RecordParser:
    return RecordParser({"m": SCHEMA, "k": CLASSES})


def good(**over: object) -> dict:
    rec = {"model": "m", "version": "1", "ts": "2026-11-20T10:00:00Z", "id": "r1",
           "features": {"x": 1.5, "y": 2, "c": "a"}, "prediction": 0.3}
    rec.update(over)
    return rec


def parse(obj: object, line: int = 7) -> object:
    raw = obj if isinstance(obj, bytes) else orjson.dumps(obj)
    return parser().parse(raw, line)


def test_good_prediction_is_parsed_with_epoch_time_and_line():
    r = parse(good(label=0.0))
    assert isinstance(r, Prediction)
    assert r.line == 7 and r.model == "m" and r.id == "r1" and r.label == 0.0
    assert r.features == {"x": 1.5, "y": 2.0, "c": "a"}
    assert r.ts == pytest.approx(1795168800.0)


def test_missing_or_null_feature_is_a_missing_value_not_an_error():
    r = parse(good(features={"x": None, "c": "a"}))
    assert isinstance(r, Prediction)
    assert r.features["x"] is None and r.features["y"] is None


def test_late_label_line():
    r = parse({"model": "m", "id": "r1", "label": 1})
    assert isinstance(r, Label) and r.label == 1.0 and r.id == "r1"


def test_categorical_prediction_and_integer_class_labels():
    r = parse({"model": "k", "version": "2", "ts": "2026-11-20T10:00:00+02:00", "id": 5,
               "features": {"x": 1}, "prediction": 1, "label": "1"})
    assert isinstance(r, Prediction) and r.prediction == "1" and r.label == "1" and r.id == "5"


@pytest.mark.parametrize(
    ("raw", "code", "words"),
    [
        (b"\xff\xfe{}", "bad_utf8", "UTF-8"),
        (b'{"model": "m", ', "bad_json", "not valid JSON"),
        (b'{"model": "m", "features": {"x": NaN}}', "non_finite", "NaN"),
        (b'{"model": "m", "features": {"x": 1e999}}', "non_finite", "too large"),
        (b"[1, 2]", "not_object", "JSON object"),
        (orjson.dumps({"version": "1"}), "missing_field", "'model'"),
        (orjson.dumps(good(model="nope")), "unknown_model", "'nope'"),
        (orjson.dumps({k: v for k, v in good().items() if k != "ts"}), "missing_field", "'ts'"),
        (orjson.dumps(good(ts="yesterday")), "bad_timestamp", "RFC 3339"),
        (orjson.dumps(good(ts="2026-11-20T10:00:00")), "bad_timestamp", "time zone"),
        (orjson.dumps(good(features={"x": "high"})), "wrong_type", "features.x"),
        (orjson.dumps(good(features={"x": {"v": 1}})), "wrong_type", "features.x must be a number, got an object"),
        (orjson.dumps(good(features={"x": True})), "wrong_type", "features.x"),
        (orjson.dumps(good(features={"c": 1.5})), "wrong_type", "features.c"),
        (orjson.dumps(good(features=[1, 2])), "wrong_type", "features must be an object"),
        (orjson.dumps(good(prediction="high")), "wrong_type", "prediction must be a number"),
        (orjson.dumps(good(label=[1])), "wrong_type", "label"),
        (orjson.dumps(good(id="")), "wrong_type", "id"),
        (orjson.dumps({"model": "m", "id": "r"}), "missing_field", "'prediction'"),
    ],
)
def test_invalid_records_are_quarantined_with_a_reason(raw: bytes, code: str, words: str):
    r = parser().parse(raw, 3)
    assert isinstance(r, Quarantined), r
    assert r.reason_code == code
    assert r.reason_code in REASON_CODES
    assert words in r.reason
    assert r.line == 3
    out = orjson.loads(r.to_json("log.jsonl"))
    assert out["line"] == 3 and out["reason_code"] == code and out["source"] == "log.jsonl"


def test_line_over_the_size_limit_is_quarantined_without_parsing():
    p = RecordParser({"m": SCHEMA}, max_line_bytes=100)
    r = p.parse(orjson.dumps(good(id="x" * 200)), 1)
    assert isinstance(r, Quarantined) and r.reason_code == "too_large"
    assert len(r.raw) <= 2048


def test_bad_max_line_bytes_names_the_parameter():
    with pytest.raises(ValueError, match="max_line_bytes"):
        RecordParser({}, max_line_bytes=1)


def test_quarantined_raw_text_is_kept_even_for_bad_utf8():
    r = parser().parse(b'{"model": "\xff"}', 1)
    assert isinstance(r, Quarantined) and "\ufffd" in r.raw


def test_parsed_numbers_are_finite():
    r = parse(good(features={"x": 1e308, "y": -1e308, "c": "a"}))
    assert isinstance(r, Prediction) and all(math.isfinite(v) for v in (r.features["x"], r.features["y"]))

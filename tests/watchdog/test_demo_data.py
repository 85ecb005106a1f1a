from __future__ import annotations

import hashlib
from importlib import resources

import orjson
import pytest

from watchdog.service.demo_data import generate_lines


def test_bundled_demo_log_is_what_the_seeded_generator_writes():
    bundled = resources.files("watchdog").joinpath("data", "demo.jsonl").read_bytes()
    fresh = b"".join(line + b"\n" for line in generate_lines())
    assert hashlib.sha256(bundled).hexdigest() == hashlib.sha256(fresh).hexdigest()


def test_generator_shape():
    lines = list(generate_lines(n=200, drift_at=100, malformed=False, label_delay=10))
    recs = [orjson.loads(x) for x in lines]
    preds = [r for r in recs if "prediction" in r]
    labels = [r for r in recs if "prediction" not in r]
    assert len(preds) == 200 and len(labels) == 160
    assert {r["id"] for r in labels} <= {r["id"] for r in preds}


def test_generator_rejects_bad_arguments():
    with pytest.raises(ValueError, match="drift_at"):
        list(generate_lines(n=10, drift_at=10))
    with pytest.raises(ValueError, match="n must"):
        list(generate_lines(n=0))

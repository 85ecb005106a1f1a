from __future__ import annotations

import re

import httpx
import orjson
import pytest

from watchdog.errors import ConfigError
from watchdog.service.api import load_tokens

from .conftest import TOKEN


def rec(i: int, **over: object) -> dict:
    r = {"model": "lending-risk", "version": "1.4.0", "ts": "2026-11-16T00:00:00Z", "id": f"api-{i}",
         "features": {"utilization": 0.5, "collateral_ratio": 1.3, "volatility_7d": 0.02, "borrow_rate": 0.04,
                      "asset_class": "btc"}, "prediction": 0.3}
    r.update(over)
    return r


def test_health_is_open_and_readiness_follows_the_checks(live):
    with live.client(token=None) as c:
        assert c.get("/healthz").json() == {"status": "alive"}
        assert c.get("/readyz").status_code == 200
        live.checks["rpc"] = False
        try:
            r = c.get("/readyz")
            assert r.status_code == 503 and r.json()["checks"] == {"policy": True, "store": True, "rpc": False}
        finally:
            live.checks["rpc"] = True
        assert "watchdog_records_read_total" in c.get("/metrics").text


def test_v1_needs_a_valid_bearer_token(live):
    with live.client(token=None) as c:
        assert c.get("/v1/status").status_code == 401
    with live.client(token="wrong-token-0123456789") as c:
        r = c.get("/v1/incidents")
        assert r.status_code == 401 and "not valid" in r.json()["detail"]


def test_json_array_partly_bad_keeps_the_good_records_and_names_the_bad_ones(live):
    before = live.engine.runtimes["lending-risk"].n_predictions
    body = [rec(1), rec(2, features={"utilization": "high"}), rec(3, ts="2031-01-01T00:00:00Z"), rec(1),
            {"model": "lending-risk", "id": "api-1", "label": 0.2}]
    with live.client() as c:
        r = c.post("/v1/records", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["accepted"] == 2 and out["predictions"] == 1 and out["labels"] == 1
    assert [(x["index"], x["field"], x["reason_code"]) for x in out["rejected"]] == [
        (1, "features.utilization", "wrong_type"), (2, "ts", "future_timestamp"), (3, "id", "duplicate_id")]
    assert live.engine.runtimes["lending-risk"].n_predictions == before + 1
    assert live.quarantine.getvalue().count(b"\n") >= 3


def test_json_lines_body_and_all_bad_is_a_400_naming_record_and_field(live):
    lines = orjson.dumps(rec(10)) + b"\n" + orjson.dumps(rec(11)) + b"\n"
    with live.client() as c:
        ok = c.post("/v1/records", content=lines, headers={"Content-Type": "application/x-ndjson"})
        assert ok.status_code == 200 and ok.json()["accepted"] == 2
        bad = c.post("/v1/records", content=b'{"model": "lending-risk", "id": "x"}\n{"oops"',
                     headers={"Content-Type": "application/x-ndjson"})
        assert bad.status_code == 400
        assert bad.json()["detail"].startswith("No record was accepted; record 0 field prediction")
        assert c.post("/v1/records", content=b"x", headers={"Content-Type": "text/plain"}).status_code == 415


def test_limits_answer_413_with_a_sentence(live):
    with live.client() as c:
        r = c.post("/v1/records", json=[rec(100 + i) for i in range(51)])
        assert r.status_code == 413 and "51 records, more than the limit of 50" in r.json()["detail"]
        r = c.post("/v1/records", content=b"[" + b" " * (70 << 10) + b"]",
                   headers={"Content-Type": "application/json"})
        assert r.status_code == 413 and "more than the limit of 65536" in r.json()["detail"]


def test_incidents_list_filter_detail_and_ack(live):
    with live.client() as c:
        assert {i["id"] for i in c.get("/v1/incidents").json()} >= {"0x01", "0x02"}
        assert [i["id"] for i in c.get("/v1/incidents", params={"model": "other"}).json()] == ["0x02"]
        assert [i["id"] for i in c.get("/v1/incidents", params={"state": "resolved"}).json()] == ["0x02"]
        d = c.get("/v1/incidents/0x01").json()
        assert d["evidence"] == {"condition": {"observed": 1e-9}} and d["acks"] == []
        r = c.post("/v1/incidents/0x01/ack", json={"who": "alice", "note": "looking"})
        assert r.status_code == 200 and r.json()["at"] == "2026-09-21T14:13:20Z"  # the clock, 1.79e9
        d = c.get("/v1/incidents/0x01").json()
        assert d["state"] == "acknowledged" and d["acks"] == [
            {"incident_id": "0x01", "who": "alice", "note": "looking", "at": "2026-09-21T14:13:20Z"}]
        assert c.post("/v1/incidents/0x01/ack", json={"who": ""}).status_code == 422
        assert c.post("/v1/incidents/nope/ack", json={"who": "bob"}).status_code == 404
        st = c.get("/v1/status").json()
        assert st["policy"]["name"] == "lending-risk-demo" and st["sources"] == {"http": "live"}
        assert "lending-risk" in st["models"]
        assert "/v1/records" in c.get("/openapi.json").json()["paths"]


def test_tokens_from_a_file_and_the_environment(tmp_path, monkeypatch):
    f = tmp_path / "tokens"
    f.write_text("# stewards\n" + TOKEN + "\n")
    monkeypatch.setenv("WATCHDOG_API_TOKENS", "another-token-0123456789")
    assert load_tokens(f) == (TOKEN, "another-token-0123456789")
    f.write_text("short\n")
    with pytest.raises(ConfigError, match="shorter than 16"):
        load_tokens(f)


def test_an_unknown_state_is_a_400_that_names_the_states(live):
    with live.client() as c:
        r = c.get("/v1/incidents", params={"state": "bogus"})
        assert r.status_code == 400
        assert r.json()["detail"] == "state must be one of open, acknowledged, resolved; got 'bogus'."
        assert c.get("/v1/incidents", params={"state": "open"}).status_code == 200
        param = next(p for p in c.get("/openapi.json").json()["paths"]["/v1/incidents"]["get"]["parameters"]
                     if p["name"] == "state")
        assert param["schema"]["enum"] == ["open", "acknowledged", "resolved"]


RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def test_every_time_in_a_response_is_an_rfc3339_utc_string(live):
    with live.client() as c:
        listed = {i["id"]: i for i in c.get("/v1/incidents").json()}
        assert listed["0x02"]["opened_at"] == "2001-09-09T01:46:40Z"  # stored as 1.0e9
        assert listed["0x03"]["manual"] is True and listed["0x02"]["manual"] is False
        c.post("/v1/incidents/0x02/ack", json={"who": "bob"})
        d = c.get("/v1/incidents/0x02").json()
        assert all(RFC3339_UTC.match(a["at"]) for a in d["acks"]) and d["acks"]
        (action,) = c.get("/v1/incidents/0x01").json()["actions"]
        assert action["created_at"] == action["updated_at"] == "2001-09-09T01:46:42Z"
        schemas = c.get("/openapi.json").json()["components"]["schemas"]
    for model, field in (("IncidentOut", "opened_at"), ("AckOut", "at"), ("ActionOut", "created_at"),
                         ("ActionOut", "updated_at")):
        assert schemas[model]["properties"][field]["type"] == "string", (model, field)
    assert schemas["IncidentDetail"]["properties"]["actions"]["items"] == {"$ref": "#/components/schemas/ActionOut"}


def test_the_evidence_page_needs_a_token_unless_the_operator_opens_it(live):
    with live.client(token=None) as c:
        r = c.get("/evidence/0x01")
        assert r.status_code == 401 and "bearer token" in r.json()["detail"]  # default: as /v1/
    with live.client() as c:
        assert c.get("/evidence/0x01").status_code == 200
    with httpx.Client(base_url=live.public_url, timeout=10) as anon:  # public_evidence=True, no token
        page = anon.get("/evidence/0x01")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "default-src 'none'" in page.headers["content-security-policy"]
        html = page.text
        assert "VolatilityRegimeShift (critical)" in html and "0xdef" in html
        assert "Data time of the decisive record" in html and "line 7" in html
        manual = anon.get("/evidence/0x03").text
        assert "Manual pause of module lending-risk" in manual and "drill" in manual
        assert "consecutive" not in manual and "Policy hash" not in manual
        assert anon.get("/evidence/nope").status_code == 404
        # read-only, and only that page: everything else keeps its token
        assert anon.get("/v1/incidents").status_code == 401
        assert anon.get("/v1/incidents/0x01").status_code == 401
        assert anon.post("/v1/incidents/0x01/ack", json={"who": "mallory"}).status_code == 401
        assert anon.post("/evidence/0x01").status_code == 405

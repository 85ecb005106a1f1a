"""Property-based requests generated from the published OpenAPI document: the live app never answers 5xx."""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from .conftest import TOKEN


@pytest.mark.e2e
def test_no_request_drawn_from_the_openapi_document_gets_a_5xx(live):
    schema = schemathesis.openapi.from_url(f"{live.url}/openapi.json")
    operations = [r.ok() for r in schema.get_all_operations()]
    assert {f"{op.method.upper()} {op.path}" for op in operations} >= {
        "POST /v1/records", "GET /v1/incidents", "GET /v1/incidents/{incident_id}",
        "POST /v1/incidents/{incident_id}/ack", "GET /v1/status", "GET /readyz", "GET /evidence/{incident_id}"}
    failures: list[str] = []
    client = httpx.Client(timeout=10)  # schemathesis' own requests transport trips on this urllib3
    for op in operations:
        @settings(max_examples=8, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=op.as_strategy())
        def check(case: schemathesis.Case) -> None:
            for headers in ({"Authorization": f"Bearer {TOKEN}"}, {}):
                kw = case.as_transport_kwargs(base_url=live.url, headers=headers)
                try:
                    resp = client.request(kw["method"], kw["url"], headers=kw.get("headers"),
                                          params=kw.get("params"), content=kw.get("data"), json=kw.get("json"))
                except httpx.LocalProtocolError:
                    continue  # the client refused to send it (an illegal header value): nothing reached the app
                if resp.status_code >= 500:
                    failures.append(f"{case.method} {case.formatted_path} -> {resp.status_code}: {resp.text[:200]}")

        check()
    assert not failures, "\n".join(failures[:5])

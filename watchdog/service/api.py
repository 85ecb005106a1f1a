"""The HTTP API: record ingest, incidents, acknowledgements, health, readiness, metrics, status.

``create_app(...)`` builds a FastAPI app around objects the caller owns (the long-running
``watchdog serve`` command wires them; tests pass their own)::

    app = create_app(
        engine=engine,                    # watchdog.engine.Engine, or None (ingest answers 503)
        engine_lock=lock,                 # threading.Lock also held by whoever else feeds the engine
        store=store,                      # watchdog.store.Store: incidents, acknowledgements
        registry=metrics.registry,        # prometheus CollectorRegistry served at /metrics
        tokens=load_tokens(file=path),    # bearer tokens; every /v1/ route needs one
        checks={"store": store_ok, "rpc": rpc_ok},   # /readyz: each callable returns True when reachable
        status=lambda: {...},             # extra fields for /v1/status (offsets, scheduler jobs, ...)
        quarantine=qfile,                 # binary file rejected records are appended to, or None
        clock=time.time,                  # the time acknowledgements are stamped with
        spool=Spool(state_dir / "spool"), # write-ahead spool of ingested records, or None
        on_batch=record_position,         # (batch, FeedResult) under the engine lock, after each batch
        on_batch_failed=stop_service,     # (exception) when the engine failed midway through a batch
    )
    uvicorn.run(app, host="127.0.0.1", port=8080)

Routes (OpenAPI at ``/openapi.json``, docs at ``/docs``):

=====================================  ===================================================================
``GET /healthz``                       the process answers (always 200)
``GET /readyz``                        200 when the policy is loaded and every check passes, else 503
``GET /metrics``                       the Prometheus text format of ``registry``
``POST /v1/records``                   a JSON array (``application/json``) or JSON Lines
                                       (``application/x-ndjson``) of records; 200 with the counts and
                                       the rejected records (index, field, reason) -- the good ones of
                                       a partly bad batch are kept; 400 when no record is good; 413 when
                                       the body or the batch is over its limit; 415 for another type;
                                       503 when the spool cannot be written (nothing was processed)
``GET /v1/incidents``                  incidents, filtered by ``model`` and ``state`` (one of
                                       ``INCIDENT_STATES``; another state is a 400 naming them)
``GET /v1/incidents/{id}``             one incident with its evidence, actions and acknowledgements
``POST /v1/incidents/{id}/ack``        a steward acknowledges: ``{"who": ..., "note": ...}``
``GET /v1/status``                     policy, models, counts, and the caller's ``status()`` fields
``GET /evidence/{id}``                 the incident as a read-only HTML page, for the link in an alert
                                       (``--evidence-url https://host/evidence/{incident}``): without a
                                       token when ``public_evidence=True``, else behind the token like
                                       ``/v1/`` (a browser following the link then gets a 401)
=====================================  ===================================================================

Every time in a response is an RFC 3339 string in UTC with a ``Z`` (``2026-11-21T02:41:40Z``), never
seconds since the epoch.

``public_evidence`` is for an operator whose alert receivers cannot send a bearer token: the page shows
one incident whose id the reader already has (ids are also public on-chain, in the monitor's events),
changes nothing, and lists nothing; every other route keeps its token.

With a ``spool`` (:class:`watchdog.sources.spool.Spool`), a batch's record lines are appended to it and
fsynced before the engine sees them and before the reply; they are processed with the spool's line
numbers (the quarantine names a spool line), and ``on_batch(batch, result)`` receives the batch with
the spool's position after it, under the engine lock, for the caller to save with its checkpoints.
Batches are spooled and processed one at a time, in the same order, so a replay of the spool from a
checkpointed position gives the engine what it had. A spool that cannot be written answers 503 and
processes nothing.

Tokens are compared with :func:`hmac.compare_digest` against every configured token (no early exit
on the first match), so the answer time does not reveal how much of a token was right.
"""

from __future__ import annotations

import hmac
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, Any

import orjson
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from watchdog import __version__
from watchdog.errors import ConfigError, SpoolError
from watchdog.fmt import iso_utc
from watchdog.ingest.records import Quarantined
from watchdog.ingest.sources.base import Position, RawBatch
from watchdog.ingest.sources.spool import Spool
from watchdog.report.incident_html import render_incident_page
from watchdog.report.incidents import incident_view, is_manual
from watchdog.service.console import console_router
from watchdog.service.feed import FeedResult, feed

TOKENS_ENV = "WATCHDOG_API_TOKENS"
DEFAULT_MAX_BODY_BYTES = 8 << 20
DEFAULT_MAX_BATCH_RECORDS = 10_000
#: The states an incident can be in (the filter of ``GET /v1/incidents``).
INCIDENT_STATES = ("open", "acknowledged", "resolved")
_PAGE_HEADERS = {"Content-Security-Policy": "default-src 'none'; img-src data:; style-src 'unsafe-inline'",
                 "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}
_JSON_TYPES = ("application/json",)
_JSONL_TYPES = ("application/x-ndjson", "application/jsonl", "application/json-lines", "application/x-jsonlines")


def load_tokens(file: str | Path | None = None, env: str = TOKENS_ENV) -> tuple[str, ...]:
    """Bearer tokens from a file (one a line, ``#`` comments) and/or the environment (comma separated)."""
    tokens: list[str] = []
    if file is not None:
        try:
            text = Path(file).read_text()
        except OSError as e:
            raise ConfigError(f"The API token file {file} could not be read: {e.strerror}.") from None
        tokens += [t.strip() for t in text.splitlines() if t.strip() and not t.strip().startswith("#")]
    tokens += [t.strip() for t in os.environ.get(env, "").split(",") if t.strip()]
    short = [t for t in tokens if len(t) < 16]
    if short:
        raise ConfigError(f"{len(short)} API token(s) are shorter than 16 characters; use long random tokens.")
    return tuple(tokens)


# response / request models (they make the OpenAPI document) ---------------------------------------

class Rejected(BaseModel):
    index: int = Field(description="0-based index of the record in the batch")
    field: str | None = Field(description="the field that was wrong, when one was")
    reason_code: str
    reason: str


class IngestReply(BaseModel):
    accepted: int
    rejected: list[Rejected]
    predictions: int
    labels: int


class AckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    who: str = Field(min_length=1, max_length=200)
    note: str = Field(default="", max_length=4000)


_TIME = "RFC 3339, UTC, with a Z"


class AckOut(BaseModel):
    incident_id: str
    who: str
    note: str
    at: str = Field(description=f"when the watchdog recorded the acknowledgement ({_TIME})")


class IncidentOut(BaseModel):
    id: str
    model: str = Field(description="the model; for a manual action, the module the steward named")
    rule: str = Field(description="the rule that fired; manual-pause or manual-rollback for a steward's action")
    tier: str
    state: str = Field(description="one of " + ", ".join(INCIDENT_STATES))
    manual: bool = Field(description="a steward's pause or rollback from the command line, not a rule's decision")
    opened_at: str = Field(description=f"data time of the decisive record; for a manual action, when the "
                                       f"steward acted ({_TIME})")
    record_index: int = Field(description="line number of the decisive record in its source (0 for a manual "
                                          "action)")
    policy_hash: str = Field(description="the policy in force (empty for a manual action)")
    dry_run: bool
    evidence_hash: str


class ActionOut(BaseModel):
    kind: str = Field(description="pause or rollback")
    module: str
    status: str = Field(description="the outbox state: intent, held, signed, sent, mined, confirmed, "
                                    "already_paused, duplicate, failed, vetoed or dry_run")
    tx_hash: str | None
    block_number: int | None
    error: str | None = Field(description="why it failed or was not sent, as recorded (revert data included)")
    created_at: str = Field(description=f"when the action's intent was written ({_TIME})")
    updated_at: str = Field(description=f"when its status last changed ({_TIME})")


class IncidentDetail(IncidentOut):
    evidence: dict[str, Any]
    acks: list[AckOut]
    actions: list[ActionOut]


class Problem(BaseModel):
    detail: Any


_FIELD = re.compile(r"^(features\.[^ ]+|[a-z_]+)\b")
_MISSING = re.compile(r"missing field '([^']+)'")


def field_of(q: Quarantined) -> str | None:
    """The field a quarantine reason names (``features.x``, ``ts``, ...), or None."""
    m = _MISSING.search(q.reason)
    if m:
        return m.group(1)
    if q.reason_code in ("wrong_type", "non_finite", "bad_timestamp", "future_timestamp", "past_timestamp",
                         "duplicate_id", "unknown_model"):
        m = _FIELD.match(q.reason)
        if m and m.group(1) not in ("the", "a", "line"):
            return m.group(1)
    return None


def _split_body(body: bytes, content_type: str) -> list[bytes]:
    ctype = content_type.split(";")[0].strip().lower()
    if ctype in _JSONL_TYPES:
        return [ln.rstrip(b"\r") for ln in body.split(b"\n") if ln.strip()]
    if ctype in _JSON_TYPES or ctype == "":
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as e:
            raise HTTPException(400, f"The body is not valid JSON ({e}); send a JSON array of records, "
                                     "or JSON Lines with Content-Type application/x-ndjson.") from None
        if isinstance(data, dict):
            data = [data]
        if not isinstance(data, list):
            raise HTTPException(400, "The body must be a JSON array of record objects.")
        return [orjson.dumps(r) for r in data]
    raise HTTPException(415, f"Content-Type {ctype!r} is not accepted; use application/json (an array of "
                             "records) or application/x-ndjson (JSON Lines).")


def create_app(*, store: Any, registry: CollectorRegistry, tokens: Iterable[str], engine: Any = None,
               engine_lock: Any = None, policy: Any = None,
               checks: Mapping[str, Callable[[], bool]] | None = None,
               status: Callable[[], Mapping[str, Any]] | None = None, quarantine: IO[bytes] | None = None,
               clock: Callable[[], float] = time.time, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
               max_batch_records: int = DEFAULT_MAX_BATCH_RECORDS, source_name: str = "http",
               spool: Spool | None = None, on_batch: Callable[[RawBatch, FeedResult], None] | None = None,
               on_batch_failed: Callable[[BaseException], None] | None = None,
               public_evidence: bool = False,
               module_info: Callable[[bytes], tuple[bool, bool, int]] | None = None) -> FastAPI:
    """The watchdog's HTTP API around the caller's engine, store and metrics (see the module docstring).

    ``public_evidence``: serve ``GET /evidence/{id}`` without a token (off: it needs one, as ``/v1/`` does).
    ``module_info``: a module's on-chain state (:meth:`MonitorClient.module_info`) for the console's modules
    page; without it the page shows what the outbox recorded.
    """
    token_bytes = [t.encode() for t in tokens]
    if not token_bytes:
        raise ConfigError("The HTTP API needs at least one bearer token; give a token file or set "
                          f"{TOKENS_ENV}.")
    if max_body_bytes < 1024:
        raise ValueError(f"max_body_bytes must be at least 1024, got {max_body_bytes}")
    if max_batch_records < 1:
        raise ValueError(f"max_batch_records must be at least 1, got {max_batch_records}")
    lock = engine_lock or threading.Lock()
    in_order = threading.Lock()  # spool order == processing order
    if spool is not None:
        source_name = spool.name
    policy = policy if policy is not None else getattr(engine, "policy", None)
    checks = dict(checks or {})
    bearer = HTTPBearer(auto_error=False)

    def authorized(cred: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:  # noqa: B008 (FastAPI)
        if cred is None or cred.scheme.lower() != "bearer":
            raise HTTPException(401, "A bearer token is required: send 'Authorization: Bearer <token>'.",
                                headers={"WWW-Authenticate": "Bearer"})
        given = cred.credentials.encode()
        ok = False
        for t in token_bytes:
            ok |= hmac.compare_digest(given, t)
        if not ok:
            raise HTTPException(401, "The bearer token is not valid.", headers={"WWW-Authenticate": "Bearer"})

    app = FastAPI(title="watchdog", version=__version__,
                  description="Record ingest, incidents and acknowledgements of the ML-model watchdog.")
    auth = [Depends(authorized)]
    problems: dict[int | str, dict[str, Any]] = {401: {"model": Problem}}

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/readyz", tags=["health"], responses={503: {"model": Problem}})
    def readyz() -> JSONResponse:
        results: dict[str, bool] = {"policy": policy is not None}
        for name, check in checks.items():
            try:
                results[name] = bool(check())
            except Exception:
                results[name] = False
        ready = all(results.values())
        return JSONResponse({"ready": ready, "checks": results}, status_code=200 if ready else 503)

    @app.get("/metrics", tags=["health"], response_class=Response)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    def _process(lines: list[bytes]) -> tuple[int, FeedResult]:
        """The batch's first line number and what feeding it did."""
        with in_order:
            if spool is not None:
                batch = spool.append(lines)  # on disk before the engine sees it (SpoolError: nothing done)
            else:
                batch = RawBatch(source=source_name, position=Position(0), lines=lines,
                                 line_numbers=list(range(1, len(lines) + 1)))
            with lock:
                try:
                    res = feed(engine, batch, quarantine, columnar=False)
                except BaseException as e:
                    if on_batch_failed is not None:
                        on_batch_failed(e)
                    raise
                if on_batch is not None:
                    on_batch(batch, res)
        return batch.line_numbers[0], res

    @app.post("/v1/records", tags=["ingest"], dependencies=auth, response_model=IngestReply,
              responses={**problems, 400: {"model": Problem}, 413: {"model": Problem}, 415: {"model": Problem},
                         503: {"model": Problem}},
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
                  "application/x-ndjson": {"schema": {"type": "string"}}}}})
    async def ingest(request: Request) -> Any:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_body_bytes:
            raise HTTPException(413, f"The body has {int(declared)} bytes, more than the limit of "
                                     f"{max_body_bytes}; split it into smaller batches.")
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_body_bytes:
                raise HTTPException(413, f"The body is larger than the limit of {max_body_bytes} bytes; "
                                         "split it into smaller batches.")
            chunks.append(chunk)
        lines = _split_body(b"".join(chunks), request.headers.get("content-type", ""))
        if len(lines) > max_batch_records:
            raise HTTPException(413, f"The batch has {len(lines)} records, more than the limit of "
                                     f"{max_batch_records}; split it into smaller batches.")
        if not lines:
            raise HTTPException(400, "The body holds no records.")
        if engine is None:
            raise HTTPException(503, "This watchdog has no engine to take records.")
        # The engine lock may be held for a whole batch or a checkpoint: wait for it on a worker thread, so
        # /healthz, /readyz and /metrics keep answering meanwhile.
        try:
            first, res = await run_in_threadpool(_process, lines)
        except SpoolError as e:
            raise HTTPException(503, str(e)) from None
        rejected = [Rejected(index=q.line - first, field=field_of(q), reason_code=q.reason_code, reason=q.reason)
                    for q in sorted(res.quarantined, key=lambda q: q.line)]
        reply = IngestReply(accepted=len(lines) - len(rejected), rejected=rejected, predictions=res.predictions,
                            labels=res.labels)
        if rejected and len(rejected) == len(lines):
            bad = rejected[0]
            where = f" field {bad.field}" if bad.field else ""
            return JSONResponse({"detail": f"No record was accepted; record {bad.index}{where}: {bad.reason}",
                                 **reply.model_dump()}, status_code=400)
        return reply

    def _incident_out(inc: Any) -> dict[str, Any]:
        out = {k: getattr(inc, k) for k in IncidentOut.model_fields if k != "manual"}
        return {**out, "opened_at": iso_utc(inc.opened_at), "manual": is_manual(inc)}

    def _ack_out(row: Mapping[str, Any]) -> dict[str, Any]:
        return {**row, "at": iso_utc(row["at"])}

    @app.get("/v1/incidents", tags=["incidents"], dependencies=auth, response_model=list[IncidentOut],
             responses={**problems, 400: {"model": Problem}})
    def incidents(model: str | None = Query(default=None, max_length=200),
                  state: str | None = Query(default=None, max_length=50,
                                            description="one of " + ", ".join(INCIDENT_STATES),
                                            json_schema_extra={"enum": list(INCIDENT_STATES)}),
                  limit: int = Query(default=100, ge=1, le=1000)) -> list[dict[str, Any]]:
        if state is not None and state not in INCIDENT_STATES:
            raise HTTPException(400, f"state must be one of {', '.join(INCIDENT_STATES)}; got {state[:50]!r}.")
        out = [i for i in store.incidents(model) if state is None or i.state == state]
        return [_incident_out(i) for i in out[-limit:]]

    def _get(incident_id: str) -> Any:
        inc = store.incident(incident_id)
        if inc is None:
            raise HTTPException(404, f"No incident has id {incident_id[:80]!r}.")
        return inc

    @app.get("/v1/incidents/{incident_id}", tags=["incidents"], dependencies=auth, response_model=IncidentDetail,
             responses={**problems, 404: {"model": Problem}})
    def incident(incident_id: str) -> dict[str, Any]:
        inc = _get(incident_id)
        actions = store.query("SELECT kind, module, status, tx_hash, block_number, error, created_at, updated_at "
                              "FROM actions WHERE incident_id = ? ORDER BY created_at", (incident_id,))
        actions = [{**a, "created_at": iso_utc(a["created_at"]), "updated_at": iso_utc(a["updated_at"])}
                   for a in actions]
        return {**_incident_out(inc), "evidence": inc.evidence_data,
                "acks": [_ack_out(a) for a in store.acks(incident_id)], "actions": actions}

    @app.get("/evidence/{incident_id}", tags=["incidents"], dependencies=[] if public_evidence else auth,
             response_class=HTMLResponse, responses={**({} if public_evidence else problems),
                                                     404: {"model": Problem}})
    def evidence_page(incident_id: str) -> HTMLResponse:
        """One incident as a read-only HTML page: what the person paged opens from the alert's link."""
        inc = _get(incident_id)
        current = engine.policy if engine is not None else policy
        page = render_incident_page(incident_view(store, inc, current))
        return HTMLResponse(page, headers=_PAGE_HEADERS)

    @app.post("/v1/incidents/{incident_id}/ack", tags=["incidents"], dependencies=auth, response_model=AckOut,
              responses={**problems, 404: {"model": Problem}})
    def ack(incident_id: str, body: AckIn) -> dict[str, Any]:
        inc = _get(incident_id)
        at = float(clock())
        store.acknowledge(inc, body.who, body.note, at)
        return {"incident_id": incident_id, "who": body.who, "note": body.note, "at": iso_utc(at)}

    @app.get("/v1/status", tags=["status"], dependencies=auth, responses=problems)
    def status_() -> dict[str, Any]:
        out: dict[str, Any] = {"version": __version__}
        current = engine.policy if engine is not None else policy  # a SIGHUP reload swaps the engine's
        if current is not None:
            out["policy"] = {"name": current.name, "hash": current.hash}
        if engine is not None:
            out["models"] = {
                m: {"ready": rt.ready, "predictions": rt.n_predictions, "labels_joined": rt.n_labels_joined,
                    "labels_unmatched": rt.n_labels_unmatched, "awaiting_label": rt.awaiting_labels()}
                for m, rt in engine.runtimes.items()}
            out["quarantined"] = dict(engine.quarantine_by_reason)
        row = store.query_one("SELECT COUNT(*) AS n FROM incidents WHERE state = 'open'")
        out["incidents"] = {"open": int(row["n"]) if row else 0}
        if status is not None:
            out.update(status())
        return out

    app.include_router(console_router(store=store, tokens=token_bytes, clock=clock, public=public_evidence,
                                      policy=lambda: engine.policy if engine is not None else policy,
                                      module_info=module_info))  # /ui
    return app

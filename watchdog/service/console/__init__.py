"""The steward console: server-rendered pages at ``/ui`` for the person on call.

``console_router(...)`` returns a FastAPI router that :func:`watchdog.service.api.create_app` mounts::

    GET  /ui                           → /ui/incidents
    GET  /ui/login, POST /ui/login     name + one of the API's tokens → a session cookie (see auth.py)
    POST /ui/logout
    GET  /ui/incidents                 open incidents first, then acknowledged, then resolved
    GET  /ui/incidents/{id}            the evidence (the statistic against its threshold around the decision,
                                       where the change began, the records' window, the policy lines that
                                       fired), the actions with their transactions and confirmations, the
                                       timeline, the acknowledgements; a veto form while an action is held,
                                       an acknowledge form
    POST /ui/incidents/{id}/ack        acknowledge (the rows ``POST /v1/incidents/{id}/ack`` writes)
    POST /ui/incidents/{id}/veto       veto the held actions (:meth:`Outbox.veto`, as ``watchdog veto``)
    GET  /ui/modules                   each module's on-chain state
    GET  /ui/static/console.{js,css}

A page without a session redirects to the login (a POST answers 401); a POST without the session's CSRF
token, or from another origin, answers 403. With ``public=True`` (``watchdog serve --public-evidence``) an
incident's page opens read-only without a login, under the same terms as ``/evidence/{id}``: one incident
whose id the reader already has, no forms; the list and the modules still need a login.

No build step and nothing from another host: the HTML is written here, the chart is inline SVG, and one
small script (hover read-out of the chart, local times as tooltips) is served from the package.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

import rules
from watchdog.errors import ConfigError
from watchdog.report.incidents import incident_view
from watchdog.report.markup import CSS
from watchdog.service.console import data, pages
from watchdog.service.console.auth import LOGIN_COOKIE, MAX_NAME, SESSION_COOKIE, Session, Sessions
from watchdog.store.store import Incident, Store

__all__ = ["console_router"]

PAGE_HEADERS = {
    "Content-Security-Policy": ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Cache-Control": "no-store",
    # not no-referrer: with it a browser sends "Origin: null" on a form's POST, and the origin check needs it
    "Referrer-Policy": "same-origin",
}
MAX_FORM_BYTES = 64 << 10
NOTICES = {"ack": "Acknowledged.", "veto": "Vetoed: the held action will not be sent."}
_NEXT = re.compile(r"^/ui(/[A-Za-z0-9._~/-]*)?$")


def _static(name: str) -> bytes:
    return resources.files("watchdog.service.console").joinpath("static", name).read_bytes()


def _safe_next(text: str | None) -> str:
    """Where to go after the login: a console path only (no open redirect)."""
    return text if text and _NEXT.match(text) and not text.startswith("//") else "/ui/incidents"


def console_router(*, store: Store, tokens: Iterable[bytes | str], clock: Callable[[], float],
                   policy: Callable[[], rules.Policy | None] = lambda: None, public: bool = False,
                   module_info: data.ModuleInfo | None = None, explorer_url: str | None = None,
                   sessions: Sessions | None = None) -> APIRouter:
    """The console's routes around the API's store and tokens (see the module docstring).

    ``policy`` returns the policy in force (a reload swaps it); ``module_info`` reads a module's on-chain
    state (:meth:`MonitorClient.module_info`), else the modules page shows what the outbox recorded;
    ``explorer_url`` links transactions and blocks (``{explorer_url}/tx/{hash}``).
    """
    auth = sessions or Sessions([t.encode() if isinstance(t, str) else t for t in tokens], clock)
    js, css = _static("console.js"), CSS.encode() + _static("console.css")
    router = APIRouter(prefix="/ui", include_in_schema=False)

    def html(text: str, status: int = 200, **headers: str) -> HTMLResponse:
        return HTMLResponse(text, status_code=status, headers={**PAGE_HEADERS, **headers})

    def session_of(request: Request) -> Session | None:
        return auth.read(request.cookies.get(SESSION_COOKIE))

    def to_login(request: Request) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/ui/login?next={quote(_safe_next(target), safe='/')}", status_code=303,
                                headers=PAGE_HEADERS)

    def chrome(s: Session) -> dict[str, Any]:
        return {"name": s.name, "csrf": auth.csrf(s)}

    def same_origin(request: Request) -> bool:
        origin = request.headers.get("origin")
        return origin is None or urlsplit(origin).netloc == request.headers.get("host")

    async def form(request: Request) -> dict[str, str]:
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM_BYTES:
                break
        if len(body) > MAX_FORM_BYTES:
            return {}
        fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=20)
        return {k: v[0] for k, v in fields.items()}

    def refuse(status: int, title: str, text: str, s: Session | None = None) -> HTMLResponse:
        return html(pages.message_page(title, text, **(chrome(s) if s else {})), status)

    # static ---------------------------------------------------------------------------------------

    @router.get("/static/console.js")
    def script() -> Response:
        return Response(js, media_type="text/javascript", headers={"Cache-Control": "no-cache",
                                                                  "X-Content-Type-Options": "nosniff"})

    @router.get("/static/console.css")
    def style() -> Response:
        return Response(css, media_type="text/css", headers={"Cache-Control": "no-cache",
                                                            "X-Content-Type-Options": "nosniff"})

    # login ----------------------------------------------------------------------------------------

    def login_form(next_url: str, error: str | None = None, name: str = "", status: int = 200) -> HTMLResponse:
        nonce = auth.login_nonce()
        resp = html(pages.login_page(csrf=auth.login_csrf(nonce), next_url=next_url, error=error, name=name), status)
        resp.set_cookie(LOGIN_COOKIE, nonce, max_age=3600, path="/ui", httponly=True, samesite="strict")
        return resp

    @router.get("")
    @router.get("/")
    def home() -> Response:
        return RedirectResponse("/ui/incidents", status_code=303)

    @router.get("/login")
    def login_get(request: Request, next: str | None = None) -> Response:
        if session_of(request) is not None:
            return RedirectResponse(_safe_next(next), status_code=303)
        return login_form(_safe_next(next))

    @router.post("/login")
    async def login_post(request: Request) -> Response:
        f = await form(request)
        if not same_origin(request) or not auth.login_csrf_ok(request.cookies.get(LOGIN_COOKIE), f.get("csrf")):
            return login_form(_safe_next(f.get("next")), "The login form has expired or came from another site; "
                                                         "log in again from this page.", status=403)
        name = f.get("name", "").strip()
        next_url = _safe_next(f.get("next"))
        if not name or len(name) > MAX_NAME:
            return login_form(next_url, f"Give your name (1 to {MAX_NAME} characters): it is recorded with what "
                                        "you acknowledge and veto.", status=400)
        token = auth.token_ok(f.get("token", ""))
        if token is None:
            return login_form(next_url, "The token is not valid: give one of the watchdog's API tokens.",
                              name=name, status=401)
        resp = RedirectResponse(next_url, status_code=303, headers=PAGE_HEADERS)
        resp.set_cookie(SESSION_COOKIE, auth.issue(name, token), max_age=int(auth.max_age), path="/ui",
                        httponly=True, samesite="strict", secure=request.url.scheme == "https")
        resp.delete_cookie(LOGIN_COOKIE, path="/ui")
        return resp

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        s = session_of(request)
        f = await form(request)
        if s is not None and not (same_origin(request) and auth.csrf_ok(s, f.get("csrf"))):
            return refuse(403, "Refused", "The form's security token is missing or wrong; reload the page.", s)
        resp = RedirectResponse("/ui/login", status_code=303, headers=PAGE_HEADERS)
        resp.delete_cookie(SESSION_COOKIE, path="/ui")
        return resp

    # pages ----------------------------------------------------------------------------------------

    @router.get("/incidents")
    def incidents(request: Request) -> Response:
        s = session_of(request)
        if s is None:
            return to_login(request)
        return html(pages.incidents_page(data.incident_rows(store), **chrome(s)))

    def find(incident_id: str) -> Incident | None:
        return store.incident(incident_id) if len(incident_id) <= 200 else None

    def incident_html(inc: Incident, s: Session | None, notice: str | None = None,
                      error: str | None = None) -> str:
        current = policy()
        view = incident_view(store, inc, current)
        # the data clock's events as the view orders them, then the watchdog's, the outbox's steps among them
        recorded = [e for e in view["timeline"] if e["clock"] == "recorded"] + data.outbox_events(store, inc.id)
        timeline = ([e for e in view["timeline"] if e["clock"] != "recorded"]
                    + sorted(recorded, key=lambda e: data.timestamp(e["at"]) or 0.0))
        return pages.incident_page(
            inc, view, s=data.series(store, inc), held=data.holdable(store, inc.id),
            confirmed=data.confirmations(store, inc.id), timeline=timeline, policy=current,
            csrf=auth.csrf(s) if s else None, name=s.name if s else None, notice=notice, error=error,
            explorer_url=explorer_url)

    @router.get("/incidents/{incident_id}")
    def incident(request: Request, incident_id: str, done: str | None = None) -> Response:
        s = session_of(request)
        if s is None and not public:
            return to_login(request)
        inc = find(incident_id)
        if inc is None:
            return refuse(404, "No such incident", f"No incident has id {incident_id[:80]!r}.", s)
        return html(incident_html(inc, s, notice=NOTICES.get(done or "")))

    async def act(request: Request, incident_id: str,
                  do: Callable[[Incident, Session, dict[str, str]], str | None], done: str) -> Response:
        s = session_of(request)
        if s is None:
            return html(pages.message_page("Log in first", "This needs a login: your session is missing or has "
                                                           "expired."), 401)
        f = await form(request)
        if not same_origin(request) or not auth.csrf_ok(s, f.get("csrf")):
            return refuse(403, "Refused", "The form's security token is missing or wrong (an old page, or a "
                                          "form from another site); reload the incident and try again.", s)
        inc = await run_in_threadpool(find, incident_id)
        if inc is None:
            return refuse(404, "No such incident", f"No incident has id {incident_id[:80]!r}.", s)
        error = await run_in_threadpool(do, inc, s, f)
        if error is not None:
            page = await run_in_threadpool(incident_html, inc, s, None, error)
            return html(page, 409)
        return RedirectResponse(f"/ui/incidents/{quote(inc.id)}?done={done}", status_code=303,
                                headers=PAGE_HEADERS)

    def do_ack(inc: Incident, s: Session, f: dict[str, str]) -> str | None:
        note = f.get("note", "").strip()
        if len(note) > 4000:
            return f"The note has {len(note)} characters; keep it to 4000."
        data.acknowledge(store, inc, s.name, note, float(clock()))
        return None

    def do_veto(inc: Incident, s: Session, f: dict[str, str]) -> str | None:
        reason = f.get("reason", "").strip()
        if not reason:
            return "A veto needs a reason: say why the action must not be sent."
        try:
            data.veto(store, inc.id, s.name, reason[:2000], clock)
        except ConfigError as e:
            return str(e)
        return None

    @router.post("/incidents/{incident_id}/ack")
    async def ack(request: Request, incident_id: str) -> Response:
        return await act(request, incident_id, do_ack, "ack")

    @router.post("/incidents/{incident_id}/veto")
    async def veto(request: Request, incident_id: str) -> Response:
        return await act(request, incident_id, do_veto, "veto")

    @router.get("/modules")
    def modules(request: Request) -> Response:
        s = session_of(request)
        if s is None:
            return to_login(request)
        rows = data.module_states(store, policy(), module_info)
        return html(pages.modules_page(rows, live=module_info is not None, explorer_url=explorer_url,
                                       **chrome(s)))

    return router

"""The steward console at /ui: plain HTTP (sessions, cookie flags, CSRF, read-only access, the pages' content)
and one steward's walk through it in headless Chromium (log in, open the incident, veto, ack)."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

import rules
from tests.anvil import AnvilNode
from tests.fixtures import deploy
from watchdog.actions.chain import MonitorClient, Signer, connect
from watchdog.actions.outbox import Outbox
from watchdog.service.api import create_app
from watchdog.service.console import console_router
from watchdog.service.console.auth import SESSION_COOKIE, Sessions
from watchdog.store.store import Store

from ..api.conftest import serve
from .conftest import HELD_RULE, TOKEN, Console, policy_file

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "console"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def client(c: Console) -> httpx.Client:
    return httpx.Client(base_url=c.url, timeout=10, follow_redirects=False)


def login(h: httpx.Client, name: str = "alice", token: str = TOKEN) -> httpx.Response:
    page = h.get("/ui/login")
    m = CSRF.search(page.text)
    assert m, page.text
    return h.post("/ui/login", data={"csrf": m.group(1), "name": name, "token": token, "next": "/ui/incidents"})


def csrf_of(h: httpx.Client, path: str) -> str:
    m = CSRF.search(h.get(path).text)
    assert m
    return m.group(1)


def acks(c: Console, incident_id: str) -> list[dict]:
    return c.store.acks(incident_id)


# without a session -----------------------------------------------------------------------------------

def test_without_a_session_pages_send_to_the_login_and_posts_are_401(console: Console) -> None:
    with client(console) as h:
        for path in ("/ui/incidents", f"/ui/incidents/{console.held}", "/ui/modules"):
            r = h.get(path)
            assert r.status_code == 303 and r.headers["location"] == f"/ui/login?next={path}", path
        page = h.get("/ui/login")
        assert page.status_code == 200 and 'name="token" id="token" type="password"' in page.text
        for what in ("ack", "veto"):
            r = h.post(f"/ui/incidents/{console.held}/{what}", data={"note": "x", "reason": "x"})
            assert r.status_code == 401 and "needs a login" in r.text
    assert acks(console, console.held) == []
    assert console.store.action(console.held, "pause").status == "held"  # type: ignore[union-attr]


def test_login_sets_a_signed_httponly_samesite_strict_cookie_holding_no_token(console: Console) -> None:
    with client(console) as h:
        r = login(h)
        assert r.status_code == 303 and r.headers["location"] == "/ui/incidents"
        cookie = next(v for v in r.headers.get_list("set-cookie") if v.startswith(SESSION_COOKIE + "="))
        flags = [f.strip().lower() for f in cookie.split(";")]
        assert "httponly" in flags and "samesite=strict" in flags and "path=/ui" in flags
        assert "secure" not in flags  # plain http on loopback; set when the console is reached over https
        assert TOKEN not in cookie
        value = h.cookies[SESSION_COOKIE]
        assert h.get("/ui/incidents").status_code == 200
        # one character changed in the signed payload: not a session
        forged = ("A" if value[0] != "A" else "B") + value[1:]
        h.cookies.set(SESSION_COOKIE, forged, path="/ui")
        assert h.get("/ui/incidents").status_code == 303


def test_a_wrong_token_or_no_name_is_refused_with_a_sentence(console: Console) -> None:
    with client(console) as h:
        r = login(h, token="not-the-token-0123456789")
        assert r.status_code == 401 and "The token is not valid" in r.text
        assert SESSION_COOKIE not in h.cookies
        r = login(h, name="   ")
        assert r.status_code == 400 and "Give your name" in r.text
        # the login form's own CSRF token: a post without it (or from another page) is refused
        r = h.post("/ui/login", data={"name": "mallory", "token": TOKEN, "csrf": "0" * 64})
        assert r.status_code == 403 and SESSION_COOKIE not in h.cookies


def test_the_next_page_after_the_login_stays_in_the_console(console: Console) -> None:
    with client(console) as h:
        m = CSRF.search(h.get("/ui/login").text)
        assert m
        r = h.post("/ui/login", data={"csrf": m.group(1), "name": "a", "token": TOKEN, "next": "//evil.example/x"})
        assert r.status_code == 303 and r.headers["location"] == "/ui/incidents"


def test_a_post_without_the_sessions_csrf_token_is_403_and_changes_nothing(console: Console) -> None:
    with client(console) as h, client(console) as other:
        login(h)
        login(other, name="bob")
        theirs = csrf_of(other, f"/ui/incidents/{console.held}")
        mine = csrf_of(h, f"/ui/incidents/{console.held}")
        for form in ({}, {"csrf": ""}, {"csrf": "0" * 64}, {"csrf": theirs}):
            for what in ("ack", "veto"):
                r = h.post(f"/ui/incidents/{console.held}/{what}", data={**form, "note": "n", "reason": "r"})
                assert r.status_code == 403 and "security token" in r.text, (form, what)
        # the right token from another origin (a browser names the page the form was on)
        r = h.post(f"/ui/incidents/{console.held}/ack", data={"csrf": mine, "note": "n"},
                   headers={"Origin": "http://evil.example"})
        assert r.status_code == 403
        assert acks(console, console.held) == []
        assert console.store.action(console.held, "pause").status == "held"  # type: ignore[union-attr]
        assert console.store.incident(console.held).state == "open"  # type: ignore[union-attr]
        r = h.post(f"/ui/incidents/{console.held}/ack", data={"csrf": mine, "note": "looking"},
                   headers={"Origin": console.url})
        assert r.status_code == 303 and r.headers["location"].endswith("?done=ack")
    assert [(a["who"], a["note"]) for a in acks(console, console.held)] == [("alice", "looking")]


def test_logout_ends_the_session(console: Console) -> None:
    with client(console) as h:
        login(h)
        r = h.post("/ui/logout", data={"csrf": csrf_of(h, "/ui/incidents")})
        assert r.status_code == 303 and h.get("/ui/incidents").status_code == 303


def test_veto_and_ack_through_the_forms_write_what_the_cli_and_api_write(console: Console) -> None:
    with client(console) as h:
        login(h, name="carol")
        token = csrf_of(h, f"/ui/incidents/{console.held}")
        r = h.post(f"/ui/incidents/{console.held}/veto", data={"csrf": token, "reason": ""})
        assert r.status_code == 409 and "A veto needs a reason" in r.text
        r = h.post(f"/ui/incidents/{console.held}/veto", data={"csrf": token, "reason": "maintenance window"})
        assert r.status_code == 303
        page = h.get(r.headers["location"]).text
        assert "Vetoed: the held action will not be sent." in page and 'class="veto"' not in page
        r = h.post(f"/ui/incidents/{console.held}/veto", data={"csrf": token, "reason": "again"})
        assert r.status_code == 303  # vetoed already: the outbox says so and changes nothing
        other = console.incidents["RiskScoreError"]  # no on-chain action at all
        r = h.post(f"/ui/incidents/{other}/veto", data={"csrf": token, "reason": "r"})
        assert r.status_code == 409 and "No on-chain action of incident" in r.text
        r = h.post(f"/ui/incidents/{console.held}/ack", data={"csrf": token, "note": "vetoed, watching"})
        assert r.status_code == 303
        assert h.post("/ui/incidents/0xnope/ack", data={"csrf": token}).status_code == 404
    action = console.store.action(console.held, "pause")
    assert action is not None and action.status == "vetoed" and action.error == "vetoed by carol: maintenance window"
    audit = [(r["event"], json.loads(r["detail"])) for r in console.store.audit_log()
             if r["incident_id"] == console.held]
    assert ("action_vetoed", {"action": "pause", "by": "carol", "reason": "maintenance window"}) in audit
    assert ("incident_acknowledged", {"who": "carol", "note": "vetoed, watching"}) in audit
    assert console.store.incident(console.held).state == "acknowledged"  # type: ignore[union-attr]


@pytest.mark.slow  # the first PostgreSQL server of the session starts here (initdb: ~8 s)
def test_on_postgresql_the_pages_and_the_forms_work_as_on_sqlite(pg_console: Console) -> None:
    assert pg_console.store.backend == "postgresql"
    with client(pg_console) as h:
        login(h, name="erin")
        assert h.get("/ui/incidents").text.count('<tr class="state-open">') == len(pg_console.incidents)
        page = h.get(f"/ui/incidents/{pg_console.held}").text
        assert 'class="series"' in page and f"- name: {HELD_RULE}" in page
        token = csrf_of(h, "/ui/modules")
        assert h.post(f"/ui/incidents/{pg_console.held}/veto", data={"csrf": token, "reason": "r"}).status_code == 303
        assert h.post(f"/ui/incidents/{pg_console.held}/ack", data={"csrf": token, "note": "n"}).status_code == 303
    assert pg_console.store.action(pg_console.held, "pause").status == "vetoed"  # type: ignore[union-attr]
    assert [a["who"] for a in pg_console.store.acks(pg_console.held)] == ["erin"]


# the pages -----------------------------------------------------------------------------------------

def test_the_incident_list_puts_open_incidents_first(console: Console) -> None:
    with client(console) as h:
        login(h)
        newest = max(console.store.incidents(), key=lambda i: i.opened_at)
        token = csrf_of(h, f"/ui/incidents/{newest.id}")
        assert h.post(f"/ui/incidents/{newest.id}/ack", data={"csrf": token}).status_code == 303
        page = h.get("/ui/incidents")
    assert page.headers["content-security-policy"].startswith("default-src 'none'; script-src 'self'")
    states = re.findall(r'<tr class="state-([a-z]+)">', page.text)
    assert states == ["open"] * (len(states) - 1) + ["acknowledged"]
    assert "pause <span class=\"status held\">held</span>" in page.text


def test_the_incident_page_charts_the_statistic_around_the_decision(console: Console) -> None:
    with client(console) as h:
        login(h)
        page = h.get(f"/ui/incidents/{console.held}").text
    svg = page[page.index("<svg"):page.index("</svg>")]
    assert 'class="series"' in svg and 'class="threshold"' in svg and 'class="decision"' in svg
    assert 'class="change"' in svg and 'class="window"' in svg and "log scale" in svg  # p-values: decades
    points = json.loads(re.search(r'data-points="([^"]+)"', svg).group(1).replace("&quot;", '"'))  # type: ignore[union-attr]
    n = console.store.query_one("SELECT COUNT(*) AS n FROM evaluation_stats WHERE detector = 'ks_utilization' AND "
                                "statistic = 'p_value'")
    assert 10 <= len(points) <= n["n"]  # type: ignore[index]
    # the policy lines that fired, read from the policy file at the rule's line
    assert re.search(r"policy\.yaml:\d+</code>", page)
    assert f"- name: {HELD_RULE}" in page and "threshold: 1.0e-6" in page
    assert "Where the change began</th><td class=wrap>record <code>req-00" in page and "Records&#x27; window" in page
    assert "held for a steward&#x27;s veto until" in page and 'id="veto"' in page


def test_without_a_series_the_chart_shows_the_evidences_two_numbers(console: Console) -> None:
    console.store.execute("DELETE FROM evaluation_stats")
    with client(console) as h:
        login(h)
        page = h.get(f"/ui/incidents/{console.held}").text
    assert "The store holds no evaluations of ks_utilization.p_value" in page
    assert 'class="bar series"' in page and 'class="bar threshold"' in page


def test_the_modules_page_shows_what_the_outbox_recorded(console: Console) -> None:
    with client(console) as h:
        login(h)
        page = h.get("/ui/modules").text
    assert "lending-risk" in page and "0x8d61c3afcfe716c6c97025d61bbb476206c46dcb" in page
    assert f'<a href="/ui/incidents/{console.held}">pause held</a>' in page
    assert "no chain reader is given to the console" in page


def test_with_public_evidence_an_incident_opens_read_only_and_the_list_still_needs_a_login(
        public_console: Console) -> None:
    with client(public_console) as h:
        page = h.get(f"/ui/incidents/{public_console.held}")
        assert page.status_code == 200 and "Read-only view" in page.text
        assert "<form" not in page.text and "<svg" in page.text
        assert h.get("/ui/incidents").status_code == 303 and h.get("/ui/modules").status_code == 303
        r = h.post(f"/ui/incidents/{public_console.held}/veto", data={"reason": "x"})
        assert r.status_code == 401


def test_sessions_expire_and_die_with_their_token() -> None:
    now = [1000.0]
    s = Sessions([b"a" * 20, b"b" * 20], lambda: now[0], max_age=60)
    cookie = s.issue("alice", b"b" * 20)
    assert s.read(cookie).name == "alice"  # type: ignore[union-attr]
    now[0] += 61
    assert s.read(cookie) is None
    fresh = s.issue("alice", b"b" * 20)
    assert Sessions([b"a" * 20], lambda: now[0], secret=s._secret).read(fresh) is None  # its token was removed
    assert Sessions([b"b" * 20], lambda: now[0]).read(fresh) is None  # another process: another secret
    assert s.token_ok("a" * 20) == b"a" * 20 and s.token_ok("a" * 19) is None
    with pytest.raises(ValueError, match="max_age must be positive"):
        Sessions([b"a" * 20], lambda: 0.0, max_age=0)


# in a browser ------------------------------------------------------------------------------------------

@pytest.fixture
def browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    webdriver = pytest.importorskip("selenium.webdriver")
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.skip("needs Debian chromium and chromium-driver (scripts/bootstrap.sh --test installs them)")
    monkeypatch.setenv("SE_OFFLINE", "true")  # the system browser and driver; nothing is downloaded
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,2400",
                f"--user-data-dir={tmp_path / 'profile'}", "--no-first-run", "--disable-extensions"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(options=opts, service=webdriver.ChromeService(executable_path=driver))
    d.set_page_load_timeout(20)
    try:
        yield d
    finally:
        d.quit()


def test_a_steward_logs_in_vetoes_the_held_pause_and_acknowledges_in_a_browser(
        console: Console, browser: object, tmp_path: Path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    d: WebDriver = browser  # type: ignore[assignment]

    def click_and_wait(element_id: str, url: str) -> None:
        d.find_element(By.ID, element_id).click()
        WebDriverWait(d, 10).until(ec.url_to_be(url))
        WebDriverWait(d, 10).until(lambda drv: drv.execute_script("return document.readyState") == "complete")

    page = f"{console.url}/ui/incidents/{console.held}"
    d.get(f"{console.url}/ui/incidents")
    assert d.current_url.startswith(f"{console.url}/ui/login?next=")
    d.find_element(By.ID, "name").send_keys("dana")
    d.find_element(By.ID, "token").send_keys(TOKEN)
    click_and_wait("login", f"{console.url}/ui/incidents")
    rows = d.find_elements(By.CSS_SELECTOR, "table.incidents tr.state-open")
    assert len(rows) == len(console.incidents)
    shots = [("incidents.png", d.get_screenshot_as_png())]
    d.find_element(By.XPATH, f"//a[@href='/ui/incidents/{console.held}']").click()
    WebDriverWait(d, 10).until(ec.url_to_be(page))

    # the chart is drawn, and the script's read-out follows the pointer
    chart = d.find_element(By.CSS_SELECTOR, "svg.chart")
    assert chart.size["width"] > 300
    ActionChains(d).move_to_element(chart).perform()
    readout = d.find_element(By.CSS_SELECTOR, "output.readout").text
    assert re.fullmatch(r"\S+ at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", readout), readout
    assert d.find_element(By.CSS_SELECTOR, "time[datetime]").get_attribute("title").startswith("your local time")

    shots.append(("incident-held.png", d.get_screenshot_as_png()))
    d.find_element(By.ID, "veto-reason").send_keys("maintenance window: the drift is the planned migration")
    click_and_wait("veto", page + "?done=veto")
    assert "Vetoed" in d.find_element(By.CSS_SELECTOR, "p.notice").text
    assert d.find_element(By.CSS_SELECTOR, "tr.action-pause td.status").text == "vetoed"
    assert d.find_elements(By.CSS_SELECTOR, "tr.event-action_vetoed")
    d.find_element(By.ID, "ack-note").send_keys("vetoed; watching the pool")
    click_and_wait("ack", page + "?done=ack")
    assert d.find_element(By.ID, "state").text == "acknowledged"
    shots.append(("incident-vetoed-acknowledged.png", d.get_screenshot_as_png()))
    d.find_element(By.LINK_TEXT, "Modules").click()
    WebDriverWait(d, 10).until(ec.url_to_be(f"{console.url}/ui/modules"))
    assert d.find_element(By.CSS_SELECTOR, "table.modules tr.module").text.startswith("lending-risk")

    errors = [e for e in d.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert errors == []  # no script error, no CSP violation, no missing resource
    d.execute_script("console.error('console-probe')")  # and the log would have shown one
    assert any("console-probe" in e["message"] for e in d.get_log("browser"))

    action = console.store.action(console.held, "pause")
    assert action is not None and action.status == "vetoed"
    assert action.error == "vetoed by dana: maintenance window: the drift is the planned migration"
    assert [(a["who"], a["note"]) for a in console.store.acks(console.held)] == [("dana", "vetoed; watching the pool")]
    assert console.store.incident(console.held).state == "acknowledged"  # type: ignore[union-attr]

    # kept in the test's folder and in test-artifacts/console/ (ignored by git)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for name, png in shots:
        assert png.startswith(b"\x89PNG") and len(png) > 20_000, name
        (tmp_path / name).write_bytes(png)
        part = ARTIFACTS / f"{name}.{os.getpid()}"
        part.write_bytes(png)
        os.replace(part, ARTIFACTS / name)  # suites may run side by side: whole files only


# against a chain ------------------------------------------------------------------------------------------

def test_on_anvil_the_console_shows_the_mined_pause_its_confirmations_and_the_modules_live_state(
        template: Path, tmp_path: Path, node: AnvilNode) -> None:
    """A real outbox pauses the module on anvil; the console reads the monitor for the modules page."""
    shutil.copyfile(template, tmp_path / "w.db")
    address = deploy(node)
    w3 = connect(node.url)
    client = MonitorClient(w3, address, Signer.from_key(node.accounts[3].private_key))
    policy = rules.load_policy(policy_file(tmp_path))
    with Store(tmp_path / "w.db") as store:
        inc = next(i for i in store.incidents() if i.rule == "VolatilityRegimeShift")
        store.execute("DELETE FROM actions WHERE incident_id = ?", (inc.id,))  # the dry run's row
        outbox = Outbox(store, client, confirmations=1)
        item = outbox.enqueue(incident_id=inc.id, kind="pause", module="lending-risk",
                              module_id=rules.module_id_bytes32("lending-risk"), evidence_hash=inc.evidence_hash)
        item = outbox.step(item.action_id, wait=10)
        assert item.status == "confirmed", item
        plain = create_app(store=store, registry=CollectorRegistry(), tokens=[TOKEN], policy=policy,
                           module_info=client.module_info)  # as watchdog serve builds it, with its chain client
        app = FastAPI()
        app.include_router(console_router(store=store, tokens=[TOKEN], clock=time.time, policy=lambda: policy,
                                          module_info=client.module_info, explorer_url="https://explorer.example"))
        for url in serve(plain):
            with httpx.Client(base_url=url, timeout=10) as h:
                login(h)
                served = h.get("/ui/modules").text
        assert "read from the monitor contract now" in served and "<b class=breach>PAUSED</b>" in served
        for url in serve(app):
            with httpx.Client(base_url=url, timeout=10) as h:
                login(h)
                page = h.get(f"/ui/incidents/{inc.id}").text
                modules = h.get("/ui/modules").text
    assert f'href="https://explorer.example/tx/{item.tx_hash}"' in page
    assert f'href="https://explorer.example/block/{item.block_number}"' in page
    row = page[page.index('<tr class="action-pause">'):]
    row = row[:row.index("</tr>")]
    assert '<td class="status confirmed">confirmed</td>' in row and "<td class=num>1</td>" in row
    for event in ("action_intent", "action_sent", "action_mined", "action_confirmed"):
        assert f'<tr class="event-{event}">' in page, event
    assert "read from the monitor contract now" in modules and "<b class=breach>PAUSED</b>, version 1" in modules
    assert "pause confirmed in block" in modules

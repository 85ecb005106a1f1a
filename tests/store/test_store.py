"""The store's behaviour, the same on SQLite and PostgreSQL (the ``store_url`` fixture runs both)."""

from __future__ import annotations

import threading

import pytest

from watchdog.store.db import statements, to_postgres
from watchdog.store.store import MIGRATIONS, Incident, Store, StoreError


def incident(i: str = "0x01", opened_at: float = 10.0) -> Incident:
    return Incident(id=i, model="m", rule="R", tier="critical", opened_at=opened_at, record_index=5,
                    policy_hash="ab", dry_run=False, evidence='{"a":1}', evidence_hash="0xee", state="open")


def test_schema_is_migrated_and_reopening_keeps_data(store_url):
    with Store(store_url) as s:
        assert s.schema_version == len(MIGRATIONS)
        assert s.add_incident(incident())
        names = [r["name"] for r in s.query("SELECT name FROM schema_migrations ORDER BY name")]
        assert names == [n for n, _ in MIGRATIONS]
    with Store(store_url) as s:
        assert s.schema_version == len(MIGRATIONS)
        assert s.incident("0x01").evidence_data == {"a": 1}
        assert s.incident("0x01").dry_run is False


def test_incident_insert_is_idempotent(store_url):
    with Store(store_url) as s:
        assert s.add_incident(incident())
        assert not s.add_incident(incident())
        assert len(s.incidents()) == 1 and s.incidents("other") == []
        s.set_incident_state("0x01", "acknowledged")
        assert s.incident("0x01").state == "acknowledged"
        assert s.incident("0x02") is None


def test_action_intent_then_outcome(store_url):
    with Store(store_url) as s:
        s.add_incident(incident())
        a = s.add_action("0x01", "pause", "mod", now=1.0)
        assert a.status == "intent" and a.tx_hash is None
        again = s.add_action("0x01", "pause", "mod", now=2.0)
        assert again.id == a.id and again.created_at == 1.0
        s.update_action(a.id, 3.0, status="mined", tx_hash="0xabc", block_number=2**40)
        got = s.action("0x01", "pause")
        assert (got.status, got.tx_hash, got.block_number, got.updated_at) == ("mined", "0xabc", 2**40, 3.0)
        assert [x.id for x in s.actions("mined")] == [a.id] and s.actions("intent") == []


def test_action_needs_an_existing_incident(store_url):
    with Store(store_url) as s, pytest.raises(s.IntegrityError):
        s.add_action("0xmissing", "pause", "mod", now=1.0)


def test_store_from_a_newer_watchdog_is_refused(store_url):
    with Store(store_url) as s:
        s.execute("INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)", ("9999_from_the_future", 1.0))
    with pytest.raises(StoreError, match="9999_from_the_future, newer than this watchdog"):
        Store(store_url)


def test_audit_log_keeps_order_and_policy_hash(store_url):
    with Store(store_url) as s:
        s.audit(1.0, "run_started", {"x": 1}, policy_hash="h")
        s.audit(2.0, "alert", {"y": 2}, model="m", rule="R")
        rows = list(s.audit_log())
        assert [r["event"] for r in rows] == ["run_started", "alert"] and rows[0]["policy_hash"] == "h"
        assert rows[1]["id"] > rows[0]["id"]


def test_transaction_rolls_back_everything_on_error(store_url):
    with Store(store_url) as s:
        with pytest.raises(ZeroDivisionError), s.transaction():
            s.add_incident(incident("0x01"))
            s.audit(1.0, "x", {})
            raise ZeroDivisionError
        assert s.incidents() == [] and list(s.audit_log()) == []
        with s.transaction():
            s.add_incident(incident("0x01"))
            with s.transaction():  # nested: joins the outer one
                s.add_incident(incident("0x02"))
        assert [i.id for i in s.incidents()] == ["0x01", "0x02"]


def test_an_error_inside_a_nested_transaction_undoes_the_outer_one(store_url):
    with Store(store_url) as s:
        with pytest.raises(s.IntegrityError), s.transaction():
            s.add_incident(incident("0x01"))
            with s.transaction():
                s.add_action("0xmissing", "pause", "mod", now=1.0)
        assert s.incidents() == []
        assert s.add_incident(incident("0x03"))  # the store is usable afterwards


def test_literals_with_question_marks_and_percent_signs_are_kept(store_url):
    with Store(store_url) as s:
        s.audit(1.0, "odd", {"q": "what?", "p": "100%"}, model="a?b", rule="50%")
        row = s.query_one("SELECT detail, model FROM audit WHERE rule = '50%' AND model LIKE 'a?%' AND id > ?", (0,))
        assert row is not None and row["model"] == "a?b" and '"what?"' in row["detail"]
        assert s.query_one("SELECT COUNT(*) AS n FROM audit WHERE event = 'odd'")["n"] == 1


def test_upsert_and_returning_are_portable(store_url):
    with Store(store_url) as s:
        sql = ("INSERT INTO source_offsets (instance, source, position, updated_at) VALUES (?,?,?,?)"
               " ON CONFLICT (instance, source) DO UPDATE SET position = excluded.position,"
               " updated_at = excluded.updated_at")
        s.execute(sql, ("i", "a.jsonl", '{"offset": 1}', 1.0))
        s.execute(sql, ("i", "a.jsonl", '{"offset": 5000000000}', 2.0))
        assert s.query("SELECT position, updated_at FROM source_offsets") == [
            {"position": '{"offset": 5000000000}', "updated_at": 2.0}]
        rows = s.query("INSERT INTO audit (at, event, detail) VALUES (?, ?, ?) RETURNING id", (1.0, "e", "{}"))
        assert len(rows) == 1 and isinstance(rows[0]["id"], int)
        assert s.query_one("SELECT id FROM audit WHERE id = ?", (rows[0]["id"],)) is not None


def test_threads_sharing_a_store_do_not_mix_their_transactions(store_url):
    with Store(store_url) as s:
        errors: list[BaseException] = []

        def worker(k: int) -> None:
            try:
                for j in range(20):
                    with s.transaction():
                        s.add_incident(incident(f"0x{k}-{j}", opened_at=float(j)))
                        s.audit(float(j), "opened", {}, incident_id=f"0x{k}-{j}")
            except BaseException as e:  # pragma: no cover - reported below
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert len(s.incidents()) == 80 and len(list(s.audit_log())) == 80


def test_replicas_opening_a_fresh_store_together_migrate_once(store_url):
    stores: list[Store] = []
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            stores.append(Store(store_url))
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [st.schema_version for st in stores] == [len(MIGRATIONS)] * 4
    assert stores[0].query_one("SELECT COUNT(*) AS n FROM schema_migrations")["n"] == len(MIGRATIONS)
    for st in stores:
        st.close()


def test_a_url_that_is_not_postgres_is_refused():
    with pytest.raises(StoreError, match="neither a file path nor a postgresql:// URL"):
        Store("mysql://root@localhost/db")


def test_an_unreachable_postgres_names_the_store_without_its_password():
    with pytest.raises(StoreError) as e:
        Store("postgresql://u:s3cret@127.0.0.1:1/db")
    assert "could not be reached" in str(e.value) and "s3cret" not in str(e.value)


# translation (pure functions) ------------------------------------------------------------------


def test_placeholders_are_translated_outside_literals_only():
    assert to_postgres("SELECT * FROM t WHERE a = ? AND b = '?' AND c LIKE '5%'") == (
        "SELECT * FROM t WHERE a = %s AND b = '?' AND c LIKE '5%%'")
    assert to_postgres("SELECT '?' FROM t", params=False) == "SELECT '?' FROM t"


def test_ddl_types_are_translated_for_postgres():
    ddl = to_postgres("CREATE TABLE x (id INTEGER PRIMARY KEY AUTOINCREMENT, n INTEGER, v REAL, "
                      "real_name TEXT DEFAULT 'REAL', b BLOB)", ddl=True, params=False)
    assert ddl == ("CREATE TABLE x (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, n BIGINT, "
                   "v DOUBLE PRECISION, real_name TEXT DEFAULT 'REAL', b BYTEA)")


def test_statements_split_on_semicolons_outside_literals_and_comments():
    sql = "-- a comment; with a semicolon\nCREATE TABLE a (x TEXT DEFAULT ';');\n\nINSERT INTO a VALUES ('x');\n"
    assert statements(sql) == ["CREATE TABLE a (x TEXT DEFAULT ';')", "INSERT INTO a VALUES ('x')"]


def test_an_audit_entry_about_an_incident_carries_its_policy_hash(store_url):
    with Store(store_url) as s:
        s.add_incident(incident("0x01"))
        s.audit(3.0, "action_mined", {"tx_hash": "0xabc"}, incident_id="0x01")  # as the outbox writes it
        s.audit(4.0, "note", {}, incident_id="0xunknown")
        s.audit(5.0, "alert", {}, model="m2", rule="R2", incident_id="0x01", policy_hash="other")
        rows = list(s.audit_log())
        assert [(r["model"], r["rule"], r["policy_hash"]) for r in rows] == [
            ("m", "R", "ab"), (None, None, None), ("m2", "R2", "other")]


def _terminate(pg, pid: int) -> None:
    """Kill one server backend, as a PostgreSQL restart or a failover would, and wait until it is gone."""
    import time

    import psycopg

    with psycopg.connect(pg.url(), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        deadline = time.monotonic() + 10
        while admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
            assert time.monotonic() < deadline, "the backend did not exit"
            time.sleep(0.01)


def test_a_lost_postgres_connection_is_opened_again_between_transactions(pg_server):
    import psycopg

    with Store(pg_server.create_schema("reconnect")) as s:
        s.add_incident(incident("0x01"))
        pid = s.query_one("SELECT pg_backend_pid() AS pid")["pid"]
        _terminate(pg_server, pid)
        assert s.incident("0x01") is not None  # the statement was retried on a new connection
        pid = s.query_one("SELECT pg_backend_pid() AS pid")["pid"]
        with pytest.raises(psycopg.OperationalError), s.transaction():  # inside one: the caller's error
            s.add_incident(incident("0x02"))
            _terminate(pg_server, pid)
            s.add_incident(incident("0x03"))
        assert [i.id for i in s.incidents()] == ["0x01"]  # nothing of the lost transaction was kept
        with s.transaction():
            s.add_incident(incident("0x04"))
        assert [i.id for i in s.incidents()] == ["0x01", "0x04"]


def test_the_store_path_shown_to_people_has_no_password(pg_server):
    url = pg_server.create_schema("shown").replace("postgres@", "postgres:s3cret@")  # trust auth ignores it
    with Store(url) as s:
        assert "s3cret" not in s.path and s.path.startswith("postgresql://postgres:***@127.0.0.1:")

"""The store contract for accounts, wall tokens and the audit log (both backends).

Append-only is enforced by the database (a trigger), tampering is found by the
hash chain, and an audit row lands in the same transaction as the write it
records — or neither lands.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
import test_store_contract as contract
from test_store_contract import _district, _incidents

from gridmap.accounts import Account, hash_password, token_digest, verify_password
from gridmap.audit import AuditEntry
from gridmap.errors import InputError
from gridmap.store.gpkg import GeoPackageStore

#: An empty store of each backend (the contract's fixture).
store = contract.store


def _entry(action: str = "user_change", target: str = "", **detail) -> AuditEntry:
    return AuditEntry("root", "admin", "cli", action, target, detail)


def _tamper(store, sql: str) -> None:
    """Change the store behind gridmap's back, as someone with sqlite3 or psql could."""
    if isinstance(store, GeoPackageStore):
        con = sqlite3.connect(store.path)
        con.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        con.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
        con.execute(sql)
        con.commit()
        con.close()
    else:
        with store.engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE audit_log DISABLE TRIGGER USER")
            conn.exec_driver_sql(sql)
            conn.exec_driver_sql("ALTER TABLE audit_log ENABLE TRIGGER USER")


def test_users_round_trip_with_their_audit_rows(store):
    pw = hash_password("correct horse")
    store.add_user(
        Account("wang", "supervisor", ("43100200100101",), password_hash=pw),
        audit=_entry(target="wang", role="supervisor"),
    )
    store.add_user(
        Account("dept", "department", (), department="城管执法", password_hash=pw),
        audit=_entry(target="dept"),
    )
    got = store.user("wang")
    assert got.role == "supervisor" and got.scope == ("43100200100101",)
    assert verify_password(got.password_hash, "correct horse")
    assert not verify_password(got.password_hash, "wrong horse")
    assert [u.name for u in store.users()] == ["dept", "wang"]
    assert store.user("dept").department == "城管执法"
    assert store.user("nobody") is None
    with pytest.raises(InputError, match="already exists"):
        store.add_user(Account("wang", "viewer", password_hash=pw), audit=_entry())
    store.change_user("wang", {"disabled": True}, audit=_entry(target="wang", disabled=True))
    assert store.user("wang").disabled
    rows = store.audit_log()
    assert [r["target"] for r in rows] == ["wang", "dept", "wang"]
    assert rows[0]["detail"] == '{"role":"supervisor"}'
    # Nothing of the password is in the log.
    assert all("horse" not in str(r) and "argon2" not in str(r) for r in rows)


def test_a_refused_user_leaves_no_audit_row(store):
    pw = hash_password("correct horse")
    store.add_user(Account("a", "viewer", password_hash=pw), audit=_entry(target="a"))
    with pytest.raises(InputError):
        store.add_user(Account("a", "viewer", password_hash=pw), audit=_entry(target="a"))
    assert len(store.audit_log()) == 1


def test_tokens_are_kept_hashed_and_revoked(store):
    digest = token_digest("s3cret-token")
    store.add_token("hall", digest, ["431002001"], audit=_entry("token_change", "hall"))
    assert store.token(digest) == {"name": "hall", "scope": ("431002001",)}
    assert store.token(token_digest("other")) is None
    with pytest.raises(InputError, match="already exists"):
        store.add_token("hall", token_digest("x"), [], audit=_entry("token_change", "hall"))
    store.revoke_token("hall", audit=_entry("token_change", "hall"))
    assert store.token(digest) is None
    assert store.tokens()[0]["revoked_at"] is not None
    with pytest.raises(InputError, match="no live wall token"):
        store.revoke_token("hall", audit=_entry("token_change", "hall"))
    # A revoked name may be given a new token.
    store.add_token("hall", token_digest("new"), [], audit=_entry("token_change", "hall"))
    assert store.token(token_digest("new"))["name"] == "hall"


def test_the_audit_log_refuses_updates_and_deletes(store):
    store.audit(_entry("sign_in"))
    if isinstance(store, GeoPackageStore):
        con = sqlite3.connect(store.path)
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            con.execute("UPDATE audit_log SET target = 'x'")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            con.execute("DELETE FROM audit_log")
        con.close()
    else:
        for sql in ("UPDATE audit_log SET target = 'x'", "DELETE FROM audit_log"):
            with pytest.raises(sa.exc.DBAPIError, match="append-only"):  # noqa: SIM117
                with store.engine.begin() as conn:
                    conn.exec_driver_sql(sql)
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):  # noqa: SIM117
            with store.engine.begin() as conn:
                conn.exec_driver_sql("TRUNCATE audit_log")
    assert len(store.audit_log()) == 1


@pytest.mark.parametrize(
    "sql, broken",
    [
        ("UPDATE audit_log SET target = 'somebody else' WHERE id = 2", 2),
        ("UPDATE audit_log SET detail = '{}' WHERE id = 3", 3),
        ("DELETE FROM audit_log WHERE id = 2", 3),
        ("DELETE FROM audit_log WHERE id = 1", 2),
        ("DELETE FROM audit_log WHERE id >= 4", 4),
    ],
)
def test_verify_finds_the_first_changed_or_removed_row(store, sql, broken):
    for i in range(5):
        store.audit(_entry("export", f"file{i}", n=i))
    assert store.verify_audit()[0] is None
    _tamper(store, sql)
    found, _, _ = store.verify_audit()
    assert found is not None and found.id == broken, found


def test_an_import_and_its_audit_row_land_together(store):
    store.write({"districts": _district()}, audit=_entry("import", "districts.geojson"))
    assert [r["action"] for r in store.audit_log()] == ["import"]
    # A write that fails leaves neither its rows nor its audit row.
    with pytest.raises(InputError):
        store.write({"districts": _district()}, audit=_entry("import", "again.geojson"))
    assert len(store.audit_log()) == 1
    assert store.count("districts") == 1


def test_a_move_and_its_audit_row_land_together(store):
    store.write({"districts": _district(), "incidents": _incidents(1)})
    row = store.read("incidents").drop(columns="geometry").iloc[0].to_dict()
    event = {"incident_id": row["id"], "at": datetime.now(UTC), "to_step": "evaluated"}
    store.move_incident(
        {**row, "step": "evaluated"}, [event], expected_version=7, audit=_entry("incident_move")
    )
    assert [r["action"] for r in store.audit_log()] == ["incident_move"]
    with pytest.raises(Exception, match="changed since"):
        store.move_incident({**row}, [event], expected_version=7, audit=_entry("incident_move"))
    assert len(store.audit_log()) == 1


def test_audit_rows_do_not_change_the_data_version(store):
    store.write({"districts": _district()})
    before = store.version()
    store.audit(_entry("sign_in"))
    store.add_user(Account("x", "viewer", password_hash="h"), audit=_entry())
    assert store.version() == before
    store.write({"incidents": _incidents(1)})
    assert store.version() != before


def test_an_alert_is_acknowledged_once_with_its_audit_row(store):
    before = store.version()
    entry = _entry("alert_ack", "E1", alert="emergency_overdue")
    assert store.acknowledge_alert("emergency_overdue:E1", audit=entry) is True
    # a second acknowledgement changes nothing and writes no second row
    assert store.acknowledge_alert("emergency_overdue:E1", audit=entry) is False
    acks = store.acknowledged_alerts()
    assert set(acks) == {"emergency_overdue:E1"} and acks["emergency_overdue:E1"]["user"] == "root"
    rows = store.audit_log(action="alert_ack")
    assert [(r["target"], r["user"]) for r in rows] == [("E1", "root")]
    # not a data write: no page reads the layers again for it
    assert store.version() == before
    assert store.verify_audit()[0] is None


def test_prune_keeps_six_months_and_the_chain(store):
    for i in range(3):
        store.audit(_entry("export", f"f{i}"))
    with pytest.raises(InputError, match="180 days"):
        store.prune_audit(datetime.now(UTC) - timedelta(days=10), audit=_entry("audit_prune"))
    # Make the first two rows old (as if written a year ago), re-hashing them as
    # gridmap would have: the chain still holds before the prune.
    _age_rows(store, ids=(1, 2), days=365)
    assert store.verify_audit()[0] is None
    n = store.prune_audit(datetime.now(UTC) - timedelta(days=200), audit=_entry("audit_prune"))
    assert n == 2
    rows = store.audit_log()
    assert [r["action"] for r in rows] == ["export", "audit_prune"]
    assert store.verify_audit()[0] is None


def _age_rows(store, ids, days):
    """Backdate audit rows and rebuild the chain (a test-only time machine)."""
    from gridmap.audit import GENESIS, iso_utc, row_hash

    old = iso_utc(datetime.now(UTC) - timedelta(days=days))
    rows = store.audit_log()
    prev = GENESIS
    updates = []
    for r in rows:
        if r["id"] in ids:
            r["at"] = old
        digest = row_hash(r, prev)
        updates.append((r["id"], r["at"], prev, digest))
        prev = digest
    stmts = [
        f"UPDATE audit_log SET at = '{at}', prev_hash = '{p}', hash = '{h}' WHERE id = {i}"
        for i, at, p, h in updates
    ]
    head = f"{updates[-1][0]}:{updates[-1][3]}"
    stmts.append(f"UPDATE gridmap_settings SET value = '{head}' WHERE key = 'audit_head'")
    for s in stmts:
        _tamper(store, s)


def test_the_secret_key_is_made_once_and_kept(store):
    key = store.secret_key()
    assert len(key) == 64
    assert store.secret_key() == key


def test_an_old_geopackage_is_upgraded_in_place(tmp_path):
    path = tmp_path / "old.gpkg"
    GeoPackageStore(path, create=True).close()
    con = sqlite3.connect(path)
    for t in ("users", "wall_tokens", "audit_log", "gridmap_settings"):
        con.execute(f"DROP TABLE {t}")
    for col in ("reporter_name", "reporter_phone"):
        con.execute(f"ALTER TABLE incidents DROP COLUMN {col}")
    con.commit()
    con.close()
    st = GeoPackageStore(path)
    st.audit(_entry("sign_in"))
    assert len(st.audit_log()) == 1
    assert "reporter_phone" in st.read("incidents").columns


def test_read_by_code_prefix_filters_in_the_query(store):
    store.write({"districts": _district(), "incidents": _incidents(3)})
    grid = "43100200100101"
    assert len(store.read("incidents", prefixes={"grid_code": [grid[:9]]})) == 3
    assert len(store.read("incidents", prefixes={"grid_code": ["431002002"]})) == 0
    assert len(store.read("incidents", prefixes={"grid_code": ["431002002", grid]})) == 3
    assert len(store.read("incidents", prefixes={"grid_code": []})) == 0
    assert len(store.read("districts", prefixes={"code": ["431002"]})) == 1
    with pytest.raises(InputError, match="not a unit code"):
        store.read("incidents", prefixes={"grid_code": ["4310%"]})

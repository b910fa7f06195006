"""Accounts, wall tokens, settings and the audit log in a store: the SQL both backends share.

The four tables (``users``, ``wall_tokens``, ``audit_log``,
``gridmap_settings``) are not layers: no geometry, never exported, never
replaced by an import. Both backends run the same statements through a thin
cursor wrapper (:class:`Cursor`) that only swaps the placeholder style
(``?`` for SQLite, ``%s`` for psycopg), inside the backend's own transaction —
so an audit row lands in the same transaction as the write it records.

The audit log is append-only in the database itself: a trigger refuses every
UPDATE and every DELETE except inside a prune (which opens it for its own
transaction). The chain's head (last id and hash) is kept in
``gridmap_settings`` so rows removed from the end are found too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from gridmap.accounts import Account, check_role, clean_scope
from gridmap.audit import GENESIS, AuditEntry, Broken, canonical_detail, iso_utc, row_hash, verify
from gridmap.errors import InputError

__all__ = ["Cursor", "append_audit", "SCHEMA_VERSION"]

#: The schema version of the tables that are not layers (PostGIS: the Alembic
#: revision; GeoPackage: ``gridmap_settings.schema_version``): 0002 accounts, 0003
#: the field mode's photos and request keys (:mod:`gridmap.store.field`).
SCHEMA_VERSION = "0003"

_USER_COLS = (
    "name",
    "role",
    "scope",
    "department",
    "password_hash",
    "disabled",
    "failed_attempts",
    "locked_until",
    "created_at",
    "updated_at",
)
_AUDIT_COLS = (
    "id",
    "at",
    "user_name",
    "role",
    "address",
    "action",
    "target",
    "detail",
    "prev_hash",
    "hash",
)


class Cursor:
    """A DB-API cursor with ``?`` placeholders on either backend.

    Parameters
    ----------
    raw
        A sqlite3 or psycopg cursor, inside the caller's transaction.
    mark
        The driver's placeholder (``?`` or ``%s``).
    postgres
        Whether the database is PostgreSQL (locking differs).
    """

    def __init__(self, raw: Any, *, mark: str = "?", postgres: bool = False) -> None:
        self.raw = raw
        self.mark = mark
        self.postgres = postgres

    def run(self, sql: str, params: Iterable[Any] = ()) -> Any:
        """Execute one statement; returns the raw cursor (to fetch from)."""
        if self.mark != "?":
            sql = sql.replace("?", self.mark)
        self.raw.execute(sql, tuple(params))
        return self.raw

    def one(self, sql: str, params: Iterable[Any] = ()) -> tuple | None:
        """The first row of a query, or None."""
        return self.run(sql, params).fetchone()

    def all(self, sql: str, params: Iterable[Any] = ()) -> list[tuple]:
        """Every row of a query."""
        return list(self.run(sql, params).fetchall())


# -- settings ----------------------------------------------------------------------


def get_setting(cur: Cursor, key: str) -> str | None:
    """A value of ``gridmap_settings``, or None."""
    row = cur.one('SELECT "value" FROM gridmap_settings WHERE "key" = ?', (key,))
    return row[0] if row else None


def set_setting(cur: Cursor, key: str, value: str) -> None:
    """Insert or replace a value of ``gridmap_settings``."""
    cur.run('DELETE FROM gridmap_settings WHERE "key" = ?', (key,))
    cur.run('INSERT INTO gridmap_settings ("key", "value") VALUES (?, ?)', (key, value))


def bump_data_version(cur: Cursor) -> None:
    """Count one more data write (the GeoPackage store's :meth:`version` reads it)."""
    now = get_setting(cur, "data_version")
    set_setting(cur, "data_version", str(int(now or 0) + 1))


# -- audit -------------------------------------------------------------------------


def _head(cur: Cursor) -> tuple[int, str]:
    text = get_setting(cur, "audit_head")
    if text:
        rid, digest = text.split(":", 1)
        return int(rid), digest
    row = cur.one("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1")
    if row:
        return int(row[0]), row[1]
    anchor = _anchor(cur)
    return anchor if anchor else (0, GENESIS)


def _anchor(cur: Cursor) -> tuple[int, str] | None:
    text = get_setting(cur, "audit_anchor")
    if not text:
        return None
    rid, digest = text.split(":", 1)
    return int(rid), digest


def append_audit(cur: Cursor, entry: AuditEntry, *, at: datetime | None = None) -> dict:
    """Append one row to the audit log, chained to the last one.

    Run inside the transaction of the write the row records. On PostgreSQL the
    table is locked for the rest of the transaction, so two writers cannot
    chain to the same row (SQLite's write lock does this already).

    Returns
    -------
    dict
        The stored row (``id``, ``at``, …, ``hash``).
    """
    if cur.postgres:
        cur.run("LOCK TABLE audit_log IN EXCLUSIVE MODE")
    last_id, prev = _head(cur)
    row = {
        "id": last_id + 1,
        "at": iso_utc(at),
        "user": entry.user,
        "role": entry.role,
        "address": entry.address,
        "action": entry.action,
        "target": entry.target or "",
        "detail": canonical_detail(entry.detail),
    }
    digest = row_hash(row, prev)
    cur.run(
        f"INSERT INTO audit_log ({', '.join(_AUDIT_COLS)}) VALUES ({', '.join('?' * 10)})",
        (
            row["id"],
            row["at"],
            row["user"],
            row["role"],
            row["address"],
            row["action"],
            row["target"],
            row["detail"],
            prev,
            digest,
        ),
    )
    set_setting(cur, "audit_head", f"{row['id']}:{digest}")
    return {**row, "prev_hash": prev, "hash": digest}


def audit_rows(
    cur: Cursor,
    *,
    since: str | None = None,
    user: str | None = None,
    action: str | None = None,
    with_hashes: bool = False,
) -> list[dict]:
    """Rows of the audit log, oldest first, filtered by time (ISO text), user and action."""
    where, params = [], []
    if since:
        where.append("at >= ?")
        params.append(since)
    if user:
        where.append("user_name = ?")
        params.append(user)
    if action:
        where.append("action = ?")
        params.append(action)
    sql = f"SELECT {', '.join(_AUDIT_COLS)} FROM audit_log"
    if where:
        sql += " WHERE " + " AND ".join(where)
    rows = cur.all(sql + " ORDER BY id", params)
    out = []
    for r in rows:
        d = dict(zip(_AUDIT_COLS, r, strict=True))
        d["user"] = d.pop("user_name")
        if not with_hashes:
            d.pop("prev_hash")
            d.pop("hash")
        out.append(d)
    return out


def verify_audit(cur: Cursor) -> tuple[Broken | None, int, tuple[int, str]]:
    """Check the whole chain: (the first broken row or None, rows checked, the head)."""
    rows = audit_rows(cur, with_hashes=True)
    text = get_setting(cur, "audit_head")
    head = None
    if text:
        rid, digest = text.split(":", 1)
        head = (int(rid), digest)
    return verify(rows, anchor=_anchor(cur), head=head), len(rows), head or (0, GENESIS)


def prune_audit(cur: Cursor, before: str) -> int:
    """Remove the rows older than ``before`` (ISO text; the caller checks the retention).

    The last removed row becomes the anchor the first kept row chains to.
    """
    last = cur.one(
        "SELECT id, hash FROM audit_log WHERE at < ? ORDER BY id DESC LIMIT 1", (before,)
    )
    if last is None:
        return 0
    n = cur.one("SELECT count(*) FROM audit_log WHERE id <= ?", (last[0],))[0]
    if cur.postgres:
        cur.run("SET LOCAL gridmap.audit_prune = 'on'")
    else:
        set_setting(cur, "audit_prune", "on")
    cur.run("DELETE FROM audit_log WHERE id <= ?", (last[0],))
    if cur.postgres:
        cur.run("SET LOCAL gridmap.audit_prune = 'off'")
    else:
        cur.run("DELETE FROM gridmap_settings WHERE \"key\" = 'audit_prune'")
    set_setting(cur, "audit_anchor", f"{last[0]}:{last[1]}")
    return int(n)


# -- users -------------------------------------------------------------------------


def _account(row: tuple) -> Account:
    d = dict(zip(_USER_COLS, row, strict=True))
    return Account(
        name=d["name"],
        role=d["role"],
        scope=tuple(json.loads(d["scope"] or "[]")),
        department=d["department"],
        disabled=bool(d["disabled"]),
        password_hash=d["password_hash"],
        failed_attempts=int(d["failed_attempts"] or 0),
        locked_until=d["locked_until"],
        created_at=d["created_at"],
        updated_at=d["updated_at"],
    )


def get_user(cur: Cursor, name: str) -> Account | None:
    """The account named ``name``, or None."""
    row = cur.one(f"SELECT {', '.join(_USER_COLS)} FROM users WHERE name = ?", (name,))
    return _account(row) if row else None


def list_users(cur: Cursor) -> list[Account]:
    """Every account, by name."""
    return [
        _account(r) for r in cur.all(f"SELECT {', '.join(_USER_COLS)} FROM users ORDER BY name")
    ]


def insert_user(cur: Cursor, account: Account) -> None:
    """Add an account; a name already taken is an :class:`InputError`."""
    check_role(account.role)
    if get_user(cur, account.name) is not None:
        raise InputError(
            f"a user named '{account.name}' already exists",
            field="name",
            hint="choose another name, or change that user's password with `gridmap users passwd`",
        )
    now = iso_utc()
    cur.run(
        f"INSERT INTO users ({', '.join(_USER_COLS)}) VALUES ({', '.join('?' * len(_USER_COLS))})",
        (
            account.name,
            account.role,
            json.dumps(list(clean_scope(account.scope))),
            account.department,
            account.password_hash,
            _flag(cur, account.disabled),
            0,
            None,
            now,
            now,
        ),
    )


def update_user(cur: Cursor, name: str, changes: Mapping[str, Any]) -> None:
    """Change columns of an account (``disabled``, ``password_hash``, ``failed_attempts`` …)."""
    if get_user(cur, name) is None:
        raise InputError(
            f"no user is named '{name}'", field="name", hint="see `gridmap users list`"
        )
    sets, params = [], []
    for col, value in changes.items():
        if col not in _USER_COLS or col in ("name", "created_at", "updated_at"):
            raise ValueError(f"not a changeable user column: {col}")
        if col == "disabled":
            value = _flag(cur, bool(value))
        if col == "scope":
            value = json.dumps(list(clean_scope(value)))
        sets.append(f"{col} = ?")
        params.append(value)
    sets.append("updated_at = ?")
    params.append(iso_utc())
    cur.run(f"UPDATE users SET {', '.join(sets)} WHERE name = ?", [*params, name])


def _flag(cur: Cursor, value: bool) -> bool | int:
    return value if cur.postgres else int(value)


# -- wall tokens --------------------------------------------------------------------


def insert_token(cur: Cursor, name: str, digest: str, scope: Iterable[str]) -> None:
    """Add a wall token by name (its SHA-256 only); a live name already taken is an error."""
    row = cur.one("SELECT revoked_at FROM wall_tokens WHERE name = ?", (name,))
    if row is not None and row[0] is None:
        raise InputError(
            f"a wall token named '{name}' already exists",
            field="name",
            hint=f"revoke it with `gridmap wall-token revoke STORE {name}`, or choose another",
        )
    if row is not None:
        cur.run("DELETE FROM wall_tokens WHERE name = ?", (name,))
    cur.run(
        "INSERT INTO wall_tokens (name, token_hash, scope, created_at, revoked_at) "
        "VALUES (?, ?, ?, ?, NULL)",
        (name, digest, json.dumps(list(clean_scope(scope))), iso_utc()),
    )


def revoke_token(cur: Cursor, name: str) -> None:
    """Revoke a live wall token; an unknown or revoked name is an error."""
    row = cur.one("SELECT revoked_at FROM wall_tokens WHERE name = ?", (name,))
    if row is None or row[0] is not None:
        raise InputError(f"no live wall token is named '{name}'", field="name")
    cur.run("UPDATE wall_tokens SET revoked_at = ? WHERE name = ?", (iso_utc(), name))


def find_token(cur: Cursor, digest: str) -> dict | None:
    """The live token with this SHA-256: ``name`` and ``scope``; None if unknown or revoked."""
    row = cur.one(
        "SELECT name, scope FROM wall_tokens WHERE token_hash = ? AND revoked_at IS NULL",
        (digest,),
    )
    if row is None:
        return None
    return {"name": row[0], "scope": tuple(json.loads(row[1] or "[]"))}


def list_tokens(cur: Cursor) -> list[dict]:
    """Every token (never its hash): name, scope, created, revoked."""
    rows = cur.all("SELECT name, scope, created_at, revoked_at FROM wall_tokens ORDER BY name")
    keys = ("name", "scope", "created_at", "revoked_at")
    out = [dict(zip(keys, r, strict=True)) for r in rows]
    for t in out:
        t["scope"] = tuple(json.loads(t["scope"] or "[]"))
    return out


# -- alert acknowledgements ----------------------------------------------------------

#: An acknowledged wall alert is a settings row ``alert_ack:<alert id>`` holding
#: who acknowledged it and when (JSON): a handful of rows a day, no table of their own.
ACK_PREFIX = "alert_ack:"


def acknowledge_alert(cur: Cursor, alert_id: str, user: str, at: str) -> bool:
    """Record that ``user`` acknowledged alert ``alert_id`` at ``at``; False if it already was."""
    key = ACK_PREFIX + alert_id
    if get_setting(cur, key) is not None:
        return False
    set_setting(cur, key, json.dumps({"user": user, "at": at}, ensure_ascii=False))
    return True


def acknowledged_alerts(cur: Cursor) -> dict[str, dict]:
    """Every acknowledged alert: its id → ``user`` and ``at``."""
    rows = cur.all(
        'SELECT "key", "value" FROM gridmap_settings WHERE "key" LIKE ?', (ACK_PREFIX + "%",)
    )
    return {str(k)[len(ACK_PREFIX) :]: json.loads(v) for k, v in rows}


# -- DDL -----------------------------------------------------------------------------

#: The account tables in a GeoPackage (SQLite); PostGIS: migration 0002's SQL.
SQLITE_DDL = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    scope TEXT NOT NULL DEFAULT '[]',
    department TEXT,
    password_hash TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    failed_attempts INTEGER NOT NULL DEFAULT 0,
    locked_until TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS wall_tokens (
    name TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    scope TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS audit_log (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    user_name TEXT NOT NULL,
    role TEXT NOT NULL,
    address TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '{}',
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_log_at_idx ON audit_log (at);
CREATE INDEX IF NOT EXISTS audit_log_user_idx ON audit_log (user_name);
CREATE TABLE IF NOT EXISTS gridmap_settings (
    "key" TEXT PRIMARY KEY,
    "value" TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: its rows are never changed');
END;
CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
WHEN (SELECT "value" FROM gridmap_settings WHERE "key" = 'audit_prune') IS NOT 'on'
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: only gridmap audit --prune-before removes rows');
END;
"""

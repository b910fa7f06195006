"""Photos and request keys of the field mode: the SQL both backends share.

Two tables that are not layers (no geometry, never exported, never replaced
by an import), run through :class:`gridmap.store.accounts.Cursor` inside the
transaction of the write they belong to:

``photos``
    A picture of a case, by the SHA-256 of its stored JPEG (content
    addressing: the same picture sent twice is stored once), with its
    thumbnail; the case and the step it was taken at (a report, a
    verification on site).
``client_requests``
    The idempotency key of each report or move sent from a browser, with what
    the server answered. A retry with the same key (the connection dropped
    after the server saved it) gets the first answer again instead of a second
    case; the key is inserted in the transaction of the write, so it exists
    exactly when the write does.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from gridmap.audit import iso_utc
from gridmap.photos import Photo
from gridmap.store.accounts import Cursor

__all__ = ["save_photos", "save_request", "find_request", "photo_bytes", "case_photos"]


def save_photos(cur: Cursor, incident_id: str, step: str, photos: Iterable[Photo]) -> None:
    """Attach ``photos`` to a case at ``step`` (a picture already stored is linked, not copied)."""
    at = iso_utc(None)
    for p in photos:
        if cur.one("SELECT 1 FROM photos WHERE hash = ?", (p.digest,)) is None:
            cur.run(
                "INSERT INTO photos (hash, image, thumb, width, height, bytes, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (p.digest, p.image, p.thumb, p.width, p.height, len(p.image), at),
            )
        if (
            cur.one(
                "SELECT 1 FROM incident_photos WHERE incident_id = ? AND hash = ?",
                (incident_id, p.digest),
            )
            is None
        ):
            cur.run(
                "INSERT INTO incident_photos (incident_id, hash, step, at) VALUES (?, ?, ?, ?)",
                (incident_id, p.digest, step, at),
            )


def save_request(
    cur: Cursor, key: str, user: str, kind: str, target: str, answer: Mapping[str, Any]
) -> None:
    """Record a request's key and the server's answer (a duplicate key fails the transaction)."""
    cur.run(
        "INSERT INTO client_requests (key, user_name, kind, target, answer, at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (key, user, kind, target, json.dumps(dict(answer), ensure_ascii=False), iso_utc(None)),
    )


def find_request(cur: Cursor, key: str) -> dict | None:
    """The stored request of ``key``: ``user``, ``kind``, ``target``, ``answer``; or None."""
    row = cur.one(
        "SELECT user_name, kind, target, answer FROM client_requests WHERE key = ?", (key,)
    )
    if row is None:
        return None
    return {"user": row[0], "kind": row[1], "target": row[2], "answer": json.loads(row[3])}


def photo_bytes(cur: Cursor, digest: str, *, thumb: bool = False) -> tuple[bytes, str] | None:
    """A stored picture (or its thumbnail) and the case it belongs to (the first one)."""
    col = "thumb" if thumb else "image"
    row = cur.one(
        f"SELECT p.{col}, ip.incident_id FROM photos p "
        "JOIN incident_photos ip ON ip.hash = p.hash WHERE p.hash = ? "
        "ORDER BY ip.incident_id LIMIT 1",
        (digest,),
    )
    return None if row is None else (bytes(row[0]), row[1])


def photo_cases(cur: Cursor, digest: str) -> list[str]:
    """Every case a picture is attached to."""
    return [
        r[0] for r in cur.all("SELECT incident_id FROM incident_photos WHERE hash = ?", (digest,))
    ]


def case_photos(cur: Cursor, incident_id: str) -> list[dict]:
    """The pictures of a case, oldest first: ``hash``, ``step``, ``at``, ``width``, ``height``."""
    rows = cur.all(
        "SELECT ip.hash, ip.step, ip.at, p.width, p.height FROM incident_photos ip "
        "JOIN photos p ON p.hash = ip.hash WHERE ip.incident_id = ? ORDER BY ip.at, ip.hash",
        (incident_id,),
    )
    return [
        {"hash": r[0], "step": r[1], "at": r[2], "width": int(r[3]), "height": int(r[4])}
        for r in rows
    ]


#: The field tables in a GeoPackage (SQLite); PostGIS: migration 0003's SQL.
SQLITE_DDL = """
CREATE TABLE IF NOT EXISTS photos (
    hash TEXT PRIMARY KEY,
    image BLOB NOT NULL,
    thumb BLOB NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS incident_photos (
    incident_id TEXT NOT NULL,
    hash TEXT NOT NULL REFERENCES photos (hash),
    step TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (incident_id, hash)
);
CREATE TABLE IF NOT EXISTS client_requests (
    key TEXT PRIMARY KEY,
    user_name TEXT NOT NULL,
    kind TEXT NOT NULL,
    target TEXT NOT NULL,
    answer TEXT NOT NULL,
    at TEXT NOT NULL
);
"""

"""The audit log: who did what, when, from where — as rows chained by hash.

Every sign-in, sign-out, write, export and view of unmasked personal data
adds one row (the store appends it in the same transaction as the write it
records). Each row carries the SHA-256 of its own content and of the row
before it, so a row changed or removed in the file or the database breaks the
chain at that row, and :func:`verify` names it. An editor who rewrites every
row after the change, hashes included, is not caught by the chain alone: the
head hash ``gridmap audit --verify`` prints can be kept outside the store for
that.

This module is pure: it builds and checks rows; :mod:`gridmap.store` keeps them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = [
    "ACTIONS",
    "COLUMNS",
    "GENESIS",
    "RETENTION_DAYS",
    "AuditEntry",
    "Broken",
    "iso_utc",
    "prune_limit",
    "row_hash",
    "verify",
]

#: What a row records (its ``action``).
ACTIONS: tuple[str, ...] = (
    "sign_in",
    "sign_in_failed",
    "sign_out",
    "incident_create",
    "incident_move",
    "import",
    "export",
    "user_change",
    "token_change",
    "scenario_save",
    "pii_view",
    "audit_prune",
    "alert_ack",
)

#: The columns of a row as read (``gridmap audit --json``), in order.
COLUMNS: tuple[str, ...] = ("at", "user", "role", "address", "action", "target", "detail")

#: The "previous hash" of the first row ever written.
GENESIS = "0" * 64

#: Rows younger than this many days are never pruned (the network-security
#: law asks for six months of logs).
RETENTION_DAYS = 180


@dataclass(frozen=True)
class AuditEntry:
    """What one audit row says, before the store stamps it with time and hashes.

    Attributes
    ----------
    user
        The account name (or, for a CLI command without ``--actor``, the OS user).
    role
        The user's role (``admin`` for the local CLI user).
    address
        Where the request came from: the client's IP address, or ``cli``.
    action
        One of :data:`ACTIONS`.
    target
        A unit code, case id, account or file name the action concerns ("" if none).
    detail
        Further facts as JSON-ready values (never personal data: no names,
        phone numbers or passwords).
    """

    user: str
    role: str
    address: str
    action: str
    target: str = ""
    detail: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown audit action {self.action!r}; one of {', '.join(ACTIONS)}")


def iso_utc(when: datetime | None = None) -> str:
    """A time as the log writes it: ISO 8601 in UTC with milliseconds (``…T08:00:00.000Z``).

    Text of this one shape sorts as time does, on every backend.
    """
    when = (when or datetime.now(UTC)).astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def canonical_detail(detail: Mapping[str, Any]) -> str:
    """The detail as stored: compact JSON with sorted keys (hashed as such)."""
    return json.dumps(dict(detail), ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def row_hash(row: Mapping[str, Any], prev_hash: str) -> str:
    """The SHA-256 (hex) of one stored row chained to the row before it.

    Parameters
    ----------
    row
        ``id``, ``at``, ``user``, ``role``, ``address``, ``action``, ``target``
        and ``detail`` (the stored JSON text) of the row.
    prev_hash
        The previous row's hash (:data:`GENESIS` for the first row).

    Returns
    -------
    str
        64 hex digits.
    """
    parts = [str(row["id"]), *(str(row[c] if row[c] is not None else "") for c in COLUMNS)]
    payload = json.dumps([prev_hash, *parts], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Broken:
    """The first row where the chain breaks, and why."""

    id: int | None
    reason: str


def verify(
    rows: Iterable[Mapping[str, Any]],
    *,
    anchor: tuple[int, str] | None = None,
    head: tuple[int, str] | None = None,
) -> Broken | None:
    """Check the chain of stored rows, oldest first.

    Ids may have gaps (PostgreSQL spends an id on a rolled-back insert); the
    hashes link the rows, so a removed row breaks the link of the row after it.

    Parameters
    ----------
    rows
        Every stored row in id order, with ``id``, the :data:`COLUMNS`,
        ``prev_hash`` and ``hash``.
    anchor
        ``(id, hash)`` of the last row removed by a prune (the first row kept
        must follow it); ``None``: the log starts at :data:`GENESIS`.
    head
        ``(id, hash)`` of the last row written, as the store recorded it on
        writing (``None``: not recorded): rows removed from the end break it.

    Returns
    -------
    Broken or None
        The first row that was changed, removed or inserted, or ``None`` if the chain holds.
    """
    prev_id, prev = anchor if anchor else (0, GENESIS)
    for row in rows:
        rid = int(row["id"])
        if rid <= prev_id:
            return Broken(rid, "it is out of order")
        if row["prev_hash"] != prev:
            return Broken(rid, "the row before it was removed or changed")
        if row_hash(row, prev) != row["hash"]:
            return Broken(rid, "its content does not match its hash: it was changed")
        prev_id, prev = rid, row["hash"]
    if head is not None and (prev_id, prev) != (int(head[0]), head[1]):
        if prev_id < int(head[0]):
            return Broken(
                prev_id + 1, f"rows after id {prev_id} were removed (the last was {head[0]})"
            )
        return Broken(prev_id, "it was added outside gridmap")
    return None


def prune_limit(now: datetime | None = None) -> datetime:
    """The newest time before which rows may be pruned (now − :data:`RETENTION_DAYS`)."""
    return (now or datetime.now(UTC)) - timedelta(days=RETENTION_DAYS)

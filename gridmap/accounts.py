"""Accounts: roles, their areas (scopes) in the hierarchy, passwords and wall tokens.

A user has one role (:data:`ROLES`) and a scope: a list of unit codes (a grid,
a community, a subdistrict, the district). A unit is in the scope when its code
starts with one of them (codes extend their parent's code), so "the units under
the scope" is a code prefix everywhere, in SQL too. Which role may make which
move of the closed loop is :data:`gridmap.incidents.workflow.MOVE_TABLE`'s
``roles`` column; :func:`may_move` reads it.

Passwords are hashed with Argon2id (argon2-cffi's defaults, the RFC 9106 low-
memory profile); wall tokens are long random strings whose SHA-256 is kept
(a token is never typed, so it needs no slow hash).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from gridmap.errors import AccessError, InputError

__all__ = [
    "ADMIN",
    "CREATE_ROLES",
    "PII_ROLES",
    "ROLES",
    "SCOPE_COLUMNS",
    "Account",
    "authorize_move",
    "check_password_text",
    "check_role",
    "clean_scope",
    "covers",
    "dummy_verify",
    "generate_password",
    "generate_token",
    "hash_password",
    "in_scope",
    "may_move",
    "sees_pii",
    "token_digest",
    "verify_password",
]

#: Every role, by id (labels: ``role.<id>`` in :mod:`gridmap.i18n`).
ROLES: tuple[str, ...] = (
    "admin",
    "commander",
    "dispatcher",
    "department",
    "supervisor",
    "planner",
    "viewer",
)

#: The role of the local user of the CLI (a command without ``--actor``).
ADMIN = "admin"

#: Roles that may report a new case (a supervisor on patrol; a dispatcher from the hotline).
CREATE_ROLES: frozenset[str] = frozenset({"admin", "dispatcher", "supervisor"})

#: Roles that see reporters' names and phone numbers unmasked (besides the
#: handlers of the case itself: see :func:`gridmap.privacy`).
PII_ROLES: frozenset[str] = frozenset({"admin", "dispatcher"})

#: The column of each layer that places its rows in the hierarchy (a scope filters
#: by it: rows whose column starts with a scope code). Layers not named here
#: (facilities, roads) are public geography, the same for every user.
SCOPE_COLUMNS: dict[str, str] = {
    "districts": "code",
    "subdistricts": "code",
    "communities": "code",
    "grids": "code",
    "buildings": "code",
    "party_orgs": "unit_code",
    "incidents": "grid_code",
}

_PASSWORD_MIN = 8
_DISTRICT_WIDTH = 6


@dataclass(frozen=True)
class Account:
    """A user as the store keeps it (the password only as its hash).

    Attributes
    ----------
    name
        The sign-in name.
    role
        One of :data:`ROLES`.
    scope
        Unit codes; empty means the whole store (the admin, or a district-wide role).
    department
        The department a ``department`` user works for (cases dispatched to it).
    disabled
        A disabled account cannot sign in and cannot act in the CLI.
    """

    name: str
    role: str
    scope: tuple[str, ...] = ()
    department: str | None = None
    disabled: bool = False
    password_hash: str = field(default="", repr=False)
    failed_attempts: int = 0
    locked_until: str | None = None
    created_at: str | None = None
    updated_at: str | None = None


def check_role(role: str) -> str:
    """``role`` if it is one of :data:`ROLES`, else an :class:`~gridmap.errors.InputError`."""
    if role not in ROLES:
        raise InputError(
            f"unknown role '{role}'", field="role", hint=f"use one of {', '.join(ROLES)}"
        )
    return role


def in_scope(code: str, scope: Sequence[str]) -> bool:
    """Whether unit ``code`` (or a case in it) lies within ``scope``.

    An empty scope is the whole store. A code is in scope when it starts with
    one of the scope's codes (it is that unit or a unit under it).
    """
    if not scope:
        return True
    return any(code.startswith(s) for s in scope)


def covers(code: str, scope: Sequence[str]) -> bool:
    """Whether a view of unit ``code`` shows some of ``scope``: ``code`` is in it or above it.

    A supervisor of one grid may open its community's view (the map shows
    only the grid); a unit beside the scope is refused.
    """
    if not scope:
        return True
    return any(code.startswith(s) or s.startswith(code) for s in scope)


def may_move(role: str, move_name: str) -> bool:
    """Whether ``role`` may make the closed-loop move ``move_name`` (``register``, ``close`` …)."""
    from gridmap.incidents.workflow import MOVE_TABLE

    return any(m.name == move_name and role in m.roles for m in MOVE_TABLE)


def authorize_move(account: Account, incident: Mapping[str, object], move_name: str) -> None:
    """Refuse a move ``account`` may not make on ``incident``.

    The role must be allowed the move (:data:`~gridmap.incidents.workflow.MOVE_TABLE`),
    the case must lie in the account's area (its grid code in the scope; a case
    without a grid only for a district-wide account), and a ``department``
    account moves only the cases dispatched to its department.

    Raises
    ------
    gridmap.errors.AccessError
        Saying which of these failed.
    """
    if account.disabled:
        raise AccessError(f"the account '{account.name}' is disabled")
    if not may_move(account.role, move_name):
        from gridmap.incidents.workflow import MOVE_TABLE

        who = sorted({r for m in MOVE_TABLE if m.name == move_name for r in m.roles})
        raise AccessError(
            f"the role '{account.role}' may not make the move '{move_name}'",
            f"roles that may: {', '.join(who)}",
        )
    case_area = _text(incident.get("grid_code"))
    if case_area is None:
        if account.scope and not any(len(s) <= _DISTRICT_WIDTH for s in account.scope):
            raise AccessError(
                f"case {incident.get('id')} has no grid: only a district-wide account may move it"
            )
    elif not in_scope(case_area, account.scope):
        raise AccessError(f"case {incident.get('id')} is not in your area (grid {case_area})")
    if account.role == "department" and _text(incident.get("department")) != account.department:
        raise AccessError(
            f"case {incident.get('id')} is not dispatched to your department "
            f"({account.department or 'none'})"
        )


def sees_pii(account: Account | None, incident: Mapping[str, object]) -> bool:
    """Whether ``account`` sees this case's reporter unmasked (PIPL: minimum necessary).

    The admin and the dispatchers do (they call reporters back); so do the
    case's own handlers: the department it is dispatched to, and the
    supervisor of its grid, who verifies on site. Everyone else sees them masked.
    """
    if account is None or account.disabled:
        return False
    if account.role in PII_ROLES:
        return True
    grid = _text(incident.get("grid_code"))
    if account.role == "department":
        return account.department is not None and _text(incident.get("department")) == (
            account.department
        )
    if account.role == "supervisor":
        return grid is not None and in_scope(grid, account.scope)
    return False


def _text(value: object) -> str | None:
    # pandas' NA and NaN, without importing pandas here (the CLI imports this module).
    if value is None or type(value).__name__ == "NAType" or value != value:
        return None
    return str(value) or None


# -- passwords and tokens ----------------------------------------------------------


def _hasher():
    from argon2 import PasswordHasher

    return PasswordHasher()


def check_password_text(password: str) -> str:
    """A new password, checked: at least 8 characters, not only spaces."""
    if len(password) < _PASSWORD_MIN or not password.strip():
        raise InputError(
            f"the password is too short (at least {_PASSWORD_MIN} characters)", field="password"
        )
    return password


def hash_password(password: str) -> str:
    """The Argon2id hash of a password (the salt inside it)."""
    return _hasher().hash(check_password_text(password))


def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``password_hash`` (never raises for a wrong one)."""
    from argon2.exceptions import InvalidHashError, VerificationError

    if not password_hash:
        return False
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def dummy_verify(password: str) -> None:
    """Spend the time of a real check, for a name that does not exist (no timing hint)."""
    verify_password(_DUMMY_HASH(), password)


def _dummy_hash_factory():
    cache: list[str] = []

    def get() -> str:
        if not cache:
            cache.append(_hasher().hash("not a password of anyone"))
        return cache[0]

    return get


_DUMMY_HASH = _dummy_hash_factory()


def generate_password() -> str:
    """A random password of 16 URL-safe characters (about 96 bits)."""
    return secrets.token_urlsafe(12)


def generate_token() -> str:
    """A random wall token of 43 URL-safe characters (256 bits)."""
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """What the store keeps of a token: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def clean_scope(codes: Iterable[str]) -> tuple[str, ...]:
    """Scope codes, stripped, deduplicated, without codes already under another."""
    out: list[str] = []
    for code in sorted({c.strip() for c in codes if c and c.strip()}, key=len):
        if not any(code.startswith(o) for o in out):
            out.append(code)
    return tuple(out)

"""Accounts and the audit log through a store: who acts, what they may do, and the record of it.

The CLI and the app both act as an :class:`Actor` — an account and the address
it acts from — and every write they make carries the actor's audit row
(:meth:`Actor.entry`) into the store's transaction. A CLI command without
``--actor`` acts as the local administrator, recorded under the OS user's name:
whoever can run gridmap on the machine can read the store file anyway.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from gridmap.accounts import (
    ADMIN,
    ROLES,
    Account,
    check_password_text,
    check_role,
    clean_scope,
    generate_password,
    generate_token,
    hash_password,
    token_digest,
)
from gridmap.audit import AuditEntry
from gridmap.codes import is_valid, level_of
from gridmap.errors import AccessError, InputError
from gridmap.schema import LEVEL_LAYERS
from gridmap.store.base import Store

__all__ = [
    "Actor",
    "cli_actor",
    "local_actor",
    "require_role",
    "check_scope",
    "add_user",
    "disable_user",
    "set_password",
    "create_token",
    "revoke_token",
    "demo_accounts",
    "read_for",
    "masked_for",
]


@dataclass(frozen=True)
class Actor:
    """Who acts: an account (or the local admin) and where from.

    Attributes
    ----------
    account
        The account; for the local CLI user, an admin named after the OS user.
    address
        The client's IP address, or ``cli``.
    local
        The local CLI user without ``--actor``.
    """

    account: Account
    address: str = "cli"
    local: bool = False

    @property
    def name(self) -> str:
        """The name events and audit rows record."""
        return self.account.name

    def entry(self, action: str, target: str = "", **detail: Any) -> AuditEntry:
        """The audit row of an action by this actor."""
        if self.local:
            detail = {"os_user": True, **detail}
        return AuditEntry(self.name, self.account.role, self.address, action, target, detail)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a container's random uid)
        return "local"


def local_actor() -> Actor:
    """The local administrator: whoever runs the CLI on this machine (their OS user name)."""
    return Actor(Account(_os_user(), ADMIN), "cli", local=True)


def cli_actor(store: Store, name: str | None) -> Actor:
    """The actor of a CLI command: the account ``--actor`` names, or the local admin.

    Raises
    ------
    gridmap.errors.AccessError
        If no account has that name, or it is disabled.
    """
    if name is None:
        return local_actor()
    account = store.user(name)
    if account is None:
        raise AccessError(f"no user is named '{name}' (--actor)", "see `gridmap users list STORE`")
    if account.disabled:
        raise AccessError(f"the account '{name}' is disabled (--actor)")
    return Actor(account, "cli")


def require_role(actor: Actor, roles: Iterable[str], what: str) -> None:
    """Refuse ``what`` unless the actor's role is one of ``roles`` (the admin always may)."""
    allowed = {ADMIN, *roles}
    if actor.account.role not in allowed:
        raise AccessError(
            f"the role '{actor.account.role}' may not {what}",
            f"roles that may: {', '.join(r for r in ROLES if r in allowed)}",
        )


def check_scope(store: Store, codes: Sequence[str], role: str) -> tuple[str, ...]:
    """Scope codes checked against the store: each a unit code that exists.

    A supervisor's scope is grids (网格员 work their own grids); other roles
    may be scoped to any unit. An empty scope is the whole store.

    Raises
    ------
    gridmap.errors.InputError
        Naming the first code that is malformed, unknown, or not a grid for a supervisor.
    """
    scope = clean_scope(codes)
    for code in scope:
        if not is_valid(code):
            raise InputError(
                f"'{code}' is not a unit code",
                field="--scope",
                hint="give a district (6 digits), subdistrict (9), community (12) or grid code",
            )
        level = level_of(code)
        if level == "building":
            raise InputError(f"'{code}' is a building: a scope is a unit", field="--scope")
        if role == "supervisor" and level != "grid":
            raise InputError(
                f"a supervisor's scope is grids, and '{code}' is a {level}",
                field="--scope",
                hint="give the grid codes the supervisor works (--scope may be repeated)",
            )
        found = store.read(LEVEL_LAYERS[level], where={"code": code}, columns=["code"])
        if found.empty:
            raise InputError(
                f"no {level} has the code '{code}' in this store",
                field="--scope",
                hint="see the codes with `gridmap stats STORE --unit CODE`",
            )
    if role == "supervisor" and not scope:
        raise InputError(
            "a supervisor needs the grids they work", field="--scope", hint="give --scope GRID"
        )
    return scope


def add_user(
    store: Store,
    actor: Actor,
    name: str,
    role: str,
    *,
    scope: Sequence[str] = (),
    department: str | None = None,
    password: str | None = None,
) -> str | None:
    """Add an account; returns the generated password if none was given (shown once)."""
    require_role(actor, (), "manage accounts")
    check_role(role)
    name = name.strip()
    if not name or len(name) > 64 or any(c.isspace() for c in name):
        raise InputError(
            f"'{name}' is not a user name", field="NAME", hint="1–64 characters without spaces"
        )
    if role == "department" and not department:
        raise InputError(
            "a department account needs its department",
            field="--department",
            hint="give --department as the cases name it (e.g. 城管执法大队)",
        )
    checked = check_scope(store, scope, role)
    generated = None
    if password is None:
        password = generated = generate_password()
    account = Account(
        name,
        role,
        checked,
        department=department,
        password_hash=hash_password(check_password_text(password)),
    )
    store.add_user(
        account,
        audit=actor.entry(
            "user_change",
            name,
            change="add",
            role=role,
            scope=list(checked),
            department=department,
        ),
    )
    return generated


def disable_user(store: Store, actor: Actor, name: str) -> None:
    """Disable an account: it cannot sign in or act any more (its rows and history stay)."""
    require_role(actor, (), "manage accounts")
    store.change_user(
        name, {"disabled": True}, audit=actor.entry("user_change", name, change="disable")
    )


def set_password(store: Store, actor: Actor, name: str, password: str) -> None:
    """Set an account's password (and lift a lockout)."""
    if actor.name != name or actor.local:
        require_role(actor, (), "change another user's password")
    store.change_user(
        name,
        {"password_hash": hash_password(password), "failed_attempts": 0, "locked_until": None},
        audit=actor.entry("user_change", name, change="password"),
    )


def create_token(store: Store, actor: Actor, name: str, scope: Sequence[str] = ()) -> str:
    """Create a wall token; returns the token (shown once, kept only as its SHA-256)."""
    require_role(actor, (), "manage wall tokens")
    checked = check_scope(store, scope, "viewer")
    token = generate_token()
    store.add_token(
        name,
        token_digest(token),
        checked,
        audit=actor.entry("token_change", name, change="create", scope=list(checked)),
    )
    return token


def revoke_token(store: Store, actor: Actor, name: str) -> None:
    """Revoke a wall token: its wall is signed out on its next request."""
    require_role(actor, (), "manage wall tokens")
    store.revoke_token(name, audit=actor.entry("token_change", name, change="revoke"))


# -- the demo's accounts -----------------------------------------------------------


def demo_accounts(store: Store, actor: Actor) -> list[dict]:
    """One account per role, scoped to real units of the demo, and a wall token.

    The passwords are generated and kept, with the token, in the store's
    ``demo_accounts`` setting, which the login page lists — only for a
    synthetic store served on 127.0.0.1. An account of the same name left
    from an earlier demo in the same database gets the new password.

    Returns
    -------
    list of dict
        ``name``, ``role``, ``password`` (or ``token`` for the wall), ``scope``, ``department``.
    """
    from gridmap.store import accounts as sql

    district = str(store.read("districts", columns=["code"])["code"].iloc[0])
    subdistrict = str(store.read("subdistricts", columns=["code"])["code"].sort_values().iloc[0])
    incidents = store.read("incidents", columns=["grid_code", "department", "step"])
    open_cases = incidents[~incidents["step"].isin(["closed", "evaluated", "voided"])]
    busiest = open_cases["grid_code"].dropna().value_counts()
    grid = (
        str(busiest.index[0])
        if len(busiest)
        else str(store.read("grids", columns=["code"])["code"].sort_values().iloc[0])
    )
    depts = incidents["department"].dropna().value_counts()
    department = str(depts.index[0]) if len(depts) else "城市管理局"
    plan = [
        ("admin", "admin", (), None),
        ("commander", "commander", (district,), None),
        ("dispatcher", "dispatcher", (district,), None),
        ("department", "department", (district,), department),
        ("supervisor", "supervisor", (grid,), None),
        ("planner", "planner", (district,), None),
        ("viewer", "viewer", (subdistrict,), None),
    ]
    out = []
    for name, role, scope, dept in plan:
        password = generate_password()
        if store.user(name) is None:
            add_user(store, actor, name, role, scope=scope, department=dept, password=password)
        else:
            store.change_user(
                name,
                {
                    "role": role,
                    "scope": scope,
                    "department": dept,
                    "disabled": False,
                    "password_hash": hash_password(password),
                    "failed_attempts": 0,
                    "locked_until": None,
                },
                audit=actor.entry("user_change", name, change="demo reset", role=role),
            )
        out.append(
            {
                "name": name,
                "role": role,
                "password": password,
                "scope": list(scope),
                "department": dept,
            }
        )
    live = {t["name"] for t in store.tokens() if t["revoked_at"] is None}
    if "wall" in live:
        revoke_token(store, actor, "wall")
    token = create_token(store, actor, "wall", (district,))
    out.append(
        {"name": "wall", "role": "viewer", "token": token, "scope": [district], "department": None}
    )
    with store._accounts(write=True) as cur:
        sql.set_setting(cur, "demo_accounts", json.dumps(out, ensure_ascii=False))
    return out


def read_for(store: Store, actor: Actor, name: str) -> pd.DataFrame:
    """A layer as ``actor`` may read it: the rows in the actor's scope (by a code prefix in
    the store's query), personal data masked unless the role needs it."""
    from gridmap.accounts import SCOPE_COLUMNS

    scope = actor.account.scope
    if not scope or (name not in SCOPE_COLUMNS and name != "incident_events"):
        return masked_for(actor, store.read(name))
    if name == "incident_events":
        ids = store.read("incidents", columns=["id"], prefixes={"grid_code": scope})["id"]
        events = store.read(name)
        return events[events["incident_id"].isin(set(ids))].reset_index(drop=True)
    return masked_for(actor, store.read(name, prefixes={SCOPE_COLUMNS[name]: scope}))


def masked_for(actor: Actor, frame: pd.DataFrame) -> pd.DataFrame:
    """A layer's rows as ``actor`` may see them: personal data masked unless the role needs it."""
    from gridmap.accounts import PII_ROLES
    from gridmap.privacy import PII_FIELDS, mask_frame

    if actor.account.role in PII_ROLES or not any(c in frame.columns for c in PII_FIELDS):
        return frame
    return mask_frame(frame, unmasked=False)

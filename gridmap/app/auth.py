"""Signing in to the dashboard: the gate in front of every route, sessions and wall tokens.

:func:`install` puts it in front of the Flask server :func:`gridmap.app.create_app` makes:

- **The gate.** A request without a session gets, for a page (every path that
  is not data: ``/``, each Dash page, ``/account/password``), an HTTP 302 to
  ``/login?next=…``; for a data route or a callback (``/_dash-update-component``,
  ``/_dash-layout``, ``/_dash-dependencies``, ``/_gridmap/units/…`` — every path
  whose first part starts with ``_``), an HTTP 401 ``{"error": "sign in first"}``.
  Public: ``/login``, ``/logout``, ``/wall?token=…``, the JavaScript and CSS
  bundles (``/_dash-component-suites/…``, ``/assets/…``), the favicon and
  ``/_gridmap/ping``. What is not named public is refused: a new route is closed
  until it is opened here.
- **/login** is a plain form rendered on the server (no Dash, no script), in
  Chinese unless ``?lang=en``. A wrong password, an unknown name and a disabled
  account get the same message, after the same Argon2 check. Five failures in a
  row lock the account for 15 minutes (``failed_attempts``, ``locked_until``,
  written with the ``sign_in_failed`` row); failed attempts are also counted per
  client address (Flask-Limiter: ``GRIDMAP_LOGIN_RATE_LIMIT``, HTTP 429 past it).
- **Sessions** are Flask-Login's, in Flask's signed cookie (HttpOnly,
  SameSite=Lax, Secure with ``GRIDMAP_SECURE_COOKIES``), signed with
  ``GRIDMAP_SECRET_KEY`` or the secret kept in the store. Each request reads the
  account again: a disabled account, or one whose password was changed
  elsewhere, is signed out on its next request. A session ends after
  ``GRIDMAP_SESSION_IDLE_MINUTES`` without a user action; the automatic refresh
  (:data:`AUTOMATIC` callbacks) and the ping are no actions.
- **Wall tokens**: ``/wall?token=…`` opens a read-only ``viewer`` session in the
  token's scope, exempt from the idle sign-out, and re-checks the token on every
  request (revoked: signed out at once).

:func:`current_account` is the account a callback acts for. Every sign-in,
failure and sign-out writes an audit row (never a password or a token).
"""

from __future__ import annotations

import functools
import hmac
import json
import logging
import math
import re
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

import flask
from flask.sessions import SecureCookieSessionInterface

from gridmap.accounts import (
    Account,
    check_password_text,
    dummy_verify,
    hash_password,
    token_digest,
    verify_password,
)
from gridmap.app import _PING_PATH, ids
from gridmap.audit import AuditEntry, iso_utc
from gridmap.errors import AuthError, GridmapError, InputError
from gridmap.i18n import LANGS, label, t

if TYPE_CHECKING:
    import dash

    from gridmap.store.base import Store

__all__ = [
    "AUTOMATIC",
    "LOCK_AFTER",
    "LOCK_MINUTES",
    "SignedIn",
    "current_account",
    "install",
    "is_wall",
    "safe_next",
]

log = logging.getLogger(__name__)

#: Failed sign-ins in a row that lock an account, and for how many minutes.
LOCK_AFTER = 5
LOCK_MINUTES = 15
#: The callback inputs the page changes by itself: the refresh timer, the data
#: version it brings, the reconnection notice of assets/offline.js. A callback
#: request whose changed inputs are all of these is no user action (an open tab
#: would never idle out).
AUTOMATIC = frozenset(
    {f"{ids.REFRESH}.n_intervals", f"{ids.DATA_VERSION}.data", f"{ids.RECONNECT}.data"}
)
#: The name an audit row gives a sign-in attempt whose name is no account (the
#: typed text is not kept: people type their password into the name field).
UNKNOWN = "(unknown)"

# Keys of the session (Flask-Login keeps its own: _user_id, _fresh, _id).
_SEEN = "gm_seen"  # the time (epoch seconds) of the last user action
_WHO = "gm_who"  # name and role, for the audit row of a session that ended by itself
# The field page's service worker is code, no data: it must update when signed out too.
_PUBLIC = ("login", "logout", "_favicon.ico", _PING_PATH, "field-sw.js")
_PUBLIC_TREES = ("_dash-component-suites/", "assets/", "field-assets/", "wall-assets/")
_REASONS = {
    "idle": "auth.idle",
    "signed_out": "auth.signed_out",
    "ended": "auth.ended",
    "token": "auth.token_invalid",
}


def _now() -> datetime:
    """The time (the tests move it)."""
    return datetime.now(UTC)


# -- the signed-in user ---------------------------------------------------------------


class SignedIn:
    """The account of a session as Flask-Login sees it (a person's, or a wall's pseudo-account).

    Parameters
    ----------
    account
        The account, with its role and scope.
    session_id
        What the session keeps: ``u:<fingerprint>:<name>`` for a person (the
        fingerprint changes with the password), ``w:<token digest>`` for a wall.
    """

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def __init__(self, account: Account, session_id: str) -> None:
        self.account = account
        self.session_id = session_id

    @property
    def wall(self) -> bool:
        """Whether this is a wall display's session (a token, no password, no idle sign-out)."""
        return self.session_id.startswith("w:")

    def get_id(self) -> str:
        return self.session_id


def current_account() -> Account:
    """The account the current request acts for: the signed-in user's, or a wall's.

    A wall's pseudo-account is named ``wall:<token name>``, role ``viewer``, with
    the token's scope. Callbacks filter what they read by its ``scope``.

    Raises
    ------
    gridmap.errors.AuthError
        Outside a signed-in request (the gate never lets one reach a callback).
    """
    import flask_login

    user = flask_login.current_user if flask.has_request_context() else None
    if not getattr(user, "is_authenticated", False):
        raise AuthError("sign in first")
    return user.account


def is_wall() -> bool:
    """Whether the current request is a wall display's session (a token's, read-only)."""
    import flask_login

    user = flask_login.current_user if flask.has_request_context() else None
    return bool(getattr(user, "is_authenticated", False) and user.wall)


def _person(account: Account) -> SignedIn:
    return SignedIn(account, f"u:{_fingerprint(account)}:{account.name}")


def _fingerprint(account: Account) -> str:
    """16 hex digits that change with the password (never the hash itself in the cookie)."""
    key = str(flask.current_app.secret_key).encode()
    return hmac.new(key, account.password_hash.encode(), sha256).hexdigest()[:16]


def _wall_account(token: dict) -> Account:
    return Account(name=f"wall:{token['name']}", role="viewer", scope=tuple(token["scope"]))


def _load(session_id: str) -> SignedIn | None:
    """Flask-Login's user loader: the session's account read again from the store.

    ``None`` (anonymous) when the account is disabled or its password changed, or
    the wall token was revoked; ``flask.g.gm_ended`` says which.
    """
    kind, _, rest = session_id.partition(":")
    store = _store()
    if kind == "u":
        fingerprint, _, name = rest.partition(":")
        account = store.user(name)
        if account is None or account.disabled:
            flask.g.gm_ended = "disabled"
            return None
        if not hmac.compare_digest(fingerprint, _fingerprint(account)):
            flask.g.gm_ended = "password_changed"
            return None
        return SignedIn(account, session_id)
    if kind == "w":
        token = store.token(rest)
        if token is None:
            flask.g.gm_ended = "revoked"
            return None
        return SignedIn(_wall_account(token), session_id)
    return None


# -- install --------------------------------------------------------------------------


def install(app: dash.Dash) -> None:
    """Put the sign-in in front of every route of ``app``'s server.

    Call it from :func:`gridmap.app.create_app` once the store's address, the
    language and the basemap are in the server's config. Reads the settings
    ``GRIDMAP_SECRET_KEY``, ``GRIDMAP_SESSION_IDLE_MINUTES``,
    ``GRIDMAP_SECURE_COOKIES`` and ``GRIDMAP_LOGIN_RATE_LIMIT`` into the config
    (``GRIDMAP_IDLE_MINUTES``, ``GRIDMAP_LOGIN_RATE_LIMIT``, ``GRIDMAP_LOCK_AFTER``,
    ``GRIDMAP_LOCK_MINUTES``: read on each request, so tests may change them).
    """
    import flask_login
    from flask_limiter import Limiter, RateLimitExceeded
    from flask_limiter.util import get_remote_address

    from gridmap.settings import get_settings

    server = app.server
    settings = get_settings()
    _check_rate(settings.login_rate_limit)
    server.secret_key = settings.secret_key or _store(server.config).secret_key()
    server.config.update(
        SESSION_COOKIE_NAME="gridmap_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        GRIDMAP_IDLE_MINUTES=settings.session_idle_minutes,
        GRIDMAP_LOGIN_RATE_LIMIT=settings.login_rate_limit,
        GRIDMAP_LOCK_AFTER=LOCK_AFTER,
        GRIDMAP_LOCK_MINUTES=LOCK_MINUTES,
    )
    server.config.setdefault("GRIDMAP_LISTED_ACCOUNTS", False)
    prefix = app.config.routes_pathname_prefix

    server.session_interface = _Sessions()
    manager = flask_login.LoginManager()
    manager.init_app(server, add_context_processor=False)
    manager.user_loader(_load)

    # Failed sign-ins per client address. In this process's memory: several
    # server processes behind one address (waitress runs one; a deployment with
    # more) would each count their own, and need a shared storage (redis://).
    limiter = Limiter(get_remote_address, app=server, storage_uri="memory://")
    limiter.request_filter(lambda: not _attempt(prefix))
    attempts = limiter.shared_limit(
        lambda: flask.current_app.config["GRIDMAP_LOGIN_RATE_LIMIT"],
        scope="sign-in",
        exempt_when=lambda: not _attempt(prefix),
        deduct_when=lambda response: bool(flask.g.get("gm_failed")),
    )

    @server.errorhandler(RateLimitExceeded)
    def too_many(_error: Exception) -> flask.Response:
        lang = _lang()
        if flask.request.path == prefix + "login":
            return _login_page(lang, _next(prefix), t("auth.rate_limited", lang), status=429)
        return _message_page(lang, t("auth.rate_limited", lang), status=429)

    @server.before_request
    def gate() -> flask.Response | None:
        return _gate(prefix)

    @server.route(prefix + "login", methods=["GET", "POST"])
    @attempts
    def login() -> flask.Response:
        lang = _lang()
        target = _next(prefix)
        if flask.request.method == "GET":
            why = flask.request.args.get("reason", "")
            reason = _REASONS.get(why)
            page = _login_page(lang, target, t(reason, lang) if reason else None)
            # A session just ended (here after a callback was refused): drop its cache.
            return _forget(page) if why in ("idle", "ended") else page
        name = flask.request.form.get("name", "").strip()
        refused = _sign_in(name, flask.request.form.get("password", ""), lang)
        if refused is not None:
            # The form again, with one plain message (HTTP 200: a browser logs
            # every 4xx page as a console error; the limit counts it all the same).
            flask.g.gm_failed = True
            return _login_page(lang, target, refused, name=name)
        return flask.redirect(target)

    @server.route(prefix + "logout", methods=["GET", "POST"])
    def logout() -> flask.Response:
        if flask.request.method != "POST":
            # A link or an image of another page must not sign anyone out (and a
            # GET must not reach Dash's catch-all page past the gate).
            flask.abort(405)
        lang = _lang()
        if flask_login.current_user.is_authenticated:
            _end("user")
        flask.session.clear()
        return _forget(flask.redirect(_login_url(prefix, lang=lang, reason="signed_out")))

    @server.route(prefix + "wall", methods=["GET"])
    @attempts
    def wall() -> flask.Response | str:
        from gridmap.app import wall as wall_page

        if "token" not in flask.request.args:
            # A signed-in session (the gate saw to it) asking for the wall page.
            return wall_page.page()
        if not _wall_sign_in(flask.request.args.get("token", "")):
            # To the login page, which says so: a wrong token leaves the address bar too.
            flask.g.gm_failed = True
            asked = flask.request.args.get("lang")
            back = _login_url(prefix, lang=asked if asked in LANGS else None, reason="token")
            return flask.redirect(back)
        # A live token leaves the address bar (and the history) at once; the wall's
        # other options (unit, tour, theme …) stay.
        kept = [(k, v) for k, v in flask.request.args.items(multi=True) if k != "token"]
        return flask.redirect(prefix + "wall" + (f"?{urlencode(kept)}" if kept else ""))

    @server.route(prefix + "account/password", methods=["GET", "POST"])
    @attempts
    def password() -> flask.Response:
        return _password(_lang(), prefix)

    _hide_tokens_in_logs()


class _Sessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, without ``Vary: Cookie`` on what is named by its content.

    Flask says ``Vary: Cookie`` on every response of a request that looked at the
    session (the gate looks at each one, Flask-Login too), and the cookie changes
    with every user action (the idle clock): the browser kept the geometry, the
    favicon and the scripts at their versioned URLs, but fetched them again after
    every click, its copies keyed to an older cookie. What is kept a day or more
    is the same for every session that may ask for it, so it varies by no cookie.
    (A response that comes to differ by account must say so in its URL, as it
    says its version.) When a session ends, the browser is told to drop its
    cache (:func:`_forget`): the next account on the device does not find it.
    """

    def save_session(self, app: flask.Flask, session: Any, response: flask.Response) -> None:
        super().save_session(app, session, response)
        kept = response.cache_control
        if kept.immutable or (kept.max_age or 0) >= 86400:
            # (HeaderSet.discard does not write the header back: set it anew.)
            rest = [v for v in response.vary if v.lower() != "cookie"]
            if rest:
                response.headers["Vary"] = ", ".join(rest)
            else:
                response.headers.pop("Vary", None)


def _check_rate(value: str) -> None:
    """Refuse a ``GRIDMAP_LOGIN_RATE_LIMIT`` Flask-Limiter cannot read, naming it."""
    from limits import parse_many

    try:
        parse_many(value)
    except ValueError:
        raise GridmapError(
            f"GRIDMAP_LOGIN_RATE_LIMIT={value!r} is not usable",
            "write it as '20 per 15 minutes' (a count per a period)",
        ) from None


def _store(config: Any = None) -> Store:
    """The store of the app of this request (shared with the pages' Source)."""
    from gridmap.services.source import get_source

    config = config if config is not None else flask.current_app.config
    basemap = config.get("GRIDMAP_BASEMAP")
    return get_source(config["GRIDMAP_STORE"], basemap.offset if basemap else None).store


def _lang() -> str:
    lang = flask.request.values.get("lang")
    return lang if lang in LANGS else flask.current_app.config.get("GRIDMAP_LANG", "zh")


def _address() -> str:
    return flask.request.remote_addr or ""


def _audit(entry: AuditEntry) -> None:
    _store().audit(entry)


# -- the gate -------------------------------------------------------------------------


def _kind(prefix: str) -> str:
    """What the request asks for: ``public``, ``data`` (401 without a session) or ``page`` (302)."""
    path = flask.request.path
    if not path.startswith(prefix):
        return "page"
    rel = path[len(prefix) :]
    if rel in _PUBLIC or rel.startswith(_PUBLIC_TREES):
        return "public"
    if rel == "wall" and "token" in flask.request.args:
        return "public"
    # Dash's own routes and gridmap's data routes all start with "_".
    if rel.startswith("_"):
        return "data"
    return "page"


def _attempt(prefix: str) -> bool:
    """Whether the request tries a password or a token (what the address limit counts)."""
    request = flask.request
    if request.method == "POST":
        return request.path in (prefix + "login", prefix + "account/password")
    return request.path == prefix + "wall" and "token" in request.args


def _gate(prefix: str) -> flask.Response | None:
    import flask_login

    kind = _kind(prefix)
    if kind == "public":
        return None
    user = flask_login.current_user
    reason = None
    if not user.is_authenticated and "_user_id" in flask.session:
        # The account was disabled (or its password changed), the token revoked.
        reason = "ended"
        _end(flask.g.pop("gm_ended", "ended"))
    elif user.is_authenticated and not user.wall:
        now = _now().timestamp()
        seen = flask.session.get(_SEEN)
        idle = 60 * float(flask.current_app.config["GRIDMAP_IDLE_MINUTES"])
        if not isinstance(seen, int | float) or now - seen > idle:
            reason = "idle"
            _end("idle")
        elif _user_action(kind, prefix):
            flask.session[_SEEN] = now
    if flask_login.current_user.is_authenticated:
        # A wall is read-only, whatever the route: it reads, it never writes
        # (Dash's callbacks are POSTs that read: the dashboard's, not the wall's).
        writes = flask.request.method not in ("GET", "HEAD")
        callback = flask.request.path == prefix + "_dash-update-component"
        if flask_login.current_user.wall and writes and not callback:
            response = flask.jsonify(error="a wall display is read-only")
            response.status_code = 403
            return response
        return None
    if kind == "data":
        response = flask.jsonify(error="sign in first")
        response.status_code = 401
        response.headers["Cache-Control"] = "no-store"
    else:
        target = flask.request.full_path.removesuffix("?")
        lang = flask.request.args.get("lang")
        response = flask.redirect(
            _login_url(prefix, next=target, lang=lang if lang in LANGS else None, reason=reason)
        )
    # (Not on a callback's 401: the page asks for /login?reason=ended next, which does it.)
    return _forget(response) if reason and kind != "data" else response


def _forget(response: flask.Response) -> flask.Response:
    """Have the browser drop what it cached of the session that just ended.

    The geometry is kept a day at URLs that name its version, not its reader
    (see :class:`_Sessions`): on a shared tablet the next person to sign in
    would find the last one's area in the cache.
    """
    response.headers["Clear-Site-Data"] = '"cache"'
    return response


def _user_action(kind: str, prefix: str) -> bool:
    """Whether the request is something the user did (it restarts the idle clock).

    Opening a page is; a callback is, unless every input it reports as changed
    is one the page changes by itself (:data:`AUTOMATIC`). The geometry and
    Dash's other requests come with a page or a callback, and count with it.
    """
    request = flask.request
    if kind == "page":
        return request.method == "GET"
    if request.method == "POST" and request.path in (
        prefix + "_gridmap/field/report",
        prefix + "_gridmap/field/move",
    ):
        # A report or a move from /field is work (sent at once, or later from the outbox).
        return True
    if request.path != prefix + "_dash-update-component":
        return False
    body = request.get_json(silent=True)
    changed = body.get("changedPropIds") if isinstance(body, dict) else None
    if isinstance(changed, list) and changed:
        return not all(isinstance(c, str) and c in AUTOMATIC for c in changed)
    return True


def _end(reason: str) -> None:
    """End the session (and say so in the audit log): signed out, idle, disabled, revoked."""
    import flask_login

    who = flask.session.get(_WHO)
    who = who if isinstance(who, dict) else {}
    _audit(
        AuditEntry(
            user=str(who.get("name", UNKNOWN)),
            role=str(who.get("role", "")),
            address=_address(),
            action="sign_out",
            target=str(who.get("name", "")),
            detail={"reason": reason},
        )
    )
    flask_login.logout_user()
    flask.session.clear()


def _login_url(prefix: str, **query: str | None) -> str:
    params = {k: v for k, v in query.items() if v}
    return prefix + "login" + (f"?{urlencode(params)}" if params else "")


def _next(prefix: str) -> str:
    return safe_next(flask.request.values.get("next"), prefix)


def safe_next(value: object, prefix: str = "/") -> str:
    """Where to go after signing in: ``value`` if it is a path of this site, else ``prefix``.

    Only a path under the app's prefix, with neither a scheme nor a host (``//host``,
    ``/\\host``, ``https://…`` all fall back), and not the sign-in pages themselves.
    """
    if not isinstance(value, str) or not value or len(value) > 2048:
        return prefix
    if any(ord(c) < 32 or c == "\\" for c in value):
        return prefix
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith(prefix) or value.startswith("//"):
        return prefix
    if parts.path in (prefix + "login", prefix + "logout", prefix + "wall"):
        return prefix
    return value


# -- signing in -----------------------------------------------------------------------


def _sign_in(name: str, password: str, lang: str) -> str | None:
    """Check a name and password and sign the session in; the message of a refusal, or None.

    Every path spends one Argon2 check (an unknown name on a dummy hash), so the
    time does not tell whether a name exists; the message does not either,
    except that a locked account says it is locked.
    """
    import flask_login

    store = _store()
    config = flask.current_app.config
    account = store.user(name) if name else None
    if account is None:
        dummy_verify(password)
        _failed(UNKNOWN, "", {"reason": "unknown_name"})
        return t("auth.failed", lang)
    right = verify_password(account.password_hash, password)
    now = _now()
    until = _locked_until(account)
    if account.disabled:
        _failed(account.name, account.role, {"reason": "disabled"})
        return t("auth.failed", lang)
    if until is not None and until > now:
        # Right or wrong, refused while locked (and not counted: the lock is not extended).
        _failed(account.name, account.role, {"reason": "locked", "locked_until": iso_utc(until)})
        return t("auth.locked", lang, minutes=_minutes(until - now))
    if not right:
        # A lock that has run out starts the count again.
        count = (0 if until is not None else account.failed_attempts) + 1
        changes: dict[str, Any] = {"failed_attempts": count, "locked_until": None}
        detail: dict[str, Any] = {"reason": "wrong_password", "failed_attempts": count}
        locked = count >= int(config["GRIDMAP_LOCK_AFTER"])
        if locked:
            until = now + timedelta(minutes=float(config["GRIDMAP_LOCK_MINUTES"]))
            changes["locked_until"] = detail["locked_until"] = iso_utc(until)
        # The counters and their sign_in_failed row, in one transaction.
        store.change_user(account.name, changes, audit=_entry(account, "sign_in_failed", detail))
        if locked:
            return t("auth.locked", lang, minutes=_minutes(until - now))
        return t("auth.failed", lang)
    if account.failed_attempts or account.locked_until:
        store.change_user(
            account.name,
            {"failed_attempts": 0, "locked_until": None},
            audit=_entry(account, "sign_in", {"via": "password"}),
        )
    else:
        _audit(_entry(account, "sign_in", {"via": "password"}))
    flask.session.clear()
    flask_login.login_user(_person(account))
    flask.session[_SEEN] = now.timestamp()
    flask.session[_WHO] = {"name": account.name, "role": account.role}
    return None


def _entry(account: Account, action: str, detail: dict) -> AuditEntry:
    return AuditEntry(
        user=account.name,
        role=account.role,
        address=_address(),
        action=action,
        target=account.name,
        detail=detail,
    )


def _failed(name: str, role: str, detail: dict) -> None:
    _audit(
        AuditEntry(
            user=name,
            role=role,
            address=_address(),
            action="sign_in_failed",
            target=name if name != UNKNOWN else "",
            detail=detail,
        )
    )


def _locked_until(account: Account) -> datetime | None:
    if not account.locked_until:
        return None
    try:
        return datetime.fromisoformat(account.locked_until).astimezone(UTC)
    except ValueError:
        return None


def _minutes(left: timedelta) -> int:
    return max(1, math.ceil(left.total_seconds() / 60))


def _wall_sign_in(token: str) -> bool:
    """Sign the session in with a wall token; False (and an audit row) if it is not live."""
    import flask_login

    digest = token_digest(token)
    found = _store().token(digest) if token else None
    if found is None:
        _failed(UNKNOWN, "", {"via": "wall_token", "reason": "invalid_token"})
        return False
    account = _wall_account(found)
    _audit(
        AuditEntry(
            user=account.name,
            role=account.role,
            address=_address(),
            action="sign_in",
            target=str(found["name"]),
            detail={"via": "wall_token"},
        )
    )
    flask.session.clear()
    flask_login.login_user(SignedIn(account, f"w:{digest}"))
    flask.session[_WHO] = {"name": account.name, "role": account.role}
    return True


# -- changing one's password ----------------------------------------------------------


def _password(lang: str, prefix: str) -> flask.Response:
    import flask_login

    user = flask_login.current_user
    if user.wall:
        return _message_page(lang, t("auth.no_password", lang), status=403)
    if flask.request.method == "GET":
        return _password_page(lang)
    form = flask.request.form
    old, new, again = (form.get(k, "") for k in ("old", "new", "again"))
    store = _store()
    account = store.user(user.account.name)
    if account is None or not verify_password(account.password_hash, old):
        flask.g.gm_failed = True
        return _password_page(lang, t("auth.password_wrong", lang))
    if new != again:
        return _password_page(lang, t("auth.password_mismatch", lang))
    try:
        check_password_text(new)
    except InputError:
        return _password_page(lang, t("auth.password_short", lang, n=8))
    store.change_user(
        account.name,
        {"password_hash": hash_password(new)},
        audit=_entry(account, "user_change", {"change": "password"}),
    )
    # This session goes on with the new password; any other is signed out.
    changed = store.user(account.name)
    seen, who = flask.session.get(_SEEN), flask.session.get(_WHO)
    flask_login.login_user(_person(changed))
    flask.session[_SEEN], flask.session[_WHO] = seen, who
    return _password_page(lang, t("auth.password_done", lang), done=True)


# -- the pages ------------------------------------------------------------------------

_PAGE = """<!doctype html>
<html lang="{{ lang }}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ heading }}{% if heading != app_title %} · {{ app_title }}{% endif %}</title>
<link rel="icon" href="{{ favicon }}">
<link rel="stylesheet" href="{{ css }}">
</head>
<body class="gm-auth-body">
<main class="gm-auth">
<header class="gm-auth-header">
<h1>{{ app_title }}</h1>
<a class="gm-auth-lang" href="{{ switch_url }}" data-testid="lang-switch">{{ switch }}</a>
</header>
<h2>{{ heading }}</h2>
{% if message %}<p class="gm-auth-message{% if done %} gm-auth-done{% endif %}" role="alert"
 data-testid="auth-message">{{ message }}</p>{% endif %}
{{ body }}
</main>
</body>
</html>
"""

_LOGIN = """<form class="gm-auth-form" method="post" action="{{ action }}">
<input type="hidden" name="next" value="{{ next }}">
<input type="hidden" name="lang" value="{{ lang }}">
<label for="gm-login-user">{{ user_label }}</label>
<input id="gm-login-user" name="name" value="{{ name }}" autocomplete="username" required
 autocapitalize="none" spellcheck="false" data-testid="login-user">
<label for="gm-login-password">{{ password_label }}</label>
<input id="gm-login-password" name="password" type="password" autocomplete="current-password"
 required data-testid="login-password">
<button type="submit" data-testid="login-submit">{{ submit }}</button>
</form>
{% if demo %}
<section class="gm-demo-accounts" data-testid="demo-accounts">
<h2>{{ demo_title }}</h2>
<p>{{ demo_note }}</p>
<ul>
{% for a in demo %}<li><form method="post" action="{{ action }}">
<input type="hidden" name="next" value="{{ next }}">
<input type="hidden" name="lang" value="{{ lang }}">
<input type="hidden" name="name" value="{{ a.name }}">
<input type="hidden" name="password" value="{{ a.password }}">
<button type="submit" data-testid="demo-account" data-name="{{ a.name }}">
<span class="gm-demo-role">{{ a.role }}</span> <span class="gm-demo-name">{{ a.name }}</span>
<span class="gm-demo-scope">{{ a.scope }}</span></button>
</form></li>
{% endfor %}</ul>
</section>
{% endif %}
"""

_PASSWORD = """{% if not done %}<form class="gm-auth-form" method="post" action="{{ action }}">
<input type="hidden" name="lang" value="{{ lang }}">
<label for="gm-password-old">{{ old_label }}</label>
<input id="gm-password-old" name="old" type="password" autocomplete="current-password" required
 data-testid="password-old">
<label for="gm-password-new">{{ new_label }}</label>
<input id="gm-password-new" name="new" type="password" autocomplete="new-password" required
 minlength="8" data-testid="password-new">
<label for="gm-password-again">{{ again_label }}</label>
<input id="gm-password-again" name="again" type="password" autocomplete="new-password" required
 minlength="8" data-testid="password-again">
<button type="submit" data-testid="password-submit">{{ submit }}</button>
</form>{% endif %}
<p><a class="gm-auth-back" href="{{ back }}" data-testid="back">{{ back_label }}</a></p>
"""


@functools.lru_cache(maxsize=8)
def _template(text: str) -> Any:
    from jinja2 import Environment

    # Every value is escaped: names and messages are text, never markup.
    return Environment(autoescape=True).from_string(text)


def _render(template: str, **values: Any) -> str:
    return _template(template).render(**values)


def _page(lang: str, heading: str, body: str, message: str | None, status: int, **extra: Any):
    """One of the sign-in pages: plain HTML (no script), every value escaped, never cached."""
    from markupsafe import Markup

    prefix = flask.current_app.config.get("GRIDMAP_PATH_PREFIX", "/")
    other = "en" if lang == "zh" else "zh"
    args = {k: v for k, v in flask.request.values.items() if k in ("next", "reason")}
    html = _render(
        _PAGE,
        lang=lang,
        heading=heading,
        app_title=t("app.title", lang),
        favicon=prefix + "_favicon.ico?v=" + _dash_version(),
        css=prefix + "assets/gridmap.css?m=" + _css_version(),
        switch=t("app.lang_switch", lang),
        switch_url=flask.request.path + "?" + urlencode({**args, "lang": other}),
        message=message,
        body=Markup(body),  # rendered (and escaped) by _render already
        **extra,
    )
    response = flask.Response(html, status=status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


def _login_page(
    lang: str, target: str, message: str | None, *, name: str = "", status: int = 200
) -> flask.Response:
    prefix = flask.current_app.config.get("GRIDMAP_PATH_PREFIX", "/")
    demo = _demo_accounts(lang)
    body = _render(
        _LOGIN,
        action=prefix + "login",
        next=target,
        lang=lang,
        name=name,
        user_label=t("auth.user", lang),
        password_label=t("auth.password", lang),
        submit=t("auth.submit", lang),
        demo=demo,
        demo_title=t("auth.demo_title", lang),
        demo_note=t("auth.demo_note", lang),
    )
    return _page(lang, t("auth.title", lang), body, message, status)


def _password_page(
    lang: str, message: str | None = None, *, status: int = 200, done: bool = False
) -> flask.Response:
    prefix = flask.current_app.config.get("GRIDMAP_PATH_PREFIX", "/")
    body = _render(
        _PASSWORD,
        action=prefix + "account/password",
        lang=lang,
        done=done,
        old_label=t("auth.password_old", lang),
        new_label=t("auth.password_new", lang),
        again_label=t("auth.password_again", lang),
        submit=t("auth.password_submit", lang),
        back=prefix + "?" + urlencode({"lang": lang}),
        back_label=t("auth.back", lang),
    )
    return _page(lang, t("auth.change_password", lang), body, message, status, done=done)


def _message_page(lang: str, message: str, *, status: int) -> flask.Response:
    prefix = flask.current_app.config.get("GRIDMAP_PATH_PREFIX", "/")
    body = _render(
        '<p><a class="gm-auth-back" href="{{ back }}" data-testid="back">{{ label }}</a></p>',
        back=prefix,
        label=t("auth.back", lang),
    )
    return _page(lang, t("app.title", lang), body, message, status)


def _dash_version() -> str:
    import dash

    return dash.__version__


def _css_version() -> str:
    from gridmap.resources import assets_dir

    try:
        return str(int((assets_dir() / "gridmap.css").stat().st_mtime))
    except OSError:
        return "0"


def _demo_accounts(lang: str) -> list[dict[str, str]]:
    """The demo's accounts to sign in with in a click: only for a synthetic store served
    on the machine itself (``create_app(listed_accounts=True)``), else none."""
    from gridmap.services.source import get_source

    config = flask.current_app.config
    if not config.get("GRIDMAP_LISTED_ACCOUNTS"):
        return []
    basemap = config.get("GRIDMAP_BASEMAP")
    src = get_source(config["GRIDMAP_STORE"], basemap.offset if basemap else None)
    if not src.synthetic:
        return []
    try:
        listed = json.loads(src.store.setting("demo_accounts") or "[]")
    except ValueError:
        log.warning("the store's demo_accounts setting is not JSON: no demo accounts listed")
        return []
    out = []
    for item in listed if isinstance(listed, list) else []:
        if not isinstance(item, dict) or not all(
            isinstance(item.get(k), str) for k in ("name", "password", "role")
        ):
            continue
        scope = item.get("scope") or []
        parts = [str(s) for s in scope] if isinstance(scope, list) else []
        if item.get("department"):
            parts.append(str(item["department"]))
        out.append(
            {
                "name": item["name"],
                "password": item["password"],
                "role": label("role", item["role"], lang),
                "scope": " ".join(parts) or t("auth.scope_all", lang),
            }
        )
    return out


# -- logs -----------------------------------------------------------------------------

_TOKEN_IN_URL = re.compile(r"(token=)[^&\s\"]+")


class _HideTokens(logging.Filter):
    """Werkzeug logs each request line, query included: a wall token must not be kept there."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if "token=" in text:
            record.msg, record.args = _TOKEN_IN_URL.sub(r"\1…", text), None
        return True


def _hide_tokens_in_logs() -> None:
    logger = logging.getLogger("werkzeug")
    if not any(isinstance(f, _HideTokens) for f in logger.filters):
        logger.addFilter(_HideTokens())

"""Signing in to the dashboard (issue 12, points 4 and 5): the gate, sessions, lockout, wall tokens.

Each test serves a small store of its own through Flask's test client, as a
browser (or an attacker with curl) would reach it: anonymous pages are sent to
/login, anonymous data routes and callbacks get 401, and every sign-in, failure
and sign-out leaves an audit row that never holds a password or a token.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import signed_in

from gridmap.accounts import Account, generate_token, hash_password, token_digest
from gridmap.app import auth, create_app
from gridmap.audit import AuditEntry
from gridmap.i18n import t
from gridmap.services.source import close_sources
from gridmap.settings import get_settings
from gridmap.store import open_store
from gridmap.store.accounts import set_setting

from fixtures import valid_layers

PASSWORDS = {"wang": "wang-password-1", "li": "li-password-22", "zhao": "zhao-password-333"}
#: Every secret the tests type: none may appear in an audit row.
SECRETS = [*PASSWORDS.values(), "not-the-password", "S3cret-typed-as-a-name"]
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def _entry(target: str = "") -> AuditEntry:
    return AuditEntry("root", "admin", "cli", "user_change", target)


def _store(path, *, synthetic: bool = True) -> None:
    layers = valid_layers()
    meta = {"layer": "districts", "source": "test", "licence": "-", "synthetic": synthetic}
    with open_store(path, create=True) as store:
        store.write({"districts": layers["districts"]}, metadata=[meta])
        roles = {
            "wang": ("supervisor", ("43100200100101",)),
            "li": ("admin", ()),
            "zhao": ("viewer", ()),
        }
        for name, (role, scope) in roles.items():
            store.add_user(
                Account(name, role, scope, password_hash=hash_password(PASSWORDS[name])),
                audit=_entry(name),
            )


class Clock:
    """The time as gridmap.app.auth sees it, moved by the test."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def move(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(auth, "_now", c)
    return c


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """The small store, made once (an Argon2 hash takes a fifth of a second)."""
    out = tmp_path_factory.mktemp("auth") / "template.gpkg"
    _store(out)
    return out


@pytest.fixture
def path(template, tmp_path):
    """A copy of the small store for one test."""
    import shutil

    out = tmp_path / "auth.gpkg"
    shutil.copy(template, out)
    yield out
    close_sources()


def _app(path, **kwargs):
    app = create_app(str(path), lang="zh", refresh_seconds=0, **kwargs)

    @app.server.route("/_test/whoami")
    def whoami():  # what a callback sees: the account of the session
        account = auth.current_account()
        return {"name": account.name, "role": account.role, "scope": list(account.scope)}

    return app


@pytest.fixture
def app(path, clock):
    return _app(path)


@pytest.fixture
def client(app):
    return app.server.test_client()


def _sign_in(client, name: str, password: str | None = None, **form: str):
    return client.post(
        "/login", data={"name": name, "password": password or PASSWORDS[name], **form}
    )


def _message(response) -> str:
    found = re.search(r'data-testid="auth-message">([^<]*)<', response.get_data(as_text=True))
    return found.group(1) if found else ""


def _audit(path) -> list[dict]:
    with open_store(path) as store:
        return store.audit_log()


def _last(path, action: str) -> dict:
    rows = [r for r in _audit(path) if r["action"] == action]
    assert rows, f"no {action} row"
    return {**rows[-1], "detail": json.loads(rows[-1]["detail"])}


def _no_secret_in_audit(path, *more: str) -> None:
    text = json.dumps(_audit(path), ensure_ascii=False)
    for secret in (*SECRETS, *more):
        assert secret not in text, secret


def _signed_in(client) -> bool:
    return client.get("/_dash-layout").status_code == 200


# -- the gate -------------------------------------------------------------------------


def test_anonymous_pages_go_to_the_login_page(app, client):
    import dash

    paths = ["/", "/?unit=431002001", "/field", "/wall", "/plan", "/account/password", "/static/x"]
    paths += [p["path"] for p in dash.page_registry.values()]
    for path in paths:
        response = client.get(path)
        assert response.status_code == 302, path
        location = urlsplit(response.headers["Location"])
        assert location.path == "/login", path
        assert parse_qs(location.query)["next"] == [path], path
    # The language the page was asked in goes along.
    location = client.get("/?unit=431002&lang=en").headers["Location"]
    assert parse_qs(urlsplit(location).query)["lang"] == ["en"]


def _sample(rule: str) -> str:
    """A URL of a route (its variables filled with plausible values)."""
    values = {"code": "431002", "lang": "zh"}
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: values.get(m.group(1), "x"), rule)


def test_every_data_route_and_callback_needs_a_session(app, client):
    public = ("/_dash-component-suites/", "/_favicon.ico", "/_gridmap/ping")
    seen = []
    for rule in app.server.url_map.iter_rules():
        if not rule.rule.startswith("/_") or rule.rule.startswith(public):
            continue
        url = _sample(rule.rule)
        method = "POST" if "POST" in rule.methods else "GET"
        response = client.open(url, method=method, json={} if method == "POST" else None)
        assert response.status_code == 401, url
        assert response.get_json() == {"error": "sign in first"}, url
        seen.append(rule.rule)
    for route in (
        "/_dash-update-component",
        "/_dash-layout",
        "/_dash-dependencies",
        "/_gridmap/units/<code>.geojson",
        "/_gridmap/basemap.geojson",
        "/_gridmap/outline/<code>.<lang>.geojson",
    ):
        assert route in seen, route
    # A real callback, as the page sends it.
    body = {
        "output": "gm-data-version.data",
        "outputs": {"id": "gm-data-version", "property": "data"},
        "inputs": [{"id": "gm-refresh", "property": "n_intervals", "value": 1}],
        "changedPropIds": ["gm-refresh.n_intervals"],
    }
    assert client.post("/_dash-update-component", json=body).status_code == 401


def test_what_is_public(client):
    assert client.get("/login").status_code == 200
    assert client.get("/_gridmap/ping").status_code == 204
    css = client.get("/assets/gridmap.css")
    assert css.status_code == 200
    css.close()
    icon = client.get("/_favicon.ico")
    assert icon.status_code == 200
    icon.close()
    # The page's scripts, asked for without a session (as the login page's browser may).
    page = signed_in(client.application.test_client()).get("/").get_data(as_text=True)
    scripts = re.findall(r'<script src="([^"]+_dash-component-suites/[^"]+)"', page)
    assert scripts
    for src in scripts:
        response = client.get(src)
        assert response.status_code == 200, src
        response.close()
    # /logout takes a POST only (a link or an image cannot sign anyone out).
    assert client.get("/logout").status_code == 405


# -- signing in -----------------------------------------------------------------------


def test_the_login_page_speaks_chinese_then_english(client):
    zh = client.get("/login").get_data(as_text=True)
    assert '<html lang="zh">' in zh and t("auth.submit", "zh") in zh
    for testid in ("login-user", "login-password", "login-submit"):
        assert f'data-testid="{testid}"' in zh
    en = client.get("/login?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in en and "Sign in" in en and "用户名" not in en
    # No script on the page: it works under any Content-Security-Policy.
    assert "<script" not in zh
    assert client.get("/login").headers["Cache-Control"] == "no-store"


def test_signing_in_opens_the_page_asked_for(client, path):
    response = _sign_in(client, "wang", next="/?unit=43100200100101&lang=en")
    assert response.status_code == 302
    assert response.headers["Location"] == "/?unit=43100200100101&lang=en"
    assert client.get("/").status_code == 200 and _signed_in(client)
    who = client.get("/_test/whoami").get_json()
    assert who == {"name": "wang", "role": "supervisor", "scope": ["43100200100101"]}
    row = _last(path, "sign_in")
    assert (row["user"], row["role"], row["address"]) == ("wang", "supervisor", "127.0.0.1")
    assert row["detail"] == {"via": "password"}
    _no_secret_in_audit(path)


def test_a_wrong_password_and_an_unknown_name_say_the_same(client, path):
    wrong = _sign_in(client, "wang", "not-the-password")
    unknown = _sign_in(client, "S3cret-typed-as-a-name", "not-the-password")
    assert wrong.status_code == unknown.status_code == 200
    assert _message(wrong) == _message(unknown) == t("auth.failed", "zh")
    assert not _signed_in(client)
    failed = [r for r in _audit(path) if r["action"] == "sign_in_failed"]
    assert [(r["user"], json.loads(r["detail"])["reason"]) for r in failed] == [
        ("wang", "wrong_password"),
        (auth.UNKNOWN, "unknown_name"),
    ]
    # The name typed for an unknown account is not kept (it may be a password).
    _no_secret_in_audit(path)


@pytest.mark.parametrize(
    ("asked", "sent_to"),
    [
        ("/?unit=431002001", "/?unit=431002001"),
        ("/field?x=1", "/field?x=1"),
        ("https://evil.example/", "/"),
        ("//evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("///evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("evil.example", "/"),
        ("/login?next=//evil.example", "/"),
        ("/\r\nSet-Cookie: x=1", "/"),
        ("", "/"),
    ],
)
def test_only_a_path_of_this_site_is_a_next(client, asked, sent_to):
    response = _sign_in(client, "li", next=asked)
    assert response.status_code == 302
    assert response.headers["Location"] == sent_to


def test_five_failures_lock_the_account_for_15_minutes(client, path, clock):
    for i in range(1, 5):
        assert _message(_sign_in(client, "wang", "not-the-password")) == t("auth.failed", "zh")
        with open_store(path) as store:
            assert store.user("wang").failed_attempts == i
    fifth = _sign_in(client, "wang", "not-the-password")
    assert _message(fifth) == t("auth.locked", "zh", minutes=15)
    with open_store(path) as store:
        user = store.user("wang")
    assert user.failed_attempts == 5
    assert datetime.fromisoformat(user.locked_until) == T0 + timedelta(minutes=15)
    row = _last(path, "sign_in_failed")
    assert row["detail"]["failed_attempts"] == 5 and row["detail"]["locked_until"]
    # The right password is refused while the lock holds.
    clock.move(minutes=10)
    right = _sign_in(client, "wang")
    assert right.status_code == 200 and _message(right) == t("auth.locked", "zh", minutes=5)
    assert not _signed_in(client)
    assert _last(path, "sign_in_failed")["detail"]["reason"] == "locked"
    # Past it, the right password signs in and the count starts again.
    clock.move(minutes=6)
    assert _sign_in(client, "wang").status_code == 302 and _signed_in(client)
    with open_store(path) as store:
        user = store.user("wang")
    assert (user.failed_attempts, user.locked_until) == (0, None)
    _no_secret_in_audit(path)


def test_failed_attempts_from_one_address_are_limited(app, client, path):
    app.server.config["GRIDMAP_LOGIN_RATE_LIMIT"] = "3 per 15 minutes"
    # Successes do not count.
    for _ in range(4):
        assert _sign_in(client, "li").status_code == 302
    for i in range(3):
        assert _message(_sign_in(client, f"nobody{i}", "x")) == t("auth.failed", "zh")
    # The fourth failure is one too many: refused before any password is checked,
    # the right one too, with one plain message.
    refused = _sign_in(client, "li")
    assert refused.status_code == 429
    assert _message(refused) == t("auth.rate_limited", "zh")
    # Another address is not held back.
    other = client.post(
        "/login",
        data={"name": "li", "password": PASSWORDS["li"]},
        environ_overrides={"REMOTE_ADDR": "10.0.0.9"},
    )
    assert other.status_code == 302
    # The form itself still shows.
    assert client.get("/login").status_code == 200
    _no_secret_in_audit(path)


def test_a_disabled_account_cannot_sign_in_and_is_signed_out(client, path):
    assert _sign_in(client, "wang").status_code == 302 and _signed_in(client)
    with open_store(path) as store:
        store.change_user("wang", {"disabled": True}, audit=_entry("wang"))
    # Its next request: a page goes to the login page, data are refused.
    response = client.get("/?unit=431002001")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert not _signed_in(client)
    row = _last(path, "sign_out")
    assert (row["user"], row["detail"]) == ("wang", {"reason": "disabled"})
    # And it cannot sign in again (the same message as a wrong password).
    again = _sign_in(client, "wang")
    assert again.status_code == 200 and _message(again) == t("auth.failed", "zh")


# -- sessions -------------------------------------------------------------------------


def test_the_session_cookie_is_httponly_and_lax(client):
    cookie = _sign_in(client, "li").headers["Set-Cookie"]
    assert cookie.startswith("gridmap_session=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


def test_the_cookie_is_secure_when_asked(path, clock, monkeypatch):
    monkeypatch.setenv("GRIDMAP_SECURE_COOKIES", "1")
    get_settings.cache_clear()
    try:
        client = _app(path).server.test_client()
    finally:
        get_settings.cache_clear()
    cookie = _sign_in(client, "li").headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_what_is_named_by_its_version_is_kept_whatever_the_cookie(app, client):
    """The idle clock changes the cookie with every action; the geometry, favicon and
    scripts at their versioned URLs must stay in the browser's cache all the same."""
    from gridmap.app import units_url
    from gridmap.services.source import get_source

    _sign_in(client, "li")
    units = client.get(units_url(get_source(app.server.config["GRIDMAP_STORE"]), "431002"))
    assert units.status_code == 200
    assert "Cookie" not in units.headers.get("Vary", "")
    # Only for this browser: it is for signed-in users.
    assert units.headers["Cache-Control"].startswith("private")
    page = client.get("/")
    icon = re.search(r'href="([^"]*_favicon\.ico\?v=[^"]+)"', page.get_data(as_text=True))
    favicon = client.get(icon.group(1))
    assert "Cookie" not in favicon.headers.get("Vary", "")
    favicon.close()
    # A page names the account: it varies by the cookie.
    assert "Cookie" in page.headers["Vary"]


def test_the_secret_is_kept_in_the_store_or_taken_from_the_environment(path, monkeypatch):
    first, second = _app(path), _app(path)
    assert first.server.secret_key == second.server.secret_key  # a restart keeps sessions
    with open_store(path) as store:
        assert store.setting("secret_key") == first.server.secret_key
    monkeypatch.setenv("GRIDMAP_SECRET_KEY", "from-the-environment")
    get_settings.cache_clear()
    try:
        assert _app(path).server.secret_key == "from-the-environment"
    finally:
        get_settings.cache_clear()


def test_a_session_idles_out(client, path, clock):
    _sign_in(client, "wang")
    clock.move(minutes=20)
    assert client.get("/").status_code == 200  # a user action: the clock starts again
    clock.move(minutes=29)
    assert _signed_in(client)
    clock.move(minutes=31)
    response = client.get("/?unit=431002001")
    assert response.status_code == 302
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["reason"] == ["idle"] and query["next"] == ["/?unit=431002001"]
    assert not _signed_in(client)
    row = _last(path, "sign_out")
    assert (row["user"], row["detail"]) == ("wang", {"reason": "idle"})
    assert response.headers["Clear-Site-Data"] == '"cache"'
    # The login page says why.
    page = client.get(response.headers["Location"])
    assert _message(page) == t("auth.idle", "zh")


def _callback(client, changed: list[str]):
    """The data check as the page sends it (every input listed, ``changed`` as changed)."""
    from gridmap.services.source import get_source

    shown = get_source(client.application.config["GRIDMAP_STORE"]).version
    body = {
        "output": "gm-data-version.data",
        "outputs": {"id": "gm-data-version", "property": "data"},
        "inputs": [
            {"id": "gm-refresh", "property": "n_intervals", "value": 3},
            {"id": "gm-reconnect", "property": "data", "value": None},
        ],
        "state": [{"id": "gm-data-version", "property": "data", "value": shown}],
        "changedPropIds": changed,
    }
    return client.post("/_dash-update-component", json=body)


def test_the_automatic_refresh_is_no_user_action(client, clock):
    _sign_in(client, "wang")
    for _ in range(5):  # a tab left open: the refresh, the ping, every few minutes
        clock.move(minutes=5)
        assert _callback(client, ["gm-refresh.n_intervals"]).status_code in (200, 204)
        assert client.get("/_gridmap/ping").status_code == 204
    clock.move(minutes=6)  # 31 minutes since the sign-in, the last user action
    response = _callback(client, ["gm-refresh.n_intervals"])
    assert response.status_code == 401
    assert response.get_json() == {"error": "sign in first"}


def test_a_callback_the_user_caused_is_a_user_action(client, clock):
    _sign_in(client, "wang")
    clock.move(minutes=25)
    assert _callback(client, ["gm-reconnect.data"]).status_code in (200, 204)  # automatic
    assert _callback(client, ["gm-measure.value"]).status_code in (200, 204)  # the user's
    clock.move(minutes=25)
    assert _signed_in(client)


def test_signing_out(client, path):
    _sign_in(client, "wang")
    response = client.post("/logout?lang=en")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?lang=en&reason=signed_out"
    assert not _signed_in(client) and client.get("/").status_code == 302
    row = _last(path, "sign_out")
    assert (row["user"], row["role"], row["detail"]) == ("wang", "supervisor", {"reason": "user"})
    assert _message(client.get(response.headers["Location"])) == t("auth.signed_out", "en")
    # The browser drops what it cached for this account (the geometry is kept a day).
    assert response.headers["Clear-Site-Data"] == '"cache"'


def test_changing_ones_password(app, client, path):
    other = app.server.test_client()
    _sign_in(other, "wang")
    _sign_in(client, "wang")
    form = client.get("/account/password").get_data(as_text=True)
    for testid in ("password-old", "password-new", "password-again", "password-submit"):
        assert f'data-testid="{testid}"' in form

    def change(old, new, again=None):
        data = {"old": old, "new": new, "again": new if again is None else again}
        return client.post("/account/password", data=data)

    wrong = change("not-the-password", "new-password-1")
    assert _message(wrong) == t("auth.password_wrong", "zh")
    differ = change(PASSWORDS["wang"], "new-password-1", "new-password-2")
    assert _message(differ) == t("auth.password_mismatch", "zh")
    short = change(PASSWORDS["wang"], "short")
    assert _message(short) == t("auth.password_short", "zh", n=8)
    done = change(PASSWORDS["wang"], "new-password-1")
    assert done.status_code == 200 and _message(done) == t("auth.password_done", "zh")
    row = _last(path, "user_change")
    assert (row["user"], row["target"], row["detail"]) == ("wang", "wang", {"change": "password"})
    # This session goes on; the one opened with the old password ends.
    assert _signed_in(client)
    assert not _signed_in(other)
    assert _last(path, "sign_out")["detail"] == {"reason": "password_changed"}
    assert _sign_in(app.server.test_client(), "wang").status_code == 200  # refused
    assert _sign_in(app.server.test_client(), "wang", "new-password-1").status_code == 302
    _no_secret_in_audit(path, "new-password-1", "new-password-2")


# -- wall tokens ----------------------------------------------------------------------


def _token(path, name: str = "lobby", scope=("431002001",)) -> str:
    token = generate_token()
    with open_store(path) as store:
        store.add_token(
            name,
            token_digest(token),
            list(scope),
            audit=AuditEntry("li", "admin", "cli", "token_change"),
        )
    return token


def test_a_wall_token_opens_a_viewer_session_that_never_idles(client, path, clock):
    token = _token(path)
    response = client.get(f"/wall?token={token}")
    # To the wall page, the token gone from the address bar (issue 14: the page exists)
    assert response.status_code == 302 and response.headers["Location"] == "/wall"
    who = client.get("/_test/whoami").get_json()
    assert who == {"name": "wall:lobby", "role": "viewer", "scope": ["431002001"]}
    row = _last(path, "sign_in")
    assert (row["user"], row["role"], row["target"]) == ("wall:lobby", "viewer", "lobby")
    assert row["detail"] == {"via": "wall_token"}
    # Hours of automatic refresh only: still signed in.
    clock.move(hours=5)
    assert _callback(client, ["gm-refresh.n_intervals"]).status_code in (200, 204)
    assert client.get("/").status_code == 200
    # A wall has no password to change.
    assert client.get("/account/password").status_code == 403
    _no_secret_in_audit(path, token)


def test_a_revoked_wall_token_ends_its_session_at_once(app, path):
    token = _token(path)
    page, data = app.server.test_client(), app.server.test_client()
    for client in (page, data):
        assert client.get(f"/wall?token={token}").status_code == 302
    with open_store(path) as store:
        store.revoke_token("lobby", audit=AuditEntry("li", "admin", "cli", "token_change"))
    assert page.get("/").status_code == 302
    assert data.get("/_dash-layout").status_code == 401
    row = _last(path, "sign_out")
    assert (row["user"], row["detail"]) == ("wall:lobby", {"reason": "revoked"})
    # And the token opens nothing any more.
    assert "reason=token" in page.get(f"/wall?token={token}").headers["Location"]
    _no_secret_in_audit(path, token)


def test_an_invalid_wall_token_is_refused(client, path):
    for bad in ("not-a-token", ""):
        response = client.get(f"/wall?token={bad}")
        # To the login page (the token leaves the address bar), which says so.
        assert response.status_code == 302
        assert response.headers["Location"] == "/login?reason=token"
        assert _message(client.get(response.headers["Location"])) == t("auth.token_invalid", "zh")
        assert not _signed_in(client)
    row = _last(path, "sign_in_failed")
    assert row["detail"] == {"via": "wall_token", "reason": "invalid_token"}
    _no_secret_in_audit(path, "not-a-token")


def test_a_wall_token_stays_out_of_the_server_log(caplog):
    record = logging.LogRecord(
        "werkzeug",
        logging.INFO,
        __file__,
        1,
        '"%s" %s',
        ("GET /wall?token=abc-DEF_1 HTTP/1.1", 302),
        None,
    )
    assert auth._HideTokens().filter(record)
    assert "abc-DEF_1" not in record.getMessage() and "/wall?token=" in record.getMessage()


# -- demo accounts --------------------------------------------------------------------


def _listed(path, accounts: list[dict]) -> None:
    with open_store(path) as store, store._accounts(write=True) as cur:
        set_setting(cur, "demo_accounts", json.dumps(accounts, ensure_ascii=False))


DEMO = [
    {"name": "li", "role": "admin", "password": PASSWORDS["li"], "scope": [], "department": None},
    {
        "name": "<b>wang</b>",
        "role": "supervisor",
        "password": "x",
        "scope": ["43100200100101"],
        "department": None,
    },
]


def test_demo_accounts_are_listed_for_a_synthetic_store_served_locally(path, clock):
    _listed(path, DEMO)
    client = _app(path, listed_accounts=True).server.test_client()
    page = client.get("/login").get_data(as_text=True)
    assert 'data-testid="demo-accounts"' in page and t("auth.demo_title", "zh") in page
    assert page.count('data-testid="demo-account"') == 2
    assert "系统管理员" in page and "43100200100101" in page
    # Names are text: escaped, never markup.
    assert "<b>wang</b>" not in page and "&lt;b&gt;wang&lt;/b&gt;" in page
    # A click posts that account's name and password: signed in.
    form = re.search(r'data-name="li"', page)
    assert form is not None
    assert _sign_in(client, "li").status_code == 302


def test_demo_accounts_are_never_listed_otherwise(tmp_path, path, clock):
    _listed(path, DEMO)
    # Served beyond the machine (listed_accounts=False): not listed.
    page = _app(path).server.test_client().get("/login").get_data(as_text=True)
    assert "demo-account" not in page and PASSWORDS["li"] not in page
    # A store not marked synthetic, served locally: not listed either.
    real = tmp_path / "real.gpkg"
    _store(real, synthetic=False)
    _listed(real, DEMO)
    page = _app(real, listed_accounts=True).server.test_client().get("/login")
    assert "demo-account" not in page.get_data(as_text=True)


@pytest.mark.parametrize(("host", "listed"), [("127.0.0.1", True), ("0.0.0.0", False)])
def test_run_lists_accounts_only_on_the_machine_itself(monkeypatch, host, listed):
    import gridmap.app as app_module
    from gridmap.services import source

    seen = {}

    class Stub:
        server = None

        def run(self, **_):
            pass

    class Src:
        def warm(self):
            pass

    monkeypatch.setattr(source, "get_source", lambda *a, **k: Src())
    monkeypatch.setattr(app_module, "_warm_packages", lambda app: None)
    monkeypatch.setattr(app_module, "create_app", lambda *a, **k: seen.update(k) or Stub())
    app_module.run("x.gpkg", host=host)
    assert seen["listed_accounts"] is listed


# -- pieces ---------------------------------------------------------------------------


def test_safe_next_under_a_prefix():
    assert auth.safe_next("/app/?unit=1", "/app/") == "/app/?unit=1"
    assert auth.safe_next("/other/", "/app/") == "/app/"
    assert auth.safe_next(None, "/app/") == "/app/"
    assert auth.safe_next("/app/login", "/app/") == "/app/"

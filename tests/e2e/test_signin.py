"""Signing in, in Chromium (issue 12, points 4, 5 and 8): the real /login page and what follows.

An anonymous visit lands on the login page and comes back to the view it asked
for once signed in; a wrong password shows one message; the header signs out
and changes the password; a wall display's token opens the dashboard and its
revocation sends the open page back to the login page; a local synthetic
store lists its demo accounts, each a click away. Screenshots go to
tests/artifacts/screenshots/signin-*.png.
"""

from __future__ import annotations

import shutil
from urllib.parse import parse_qs, urlsplit

import pytest
from signin import sign_in
from test_dashboard import (  # noqa: F401
    SHOTS,
    TIMEOUT_MS,
    _serving,
    _wait_numbers,
    _wait_view,
    browser,
    page_of,
    server,
)
from test_touch import _TARGETS, _overlapping, _small

from gridmap.accounts import Account, generate_token, hash_password, token_digest
from gridmap.audit import AuditEntry
from gridmap.i18n import t
from gridmap.store import open_store

pytestmark = pytest.mark.slow

#: What Chromium logs for a response of 401 (a callback after the session ended).
_UNAUTHORIZED = "Failed to load resource: the server responded with a status of 401"


def _path_and_query(url: str) -> tuple[str, dict]:
    parts = urlsplit(url)
    return parts.path, parse_qs(parts.query)


def _copy_with(demo_path, folder, *accounts: tuple[str, str, str]):
    """A copy of the demo with accounts ``(name, role, password)`` added."""
    copy = folder / "accounts.gpkg"
    shutil.copy(demo_path, copy)
    with open_store(copy) as store:
        for name, role, password in accounts:
            store.add_user(
                Account(name, role, password_hash=hash_password(password)),
                audit=AuditEntry("tests", "admin", "cli", "user_change", name),
            )
    return copy


def test_an_anonymous_visit_signs_in_and_comes_back(page_of, server, demo_admin):  # noqa: F811
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = page_of(signed_in=False)
    page.goto(server + "/?unit=431002001")
    path, query = _path_and_query(page.url)
    assert path == "/login" and query["next"] == ["/?unit=431002001"]
    assert page.locator("h2").first.inner_text() == t("auth.title", "zh")
    page.screenshot(path=str(SHOTS / "signin-login-zh.png"))
    name, password = demo_admin
    page.get_by_test_id("login-user").fill(name)
    page.get_by_test_id("login-password").fill(password)
    page.get_by_test_id("login-submit").click()
    _wait_view(page, "431002001")
    assert _path_and_query(page.url) == ("/", {"unit": ["431002001"]})
    _wait_numbers(page)
    who = page.get_by_test_id("account").inner_text()
    assert name in who and t("role.admin", "zh") in who
    assert page.get_by_test_id("logout").is_visible()
    assert page.get_by_test_id("change-password").is_visible()
    page.screenshot(path=str(SHOTS / "signin-dashboard.png"))


def test_a_wrong_password_shows_one_message(page_of, server, demo_admin):  # noqa: F811
    page = page_of(signed_in=False)
    page.goto(server + "/login?lang=en")
    page.get_by_test_id("login-user").fill(demo_admin[0])
    page.get_by_test_id("login-password").fill("not-the-password")
    page.get_by_test_id("login-submit").click()
    message = page.get_by_test_id("auth-message")
    message.wait_for(timeout=TIMEOUT_MS)
    assert message.inner_text() == t("auth.failed", "en")
    assert urlsplit(page.url).path == "/login"
    # The name stays typed; the password does not.
    assert page.get_by_test_id("login-user").input_value() == demo_admin[0]
    assert page.get_by_test_id("login-password").input_value() == ""
    page.screenshot(path=str(SHOTS / "signin-wrong-en.png"))
    # Not signed in: the dashboard sends back here.
    page.goto(server + "/")
    assert urlsplit(page.url).path == "/login"


def test_signing_out_returns_to_the_login_page(page_of, server):  # noqa: F811
    page = page_of()  # signed in, on the dashboard
    page.get_by_test_id("logout").click()
    page.get_by_test_id("auth-message").wait_for(timeout=TIMEOUT_MS)
    path, query = _path_and_query(page.url)
    assert path == "/login" and query["reason"] == ["signed_out"]
    assert page.get_by_test_id("auth-message").inner_text() == t("auth.signed_out", "zh")
    page.goto(server + "/")
    assert urlsplit(page.url).path == "/login"


def test_changing_the_password_from_the_header(page_of, demo_path, tmp_path):  # noqa: F811
    copy = _copy_with(demo_path, tmp_path, ("zhang", "dispatcher", "old-password-1"))
    with _serving(copy, tmp_path) as url:
        page = page_of(signed_in=False)
        sign_in(page, url, "zhang", "old-password-1")
        assert t("role.dispatcher", "zh") in page.get_by_test_id("account").inner_text()
        page.get_by_test_id("change-password").click()
        page.get_by_test_id("password-old").wait_for(timeout=TIMEOUT_MS)
        page.get_by_test_id("password-old").fill("old-password-1")
        page.get_by_test_id("password-new").fill("new-password-2")
        page.get_by_test_id("password-again").fill("new-password-2")
        page.get_by_test_id("password-submit").click()
        message = page.get_by_test_id("auth-message")
        message.wait_for(timeout=TIMEOUT_MS)
        assert message.inner_text() == t("auth.password_done", "zh")
        # Back to the map, still signed in.
        page.get_by_test_id("back").click()
        page.get_by_test_id("account").wait_for(timeout=TIMEOUT_MS)
        page.wait_for_load_state("networkidle")
        page.get_by_test_id("logout").click()
        page.get_by_test_id("auth-message").wait_for(timeout=TIMEOUT_MS)
        sign_in(page, url, "zhang", "new-password-2")
    with open_store(copy) as store:
        changes = [r for r in store.audit_log(user="zhang") if r["action"] == "user_change"]
    assert [r["detail"] for r in changes] == ['{"change":"password"}']


def test_a_wall_token_opens_the_wall_until_it_is_revoked(page_of, demo_path, tmp_path):  # noqa: F811
    copy = tmp_path / "wall.gpkg"
    shutil.copy(demo_path, copy)
    token = generate_token()
    entry = AuditEntry("tests", "admin", "cli", "token_change", "lobby")
    with open_store(copy) as store:
        store.add_token("lobby", token_digest(token), [], audit=entry)
    with _serving(copy, tmp_path) as url:
        page = page_of(1920, 1080, signed_in=False)
        page.goto(f"{url}/wall?token={token}")
        # The token opens the wall page and leaves the address bar.
        assert page.url == url + "/wall"
        page.wait_for_function(
            "() => document.querySelector('[data-testid=kpi-open] .gm-fig').textContent !== '—'",
            timeout=TIMEOUT_MS,
        )
        assert page.get_by_test_id("logout").count() == 0
        page.screenshot(path=str(SHOTS / "signin-wall.png"))
        with open_store(copy) as store:
            store.revoke_token("lobby", audit=entry)
        # The wall's next request (every second) is refused: it says so, on the wall.
        banner = page.get_by_test_id("connection-lost")
        banner.wait_for(state="visible", timeout=TIMEOUT_MS)
        assert banner.inner_text() == t("wall.signed_out", "zh")
        # A revoked token opens nothing.
        page.goto(f"{url}/wall?token={token}")
        assert urlsplit(page.url).path == "/login" and token not in page.url
        # The refused requests are the only console errors.
        page.errors[:] = [e for e in page.errors if not e.startswith(_UNAUTHORIZED)]


def test_a_local_synthetic_demo_lists_its_accounts(page_of, demo_path, tmp_path):  # noqa: F811
    import json

    from gridmap.store.accounts import set_setting

    copy = _copy_with(demo_path, tmp_path, ("demo-dispatcher", "dispatcher", "demo-password-1"))
    listed = [
        {
            "name": "demo-dispatcher",
            "role": "dispatcher",
            "password": "demo-password-1",
            "scope": [],
            "department": None,
        }
    ]
    with open_store(copy) as store, store._accounts(write=True) as cur:
        set_setting(cur, "demo_accounts", json.dumps(listed))
    # `gridmap serve` binds 127.0.0.1 and the demo is synthetic: the accounts are listed.
    with _serving(copy, tmp_path) as url:
        page = page_of(signed_in=False)
        page.goto(url + "/login")
        box = page.get_by_test_id("demo-accounts")
        assert t("auth.demo_title", "zh") in box.inner_text()
        page.screenshot(path=str(SHOTS / "signin-demo-accounts.png"))
        box.locator("[data-name=demo-dispatcher]").click()
        page.get_by_test_id("account").wait_for(timeout=TIMEOUT_MS)
        assert "demo-dispatcher" in page.get_by_test_id("account").inner_text()
        page.wait_for_load_state("networkidle")


def test_the_login_page_is_a_finger_wide(browser, server):  # noqa: F811
    """On a tablet, every control of the login page is at least 44x44 px, none overlapping."""
    context = browser.new_context(viewport={"width": 1024, "height": 768}, has_touch=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(server + "/login")
    page.get_by_test_id("login-submit").wait_for(timeout=TIMEOUT_MS)
    targets = page.evaluate(_TARGETS, None)
    assert len(targets) >= 4  # the language switch, two fields, the button
    assert not _small(targets), _small(targets)
    assert not _overlapping(targets), _overlapping(targets)
    assert errors == []
    context.close()

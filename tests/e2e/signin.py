"""Signing in through the real /login page: every browser test does it first.

A Playwright browser context keeps its cookies, so a context signs in once
(``page_of`` and ``tablet_of`` do it for each page they make).
"""

from __future__ import annotations

from urllib.parse import quote

#: How long the sign-in and the page it opens may take.
TIMEOUT_MS = 30_000


def sign_in(page, base_url: str, name: str, password: str, *, next_path: str | None = None):
    """Fill ``/login``'s form in ``page`` and submit it, as a person would.

    Waits until the page asked for (``next_path``, else the dashboard) is open:
    the header names the account, and the page's first requests are done.
    """
    url = f"{base_url}/login" + (f"?next={quote(next_path)}" if next_path else "")
    page.goto(url)
    page.get_by_test_id("login-user").fill(name)
    page.get_by_test_id("login-password").fill(password)
    with page.expect_navigation(timeout=TIMEOUT_MS):
        page.get_by_test_id("login-submit").click()
    if "/login" in page.url:
        refused = page.get_by_test_id("auth-message")
        raise AssertionError(f"not signed in as {name}: {refused.inner_text()}")
    page.get_by_test_id("account").wait_for(timeout=TIMEOUT_MS)
    page.wait_for_load_state("networkidle", timeout=TIMEOUT_MS)
    return page

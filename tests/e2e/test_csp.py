"""The dashboard under its Content-Security-Policy, in Chromium (issue 12, point 4).

The page is opened, drilled down to a grid, and every overlay layer toggled on
and off, the facility type and the months changed, a unit hovered and the
language switched: the browser reports no ``securitypolicyviolation`` and
logs no CSP message. The policy names Dash's inline scripts by their hashes;
without them the renderer never starts and the first check fails at once.
"""

from __future__ import annotations

import pytest
from signin import sign_in
from test_dashboard import (  # noqa: F401
    _PNG,
    TIMEOUT_MS,
    _crumbs,
    _first_unit,
    _serving,
    _wait_legend,
    _wait_view,
    _wait_zoomed,
    browser,
    page_of,
    server,
)

pytestmark = pytest.mark.slow

#: Every violation the document reports, kept in ``window.__csp`` from the first byte.
_WATCH = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', e => window.__csp.push({
    directive: e.violatedDirective, blocked: e.blockedURI, sample: e.sample,
    source: e.sourceFile, line: e.lineNumber}));
"""


def _watched(make, width: int = 1280, height: int = 1000):
    """A page of ``page_of`` whose CSP violations and console messages are recorded."""
    page = make(width, height)
    page.add_init_script(_WATCH)
    page.console_all = []
    page.on("console", lambda m: page.console_all.append(f"{m.type}: {m.text}"))
    return page


def _open(page, url: str) -> None:
    """Open ``url`` and wait until its units are drawn, or a violation is reported
    (a page whose scripts are refused never draws: fail at once, saying why)."""
    response = page.goto(url)
    directives = [d.split() for d in response.headers.get("content-security-policy", "").split(";")]
    policy = {d[0]: d[1:] for d in directives if d}
    # A policy is there, and scripts run only from the server or by their hashes.
    assert "'self'" in policy.get("script-src", []), policy
    assert "'unsafe-inline'" not in policy["script-src"]
    assert "'unsafe-eval'" not in policy["script-src"]
    page.wait_for_function(
        "() => window.__csp.length || document.querySelector('path.gm-unit')",
        timeout=TIMEOUT_MS,
    )
    _assert_clean(page)


def _assert_clean(page) -> None:
    assert page.evaluate("window.__csp") == []
    csp = [m for m in page.console_all if "Content Security Policy" in m or "CSP" in m]
    assert csp == []


def test_the_dashboard_runs_under_its_policy(page_of, server):  # noqa: F811
    page = _watched(page_of)
    _open(page, server + "/")
    # Down to a grid, as a user clicks.
    for _ in ("subdistrict", "community", "grid"):
        code = _first_unit(page)
        page.locator(f"path.gm-unit-{code}").dispatch_event("click")
        _wait_view(page, code)
        _wait_zoomed(page)
        page.wait_for_timeout(500)  # a click on a level just shown is dropped (steady.js)
    assert len(_crumbs(page)) == 4
    toggles = page.locator("#gm-layer-toggles")
    for name in ("party", "circles", "heatmap"):
        toggles.locator(f"input[value={name}]").check()
        _wait_legend(page, name)
        page.wait_for_timeout(300)  # the layer drawn, its pane and image in place
        _assert_clean(page)
        toggles.locator(f"input[value={name}]").uncheck()
        page.wait_for_function(
            "n => !document.querySelector(`[data-testid=legend-${n}]`).innerText.trim()",
            arg=name,
            timeout=TIMEOUT_MS,
        )
    # The controls that draw their own popups and styles: the facility type's
    # dropdown, the minutes, the months' slider; a unit's tooltip.
    toggles.locator("input[value=circles]").check()
    _wait_legend(page, "circles")
    page.locator("#gm-facility-type").click()
    page.get_by_role("option", name="小学").click()
    _wait_legend(page, "circles", "小学")
    page.locator("#gm-minutes input[value='15']").check()
    _wait_legend(page, "circles", "15")
    handle = page.locator("[data-testid=window] [role=slider]").nth(1)
    handle.focus()
    page.keyboard.press("ArrowLeft")
    page.locator(f"path.gm-unit-{_first_unit(page)}").dispatch_event("mouseover")
    page.wait_for_selector(".leaflet-tooltip", timeout=TIMEOUT_MS)
    # The language switch re-renders the page.
    page.get_by_test_id("lang-switch").click()
    page.wait_for_function(
        "() => document.querySelector('h1').innerText.includes('Grid governance')",
        timeout=TIMEOUT_MS,
    )
    page.wait_for_timeout(500)
    _assert_clean(page)


def test_tiles_from_the_basemaps_hosts_are_allowed(page_of, demo_path, tmp_path):  # noqa: F811
    """With AMap the tiles come from its four hosts (answered here: nothing leaves
    the machine); the policy lets them in as images."""
    with _serving(demo_path, tmp_path, "--basemap", "amap") as url:
        page = _watched(page_of)

        def answer(route):
            page.routed.append(route.request.url)
            route.fulfill(status=200, content_type="image/png", body=_PNG)

        page.route("https://*.is.autonavi.com/**", answer)
        _open(page, url + "/?unit=431002001")
        page.wait_for_function(
            "() => [...document.querySelectorAll('img.leaflet-tile')]"
            ".some(i => i.complete && i.naturalWidth)",
            timeout=TIMEOUT_MS,
        )
        hosts = {r.split("/")[2] for r in page.routed}
        assert hosts and hosts <= {f"webrd0{s}.is.autonavi.com" for s in "1234"}
        _assert_clean(page)


def test_the_login_page_runs_under_its_policy_and_the_watch_sees_a_violation(
    browser,  # noqa: F811
    server,  # noqa: F811
    demo_admin,
):
    """The sign-in page passes the policy too (it is server-rendered, no script); and the
    check above can fail: an inline script the policy does not name is reported."""
    context = browser.new_context()
    page = context.new_page()
    page.add_init_script(_WATCH)
    page.console_all = []
    page.on("console", lambda m: page.console_all.append(f"{m.type}: {m.text}"))
    page.goto(server + "/")
    page.get_by_test_id("login-user").wait_for(timeout=TIMEOUT_MS)
    _assert_clean(page)
    sign_in(page, server, *demo_admin)
    page.wait_for_selector("path.gm-unit", timeout=TIMEOUT_MS)
    _assert_clean(page)
    page.evaluate(
        """() => { const s = document.createElement('script');
                   s.textContent = 'window.__ran = true'; document.body.append(s); }"""
    )
    page.wait_for_function("() => window.__csp.length", timeout=TIMEOUT_MS)
    assert page.evaluate("window.__csp")[0]["directive"].startswith("script-src")
    assert page.evaluate("window.__ran === undefined")
    context.close()

"""A page that loses its server says so, keeps what it shows, and catches up when back.

Grid supervisors' tablets are on weak mobile connections; wall displays run
unattended. The browser goes offline (``context.set_offline``), or the
server stops answering while the browser thinks it is online (its callback
requests and its ping aborted with ``page.route``): either way the banner
``[data-testid=offline]`` shows within seconds, the figures and the map stay
as they were, a breadcrumb link does not leave the URL naming a view that is
not on screen, and when the connection returns the banner goes and the page
catches up by itself. The console errors of the deliberately failed requests
(and only those) are expected.
"""

from __future__ import annotations

import time

import pytest
from test_dashboard import (  # noqa: F401
    TIMEOUT_MS,
    _crumbs,
    _first_unit,
    _live_copy,
    _serving,
    _wait_legend,
    _wait_numbers,
    _wait_view,
    browser,
    page_of,
    server,
)

pytestmark = pytest.mark.slow

BANNER = "[data-testid=offline]"
#: The banner shows within this of the connection going (the failed request
#: or the browser's `offline` event), and goes within this of it returning
#: (the page asks the server every 3 s).
SHOW_MS = 5_000
HIDE_MS = 10_000
#: The server's routes a test makes fail: Dash's callbacks and the ping.
CALLBACKS = "**/_dash-update-component*"
PING = "**/_gridmap/ping*"
#: What Chromium and dash-renderer log for a request that failed on the network.
_FAILED_LOAD = "Failed to load resource: net::ERR_"
_NO_RESPONSE = "Error: Callback failed: the server did not respond."


def _expect_failed_requests(page) -> list[str]:
    """Record the console errors that the deliberately failed requests cause.

    Only a network failure (``net::ERR_*``) of a callback or ping request, and
    dash-renderer's line for a callback that got no response, count;
    :func:`_forget_expected` then takes exactly those out of ``page.errors``
    (``page_of`` fails the test on any other).
    """
    expected: list[str] = []

    def note(message) -> None:
        if message.type != "error":
            return
        url = message.location.get("url", "")
        ours = "/_dash-update-component" in url or "/_gridmap/ping" in url
        if (message.text.startswith(_FAILED_LOAD) and ours) or message.text.startswith(
            _NO_RESPONSE
        ):
            expected.append(message.text)

    page.on("console", note)
    return expected


def _forget_expected(page, expected: list[str]) -> None:
    for text in expected:
        if text in page.errors:
            page.errors.remove(text)


def _grid(demo_path) -> str:
    from gridmap.store import open_store

    with open_store(demo_path) as store:
        return str(store.read("grids", columns=["code"])["code"].iloc[0])


def _units(page) -> list[str]:
    """The classes of the drawn units' paths (which units the map shows)."""
    return sorted(
        page.locator("path.gm-unit").evaluate_all("ps => ps.map(p => p.className.baseVal)")
    )


def _screen(page) -> dict:
    """What the page shows: the URL, the breadcrumb, the figures and the map's units."""
    return {
        "url": page.url,
        "crumbs": _crumbs(page),
        "numbers": page.get_by_test_id("numbers").inner_text(),
        "units": _units(page),
    }


def _open(page, url: str, code: str) -> dict:
    page.goto(url)
    _wait_view(page, code)
    _wait_numbers(page)
    page.wait_for_timeout(500)  # let the first callbacks settle
    assert not page.locator(BANNER).is_visible()
    return _screen(page)


def _wait_banner(page, state: str, timeout: int) -> float:
    """Wait until the banner is ``visible`` or ``hidden``; the seconds it took."""
    t0 = time.perf_counter()
    page.wait_for_selector(BANNER, state=state, timeout=timeout)
    return time.perf_counter() - t0


def test_offline_says_so_and_holds_the_view(page_of, server, demo_path):  # noqa: F811
    """The browser goes offline: the banner (Chinese), the view stays, links wait."""
    page = page_of()
    expected = _expect_failed_requests(page)
    grid = _grid(demo_path)
    before = _open(page, f"{server}/?unit={grid}", grid)
    district = before["crumbs"][0]

    page.context.set_offline(True)
    shown_in = _wait_banner(page, "visible", SHOW_MS)
    banner = page.locator(BANNER)
    assert banner.get_attribute("role") == "status"
    assert "网络已断开" in banner.inner_text()
    # A breadcrumb link is held back: the URL keeps naming the view on screen.
    page.locator(f"[data-testid=breadcrumb] [data-code='{district}'] a").click()
    page.wait_for_timeout(1500)
    assert _screen(page) == before
    assert "连接恢复前" in banner.inner_text()
    # So is a click on a unit of the map.
    page.locator("path.gm-unit").first.dispatch_event("click")
    page.wait_for_timeout(1000)
    assert _screen(page) == before

    page.context.set_offline(False)
    hidden_in = _wait_banner(page, "hidden", HIDE_MS)
    # The page works again: the link opens the district, a click on a unit drills.
    page.locator(f"[data-testid=breadcrumb] [data-code='{district}'] a").click()
    _wait_view(page, district)
    code = _first_unit(page)
    page.locator(f"path.gm-unit-{code}").dispatch_event("click")
    _wait_view(page, code)
    assert f"unit={code}" in page.url
    print(f"banner shown in {shown_in:.2f} s, hidden in {hidden_in:.2f} s")
    _forget_expected(page, expected)


def test_failed_requests_say_so_and_catch_up(page_of, server, demo_path):  # noqa: F811
    """The server stops answering (the browser thinks it is online): a breadcrumb
    click fails; the banner (English) says so and the view stays; back, the page
    shows the view its URL names, with the layer toggled meanwhile."""
    page = page_of()
    expected = _expect_failed_requests(page)
    grid = _grid(demo_path)
    before = _open(page, f"{server}/?unit={grid}&lang=en", grid)
    community = before["crumbs"][2]

    page.route(CALLBACKS, lambda route: route.abort())
    page.route(PING, lambda route: route.abort())
    page.locator(f"[data-testid=breadcrumb] [data-code='{community}'] a").click()
    shown_in = _wait_banner(page, "visible", SHOW_MS)
    assert "Offline" in page.locator(BANNER).inner_text()
    page.wait_for_timeout(1000)
    now = _screen(page)
    assert {k: now[k] for k in ("crumbs", "numbers", "units")} == {
        k: before[k] for k in ("crumbs", "numbers", "units")
    }
    # A layer switched on while its request cannot go out.
    page.locator("#gm-layer-toggles input[value=party]").check()
    page.wait_for_timeout(1000)
    assert page.get_by_test_id("numbers").inner_text() == before["numbers"]

    page.unroute(CALLBACKS)
    page.unroute(PING)
    t0 = time.perf_counter()
    _wait_banner(page, "hidden", HIDE_MS)
    # The screen catches up with the URL, and with the layer.
    _wait_view(page, community)
    _wait_numbers(page)
    _wait_legend(page, "party")
    caught_up = time.perf_counter() - t0
    assert f"unit={community}" in page.url
    assert page.get_by_test_id("numbers").inner_text() != before["numbers"]
    print(f"banner shown in {shown_in:.2f} s; caught up {caught_up:.2f} s after the return")
    _forget_expected(page, expected)


def test_a_half_loaded_view_fills_in(page_of, server, demo_path):  # noqa: F811
    """The connection goes between a view's page and its figures: the empty panel
    is not left without a word, and it fills in when the connection returns."""
    page = page_of()
    expected = _expect_failed_requests(page)
    grid = _grid(demo_path)
    before = _open(page, f"{server}/?unit={grid}", grid)
    district = before["crumbs"][0]

    def callbacks(route) -> None:
        # The page's own render goes through; the panels' callbacks fail.
        if "_pages_content" in (route.request.post_data or ""):
            route.continue_()
        else:
            route.abort()

    page.route(CALLBACKS, callbacks)
    page.route(PING, lambda route: route.abort())
    page.locator(f"[data-testid=breadcrumb] [data-code='{district}'] a").click()
    _wait_view(page, district)
    _wait_banner(page, "visible", SHOW_MS)
    assert page.locator("[data-testid='number-residents']").count() == 0

    page.unroute(CALLBACKS)
    page.unroute(PING)
    _wait_banner(page, "hidden", HIDE_MS)
    _wait_numbers(page)
    assert page.get_by_test_id("numbers").inner_text() != before["numbers"]
    _forget_expected(page, expected)


@pytest.mark.parametrize("refresh", ["1", "120"])
def test_a_wall_display_catches_up_after_an_outage(page_of, demo_path, tmp_path, refresh):  # noqa: F811
    """A wall display refreshing every ``refresh`` s loses its connection while a
    case is closed: the banner shows, the old figures stay; back online the new
    figures show within seconds (not at the next refresh tick: 120 s is longer
    than the test)."""
    from gridmap.cli import main

    copy, case = _live_copy(demo_path, tmp_path)
    grid = str(case["grid_code"])
    with _serving(copy, tmp_path, env={"GRIDMAP_REFRESH_SECONDS": refresh}) as url:
        page = page_of(1920, 1080, sign_in_at=url)
        expected = _expect_failed_requests(page)
        _open(page, f"{url}/?unit={grid}", grid)
        open_now = page.get_by_test_id("number-incidents.open")
        shown = open_now.inner_text()

        page.context.set_offline(True)
        _wait_banner(page, "visible", SHOW_MS)
        move = ["incidents", "move", str(copy), str(case["id"]), "--to", "closed"]
        assert main([*move, "--closed-level", "grid"]) == 0
        page.wait_for_timeout(2500)  # refresh ticks fail meanwhile (every second)
        assert open_now.inner_text() == shown

        page.context.set_offline(False)
        t0 = time.perf_counter()
        _wait_banner(page, "hidden", HIDE_MS)
        page.wait_for_function(
            "n => document.querySelector(\"[data-testid='number-incidents.open']\").innerText == n",
            arg=str(int(shown) - 1),
            timeout=15_000,
        )
        print(f"refresh {refresh} s: new figures {time.perf_counter() - t0:.2f} s after the return")
        _forget_expected(page, expected)

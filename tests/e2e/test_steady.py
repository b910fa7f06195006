"""The map steady under a user's hands (issue 11, point 3), in a real browser.

A double click is one click: one drill, one history entry, no console error.
Two clicks 0.3 s apart drill one level, and what the URL, the breadcrumb and
the page's state say is what the map shows. The back button goes back one
drill. The "whole unit" button frames the unit again after panning away;
zoom stops one step out from the district and at a building's scale; at
building level the view frames the building itself.
"""

from __future__ import annotations

import pytest
from test_dashboard import (  # noqa: F401
    TIMEOUT_MS,
    _crumbs,
    _first_unit,
    _wait_view,
    browser,
    page_of,
    server,
)

pytestmark = pytest.mark.slow

#: Long enough for a second drill to show, had a click made one.
_QUIET_MS = 2_500

#: The box of every drawn unit of the level together, and the map's box.
_BOXES = """() => {
    const r = [...document.querySelectorAll('path.gm-unit')].map(p => p.getBoundingClientRect());
    const m = document.querySelector('.gm-map').getBoundingClientRect();
    return {
        units: {left: Math.min(...r.map(b => b.left)), top: Math.min(...r.map(b => b.top)),
                right: Math.max(...r.map(b => b.right)),
                bottom: Math.max(...r.map(b => b.bottom))},
        map: {left: m.left, top: m.top, right: m.right, bottom: m.bottom,
              width: m.width, height: m.height},
    };
}"""


def _point_in(page, code: str) -> tuple[float, float]:
    """A point of the screen where a click lands on unit ``code``'s path."""
    point = page.evaluate(
        """(code) => {
            const path = document.querySelector(`path.gm-unit-${code}`);
            const b = path.getBoundingClientRect();
            for (let n = 2; n <= 16; n *= 2) {
                for (let i = 1; i < n; i++) {
                    for (let j = 1; j < n; j++) {
                        const x = b.left + b.width * i / n, y = b.top + b.height * j / n;
                        if (document.elementFromPoint(x, y) === path) return [x, y];
                    }
                }
            }
            return null;
        }""",
        code,
    )
    assert point, f"no point of the screen lands on {code}"
    return point[0], point[1]


def _settled(page, code: str) -> None:
    """The view of ``code`` is drawn and has been on screen a while (no drill is pending)."""
    _wait_view(page, code)
    page.wait_for_timeout(800)


def _history(page) -> int:
    return page.evaluate("history.length")


def _unit_of(url: str) -> str | None:
    from urllib.parse import parse_qs, urlsplit

    return (parse_qs(urlsplit(url).query).get("unit") or [None])[0]


def _deliberate_click_drills_below(page, path: list[str]) -> None:
    """A click now opens a child of the unit on screen: the page's state is the screen's."""
    child = _first_unit(page)
    page.mouse.click(*_point_in(page, child))
    _wait_view(page, child)
    assert _crumbs(page) == [*path, child]
    assert _unit_of(page.url) == child


def test_a_double_click_is_one_drill(page_of, server):  # noqa: F811
    page = page_of()
    page.goto(server + "/")
    page.wait_for_selector("path.gm-unit", timeout=TIMEOUT_MS)
    district = _crumbs(page)[0]
    _settled(page, district)
    before = _history(page)
    code = _first_unit(page)
    page.mouse.dblclick(*_point_in(page, code))
    _wait_view(page, code)
    page.wait_for_timeout(_QUIET_MS)
    assert _unit_of(page.url) == code
    assert _crumbs(page) == [district, code]
    assert _history(page) == before + 1
    assert page.errors == []


def test_two_quick_clicks_drill_one_level(page_of, server):  # noqa: F811
    """The second click, 0.3 s after the first, lands on the old level or the new one
    just drawn: it is dropped, and URL, breadcrumb and state agree with the map."""
    page = page_of()
    page.goto(server + "/")
    page.wait_for_selector("path.gm-unit", timeout=TIMEOUT_MS)
    district = _crumbs(page)[0]
    _settled(page, district)
    before = _history(page)
    code = _first_unit(page)
    x, y = _point_in(page, code)
    page.mouse.click(x, y)
    page.wait_for_timeout(300)
    page.mouse.click(x, y)
    _wait_view(page, code)
    page.wait_for_timeout(_QUIET_MS)
    assert _crumbs(page) == [district, code]
    assert _unit_of(page.url) == code
    assert _history(page) == before + 1
    _deliberate_click_drills_below(page, [district, code])
    assert _history(page) == before + 2
    assert page.errors == []


def test_back_after_quick_clicks_returns_to_the_district(page_of, server):  # noqa: F811
    page = page_of()
    page.goto(server + "/")
    page.wait_for_selector("path.gm-unit", timeout=TIMEOUT_MS)
    district = _crumbs(page)[0]
    _settled(page, district)
    framed = page.evaluate(_BOXES)["units"]
    code = _first_unit(page)
    x, y = _point_in(page, code)
    page.mouse.click(x, y)
    page.wait_for_timeout(300)
    page.mouse.click(x, y)
    _wait_view(page, code)
    page.wait_for_timeout(_QUIET_MS)
    page.go_back()
    _settled(page, district)
    assert _crumbs(page) == [district]
    assert _unit_of(page.url) is None
    # The map shows the district as it did before the drill.
    again = page.evaluate(_BOXES)["units"]
    assert all(abs(again[k] - framed[k]) < 2 for k in framed), (framed, again)
    _deliberate_click_drills_below(page, [district])
    assert page.errors == []


def test_the_home_button_frames_the_unit_again(page_of, server):  # noqa: F811
    from gridmap.i18n import t

    page = page_of()
    page.goto(server + "/?unit=431002001")
    _settled(page, "431002001")
    home = page.get_by_test_id("home")
    home.wait_for(timeout=5_000)
    # Chinese by default, large enough for a finger.
    assert home.inner_text().strip() == t("app.home", "zh")
    size = home.bounding_box()
    assert size["width"] >= 44 and size["height"] >= 44, size
    framed = page.evaluate(_BOXES)
    box = framed["map"]
    cx, cy = box["left"] + box["width"] / 2, box["top"] + box["height"] / 2
    # Drag the map away, then zoom in on a corner.
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx + 250, cy + 150, steps=10)
    page.mouse.up()
    page.mouse.move(cx - 100, cy - 100)
    page.mouse.wheel(0, -300)
    page.wait_for_timeout(1_000)
    moved = page.evaluate(_BOXES)["units"]
    assert any(abs(moved[k] - framed["units"][k]) > 50 for k in moved), moved
    assert _crumbs(page)[-1] == "431002001"  # panning is not a click
    home.click()
    page.wait_for_timeout(1_500)
    again = page.evaluate(_BOXES)["units"]
    assert all(abs(again[k] - framed["units"][k]) < 2 for k in again), (framed, again)
    assert page.errors == []


def test_zoom_stops_one_step_out_from_the_district(page_of, server):  # noqa: F811
    page = page_of()
    page.goto(server + "/")
    page.wait_for_selector("path.gm-unit", timeout=TIMEOUT_MS)
    _settled(page, _crumbs(page)[0])
    box = page.evaluate(_BOXES)
    fitted = box["units"]["right"] - box["units"]["left"]
    m = box["map"]
    for _ in range(6):
        page.mouse.move(m["left"] + m["width"] / 2, m["top"] + m["height"] / 2)
        page.mouse.wheel(0, 600)
        page.wait_for_timeout(400)
    page.wait_for_timeout(600)
    box = page.evaluate(_BOXES)
    out = box["units"]["right"] - box["units"]["left"]
    # One zoom step out halves the district (quarter steps: a little less).
    assert 0.35 * fitted <= out < fitted, (fitted, out)
    assert page.errors == []


def _first_building(demo_path) -> str:
    from gridmap.store import open_store

    with open_store(demo_path) as store:
        return str(store.read("buildings", columns=["code"])["code"].iloc[0])


def test_building_level_frames_the_building(page_of, server, demo_path):  # noqa: F811
    building = _first_building(demo_path)
    page = page_of()
    page.goto(f"{server}/?unit={building}")
    _settled(page, building)
    page.wait_for_timeout(500)
    shape = page.evaluate(
        """(code) => {
            const b = document.querySelector(`path.gm-unit-${code}`).getBoundingClientRect();
            const m = document.querySelector('.gm-map').getBoundingClientRect();
            return {w: b.width / m.width, h: b.height / m.height,
                    dx: (b.left + b.width / 2 - m.left - m.width / 2) / m.width,
                    dy: (b.top + b.height / 2 - m.top - m.height / 2) / m.height};
        }""",
        building,
    )
    print("building's share of the map:", shape)
    # The building is the middle of the map and fills a good part of it.
    assert abs(shape["dx"]) < 0.05 and abs(shape["dy"]) < 0.05, shape
    assert max(shape["w"], shape["h"]) > 0.15, shape
    # Zooming in stops at the building's scale (zoom 20), not at the browser's limit.
    m = page.locator(".gm-map").bounding_box()
    page.mouse.move(m["x"] + m["width"] / 2, m["y"] + m["height"] / 2)
    for _ in range(6):
        page.mouse.wheel(0, -600)
        page.wait_for_timeout(400)
    page.wait_for_timeout(600)
    assert page.evaluate("window.gridmapSteady.map.getZoom()") <= 20
    assert page.errors == []


def test_a_map_removed_while_it_zooms_logs_no_error(page_of, server):  # noqa: F811
    """Each drill removes the map; one removed during a zoom animation (a wheel turn,
    a fitBounds) must not throw from Leaflet's pending end of that animation."""
    page = page_of()
    page.goto(server + "/")
    page.wait_for_selector("path.gm-unit", timeout=TIMEOUT_MS)
    page.evaluate(
        """async () => {
            const box = document.createElement('div');
            box.style.cssText = 'width: 400px; height: 300px';
            document.body.appendChild(box);
            const map = L.map(box).setView([29.3, 112.9], 12);
            map.setZoom(13);  // animated: Leaflet ends it in a 250 ms timer
            await new Promise(done => setTimeout(done, 50));
            map.remove();
            box.remove();
            await new Promise(done => setTimeout(done, 400));
        }"""
    )
    assert page.errors == []

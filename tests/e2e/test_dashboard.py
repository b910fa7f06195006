"""The dashboard in a real browser: drill down, breadcrumb, language, deep link, viewports.

Runs `gridmap serve` on the session's demo store in a subprocess and drives
Debian's Chromium with Playwright (never `playwright install`: no downloads).
Every request must stay on 127.0.0.1 and the console must stay free of
errors. Screenshots of each level go to tests/artifacts/screenshots/.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import CHROMIUM, CHROMIUM_ARGS, add_admin
from signin import sign_in

pytestmark = pytest.mark.slow

SHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
#: Drill callbacks re-render the page; the numbers take ~2 s on the demo.
TIMEOUT_MS = 30_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _serving(store: Path, folder: Path, *args: str, env: dict[str, str] | None = None):
    """`gridmap serve STORE --port P [ARGS]` in a subprocess; its base URL.

    The store gets the tests' admin (conftest.TEST_ADMIN) first: every page needs a
    sign-in. The subprocess inherits the environment, PYTHONPATH included, so it
    runs the code under test (a worktree's), not whatever the venv installed.
    """
    add_admin(store)
    port = _free_port()
    exe = Path(sys.executable).with_name("gridmap")
    # The server's output goes to a file: a pipe nobody reads would fill and block it.
    log = folder / "serve.log"
    out = log.open("w")
    proc = subprocess.Popen(
        [str(exe), "serve", str(store), "--port", str(port), *args],
        stdout=out,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )
    url = f"http://127.0.0.1:{port}"
    t0 = time.perf_counter()
    try:
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"gridmap serve exited:\n{log.read_text()}")
            try:
                # The ping answers without a session (the app's pages ask for one).
                urllib.request.urlopen(url + "/_gridmap/ping", timeout=1).read()
                break
            except OSError:
                if time.perf_counter() - t0 > 60:
                    raise AssertionError("gridmap serve did not answer within 60 s") from None
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        out.close()
        # Server-side tracebacks fail the module: the browser only sees a 500.
        assert "Traceback" not in log.read_text(), log.read_text()


@pytest.fixture(scope="module")
def server(demo_path, tmp_path_factory):
    """The demo's dashboard (offline basemap)."""
    with _serving(demo_path, tmp_path_factory.mktemp("serve")) as url:
        yield url


@pytest.fixture
def browser(require_tool):
    """Debian's Chromium through Playwright (fails under CI when missing, else skips)."""
    if not os.path.exists(CHROMIUM):
        require_tool("chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page_of(browser, server, demo_admin):
    """A new page at a viewport, watched for console errors and requests leaving the host,
    signed in through /login (at ``sign_in_at``, else the module's server; ``None``
    with ``signed_in=False``: the test signs in itself, or needs no server)."""
    opened = []

    def make(
        width: int = 1280,
        height: int = 800,
        *,
        sign_in_at: str | None = None,
        signed_in: bool = True,
    ):
        context = browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        page.errors, page.foreign = [], []
        page.on(
            "console",
            lambda m: page.errors.append(m.text) if m.type == "error" else None,
        )
        page.on("pageerror", lambda e: page.errors.append(str(e)))

        page.routed = []  # requests a test answered itself (never left the machine)

        def check(request):
            if not request.url.startswith(("http://127.0.0.1:", "data:", "file://")):
                page.foreign.append(request.url)

        page.on("request", check)
        opened.append((context, page))
        if signed_in:
            sign_in(page, sign_in_at or server, *demo_admin)
        return page

    yield make
    for context, page in opened:
        assert page.errors == [], page.errors
        assert [u for u in page.foreign if u not in page.routed] == [], page.foreign
        context.close()


def _crumbs(page) -> list[str]:
    return page.locator("[data-testid=breadcrumb] .gm-crumb").evaluate_all(
        "els => els.map(e => e.dataset.code)"
    )


def _wait_view(page, code: str) -> None:
    """Wait until the breadcrumb ends at ``code`` and the units under it are drawn
    (only those: the level before is gone)."""
    parent = code[:14] if len(code) == 17 else code
    page.wait_for_function(
        """([code, parent]) => {
            const c = document.querySelectorAll('[data-testid=breadcrumb] .gm-crumb');
            const units = [...document.querySelectorAll('path.gm-unit')];
            const codes = units.map(u => [...u.classList].find(k => k.startsWith('gm-unit-')));
            return c.length && c[c.length - 1].dataset.code === code && units.length
                && codes.every(k => k && k.slice(8).startsWith(parent)
                                  && k.slice(8).length > parent.length);
        }""",
        arg=[code, parent],
        timeout=TIMEOUT_MS,
    )


def _wait_zoomed(page) -> None:
    """Wait until the map has zoomed to the level: its units fill a good part of the map."""
    page.wait_for_function(
        """() => {
            const r = [...document.querySelectorAll('path.gm-unit')]
                .map(p => p.getBoundingClientRect());
            const w = Math.max(...r.map(b => b.right)) - Math.min(...r.map(b => b.left));
            const h = Math.max(...r.map(b => b.bottom)) - Math.min(...r.map(b => b.top));
            const m = document.querySelector('.gm-map').getBoundingClientRect();
            return w > m.width / 3 || h > m.height / 3;
        }""",
        timeout=TIMEOUT_MS,
    )


def _wait_numbers(page) -> None:
    page.wait_for_selector("[data-testid='number-residents']", timeout=TIMEOUT_MS)


def _live_copy(demo_path: Path, folder: Path) -> tuple[Path, dict]:
    """A copy of the demo a test may change, and one of its cases ready to close
    (``id``, ``grid_code``: reported back, so `--to closed` is the next move)."""
    import shutil

    from gridmap.store import open_store

    copy = folder / "live.gpkg"
    shutil.copy(demo_path, copy)
    with open_store(copy) as store:
        incidents = store.read("incidents", columns=["id", "step", "grid_code"])
    case = incidents[incidents["step"] == "reported_back"].iloc[0]
    return copy, {"id": case["id"], "grid_code": case["grid_code"]}


def _first_unit(page) -> str:
    """The code of the first drawn unit (from its path's class)."""
    cls = page.locator("path.gm-unit").first.get_attribute("class")
    return next(c for c in cls.split() if c.startswith("gm-unit-")).removeprefix("gm-unit-")


def test_drill_down_and_back(page_of, server):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = page_of()
    t0 = time.perf_counter()
    page.goto(server + "/")
    page.wait_for_selector("path.gm-unit", timeout=TIMEOUT_MS)
    first_paint = time.perf_counter() - t0
    district = _crumbs(page)[0]
    assert len(district) == 6
    _wait_numbers(page)
    assert page.get_by_test_id("synthetic").is_visible()
    page.screenshot(path=str(SHOTS / "1-district.png"))
    path = [district]
    timings = {"first_paint": first_paint}
    for i, level in enumerate(["subdistrict", "community", "grid", "building"], start=2):
        code = _first_unit(page)
        t0 = time.perf_counter()
        # The path's own click event, whatever overlaps its centre on screen.
        page.locator(f"path.gm-unit-{code}").dispatch_event("click")
        _wait_view(page, code)
        timings[level] = time.perf_counter() - t0
        path.append(code)
        assert _crumbs(page) == path
        assert f"unit={code}" in page.url
        _wait_zoomed(page)
        page.wait_for_timeout(300)  # let the zoom animation settle before the screenshot
        page.screenshot(path=str(SHOTS / f"{i}-{level}.png"))
    # At building level the building panel is there.
    assert page.get_by_test_id("building").is_visible()
    # The back button goes up one level; a crumb goes up to the district.
    page.go_back()
    _wait_view(page, path[-2])
    page.locator(f"[data-testid=breadcrumb] [data-code='{district}'] a").click()
    _wait_view(page, district)
    assert _crumbs(page) == [district]
    print("timings (s):", {k: round(v, 2) for k, v in timings.items()})


def test_real_click_on_a_polygon_drills(page_of, server):
    page = page_of()
    page.goto(server + "/")
    page.wait_for_selector("path.gm-unit", timeout=TIMEOUT_MS)
    before = _crumbs(page)
    # A mouse click on the map's centre lands on some subdistrict.
    box = page.locator(".gm-map").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_function(
        "n => document.querySelectorAll('[data-testid=breadcrumb] .gm-crumb').length > n",
        arg=len(before),
        timeout=TIMEOUT_MS,
    )
    assert len(_crumbs(page)) == 2


def test_language_switch(page_of, demo_path, tmp_path):
    """Chinese to English and back; the geometry is fetched once (the server's log says)."""
    with _serving(demo_path, tmp_path) as url:
        page = page_of(sign_in_at=url)
        page.goto(url + "/?unit=431002001")
        _wait_view(page, "431002001")
        assert "网格" in page.locator("h1").inner_text()
        page.get_by_test_id("lang-switch").click()
        page.wait_for_function(
            "() => document.querySelector('h1').innerText.includes('Grid governance')",
            timeout=TIMEOUT_MS,
        )
        assert "lang=en" in page.url
        _wait_numbers(page)
        assert "residents" in page.get_by_test_id("numbers").inner_text()
        assert "click a community" in page.get_by_test_id("breadcrumb").inner_text()
        page.get_by_test_id("lang-switch").click()
        page.wait_for_function(
            "() => document.querySelector('h1').innerText.includes('网格')", timeout=TIMEOUT_MS
        )
        _wait_view(page, "431002001")
        page.wait_for_timeout(500)
    served = (tmp_path / "serve.log").read_text()
    assert served.count("GET /_gridmap/units/431002001.geojson") == 1, served


def test_deep_link_to_a_grid_and_viewports(page_of, server, demo_path):
    from gridmap.store import open_store

    with open_store(demo_path) as store:
        grid = str(store.read("grids", columns=["code"])["code"].iloc[0])
    for width, height, name in [(1024, 768, "tablet"), (1920, 1080, "wall"), (3840, 2160, "4k")]:
        page = page_of(width, height)
        page.goto(f"{server}/?unit={grid}")
        _wait_view(page, grid)
        _wait_zoomed(page)
        _wait_numbers(page)
        assert len(_crumbs(page)) == 4
        assert page.locator(".gm-map").bounding_box()["height"] > 300
        page.wait_for_timeout(500)  # let the zoom animation settle before the screenshot
        page.screenshot(path=str(SHOTS / f"grid-{name}.png"))


def test_unknown_unit_says_so(page_of, server):
    page = page_of()
    page.goto(server + "/?unit=999999999999")
    message = page.get_by_test_id("message")
    message.wait_for(timeout=TIMEOUT_MS)
    assert "999999999999" in message.inner_text()
    # Not a blank map: the district is shown under the message.
    page.wait_for_selector("path.gm-unit", timeout=TIMEOUT_MS)


def _legend_text(page, name: str) -> str:
    return page.get_by_test_id(f"legend-{name}").inner_text().strip()


def _wait_legend(page, name: str, contains: str = "") -> None:
    """Wait until the layer's legend shows (and holds ``contains``)."""
    page.wait_for_function(
        """([n, c]) => {
            const t = document.querySelector(`[data-testid=legend-${n}]`).innerText.trim();
            return t.length && t.includes(c);
        }""",
        arg=[name, contains],
        timeout=TIMEOUT_MS,
    )


def test_layers_panel(page_of, server):
    """Each layer toggles on with its legend and off without it; the facility type changes."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = page_of(1280, 1000)
    page.goto(server + "/?unit=431002001")
    page.wait_for_selector("path.gm-unit", timeout=TIMEOUT_MS)
    toggles = page.locator("#gm-layer-toggles")
    # The units layer is on by default, with its legend; off, its legend goes.
    _wait_legend(page, "units")
    toggles.locator("input[value=units]").uncheck()
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=legend-units]').innerText.trim()",
        timeout=TIMEOUT_MS,
    )
    toggles.locator("input[value=units]").check()
    _wait_legend(page, "units")
    for name in ("party", "circles", "heatmap"):
        toggles.locator(f"input[value={name}]").check()
        _wait_legend(page, name)
        # The layer is drawn: paths (or circle markers) in the overlay pane besides the units.
        page.wait_for_function(
            "() => document.querySelectorAll('.leaflet-overlay-pane path:not(.gm-unit)')"
            ".length > 1",
            timeout=TIMEOUT_MS,
        )
        page.screenshot(path=str(SHOTS / f"layer-{name}.png"))
        toggles.locator(f"input[value={name}]").uncheck()
        page.wait_for_function(
            "n => !document.querySelector(`[data-testid=legend-${n}]`).innerText.trim()",
            arg=name,
            timeout=TIMEOUT_MS,
        )
    # Service circles of another facility type: the legend follows the choice.
    toggles.locator("input[value=circles]").check()
    _wait_legend(page, "circles", "社区卫生服务站")
    page.locator("#gm-facility-type").click()
    page.get_by_role("option", name="小学").click()
    _wait_legend(page, "circles", "小学")
    assert "社区卫生服务站" not in _legend_text(page, "circles")
    # And other minutes.
    page.locator("#gm-minutes input[value='15']").check()
    _wait_legend(page, "circles", "15")
    page.screenshot(path=str(SHOTS / "layer-circles-school-15min.png"))


def test_trend_follows_the_window(page_of, server):
    page = page_of()
    page.goto(server + "/?unit=431002001")
    page.wait_for_selector(".gm-bar", timeout=TIMEOUT_MS)
    assert page.locator(".gm-bar").count() == 12
    # Narrow the window with the keyboard (the slider's last handle, six months back).
    handle = page.locator("[data-testid=window] [role=slider]").nth(1)
    handle.focus()
    for _ in range(6):
        page.keyboard.press("ArrowLeft")
    page.wait_for_function(
        "() => document.querySelectorAll('.gm-bar').length === 6", timeout=TIMEOUT_MS
    )
    assert "2025-01 – 2025-06" in page.get_by_test_id("trend").inner_text()


def test_clicks_drill_through_overlays(page_of, server):
    """With overlays on, a click still opens a unit: through the heatmap and circles,
    and on a party branch's grid (it opens the community holding that grid)."""
    page = page_of()
    page.goto(server + "/?unit=431002001")
    page.wait_for_selector("path.gm-unit", timeout=TIMEOUT_MS)
    toggles = page.locator("#gm-layer-toggles")
    toggles.locator("input[value=party]").check()
    page.wait_for_selector("path.gm-feature", timeout=TIMEOUT_MS)
    cls = page.locator("path.gm-feature").first.get_attribute("class")
    grid = next(c for c in cls.split() if c.startswith("gm-feature-")).removeprefix("gm-feature-")
    page.locator(f"path.gm-feature-{grid}").first.dispatch_event("click")
    _wait_view(page, grid[:12])
    assert _crumbs(page)[-1] == grid[:12]
    # Heatmap and circles let a real mouse click through to the unit below.
    toggles.locator("input[value=party]").uncheck()
    for name in ("heatmap", "circles"):
        toggles.locator(f"input[value={name}]").check()
        _wait_legend(page, name)
    # The point nearest the map's centre where a click lands on a unit or an overlay
    # that names one (non-interactive overlays are transparent to the pointer).
    x, y = page.evaluate(
        """() => {
            const m = document.querySelector('.gm-map').getBoundingClientRect();
            const cx = m.left + m.width / 2, cy = m.top + m.height / 2, hits = [];
            for (let i = 1; i < 30; i++) for (let j = 1; j < 30; j++) {
                const x = m.left + m.width * i / 30, y = m.top + m.height * j / 30;
                const e = document.elementFromPoint(x, y);
                if (e && e.matches('path.gm-unit, path.gm-feature')) hits.push([x, y]);
            }
            const d = p => Math.hypot(p[0] - cx, p[1] - cy);
            hits.sort((a, b) => d(a) - d(b));
            return hits[0];
        }"""
    )
    page.mouse.click(x, y)
    page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=breadcrumb] .gm-crumb').length === 4",
        timeout=TIMEOUT_MS,
    )


def test_store_without_roads_or_incidents(page_of, bare_demo_path, tmp_path):
    """A store without roads and incidents: a message in the page, still a map, no errors."""
    with _serving(bare_demo_path, tmp_path) as url:
        page = page_of(sign_in_at=url)
        page.goto(url + "/?lang=en")
        message = page.get_by_test_id("message")
        message.wait_for(timeout=TIMEOUT_MS)
        assert "no roads" in message.inner_text() and "no incidents" in message.inner_text()
        page.wait_for_selector("path.gm-unit", timeout=TIMEOUT_MS)
        _wait_numbers(page)
        assert "No incidents" in page.get_by_test_id("trend").inner_text()
        for name in ("circles", "heatmap"):
            page.locator(f"#gm-layer-toggles input[value={name}]").check()
            _wait_legend(page, name, "The store holds no")
        page.screenshot(path=str(SHOTS / "store-without-roads-incidents.png"))


#: A 1×1 transparent PNG: what the test answers tile requests with.
_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def test_amap_basemap_shifts_the_layers(page_of, demo_path, tmp_path, demo_admin):
    """With AMap tiles the map asks AMap for tiles (answered here: nothing leaves the
    machine), attributes them, and the units the browser draws are shifted to GCJ-02."""
    import numpy as np
    import shapely

    from gridmap.offsets import wgs84_to_gcj02
    from gridmap.services.source import Source

    with _serving(demo_path, tmp_path, "--basemap", "amap") as url:
        # Signed in once the tiles are answered here (the page after /login has a map).
        page = page_of(signed_in=False)
        tiles, pages = [], []

        def answer(route):
            tiles.append(route.request.url)
            page.routed.append(route.request.url)
            route.fulfill(status=200, content_type="image/png", body=_PNG)

        def keep(response):
            if "/_gridmap/units/" in response.url:
                pages.append(response.json())

        page.route("https://*.is.autonavi.com/**", answer)
        sign_in(page, url, *demo_admin)
        page.on("response", keep)
        page.goto(url + "/?unit=431002001")
        page.wait_for_selector("path.gm-unit", timeout=TIMEOUT_MS)
        page.wait_for_function("() => document.querySelectorAll('img.leaflet-tile').length")
        assert tiles and all("style=8" in t for t in tiles)
        assert "AutoNavi" in page.locator(".leaflet-control-attribution").inner_text()
        page.screenshot(path=str(SHOTS / "amap-offline-tiles.png"))
    src = Source(str(demo_path))
    drawn = {f["properties"]["code"]: f["geometry"] for f in pages[0]["features"]}
    stored = src.children("431002001").set_index("code").geometry
    assert set(drawn) == set(stored.index)
    for code, geometry in drawn.items():
        xy = shapely.get_coordinates(shapely.geometry.shape(geometry))
        wgs = shapely.get_coordinates(stored[code])
        gx, gy = wgs84_to_gcj02(wgs[:, 0], wgs[:, 1])
        assert np.abs(xy[:, 0] - gx).max() < 1.5e-6 and np.abs(xy[:, 1] - gy).max() < 1.5e-6
        # Hundreds of metres from the stored geometry: the shift is real.
        assert np.abs(xy - wgs).max() > 1e-3


def test_an_open_page_shows_new_data(page_of, demo_path, tmp_path):
    """A wall display left open: a case closed meanwhile (another process) shows by itself."""
    from gridmap.cli import main

    copy, case = _live_copy(demo_path, tmp_path)
    grid = str(case["grid_code"])
    with _serving(copy, tmp_path, env={"GRIDMAP_REFRESH_SECONDS": "1"}) as url:
        page = page_of(sign_in_at=url)
        page.goto(f"{url}/?unit={grid}")
        _wait_numbers(page)
        shown = page.get_by_test_id("number-incidents.open").inner_text()
        move = ["incidents", "move", str(copy), str(case["id"]), "--to", "closed"]
        assert main([*move, "--closed-level", "grid"]) == 0
        page.wait_for_function(
            "n => document.querySelector(\"[data-testid='number-incidents.open']\").innerText == n",
            arg=str(int(shown) - 1),
            timeout=TIMEOUT_MS,
        )


def _dashboard_legend(page, testid: str) -> dict:
    box = page.get_by_test_id(testid)
    return {
        "title": box.locator(".gm-legend-title").inner_text().strip(),
        "items": [t.strip() for t in box.locator("ul.gm-legend li").all_inner_texts()],
        "note": box.locator(".gm-legend-note").inner_text().strip(),
    }


def _export_legend(page, testid: str) -> dict:
    box = page.get_by_test_id(testid)
    return {
        "title": box.locator(".gm-title").inner_text().strip(),
        "items": [t.strip() for t in box.locator(".gm-item span").all_inner_texts()],
        "note": box.locator(".gm-note").inner_text().strip(),
    }


@pytest.mark.parametrize("unit", ["431002", "431002001", "43100200100101"])
def test_the_export_shows_the_dashboards_units_legend(page_of, server, demo_path, tmp_path, unit):
    """Both renderers mark the units' legend `legend-units`, with the same labels."""
    from gridmap.cli import main

    page = page_of()
    page.goto(f"{server}/?unit={unit}")
    page.locator("#gm-measure").click()
    page.get_by_role("option", name="常住人口（人）").click()
    _wait_legend(page, "units", "常住人口")
    shown = _dashboard_legend(page, "legend-units")
    assert len(shown["items"]) >= 3 and shown["note"]

    out = tmp_path / "map.html"
    args = ["export", str(demo_path), "--html", str(out), "--unit", unit]
    assert main([*args, "--layers", "units", "--measure", "population"]) == 0
    exported = page_of(signed_in=False)  # a file: no server
    exported.goto(out.resolve().as_uri())
    exported.wait_for_selector("[data-testid=legend-units]", timeout=TIMEOUT_MS)
    assert _export_legend(exported, "legend-units") == shown


@pytest.fixture
def failing_server(demo_path, monkeypatch):
    """The dashboard in this process, its party layer made to fail (a bug, not a user error)."""
    import threading

    from werkzeug.serving import make_server

    from gridmap.app import create_app
    from gridmap.services.source import close_sources
    from layers import unit_map

    def broken(*args, **kwargs):
        raise RuntimeError("party layer exploded: /secret/path")

    monkeypatch.setattr(unit_map, "_party_group", broken)
    app = create_app(str(demo_path), lang="zh", refresh_seconds=0)
    httpd = make_server("127.0.0.1", _free_port(), app.server, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        close_sources()


def test_a_failing_layer_says_so_in_its_panel(browser, failing_server, caplog, demo_admin):
    """The party layer fails: one line in its panel, logged with its traceback; the rest works."""
    import logging

    caplog.set_level(logging.ERROR, logger="gridmap.app")
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    sign_in(page, failing_server, *demo_admin)
    page.goto(failing_server + "/?unit=431002001")
    _wait_numbers(page)
    toggles = page.locator("#gm-layer-toggles")
    toggles.locator("input[value=party]").check()
    box = page.get_by_test_id("legend-party").get_by_test_id("panel-error")
    box.wait_for(timeout=TIMEOUT_MS)
    text = box.inner_text()
    assert "内部错误" in text and "secret" not in text
    reference = text.rsplit("编号", 1)[1].strip(" ）)")
    # The rest of the page works: another layer still draws, the figures are there.
    toggles.locator("input[value=heatmap]").check()
    _wait_legend(page, "heatmap", "事件密度")
    assert page.get_by_test_id("number-residents").inner_text().strip()
    # No HTTP 500 reached the browser; the server logged the traceback with the reference.
    assert errors == []
    logged = [r for r in caplog.records if reference in r.getMessage()]
    assert logged and logged[0].exc_info is not None
    assert "party layer exploded" in str(logged[0].exc_info[1])
    context.close()

"""/wall as a command centre runs it: a 1080p and a 4K screen, no one at the keyboard (issue 14).

In Debian's Chromium, a wall token opens the wall of the demo's district:

- it fills 1920×1080 and 3840×2160 with no scrolling and no control on screen;
  every figure's font is at least 1/15 of the screen's height, every other
  text at least 1/45 (measured on the rendered page), each ``kpi-*`` text
  starts with its figure; dark by default, light with ``?theme=light``;
- a case imported by ``gridmap incidents import`` in another process is on
  the wall within 5 s, and no figure blanks out meanwhile;
- the server killed and started again: the wall says the connection is lost
  (since when), then heals by itself, without a reload;
- a wall clock set to 23:59:50 rolls "today" over at midnight without a reload;
- an alert takes the screen for ``?alert=`` seconds while the tour waits,
  then the tour goes on; a commander acknowledges it from the desk page and it
  leaves the wall.

Screenshots go to tests/artifacts/screenshots/wall-*.png.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import add_admin
from signin import sign_in
from test_dashboard import SHOTS, _free_port
from test_dashboard import browser as browser  # the fixture

from gridmap.store import open_store

pytestmark = pytest.mark.slow

BEIJING = ZoneInfo("Asia/Shanghai")
#: Records, in ``window.__gmBlank``, every figure that was shown and blanks out (a flicker).
BLANKS = """() => { window.__gmBlank = [];
  const blank = (t) => !t || t === '—';
  const figs = [...document.querySelectorAll('.gm-fig')];
  const was = figs.map(f => f.textContent);
  new MutationObserver(() => {
    figs.forEach((f, i) => {
      if (blank(f.textContent) && !blank(was[i]))
        window.__gmBlank.push(f.parentNode.dataset.testid);
      was[i] = f.textContent;
    });
  }).observe(document.querySelector('.gm-kpis'),
             {subtree: true, childList: true, characterData: true}); }"""
TODAY = "document.querySelector('[data-testid=kpi-today-new] .gm-fig').textContent"
GATHER = """() => {
  const vh = window.innerHeight, out = {vh, vw: window.innerWidth,
    scrollW: document.documentElement.scrollWidth, scrollH: document.documentElement.scrollHeight,
    bodyW: document.body.scrollWidth, bodyH: document.body.scrollHeight,
    small: [], figs: [], kpis: [], controls: []};
  const visible = (el) => {
    const s = getComputedStyle(el), r = el.getBoundingClientRect();
    return s.visibility !== 'hidden' && s.display !== 'none' && r.width > 0 && r.height > 0 &&
      r.bottom > 0 && r.right > 0 && r.top < vh && r.left < window.innerWidth;
  };
  for (const el of document.querySelectorAll('body *')) {
    if (!visible(el)) continue;
    const tag = el.tagName;
    if (['BUTTON', 'INPUT', 'SELECT', 'TEXTAREA', 'A'].includes(tag)) out.controls.push(tag);
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own) continue;
    const size = parseFloat(getComputedStyle(el).fontSize);
    const what = el.textContent.slice(0, 30);
    if (size < vh / 45 - 0.5) out.small.push([tag, el.className, what, size]);
  }
  for (const el of document.querySelectorAll('[data-testid^="kpi-"]')) {
    const fig = el.querySelector('.gm-fig');
    out.figs.push(parseFloat(getComputedStyle(fig).fontSize));
    out.kpis.push([el.dataset.testid, el.textContent, fig.scrollWidth <= fig.clientWidth + 1]);
  }
  return out;
}"""


# -- the server ----------------------------------------------------------------------


@contextlib.contextmanager
def _server(store: Path, folder: Path, port: int | None = None, env: dict | None = None):
    """`gridmap serve STORE --port P` in a subprocess (its output in a log); its base URL."""
    add_admin(store)
    port = port or _free_port()
    exe = Path(sys.executable).with_name("gridmap")
    log = (folder / f"serve-{port}-{time.monotonic_ns()}.log").open("w")
    proc = subprocess.Popen(
        [str(exe), "serve", str(store), "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )
    url = f"http://127.0.0.1:{port}"
    t0 = time.monotonic()
    try:
        while True:
            assert proc.poll() is None, Path(log.name).read_text()
            try:
                urllib.request.urlopen(url + "/_gridmap/ping", timeout=1).read()
                break
            except OSError:
                assert time.monotonic() - t0 < 60, "gridmap serve did not answer within 60 s"
                time.sleep(0.2)
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=10)
        log.close()
        text = Path(log.name).read_text()
        assert "Traceback" not in text, text


@pytest.fixture(scope="module")
def wall_store(demo_path, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("wall") / "wall.gpkg"
    shutil.copy(demo_path, path)
    return path


@pytest.fixture(scope="module")
def token(wall_store) -> str:
    from gridmap.services.accounts import create_token, local_actor

    with open_store(wall_store) as st:
        return create_token(st, local_actor(), f"e2e-wall-{uuid.uuid4().hex[:6]}", ["431002"])


@pytest.fixture(scope="module")
def served(wall_store, tmp_path_factory):
    with _server(wall_store, tmp_path_factory.mktemp("serve")) as (url, _):
        yield url


@pytest.fixture(scope="module")
def served_at_as_of(wall_store, tmp_path_factory):
    """The wall with its clock half an hour before the end of the demo's year (its "now").

    The session's demo is built with a fixed as-of (tests/conftest.py): on the real
    clock its month would hold no closed case and its rates no figure.
    """
    from gridmap.demo import data_as_of

    with open_store(wall_store) as st:
        as_of = data_as_of(st.read("metadata"))
    env = {"GRIDMAP_WALL_CLOCK": (as_of - timedelta(minutes=30)).isoformat()}
    with _server(wall_store, tmp_path_factory.mktemp("serve"), env=env) as (url, _):
        yield url


def _open(browser, url, token, size, **query):
    context = browser.new_context(viewport=size, device_scale_factor=1)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    params = "&".join(f"{k}={v}" for k, v in {"token": token, **query}.items())
    page.goto(f"{url}/wall?{params}")
    # filled: the figures and the map's cases are in
    page.wait_for_function(
        "() => document.querySelector('[data-testid=kpi-open] .gm-fig').textContent !== '—'"
        " && document.querySelectorAll('.leaflet-interactive, .gm-wall-map path').length > 0",
        timeout=30_000,
    )
    page.evaluate("window.__gmMark = 'loaded once'")
    return context, page, errors


def _figure(page, tid: str) -> str:
    return page.get_by_test_id(tid).locator(".gm-fig").inner_text()


def _case_row(store: Path, *, at: datetime, category: str, **extra):
    """A case at a grid's building, as the field mode writes one (row, event)."""
    from gridmap.incidents.report import case_id, new_case

    with open_store(store) as st:
        building = st.read("buildings", columns=["code", "grid_code"]).iloc[7]
    point = building.geometry.representative_point()
    row, event = new_case(
        incident_id=case_id(at, uuid.uuid4().hex),
        lon=point.x,
        lat=point.y,
        category=category,
        description="e2e 大屏测试案件（合成）",
        grid_code=building["grid_code"],
        building_code=building["code"],
        actor="e2e",
        at=at,
    )
    row.update(extra)
    return row, event


def _write(store: Path, row: dict, event: dict) -> None:
    import geopandas as gpd
    import pandas as pd

    from gridmap.services.accounts import local_actor

    with open_store(store) as st:
        st.write(
            {
                "incidents": gpd.GeoDataFrame([row], geometry="geometry", crs="EPSG:4326"),
                "incident_events": pd.DataFrame([event]),
            },
            audit=local_actor().entry("incident_create", row["id"]),
        )


# -- the tests --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "size,theme",
    [
        ({"width": 1920, "height": 1080}, "dark"),
        ({"width": 3840, "height": 2160}, "light"),
    ],
    ids=["1080p-dark", "4k-light"],
)
def test_fills_the_screen_readable_from_across_the_room(
    browser, served_at_as_of, token, size, theme
):
    query = {"alert": 3} if theme == "dark" else {"alert": 3, "theme": "light"}
    context, page, errors = _open(browser, served_at_as_of, token, size, **query)
    page.get_by_test_id("alert-takeover").wait_for(state="hidden", timeout=15_000)
    time.sleep(1)
    m = page.evaluate(GATHER)
    assert m["vh"] == size["height"]
    assert m["scrollW"] <= m["vw"] and m["scrollH"] <= m["vh"], m
    assert m["bodyW"] <= m["vw"] and m["bodyH"] <= m["vh"], m
    assert not m["controls"], f"controls on the wall: {m['controls']}"
    assert min(m["figs"]) >= m["vh"] / 15 - 0.5, m["figs"]
    assert not m["small"], f"text under 1/45 of the height: {m['small'][:5]}"
    for tid, text, fits in m["kpis"]:
        assert text[:1].isdigit(), (tid, text)
        assert fits, f"{tid}'s figure is cut: {text}"
    tids = {"kpi-today-new", "kpi-open", "kpi-overdue-open", "kpi-ontime-rate"}
    assert tids <= {k[0] for k in m["kpis"]}
    for tid in ("ranking-subdistricts", "ranking-departments", "case-feed", "alert-list"):
        assert page.get_by_test_id(tid).locator("li").count() >= 1, tid
    assert page.get_by_test_id("data-age").count() >= 8
    assert page.get_by_test_id("synthetic").is_visible()
    body_class = page.evaluate("document.body.className")
    assert f"gm-theme-{theme}" in body_class
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"wall-{size['width']}x{size['height']}-{theme}.png"))
    assert not errors, errors
    context.close()


def test_a_case_imported_elsewhere_is_on_the_wall_within_5_s(
    browser, served, token, wall_store, tmp_path
):
    context, page, errors = _open(browser, served, token, {"width": 1920, "height": 1080})
    # Any figure blanking out on the way (a flicker) is recorded.
    page.evaluate(BLANKS)
    before = int(_figure(page, "kpi-today-new"))
    with open_store(wall_store) as st:
        grid = st.read("grids", columns=["code"]).iloc[3]
    point = grid.geometry.representative_point()
    case = f"E2E{uuid.uuid4().hex[:8].upper()}"
    reported = datetime.now(BEIJING).strftime("%Y-%m-%d %H:%M:%S")
    feed = tmp_path / "incidents.csv"
    feed.write_text(
        "id,category,source,step,reported_at,lon,lat,description\n"
        f"{case},street_order,patrol,collected,{reported},{point.x},{point.y},e2e 合成案件\n",
        encoding="utf-8",
    )
    exe = Path(sys.executable).with_name("gridmap")
    done = subprocess.run(
        [str(exe), "incidents", "import", str(wall_store), str(feed)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    t0 = time.monotonic()
    page.locator(f"[data-testid=case-feed] li[data-case='{case}']").wait_for(timeout=10_000)
    seen = time.monotonic() - t0
    assert seen <= 5, f"the imported case took {seen:.1f} s to reach the wall"
    page.wait_for_function(
        f"() => Number({TODAY}) === {before + 1}",
        timeout=5_000,
    )
    assert page.evaluate("window.__gmBlank") == []
    assert page.evaluate("window.__gmMark") == "loaded once"
    page.screenshot(path=str(SHOTS / "wall-live-import.png"))
    assert not errors, errors
    context.close()


def test_a_server_restart_heals_without_a_reload(browser, wall_store, token, tmp_path):
    port = _free_port()
    with _server(wall_store, tmp_path, port) as (url, proc):
        context, page, _ = _open(browser, url, token, {"width": 1920, "height": 1080})
        proc.terminate()
        proc.wait(timeout=10)
        banner = page.get_by_test_id("connection-lost")
        banner.wait_for(state="visible", timeout=15_000)
        lost = banner.inner_text()
        assert "连接中断" in lost and ":" in lost, lost
        page.screenshot(path=str(SHOTS / "wall-connection-lost.png"))
        # the figures stay on screen meanwhile
        assert _figure(page, "kpi-open") != "—"
    with _server(wall_store, tmp_path, port):
        banner.wait_for(state="hidden", timeout=30_000)
        page.wait_for_function(
            "() => [...document.querySelectorAll('[data-testid=data-age]')]"
            ".every(a => Number(a.dataset.seconds) < 10)",
            timeout=15_000,
        )
        assert page.evaluate("window.__gmMark") == "loaded once"
    context.close()


def test_today_rolls_over_at_midnight_without_a_reload(browser, wall_store, token, tmp_path):
    day = datetime.now(BEIJING).date()
    start = datetime(day.year, day.month, day.day, 23, 59, 50, tzinfo=BEIJING)
    # a case reported at 23:50 of that day (in the wall's time), so "today" is not empty
    row, event = _case_row(
        wall_store, at=start - timedelta(minutes=9, seconds=50), category="other"
    )
    _write(wall_store, row, event)
    env = {"GRIDMAP_WALL_CLOCK": start.isoformat()}
    with _server(wall_store, tmp_path, env=env) as (url, _):
        context, page, errors = _open(browser, url, token, {"width": 1920, "height": 1080})
        assert int(_figure(page, "kpi-today-new")) >= 1
        first_day = page.evaluate("document.body.dataset.day")
        assert first_day == day.isoformat()
        page.wait_for_function(
            f"() => document.body.dataset.day === '{(day + timedelta(days=1)).isoformat()}'",
            timeout=45_000,
        )
        page.wait_for_function(
            f"() => {TODAY} === '0'",
            timeout=10_000,
        )
        assert page.evaluate("window.__gmMark") == "loaded once"
        page.screenshot(path=str(SHOTS / "wall-after-midnight.png"))
        assert not errors, errors
        context.close()


def test_an_alert_takes_over_then_the_tour_goes_on(browser, served, token, wall_store):
    import pandas as pd

    context, page, errors = _open(
        browser, served, token, {"width": 1920, "height": 1080}, tour=1, dwell=6, alert=4
    )
    takeover = page.get_by_test_id("alert-takeover")
    # the alerts already there take the screen once, then the tour starts
    takeover.wait_for(state="hidden", timeout=15_000)
    stop = page.get_by_test_id("tour-stop")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=tour-stop]').textContent.startsWith('2/')",
        timeout=15_000,
    )
    # an emergency case past its deadline, written now by another process
    now = datetime.now(UTC)
    row, event = _case_row(
        wall_store,
        at=now - timedelta(hours=6),
        category="emergency",
        step="dispatched",
        department="应急管理局",
        dispatched_at=pd.Timestamp(now - timedelta(hours=5)),
        deadline=pd.Timestamp(now - timedelta(hours=1)),
    )
    _write(wall_store, row, event)
    alert = f"emergency_overdue:{row['id']}"
    t0 = time.monotonic()
    page.locator(f"[data-testid=alert-takeover] li[data-alert='{alert}']").wait_for(timeout=10_000)
    assert time.monotonic() - t0 <= 5
    page.screenshot(path=str(SHOTS / "wall-alert-takeover.png"))
    during = stop.inner_text()
    takeover.wait_for(state="hidden", timeout=10_000)
    assert stop.inner_text() == during  # the tour waited
    page.wait_for_function(
        f"() => document.querySelector('[data-testid=tour-stop]').textContent !== '{during}'",
        timeout=15_000,
    )
    assert page.locator(f"[data-testid=alert-list] li[data-alert='{alert}']").count() == 1
    # a commander acknowledges it from a desk
    desk = browser.new_context(viewport={"width": 1280, "height": 800})
    desk_page = desk.new_page()
    with open_store(wall_store) as st:
        import json

        from gridmap.store.accounts import get_setting

        with st._accounts(write=False) as cur:
            listed = {a["name"]: a for a in json.loads(get_setting(cur, "demo_accounts"))}
    sign_in(desk_page, served, "commander", listed["commander"]["password"])
    desk_page.goto(f"{served}/wall/alerts")
    desk_page.get_by_test_id(f"ack-{alert}").click()
    desk_page.get_by_test_id("ack-done").wait_for()
    page.locator(f"[data-testid=alert-list] li[data-alert='{alert}']").wait_for(
        state="detached", timeout=10_000
    )
    assert page.evaluate("window.__gmMark") == "loaded once"
    assert not errors, errors
    desk.close()
    context.close()

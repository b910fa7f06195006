"""/field as a grid supervisor uses it: a tablet, a finger, a flaky connection (issue 13, point 7).

In Chromium with a touch screen at a tablet's viewport, the demo's supervisor
signs in through /login and opens /field: reports a case at a position inside
the grid with a photo; goes offline (``context.set_offline``), reports twice
and closes a case; comes back online: exactly those three reports and that one
move are in the store, each once, with their photos and audit rows. A case the
CLI moves meanwhile is a conflict the page shows (what changed) and resolves
(retry on the case as it is now); a place outside the grid is refused with its
reason and stays in the outbox until discarded. Every control is at least
44×44 px in portrait and landscape, and the page speaks English with ``?lang=en``.
Screenshots go to tests/artifacts/screenshots/field-*.png.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from test_dashboard import SHOTS, TIMEOUT_MS, _serving, browser  # noqa: F401
from test_touch import _TARGETS, _small

from gridmap.store import open_store
from gridmap.store.accounts import get_setting

pytestmark = pytest.mark.slow

TABLET = {"width": 768, "height": 1024}
#: Descriptions that name each report, so the store can be searched for exactly them.
ONLINE, OFFLINE_1, OFFLINE_2, OUTSIDE = (
    "e2e 在线上报 井盖缺失",
    "e2e 离线上报一 路灯不亮",
    "e2e 离线上报二 <img src=x onerror=alert(1)>",
    "e2e 网格外上报",
)


def _accounts(path: Path) -> dict[str, dict]:
    with open_store(path) as st, st._accounts(write=False) as cur:
        return {a["name"]: a for a in json.loads(get_setting(cur, "demo_accounts"))}


def _walk_to_reported_back(path: Path, n: int) -> list[str]:
    """Move ``n`` open cases of the supervisor's grid on to ``reported_back`` (as the admin)."""
    from gridmap import incidents as inc
    from gridmap.services.accounts import local_actor

    who = local_actor()
    out = []
    with open_store(path) as st:
        grid = st.user("supervisor").scope[0]
        cases = st.read("incidents", where={"grid_code": grid, "step": list(inc.OPEN_STEPS)})
        for row in cases.drop(columns="geometry").to_dict("records")[:n]:
            while row["step"] != "reported_back":
                to = {
                    "collected": "registered",
                    "registered": "dispatched",
                    "dispatched": "handling",
                    "handling": "reported_back",
                }[row["step"]]
                dept = "网格工作站" if to == "dispatched" else None
                new, events = inc.move(
                    row, to, actor=who.name, at=datetime.now(UTC), department=dept
                )
                st.move_incident(new, events, expected_version=int(row["version"]))
                row = {**new, "version": int(row["version"]) + 1}
            out.append(str(row["id"]))
    assert len(out) == n, f"the supervisor's grid has fewer than {n} open cases"
    return out


@pytest.fixture(scope="module")
def field_store(demo_path, tmp_path_factory) -> Path:
    """A copy of the demo this module writes to, with two cases ready to be verified."""
    path = tmp_path_factory.mktemp("field") / "demo.gpkg"
    shutil.copy(demo_path, path)
    return path


@pytest.fixture(scope="module")
def field_server(field_store, tmp_path_factory):
    with _serving(field_store, tmp_path_factory.mktemp("field-serve")) as url:
        yield url


def _points(path: Path) -> tuple[tuple[float, float], tuple[float, float]]:
    """A point inside the supervisor's grid (away from its edges), and one in another grid."""
    with open_store(path) as st:
        grid = st.user("supervisor").scope[0]
        grids = st.read("grids")
        mine = grids[grids["code"] == grid].geometry.iloc[0]
        other = grids[grids["code"] != grid].geometry.iloc[0]
    inside = mine.representative_point()
    outside = other.representative_point()
    return (inside.x, inside.y), (outside.x, outside.y)


def _photo_with_gps(path: Path) -> Path:
    """A camera-sized JPEG whose EXIF carries a GPS position (as a phone writes it)."""
    from PIL import Image

    img = Image.new("RGB", (4000, 3000), (40, 110, 190))
    exif = Image.Exif()
    exif[0x010F] = "e2e camera"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", (28.0, 12.0, 30.0), "E", (112.0, 55.0, 10.0)
    img.save(path, format="JPEG", quality=92, exif=exif)
    with Image.open(path) as saved:
        assert saved.getexif().get_ifd(0x8825), "the test photo must carry GPS"
    return path


def _tablet(browser, url: str, name: str, password: str, where: tuple[float, float], **extra):  # noqa: F811
    context = browser.new_context(
        viewport=TABLET,
        has_touch=True,
        geolocation={"longitude": where[0], "latitude": where[1], "accuracy": 8},
        permissions=["geolocation"],
        **extra,
    )
    page = context.new_page()
    page.errors = []
    # A failed request is logged by the browser itself ("Failed to load resource"): offline,
    # and the refusals this test provokes, they are expected; a script error never is.
    page.on(
        "console",
        lambda m: (
            page.errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.on("dialog", lambda d: d.accept())
    page.goto(f"{url}/login?next=/field")
    page.get_by_test_id("login-user").fill(name)
    page.get_by_test_id("login-password").fill(password)
    with page.expect_navigation(timeout=TIMEOUT_MS):
        page.get_by_test_id("login-submit").click()
    page.get_by_test_id("case-list").wait_for(timeout=TIMEOUT_MS)
    page.locator(".leaflet-container").wait_for(timeout=TIMEOUT_MS)
    return context, page


def _outbox(page) -> int:
    return int(page.get_by_test_id("outbox-count").inner_text().split()[0])


def _wait_outbox(page, n: int) -> None:
    from playwright.sync_api import expect

    expect(page.get_by_test_id("outbox-count")).to_have_text(str(n), timeout=TIMEOUT_MS)


def _report(page, description: str, photo: Path | None = None) -> None:
    page.get_by_test_id("report-open").tap()
    page.get_by_test_id("report-here").tap()
    page.locator("[data-testid=report-place][data-frame=gps]").wait_for(timeout=TIMEOUT_MS)
    assert "8" in page.get_by_test_id("report-place").inner_text()  # the accuracy is shown
    page.get_by_test_id("report-category").select_option("facility")
    page.get_by_test_id("report-description").fill(description)
    if photo is not None:
        page.get_by_test_id("report-photo").set_input_files(str(photo))
        page.get_by_test_id("report-thumb").first.wait_for(timeout=TIMEOUT_MS)
    page.get_by_test_id("report-submit").tap()


def _close_case(page, case_id: str) -> None:
    page.locator(f"[data-testid=case-item][data-case-id='{case_id}'] button").tap()
    page.locator(f"#gm-case[data-case-id='{case_id}']").wait_for(timeout=TIMEOUT_MS)
    page.get_by_test_id("move-closed").tap()
    page.get_by_test_id("move-note").fill("核查属实，已现场结案")
    page.get_by_test_id("move-submit").tap()


def _cli(*args: str) -> None:
    exe = Path(sys.executable).with_name("gridmap")
    done = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_a_day_on_field_with_a_flaky_connection(browser, field_store, field_server):  # noqa: F811
    from PIL import Image

    accounts = _accounts(field_store)
    to_close, to_conflict = _walk_to_reported_back(field_store, 2)
    inside, outside = _points(field_store)
    photo = _photo_with_gps(field_store.parent / "camera.jpg")
    started = datetime.now(UTC).isoformat()
    context, page = _tablet(
        browser, field_server, "supervisor", accounts["supervisor"]["password"], inside
    )

    # My grid, my cases: overdue first, then by deadline; the reported-back ones are there.
    items = page.get_by_test_id("case-item")
    ids = [items.nth(i).get_attribute("data-case-id") for i in range(items.count())]
    assert to_close in ids and to_conflict in ids
    overdue = [items.nth(i).get_attribute("data-overdue") for i in range(items.count())]
    assert overdue == sorted(overdue, reverse=True), "overdue cases come first"
    assert _outbox(page) == 0
    page.screenshot(path=str(SHOTS / "field-portrait.png"))

    # 1. Online: a report with a photo, where I stand. (The photo is resized first, so the
    # outbox may still say 0 before the report is in it: wait for the case itself.)
    _report(page, ONLINE, photo)
    page.get_by_test_id("case-list").get_by_text(ONLINE).wait_for(timeout=TIMEOUT_MS)
    _wait_outbox(page, 0)

    # 2. Offline: two reports and a move, kept in the outbox.
    context.set_offline(True)
    _report(page, OFFLINE_1)
    _wait_outbox(page, 1)
    _report(page, OFFLINE_2)
    _wait_outbox(page, 2)
    _close_case(page, to_close)
    _wait_outbox(page, 3)
    page.get_by_test_id("outbox-open").tap()
    page.get_by_test_id("outbox-item").nth(2).wait_for(timeout=TIMEOUT_MS)
    listed = page.get_by_test_id("outbox-item").all_inner_texts()
    assert len(listed) == 3, listed
    page.screenshot(path=str(SHOTS / "field-offline-outbox.png"))
    with open_store(field_store) as st:
        assert not st.read("incidents", where={"description": [OFFLINE_1, OFFLINE_2]}).shape[0]

    # 3. Back online: everything is sent, in order, once.
    context.set_offline(False)
    _wait_outbox(page, 0)

    # 4. A conflict: the CLI sends the case back and forth while the page shows it.
    page.reload()
    page.get_by_test_id("case-list").wait_for()
    page.locator(f"[data-testid=case-item][data-case-id='{to_conflict}'] button").tap()
    page.locator(f"#gm-case[data-case-id='{to_conflict}']").wait_for()
    page.get_by_test_id("move-closed").wait_for()
    _cli("incidents", "move", str(field_store), to_conflict, "--to", "handling", "--note", "返工")
    _cli("incidents", "move", str(field_store), to_conflict, "--to", "reported_back")
    page.get_by_test_id("move-closed").tap()
    page.get_by_test_id("move-submit").tap()
    _wait_outbox(page, 1)
    # The refusal opens the outbox by itself: the user must choose.
    refused = page.locator("[data-testid=outbox-item][data-status=refused]")
    refused.wait_for(timeout=TIMEOUT_MS)
    changed = refused.get_by_test_id("outbox-changed").inner_text()
    assert "→" in changed, changed  # what changed: the moves made meanwhile
    page.screenshot(path=str(SHOTS / "field-conflict.png"))
    refused.get_by_test_id("outbox-retry").tap()
    _wait_outbox(page, 0)

    # 5. A place outside my grid: refused with the reason, kept until I discard it.
    context.set_geolocation({"longitude": outside[0], "latitude": outside[1], "accuracy": 8})
    _report(page, OUTSIDE)
    outside_item = page.locator("[data-testid=outbox-item][data-status=refused]")
    outside_item.wait_for(timeout=TIMEOUT_MS)
    reason = outside_item.get_by_test_id("outbox-reason").inner_text()
    assert "不在您的管辖范围内" in reason, reason  # in the page's language
    assert _outbox(page) == 1
    outside_item.get_by_test_id("outbox-discard").tap()
    _wait_outbox(page, 0)

    # The hostile description is shown as text on the page, never run.
    page.reload()
    page.get_by_test_id("case-list").wait_for()
    assert page.get_by_text(OFFLINE_2).count() >= 1
    assert page.locator("img[src=x]").count() == 0
    assert not page.errors, page.errors
    context.close()

    # The store: exactly those three reports and two moves, each once, audited.
    with open_store(field_store) as st:
        made = st.read("incidents", where={"description": [ONLINE, OFFLINE_1, OFFLINE_2, OUTSIDE]})
        assert sorted(made["description"]) == sorted([ONLINE, OFFLINE_1, OFFLINE_2])
        assert set(made["step"]) == {"collected"} and set(made["source"]) == {"patrol"}
        grid = st.user("supervisor").scope[0]
        assert set(made["grid_code"]) == {grid}
        by = dict(zip(made["description"], made["id"], strict=True))
        photos = st.case_photos(by[ONLINE])
        assert len(photos) == 1 and photos[0]["width"] == 1600
        image, _ = st.photo(photos[0]["hash"])
        with Image.open(io.BytesIO(image)) as stored:
            assert not stored.getexif(), "the stored photo keeps no EXIF"
        assert not st.case_photos(by[OFFLINE_1])
        closed = st.read("incidents", where={"id": [to_close, to_conflict]})
        assert set(closed["step"]) == {"closed"}
        rows = [r for r in st.audit_log(since=started) if r["user"] == "supervisor"]
        creates = sorted(r["target"] for r in rows if r["action"] == "incident_create")
        moves = sorted(r["target"] for r in rows if r["action"] == "incident_move")
        assert creates == sorted(made["id"]), creates
        assert moves == sorted([to_close, to_conflict]), moves
        events = st.read("incident_events", where={"incident_id": list(made["id"])})
        assert len(events) == 3 and set(events["to_step"]) == {"collected"}


def test_touch_targets_and_english(browser, field_store, field_server):  # noqa: F811
    accounts = _accounts(field_store)
    inside, _ = _points(field_store)
    for viewport in (TABLET, {"width": 1024, "height": 768}):
        context, page = _tablet(
            browser, field_server, "supervisor", accounts["supervisor"]["password"], inside
        )
        page.set_viewport_size(viewport)
        page.goto(f"{field_server}/field?lang=en")
        page.get_by_test_id("case-list").wait_for()
        assert page.get_by_test_id("report-open").inner_text() == "Report a case"
        assert page.locator("html").get_attribute("lang") == "en"
        small = _small(page.evaluate(_TARGETS, None))
        # Leaflet's attribution link is the map's credit line, not a control.
        small = [s for s in small if '"Leaflet"' not in s]
        assert not small, small
        page.get_by_test_id("report-open").tap()
        assert not _small(page.evaluate(_TARGETS, "#gm-report")), "the report form"
        page.screenshot(path=str(SHOTS / f"field-{viewport['width']}x{viewport['height']}.png"))
        assert not page.errors, page.errors
        context.close()


def test_the_page_opens_offline_once_visited(browser, field_store, field_server):  # noqa: F811
    accounts = _accounts(field_store)
    inside, _ = _points(field_store)
    context, page = _tablet(
        browser, field_server, "supervisor", accounts["supervisor"]["password"], inside
    )
    # The service worker has installed (and cached the page and its files).
    assert page.evaluate(
        "async () => { const r = await navigator.serviceWorker.ready; return !!r.active; }"
    )
    page.reload()
    page.get_by_test_id("case-list").wait_for()
    cached = "async () => (await (await caches.open('gridmap-field-data')).keys()).length"
    for _ in range(50):
        if page.evaluate(cached) >= 3:  # the page, its cases, its geometry
            break
        page.wait_for_timeout(100)
    count = page.get_by_test_id("case-item").count()
    context.set_offline(True)
    page.reload()
    page.get_by_test_id("case-list").wait_for(timeout=TIMEOUT_MS)
    page.locator("[data-testid=case-item]").first.wait_for(timeout=TIMEOUT_MS)
    assert page.get_by_test_id("case-item").count() == count
    assert page.get_by_test_id("outbox-count").inner_text().startswith("0")
    context.set_offline(False)
    context.close()


def _move(page, store: Path, case_id: str, button: str, **fields: str) -> None:
    page.locator(f"[data-testid=case-item][data-case-id='{case_id}'] button").click()
    page.locator(f"#gm-case[data-case-id='{case_id}']").wait_for(timeout=TIMEOUT_MS)
    page.get_by_test_id(f"move-{button}").click()
    for name, value in fields.items():
        page.get_by_test_id(f"move-{name}").select_option(value)
    page.get_by_test_id("move-submit").click()
    # The outbox may still say 0 before the move is in it (its photo is read first):
    # wait for the store to have the move, then for the outbox to be empty.
    with open_store(store) as st:
        for _ in range(150):
            if st.read("incidents", where={"id": case_id})["step"].iloc[0] == button:
                break
            page.wait_for_timeout(200)
        else:
            raise AssertionError(f"the move to {button} of {case_id} did not arrive")
    _wait_outbox(page, 0)


def test_the_whole_loop_runs_in_the_browser(browser, field_store, field_server):  # noqa: F811
    """A supervisor's report goes round the loop at desks: the dispatcher's queue registers
    and dispatches it, the department takes it on and reports back, the supervisor closes it."""
    accounts = _accounts(field_store)
    inside, _ = _points(field_store)
    pages = {}
    for name in ("supervisor", "dispatcher", "department"):
        _, page = _tablet(browser, field_server, name, accounts[name]["password"], inside)
        if name != "supervisor":
            page.set_viewport_size({"width": 1280, "height": 800})  # a desk
        pages[name] = page
    sup, disp, dept = pages["supervisor"], pages["dispatcher"], pages["department"]
    _report(sup, "e2e 全流程 占道经营")
    sup.get_by_test_id("case-list").get_by_text("e2e 全流程 占道经营").wait_for()
    case_id = sup.locator("[data-testid=case-item]", has_text="e2e 全流程").get_attribute(
        "data-case-id"
    )

    # The dispatcher's queue (on by default) has it; only the dispatcher's moves are offered.
    disp.reload()
    assert disp.get_by_test_id("filter-queue").is_checked()
    disp.locator(f"[data-testid=case-item][data-case-id='{case_id}']").wait_for()
    disp.locator(f"[data-testid=case-item][data-case-id='{case_id}'] button").click()
    buttons = disp.get_by_test_id("case-moves").locator("button")
    buttons.first.wait_for()
    assert sorted(b.get_attribute("data-testid") for b in buttons.all()) == [
        "move-registered",
        "move-voided",
    ]
    disp.get_by_test_id("case-close").click()
    _move(disp, field_store, case_id, "registered")
    disp.reload()
    disp.locator(f"[data-testid=case-item][data-case-id='{case_id}']").wait_for()
    _move(disp, field_store, case_id, "dispatched", department="网格工作站")

    # The department (网格工作站) takes it on and reports back.
    dept.reload()
    dept.locator(f"[data-testid=case-item][data-case-id='{case_id}']").wait_for()
    _move(dept, field_store, case_id, "handling")
    dept.reload()
    dept.locator(f"[data-testid=case-item][data-case-id='{case_id}']").wait_for()
    _move(dept, field_store, case_id, "reported_back")

    # The supervisor verifies on site and closes it.
    sup.reload()
    sup.locator(f"[data-testid=case-item][data-case-id='{case_id}']").wait_for()
    _move(sup, field_store, case_id, "closed", **{"closed-level": "grid"})
    for page in pages.values():
        assert not page.errors, page.errors
        page.context.close()
    with open_store(field_store) as st:
        case = st.read("incidents", where={"id": case_id}).iloc[0]
        assert case["step"] == "closed" and case["department"] == "网格工作站"
        events = st.read("incident_events", where={"incident_id": case_id})
        assert list(events.sort_values("at")["to_step"]) == [
            "collected",
            "registered",
            "dispatched",
            "handling",
            "reported_back",
            "closed",
        ]
        actors = list(events.sort_values("at")["actor"])
        assert actors == [
            "supervisor",
            "dispatcher",
            "dispatcher",
            "department",
            "department",
            "supervisor",
        ]

"""Touch targets on a tablet (issue 11, point 5): every control at least 44x44 CSS px.

Grid supervisors use the dashboard on tablets, with a finger. In Chromium
with a touch screen (``has_touch``: the page sees ``pointer: coarse``) at
1024x768 and at 1180x820 (landscape tablets, the second wider than the
1100 px breakpoint), at the district and at a grid, every visible control
must be at least 44x44 CSS px, and the panels under the map must not scroll
in a box of their own: the page scrolls as a whole. The desktop (1280x800, a
mouse) keeps its layout. Screenshots go to tests/artifacts/screenshots/touch-*.png.
"""

from __future__ import annotations

import pytest
from signin import sign_in
from test_dashboard import SHOTS, TIMEOUT_MS, browser, server  # noqa: F401

pytestmark = pytest.mark.slow

#: The smallest touch target, in CSS px (WCAG 2.5.5, Apple's and Android's guides).
MIN_PX = 44
TABLETS = [(1024, 768), (1180, 820)]

#: Every visible control on the page (or under ``root``): what it is, and the
#: box a finger must hit. A checkbox or radio is hit through its label (the
#: label is the target), a dropdown through its button; an element a finger
#: cannot hit (``pointer-events: none``, like Dash's hidden focus input) or
#: that is not drawn is no target.
_TARGETS = """(root) => {
    const scope = root ? document.querySelector(root) : document;
    const sel = 'a[href], button, input, select, textarea, [role=slider], [role=button], '
        + '.dash-dropdown, .dash-dropdown-clear, .leaflet-control a';
    const targets = [], boxes = [];
    for (const el of scope.querySelectorAll(sel)) {
        const cs = getComputedStyle(el);
        if (!el.getClientRects().length || cs.visibility === 'hidden'
            || cs.pointerEvents === 'none' || el.closest('[aria-hidden=true]')) continue;
        const box = ['checkbox', 'radio'].includes(el.type) && el.closest('label')
            ? el.closest('label') : el;
        const r = box.getBoundingClientRect();
        const cls = typeof box.className === 'string' ? box.className.trim() : '';
        const text = (box.textContent || el.value || '').trim().slice(0, 16);
        targets.push({what: `${box.tagName.toLowerCase()}.${cls.split(/\\s+/)[0]} "${text}"`,
                      x: r.x, y: r.y, w: r.width, h: r.height});
        boxes.push(box);
    }
    // A control inside another (the clear x in a dropdown's button) is in its box by design.
    targets.forEach((t, i) => {
        t.within = boxes.flatMap((b, j) => (j !== i && b.contains(boxes[i]) ? [j] : []));
    });
    return targets;
}"""


def _small(targets: list[dict]) -> list[str]:
    """The targets under 44 px either way, as "what WxH"."""
    return [
        f"{t['what']} {t['w']:.1f}x{t['h']:.1f}"
        for t in targets
        if t["w"] < MIN_PX or t["h"] < MIN_PX
    ]


def _overlapping(targets: list[dict]) -> list[str]:
    """The pairs of targets whose boxes overlap (more than a 1 px border): a finger
    meant for one would hit the other. One inside the other is no overlap."""
    found = []
    for i, a in enumerate(targets):
        for j, b in enumerate(targets[i + 1 :], start=i + 1):
            if j in a["within"] or i in b["within"]:
                continue
            dx = min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"])
            dy = min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"])
            if dx > 1 and dy > 1:
                found.append(f"{a['what']} overlaps {b['what']} by {dx:.1f}x{dy:.1f}")
    return found


#: The layers panel's ancestors (the panel too) that scroll inside the page:
#: their content is taller than they are and their overflow is not visible.
_SCROLL_BOXES = """() => {
    const boxes = [];
    for (let el = document.querySelector('[data-testid=layers]');
         el && el !== document.body; el = el.parentElement) {
        const oy = getComputedStyle(el).overflowY;
        if (el.scrollHeight > el.clientHeight + 1 && oy !== 'visible') {
            boxes.push(`${el.tagName.toLowerCase()}.${el.className} `
                + `${el.clientHeight}px showing ${el.scrollHeight}px (overflow-y ${oy})`);
        }
    }
    return boxes;
}"""


@pytest.fixture(scope="module")
def grid_code(demo_path) -> str:
    """A grid of the demo (the first by code), to open by URL."""
    from gridmap.store import open_store

    with open_store(demo_path) as store:
        return str(min(store.read("grids")["code"]))


@pytest.fixture
def tablet_of(browser, server, demo_admin):  # noqa: F811
    """A new page on a touch screen of the given size, watched as ``page_of`` watches
    (no console errors, no request leaving the host), signed in through /login."""
    opened = []

    def make(width: int, height: int, touch: bool = True):
        context = browser.new_context(
            viewport={"width": width, "height": height}, has_touch=touch, is_mobile=False
        )
        page = context.new_page()
        page.errors, page.foreign = [], []
        page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        page.on(
            "request",
            lambda r: (
                None
                if r.url.startswith(("http://127.0.0.1:", "data:"))
                else page.foreign.append(r.url)
            ),
        )
        opened.append((context, page))
        sign_in(page, server, *demo_admin)
        return page

    yield make
    for context, page in opened:
        assert page.errors == [], page.errors
        assert page.foreign == [], page.foreign
        context.close()


def _open(page, url: str) -> None:
    """Load ``url`` and wait for the map's units, the numbers and the month slider."""
    page.goto(url)
    page.wait_for_selector("path.gm-unit", timeout=TIMEOUT_MS)
    page.wait_for_selector("[data-testid='number-residents']", timeout=TIMEOUT_MS)
    page.wait_for_selector("[role=slider]", timeout=TIMEOUT_MS)
    page.wait_for_timeout(300)  # the map's first fitBounds


def _small_in_menus(page) -> list[str]:
    """The controls under 44 px in each dropdown's open menu (search box, options,
    select-all buttons), each menu opened by a tap and closed again. A multiple
    choice gets its first option chosen, so that its clear button shows."""
    small = []
    for button in page.locator("button.dash-dropdown").all():
        button.scroll_into_view_if_needed()
        button.tap()
        page.wait_for_selector(".dash-dropdown-content", timeout=TIMEOUT_MS)
        found = _small(page.evaluate(_TARGETS, ".dash-dropdown-content"))
        small += [f"menu of #{button.get_attribute('id')}: {s}" for s in found]
        if page.locator(".dash-dropdown-content .dash-dropdown-action-button").count():
            page.locator(".dash-dropdown-content .dash-dropdown-option").first.tap()
            page.locator(".dash-dropdown-clear").wait_for(timeout=TIMEOUT_MS)
        page.keyboard.press("Escape")
        page.wait_for_selector(".dash-dropdown-content", state="detached", timeout=TIMEOUT_MS)
    return small


def _screenshots(page, name: str) -> None:
    """The screen as the page opens, and scrolled down to the layers panel.

    Not ``full_page``: for it Chromium resizes the view and drops the touch
    emulation, so the shot would show the desktop layout."""
    page.screenshot(path=str(SHOTS / f"{name}-top.png"))
    page.get_by_test_id("layers").scroll_into_view_if_needed()
    page.wait_for_timeout(200)
    page.screenshot(path=str(SHOTS / f"{name}-panels.png"))


@pytest.mark.parametrize(("width", "height"), TABLETS)
def test_every_control_is_a_finger_wide(tablet_of, server, grid_code, width, height):  # noqa: F811
    SHOTS.mkdir(parents=True, exist_ok=True)
    """At the district and at a grid (breadcrumb links), every control, and every
    control of the dropdowns' open menus, is at least 44x44, and none overlap."""
    page = tablet_of(width, height)
    assert page.evaluate("matchMedia('(pointer: coarse)').matches"), "no touch screen emulated"
    small, overlaps = [], []
    for level, query in (("district", ""), ("grid", f"?unit={grid_code}")):
        _open(page, server + "/" + query)
        if level == "grid":  # the breadcrumb's links are there: three levels up
            assert page.locator("[data-testid=breadcrumb] a").count() == 3
        _screenshots(page, f"touch-{width}x{height}-{level}")
        small += [f"{level}: {s}" for s in _small_in_menus(page)]
        targets = page.evaluate(_TARGETS, None)
        assert any("dash-dropdown-clear" in t["what"] for t in targets), "no clear button shown"
        small += [f"{level}: {s}" for s in _small(targets)]
        overlaps += [f"{level}: {s}" for s in _overlapping(targets)]
    assert not small, f"{len(small)} controls under {MIN_PX}x{MIN_PX} px:\n" + "\n".join(small)
    assert not overlaps, "controls in each other's way:\n" + "\n".join(overlaps)


@pytest.mark.parametrize(("width", "height"), TABLETS)
def test_panels_scroll_with_the_page(tablet_of, server, width, height):  # noqa: F811
    """No box scrolls inside the page around the layers panel: the page scrolls."""
    page = tablet_of(width, height)
    _open(page, server + "/")
    boxes = page.evaluate(_SCROLL_BOXES)
    assert not boxes, "the layers panel scrolls inside a box:\n" + "\n".join(boxes)
    # The panels are under the map, the map still has most of the screen, and
    # scrolling the page (not a box in it) brings the layers panel into view.
    panel = page.get_by_test_id("layers")
    the_map = page.locator(".gm-map").bounding_box()
    assert panel.bounding_box()["y"] >= the_map["y"] + the_map["height"] - 1
    assert the_map["height"] >= 0.55 * height
    # Scrolled into view, the page moves (a box inside it would move instead).
    panel.scroll_into_view_if_needed()
    assert page.evaluate("window.scrollY") > 0
    box = panel.bounding_box()
    assert box["y"] < height and box["y"] + box["height"] > 0, box


def test_desktop_keeps_its_layout(tablet_of, server):  # noqa: F811
    """1280x800 with a mouse: panels beside the full-height map, scrolling in their
    own column; Leaflet's own 30 px zoom buttons."""
    page = tablet_of(1280, 800, touch=False)
    _open(page, server + "/")
    assert not page.evaluate("matchMedia('(pointer: coarse)').matches")
    the_map = page.locator(".gm-map").bounding_box()
    side = page.locator(".gm-side").bounding_box()
    assert side["x"] >= the_map["x"] + the_map["width"] - 1
    assert side["width"] == pytest.approx((22.5 + 2 * 0.8) * 16 + 1, abs=0.5)  # its rem, 1px border
    assert page.evaluate("document.documentElement.scrollHeight") == 800
    assert page.evaluate(_SCROLL_BOXES), "the panels' column no longer scrolls on its own"
    zoom = page.locator(".leaflet-control-zoom-out").bounding_box()
    assert (zoom["width"], zoom["height"]) == (30, 30)

"""A readable map (issue 11, point 4) in a real browser.

The English page is titled in English (tab and header); unit names are
labels on the map, as text, without overlaps; every layer on at once is
screenshotted at each level (tests/artifacts/screenshots/layers-<level>.png)
and the heatmap's legend does not move with the month window.
"""

from __future__ import annotations

import pytest
from test_dashboard import (  # noqa: F401
    SHOTS,
    TIMEOUT_MS,
    _first_unit,
    _serving,
    _wait_view,
    browser,
    page_of,
    server,
)

from gridmap.i18n import t

pytestmark = pytest.mark.slow


def test_the_english_page_is_titled_in_english(page_of, server):  # noqa: F811
    page = page_of()
    page.goto(server + "/?unit=431002001&lang=en")
    _wait_view(page, "431002001")
    assert page.title() == t("app.title", "en")
    assert page.locator("h1").inner_text() == t("app.title", "en")
    # Switching the language in the page (no reload) retitles the tab too.
    page.get_by_test_id("lang-switch").click()
    page.wait_for_function(
        "title => document.title === title", arg=t("app.title", "zh"), timeout=TIMEOUT_MS
    )
    page.get_by_test_id("lang-switch").click()
    page.wait_for_function(
        "title => document.title === title", arg=t("app.title", "en"), timeout=TIMEOUT_MS
    )


#: The visible labels: their text and on-screen boxes.
_LABELS_JS = """() => [...document.querySelectorAll(
    '.gm-label:not(.gm-label-hidden) .gm-label-text')]
    .map(e => { const b = e.getBoundingClientRect();
                return {text: e.textContent, html: e.innerHTML, l: b.left, r: b.right,
                        t: b.top, b: b.bottom}; })"""


def _labels(page) -> list[dict]:
    """The visible labels, once the map's placement has settled."""
    page.wait_for_selector(".gm-label .gm-label-text", state="attached", timeout=TIMEOUT_MS)
    page.wait_for_timeout(400)  # the placement runs in the frame after a zoom ends
    return page.evaluate(_LABELS_JS)


def _check_labels(labels: list[dict], names: set[str]) -> None:
    """Labels exist, are unit names as text, and no two boxes overlap."""
    assert labels, "no label is shown"
    for label in labels:
        assert label["text"] in names, label
        # Text, never markup: the span holds one text node.
        assert label["html"] == label["text"].replace("&", "&amp;").replace("<", "&lt;").replace(
            ">", "&gt;"
        )
    for i, a in enumerate(labels):
        for b in labels[i + 1 :]:
            apart = a["r"] <= b["l"] or b["r"] <= a["l"] or a["b"] <= b["t"] or b["b"] <= a["t"]
            assert apart, (a, b)


def _names(demo_path, parent: str) -> set[str]:
    from gridmap.app import views as v
    from gridmap.services.source import Source

    src = Source(str(demo_path))
    try:
        return {f["properties"]["label"] for f in v.unit_labels(src, parent)["features"]}
    finally:
        src.close()


def test_unit_names_label_the_map_without_overlaps(page_of, server, demo_path):  # noqa: F811
    page = page_of()
    page.goto(server + "/?lang=en")
    page.wait_for_selector("path.gm-unit", timeout=TIMEOUT_MS)
    code = "431002"
    for _level in ("subdistrict", "community", "grid", "building"):
        labels = _labels(page)
        _check_labels(labels, _names(demo_path, code if len(code) < 17 else code[:14]))
        if len(code) == 17:
            break
        if len(code) == 14:
            # Zooming in makes room: more labels show, still apart. (At the grid: a
            # building is framed at the closest zoom already.)
            before = len(labels)
            page.locator(".leaflet-control-zoom-in").click()
            page.wait_for_timeout(800)
            after = _labels(page)
            _check_labels(after, _names(demo_path, code))
            assert len(after) >= before
        code = _first_unit(page)
        page.locator(f"path.gm-unit-{code}").dispatch_event("click")
        _wait_view(page, code)


def _legend_of(page, name: str) -> str:
    """A layer's legend text, once it shows."""
    page.wait_for_function(
        "n => document.querySelector(`[data-testid=legend-${n}]`).innerText.trim().length",
        arg=name,
        timeout=TIMEOUT_MS,
    )
    return page.get_by_test_id(f"legend-{name}").inner_text().strip()


def _heat_image(page) -> str:
    page.wait_for_selector("img.gm-image-incident_density", timeout=TIMEOUT_MS)
    return page.locator("img.gm-image-incident_density").get_attribute("src")


def test_all_layers_on_at_each_level(page_of, server, demo_path):  # noqa: F811
    """Every layer on together, screenshotted at each level (look at them: each layer
    must still be told apart); labels as text, apart; the heatmap's legend fixed."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = page_of(1280, 1000)
    page.goto(server + "/?lang=en")
    page.wait_for_selector("path.gm-unit", timeout=TIMEOUT_MS)
    toggles = page.locator("#gm-layer-toggles")
    for name in ("party", "circles", "heatmap"):
        toggles.locator(f"input[value={name}]").check()
    code = "431002"
    for level in ("district", "subdistrict", "community", "grid", "building"):
        for name in ("units", "party", "circles", "heatmap"):
            _legend_of(page, name)
        # The heatmap is an image (smooth), drawn under the labels and units' outlines.
        before = _heat_image(page)
        assert before.startswith("data:image/png;base64,") and len(before) < 80_000
        page.wait_for_timeout(1000)  # let the zoom settle before the screenshot
        page.screenshot(path=str(SHOTS / f"layers-{level}.png"))
        parent = code if len(code) < 17 else code[:14]
        _check_labels(_labels(page), _names(demo_path, parent))
        if level == "subdistrict":
            # The month window moves: the heatmap changes, its legend does not.
            legend = _legend_of(page, "heatmap")
            handle = page.locator("[data-testid=window] [role=slider]").nth(1)
            handle.focus()
            for _ in range(6):
                page.keyboard.press("ArrowLeft")
            page.wait_for_function(
                "old => { const i = document.querySelector('img.gm-image-incident_density');"
                " return i && i.getAttribute('src') !== old; }",
                arg=before,
                timeout=TIMEOUT_MS,
            )
            assert _legend_of(page, "heatmap") == legend
            page.screenshot(path=str(SHOTS / f"layers-{level}-window.png"))
        if level == "building":
            break
        code = _first_unit(page)
        page.locator(f"path.gm-unit-{code}").dispatch_event("click")
        _wait_view(page, code)
    # Outlines only: the units' fills go, the overlays under them show.
    page.locator("#gm-units-mode input[value=outline]").check()
    page.wait_for_function(
        "() => [...document.querySelectorAll('path.gm-unit')]"
        ".every(p => p.getAttribute('fill-opacity') === '0')",
        timeout=TIMEOUT_MS,
    )
    page.wait_for_timeout(500)
    page.screenshot(path=str(SHOTS / "layers-building-outlines.png"))

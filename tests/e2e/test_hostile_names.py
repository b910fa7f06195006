"""Names from imported files are text, never markup: on the dashboard and in the HTML export.

A store whose every name (district, subdistricts, communities, grids,
facilities, party organisations, roads) carries a script, imported with
`gridmap import` as a user would, is served; in Chromium every feature of
every layer at every level is hovered (its tooltip opened) and the drill goes
down by real clicks. No script may run, and the names must show literally,
``<img …>`` and all. The same store's HTML export is checked the same way.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from signin import sign_in
from test_dashboard import TIMEOUT_MS, _serving, _wait_view, browser, page_of  # noqa: F401

pytestmark = pytest.mark.slow

#: Each payload records that it ran in ``window.__xss``; the dialog handler
#: catches an ``alert`` too.
PAYLOADS = (
    '<img src=x onerror="window.__xss.push(1)">',
    "<script>window.__xss.push(2)</script>",
    '"><svg onload="window.__xss.push(3)">',
)
NAMED = ("districts", "subdistricts", "communities", "grids", "facilities", "party_orgs", "roads")


def _hostile(name: str, i: int) -> str:
    """A name with one of the payloads in it (the real name kept, so names stay distinct)."""
    return f"{PAYLOADS[i % len(PAYLOADS)]}{name}"


@pytest.fixture(scope="module")
def hostile_path(demo_path, tmp_path_factory) -> Path:
    """A copy of the demo whose names were re-imported with scripts in them."""
    import pyogrio

    from gridmap.store import open_store

    folder = tmp_path_factory.mktemp("hostile")
    out = folder / "hostile.gpkg"
    shutil.copy(demo_path, out)
    with open_store(out) as store:
        frames = {name: store.read(name) for name in NAMED}
    exe = Path(sys.executable).with_name("gridmap")
    for name, frame in frames.items():
        frame = frame.copy()
        frame["name"] = [
            _hostile(str(n) if isinstance(n, str) else "", i) for i, n in enumerate(frame["name"])
        ]
        path = folder / f"{name}.geojson"
        pyogrio.write_dataframe(frame, path, driver="GeoJSON")
        result = subprocess.run(
            [str(exe), "import", str(out), str(path), "--layer", name, "--replace"],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, (name, result.stdout, result.stderr)
    return out


@pytest.fixture(scope="module")
def server(hostile_path, tmp_path_factory):
    """The hostile store's dashboard (``page_of`` watches its pages)."""
    with _serving(hostile_path, tmp_path_factory.mktemp("serve")) as url:
        yield url


#: Hover the interactive features of the map (every unit, up to ``most`` of
#: the others): a mouseover at the centre of its box, as the mouse would
#: send, opens the feature's tooltip. Returns how many
#: were hovered and the text of every tooltip shown (one at a time: each
#: mouseout closes it).
_HOVER_ALL = """(most) => {
    const out = {hovered: 0, tips: [], of: 0};
    const all = [...document.querySelectorAll(
        '.leaflet-overlay-pane .leaflet-interactive, .leaflet-marker-pane .leaflet-interactive')];
    out.of = all.length;
    // Every unit, and an even sample of the rest (thousands of features at
    // district level: each hover costs a layout), so every layer is covered.
    const units = all.filter(el => el.classList.contains('gm-unit'));
    const rest = all.filter(el => !el.classList.contains('gm-unit'));
    const step = Math.max(1, Math.ceil(rest.length / most));
    const targets = units.concat(rest.filter((_, i) => i % step === 0));
    for (const el of targets) {
        const r = el.getBoundingClientRect();
        const at = {bubbles: true, clientX: r.left + r.width / 2, clientY: r.top + r.height / 2};
        el.dispatchEvent(new MouseEvent('mouseover', at));
        el.dispatchEvent(new MouseEvent('mousemove', at));
        out.hovered += 1;
        for (const tip of document.querySelectorAll('.leaflet-tooltip')) {
            out.tips.push(tip.textContent);
        }
        el.dispatchEvent(new MouseEvent('mouseout', at));
    }
    return out;
}"""


def _arm(page) -> list[str]:
    """Record every script a payload runs (``window.__xss``) and every dialog."""
    dialogs: list[str] = []
    page.add_init_script("window.__xss = [];")

    def on_dialog(dialog):
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return dialogs


def _assert_no_script(page, dialogs: list[str], where: str) -> None:
    ran = page.evaluate("window.__xss")
    assert ran == [] and dialogs == [], f"{where}: payloads ran {ran}, dialogs {dialogs}"
    # No element a payload would create made it into the page as markup.
    injected = page.evaluate("document.querySelectorAll('img[src=x], svg[onload]').length")
    assert injected == 0, f"{where}: {injected} payload elements in the page"
    scripts = page.evaluate(
        "[...document.querySelectorAll('script:not([src])')].map(s => s.textContent)"
    )
    # (Names do appear inside inline scripts, as data in JSON strings: only a
    # script that *is* a payload is one.)
    assert not any(s.strip().startswith("window.__xss") for s in scripts), (
        f"{where}: an inline payload script"
    )


def _check_tips(shown: dict, where: str) -> None:
    assert shown["hovered"] > 0, f"{where}: nothing to hover"
    literal = [t for t in shown["tips"] if any(p in t for p in PAYLOADS)]
    assert literal, f"{where}: no tooltip shows a name literally: {shown['tips'][:5]}"


def test_dashboard_draws_names_as_text(page_of, server, demo_admin):  # noqa: F811
    """District to building, every layer on: hover everything, click down, no script runs."""
    page = page_of(1280, 1000, signed_in=False)
    dialogs = _arm(page)  # before the sign-in, which opens the district already
    sign_in(page, server, *demo_admin)
    page.goto(server + "/")
    page.wait_for_selector("path.gm-unit", timeout=TIMEOUT_MS)
    toggles = page.locator("#gm-layer-toggles")
    for name in ("party", "circles", "heatmap"):
        toggles.locator(f"input[value={name}]").check()
    for level in ("district", "subdistrict", "community", "grid", "building"):
        # Every overlay's legend is filled (the layers are drawn) before the hover.
        for name in ("party", "circles", "heatmap"):
            page.wait_for_function(
                "n => document.querySelector(`[data-testid=legend-${n}]`).innerText.trim()",
                arg=name,
                timeout=TIMEOUT_MS,
            )
        page.wait_for_timeout(500)
        shown = page.evaluate(_HOVER_ALL, 300)
        _check_tips(shown, level)
        # The breadcrumb and the panels show the names as text too.
        crumbs = page.get_by_test_id("breadcrumb").inner_text()
        assert any(p in crumbs for p in PAYLOADS), crumbs
        _assert_no_script(page, dialogs, level)
        if level == "building":
            break
        # A real click on the first unit's path drills down.
        cls = page.locator("path.gm-unit").first.get_attribute("class")
        code = next(c for c in cls.split() if c.startswith("gm-unit-")).removeprefix("gm-unit-")
        page.locator(f"path.gm-unit-{code}").dispatch_event("click")
        _wait_view(page, code)
    _assert_no_script(page, dialogs, "the end")


def test_export_draws_names_as_text(page_of, hostile_path, tmp_path):  # noqa: F811
    """The HTML export of a community, every layer in it: hover everything, no script runs."""
    from gridmap.store import open_store

    with open_store(hostile_path) as store:
        community = str(store.read("communities")["code"].iloc[0])
    out = tmp_path / "map.html"
    exe = Path(sys.executable).with_name("gridmap")
    result = subprocess.run(
        [str(exe), "export", str(hostile_path), "--html", str(out), "--unit", community],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    page = page_of(signed_in=False)  # a file: no server
    dialogs = _arm(page)
    page.goto(out.resolve().as_uri())
    page.wait_for_selector(".leaflet-interactive", timeout=TIMEOUT_MS)
    # Every layer on (the layer control's checkboxes), then hover everything.
    for box in page.locator(".leaflet-control-layers-overlays input").all():
        box.check()
    shown = page.evaluate(_HOVER_ALL, 300)
    _check_tips(shown, "export")
    _assert_no_script(page, dialogs, "export")

"""The offline HTML map: layers.folium_map and `gridmap export --html`.

The page must be self-contained: Leaflet inlined, no script or stylesheet from
the web, and — opened from a file in headless Chromium — no request leaving
file:// and no console error. The slow tests export the demo district and keep a
screenshot in tests/artifacts/screenshots/.
"""

from __future__ import annotations

import re
from pathlib import Path

import folium
import pytest
from conftest import CHROMIUM_ARGS, IN_CI

from gridmap.cli import main
from layers import folium_map, grids, party, unit_map

from fixtures import G_NORTH, valid_layers

ARTIFACTS = Path(__file__).parent / "artifacts" / "screenshots"
#: A src or href attribute pointing at the web (http:, https: or protocol-relative).
EXTERNAL = re.compile(r"""\b(?:src|href)\s*=\s*["']?(?:https?:)?//""", re.I)
#: The one web link Leaflet itself writes: its attribution prefix (text, not a resource).
ATTRIBUTION = 'href="https://leafletjs.com"'


def external_links(page: str) -> list[str]:
    """Every src/href to the web outside Leaflet's attribution link, with context."""
    found = []
    for m in EXTERNAL.finditer(page):
        context = page[m.start() : m.start() + 60]
        if not context.startswith(ATTRIBUTION):
            found.append(context)
    return found


def small_specs(lang: str = "zh") -> list:
    layers = valid_layers()
    g = layers["grids"].copy()
    g.loc[g["code"] == G_NORTH, "name"] = "<b>西街</b>一网格"  # must not become markup
    return [
        unit_map.outline_spec(layers["districts"], lang=lang, synthetic=True),
        grids.build(g, measure="households", lang=lang, synthetic=True),
        *party.build(g, layers["buildings"], layers["party_orgs"], lang=lang, synthetic=True),
    ]


# -- fast: the page from small specs ------------------------------------------------


def test_page_is_self_contained_with_legends(tmp_path):
    specs = small_specs()
    out = folium_map.write_html(
        specs, tmp_path / "map.html", title="北湖区测试图", hidden={"party_grid_branches"}
    )
    page = out.read_text(encoding="utf-8")
    assert [p.name for p in tmp_path.iterdir()] == ["map.html"]  # no temporary file left
    assert "<title>北湖区测试图</title>" in page
    # Leaflet 1.9.4 inline, and folium's map built with it.
    assert 't.version="1.9.4"' in page and "L.map(" in page
    assert "sourceMappingURL" not in page and "images/layers.png" not in page
    assert "data:image/png;base64," in page
    for cdn in ("jquery", "bootstrap", "font-awesome", "fontawesome", "awesome-markers", "d3"):
        assert f"{cdn}.min.js" not in page and f"/{cdn}" not in page
    assert external_links(page) == []
    # One legend box per layer, in Chinese, the hidden layer's legend hidden too.
    for spec in specs:
        assert f'id="gm-legend-{spec.id}"' in page
        assert spec.legend.title in page
    assert re.search(r'id="gm-legend-party_grid_branches"[^>]*style="display:none"', page)
    assert "演示数据为合成数据" in page
    # Tooltips are text: a name with markup arrives escaped (&lt;, itself escaped in JSON).
    assert "<b>西街" not in page and r"\u0026lt;b\u0026gt;西街" in page
    # Compact UTF-8 JSON (not \\uXXXX escapes) for the data.
    assert '"_tooltip":"东街一网格（' in page


def test_map_layers_points_and_control():
    specs = small_specs(lang="en")
    m = folium_map.to_folium(specs, title="Beihu", lang="en")
    page = folium_map.render_html(m)
    assert page.count("L.geoJson(") == len(specs)
    assert page.count("L.CircleMarker(") == 1  # the central households' pointToLayer
    assert "L.control.layers(" in page
    assert "Households by grid" in page and "Grid party branch coverage" in page
    assert m.default_js == [] and m.default_css == []
    # The class-level defaults are untouched: other folium maps keep working as usual.
    assert folium.Map.default_js and folium.Map.default_css


def test_a_plugin_from_a_cdn_is_refused():
    from folium.plugins import Fullscreen

    m = folium_map.to_folium(small_specs(), title="t")
    Fullscreen().add_to(m)
    with pytest.raises(ValueError, match="from the web"):
        folium_map.render_html(m)


# -- slow: the demo district through the CLI and in Chromium -------------------------


def export(tmp_path: Path, demo_path: Path, *args: str, name: str = "map.html") -> Path:
    out = tmp_path / name
    rc = main(["export", str(demo_path), "--html", str(out), *args])
    assert rc == 0
    return out


def open_in_chromium(path: Path, chromium: str, screenshot: Path | None = None) -> dict:
    """Open the page from its file; return the requests, console errors and drawn paths."""
    from playwright.sync_api import sync_playwright

    requests: list[str] = []
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("request", lambda r: requests.append(r.url))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(path.resolve().as_uri(), wait_until="load")
            page.wait_for_selector("path.leaflet-interactive", state="attached", timeout=30_000)
            paths = page.locator("path.leaflet-interactive").count()
            legends = page.locator(".gm-legend:visible").count()
            if screenshot is not None:
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(screenshot))
        finally:
            browser.close()
    return {"requests": requests, "errors": errors, "paths": paths, "legends": legends}


@pytest.fixture
def chromium(require_tool) -> str:
    """Chromium and Playwright's Python package, or fail (under CI) / skip (elsewhere)."""
    path = require_tool("chromium")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        message = "playwright is not installed (pip install playwright: the package only)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.mark.slow
def test_export_district_html(tmp_path, demo_path, chromium):
    out = export(tmp_path, demo_path)
    page = out.read_text(encoding="utf-8")
    assert "L.map(" in page and 't.version="1.9.4"' in page
    assert external_links(page) == []
    assert "<title>北湖区（431002）网格化治理图（演示数据）</title>" in page
    # The four layers' legends (and the boundary's), in Chinese, synthetic data labelled.
    # At district level the service circles are each subdistrict's coverage (the
    # walking areas are drawn from a subdistrict down); the heatmap is per month.
    for title in (
        "街道户数（户）",
        "网格党支部覆盖",
        "已建楼栋党小组的住宅楼栋",
        "党员中心户",
        "社区卫生服务站覆盖率（按服务人口） · 5 分钟（300 米）",
        "事件密度（件/平方公里/月）",
    ):
        assert f'<div class="gm-title">{title}' in page, title
    assert "演示数据为合成数据" in page

    seen = open_in_chromium(out, chromium, ARTIFACTS / "export_district.png")
    assert [u for u in seen["requests"] if not u.startswith("file://")] == []
    assert seen["errors"] == []
    assert seen["paths"] > 1000
    assert seen["legends"] >= 5  # the hidden layers' legends wait for their layer
    assert (ARTIFACTS / "export_district.png").stat().st_size > 10_000


@pytest.mark.slow
def test_export_one_subdistrict_in_english(tmp_path, demo_path, chromium):
    out = tmp_path / "sub.html"
    rc = main(["--lang", "en", "export", str(demo_path), "--html", str(out), "--unit", "431002001"])
    assert rc == 0
    page = out.read_text(encoding="utf-8")
    assert "grid governance map (demo data)</title>" in page
    assert "Households by community" in page and "Grid party branch coverage" in page
    assert "demo data are synthetic" in page and "网格党支部覆盖" not in page
    # Only what lies under the unit: every grid listed in the party layer is one of its grids.
    grid_codes = set(re.findall(r"（(4310020\d{7})）|\((4310020\d{7})\)", page))
    assert grid_codes
    assert all(c.startswith("431002001") for pair in grid_codes for c in pair if c)
    seen = open_in_chromium(out, chromium, ARTIFACTS / "export_subdistrict_en.png")
    assert [u for u in seen["requests"] if not u.startswith("file://")] == []
    assert seen["errors"] == [] and seen["paths"] > 100


@pytest.mark.slow
def test_export_only_the_grids_layer_and_data_export_unchanged(tmp_path, demo_path, capsys):
    capsys.readouterr()
    out = export(tmp_path, demo_path, "--layers", "grids", name="grids.html")
    assert "个图层的地图" in capsys.readouterr().out
    page = out.read_text(encoding="utf-8")
    assert page.count("L.geoJson(") == 2  # the boundary and the units
    assert "街道户数（户）" in page and "网格党支部覆盖" not in page
    assert out.stat().st_size < 2_000_000
    # Unknown layers and a missing target: one line, exit 2.
    capsys.readouterr()
    assert main(["export", str(demo_path), "--html", str(out), "--layers", "grids,roads"]) == 2
    assert "roads" in capsys.readouterr().err
    assert main(["export", str(demo_path), "--html", str(out), "--unit", "431002999"]) == 2
    assert "431002999" in capsys.readouterr().err
    assert main(["export", str(demo_path)]) == 2
    capsys.readouterr()
    en = tmp_path / "grids-en.html"
    args = ["--lang", "en", "export", str(demo_path), "--html", str(en), "--layers", "grids"]
    assert main(args) == 0
    assert "wrote a map of 2 layers" in capsys.readouterr().out
    # The data export still works as before, alone or with --html.
    csv = tmp_path / "grids.csv"
    assert main(["export", str(demo_path), "--layer", "grids", "--out", str(csv)]) == 0
    assert csv.read_text(encoding="utf-8-sig").startswith('"code"')

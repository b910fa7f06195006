"""The dashboard's server side: the helpers the page callbacks call, on the demo store."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import signed_in

from gridmap.app import views as v
from gridmap.services.source import Source, close_sources
from gridmap.services.stats import store_unit_stats
from gridmap.store import open_store

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def src(demo_path) -> Source:
    return Source(str(demo_path))


@pytest.fixture(scope="module")
def path(src) -> list[str]:
    """One code per level, district to building, each the first child of the one above."""
    codes = [src.district_code()]
    while len(codes) < 5:
        codes.append(str(src.children(codes[-1])["code"].iloc[0]))
    return codes


def test_drill_payload_per_level(src, path):
    expected = ["subdistrict", "community", "grid", "building", None]
    for code, child in zip(path, expected, strict=True):
        view = v.level_view(src, code, measure="households", lang="zh")
        assert view["child_level"] == child
        features = view["data"]["features"]
        assert features, code
        codes = [f["properties"]["code"] for f in features]
        parent = code if child else code[:14]
        assert all(c.startswith(parent) for c in codes)
        # Styles travel in the hideout, keyed by code, never in the geometry's properties.
        assert "_style" not in features[0]["properties"]
        assert set(view["hideout"]["styles"]) == set(codes)
        assert all(f["properties"]["tip"] for f in features)
        (south, west), (north, east) = view["bounds"]
        assert south < north and west < east
        assert [c["code"] for c in v.breadcrumb(src, code, "zh")] == path[: path.index(code) + 1]
    # At building level the building itself is highlighted.
    assert (
        v.level_view(src, path[4], measure="households", lang="zh")["hideout"]["selected"]
        == (path[4])
    )


def test_geometry_is_the_same_in_both_languages_and_for_a_grid_and_its_buildings(src, path):
    zh = v.level_view(src, path[3], measure="households", lang="zh")
    en = v.level_view(src, path[3], measure="population", lang="en")
    assert zh["data"] == en["data"] and zh["hideout"]["legend"] != en["hideout"]["legend"]
    building = v.level_view(src, path[4], measure="households", lang="zh")
    assert building["parent"] == zh["parent"] == path[3] and building["data"] == zh["data"]


def test_a_building_view_frames_the_building_not_its_grid(src, path):
    """The map frames the unit on screen; at building level, the building itself."""
    view = v.level_view(src, path[4], measure="households", lang="zh")
    west, south, east, north = src.unit(path[4]).geometry.bounds
    assert view["bounds"] == [[south, west], [north, east]]
    (gs, gw), (gn, ge) = v.level_view(src, path[3], measure="households", lang="zh")["bounds"]
    assert gs <= south and gw <= west and north <= gn and east <= ge
    assert (north - south) * (east - west) < (gn - gs) * (ge - gw)
    # Every level knows the district's box too (the map's zoom limits).
    (ds, dw), (dn, de) = view["district"]
    assert ds <= gs and dw <= gw and gn <= dn and ge <= de


def test_measure_switch_restyles_without_geometry(src, path):
    a = v.unit_styles(src, path[1], measure="households", lang="zh")
    b = v.unit_styles(src, path[1], measure="population", lang="en")
    assert set(a) == {"styles", "selected", "legend"}
    assert set(a["styles"]) == set(b["styles"])
    assert a["legend"]["title"] != b["legend"]["title"]


@pytest.mark.parametrize("level", [0, 1, 3, 4])
def test_numbers_equal_store_unit_stats(src, path, demo_path, level):
    code = path[level]
    with open_store(demo_path) as store:
        stats = store_unit_stats(store, code)
    for row in v.numbers(src, code, "en"):
        group, _, key = row["key"].rpartition(".")
        part = stats.get(group) if group else stats
        expected = part.get(key) if isinstance(part, dict) else None
        assert row["value"] == expected, row["key"]


def test_trend_counts_the_units_incidents(src, path):
    months = v.incident_months(src)
    # The demo's incidents are those of 2025: twelve months.
    assert months == [f"2025-{m:02d}" for m in range(1, 13)]
    trend = v.trend(src, path[1], "zh")
    assert [b["month"] for b in trend["bars"]] == months
    counts = [b["count"] for b in trend["bars"]]
    assert sum(counts) == len(src.unit_incidents(path[1]))
    assert trend["max"] == max(counts) and trend["message"] is None
    # A window of three months and one category: the bars of those months only.
    inc = src.unit_incidents(path[1])
    part = v.trend(src, path[1], "zh", window=[2, 4], categories=["dispute"])
    assert [b["month"] for b in part["bars"]] == months[2:5]
    when = pd.to_datetime(inc["reported_at"], utc=True).dt.tz_convert("Asia/Shanghai")
    mine = inc["category"].eq("dispute") & when.dt.month.between(3, 5)
    assert sum(b["count"] for b in part["bars"]) == int(mine.sum()) > 0


def test_trend_of_a_unit_without_incidents_says_so(src, path):
    # A building and a month without any incident there (the demo has a few a year each).
    quiet = next(
        (code, m)
        for code in src.children(path[3])["code"]
        for m in range(12)
        if not v.trend(src, code, "en", window=[m, m])["bars"][0]["count"]
    )
    trend = v.trend(src, quiet[0], "en", window=[quiet[1], quiet[1]])
    assert trend["message"] == "No incidents here in the chosen months."
    assert v.trend(src, quiet[0], "en")["message"] is None


def test_window_bounds(src):
    start, end, months = v.window_bounds(src, [11, 11])
    assert months == ["2025-12"]
    assert str(start) == "2025-12-01 00:00:00+08:00" and str(end) == "2026-01-01 00:00:00+08:00"
    # Reversed or out-of-range windows are clipped, never an error.
    assert v.window_bounds(src, [20, -3])[2] == v.incident_months(src)


def test_building_panel(src, path):
    info = v.building_info(src, path[4], "zh")
    assert info["code"] == path[4]
    assert info["households"] == src.stats(path[4])["households"]
    assert v.building_info(src, path[3], "zh") is None


def test_unknown_and_malformed_units_say_so(src):
    district = src.district_code()
    for unit in ("999999999", "43100299999999"):
        resolved = v.resolve(src, unit, "en")
        assert resolved["code"] == district
        assert unit in resolved["message"]
    # Not a code at all: one plain message that does not repeat it.
    for unit in ("x", "<b>1</b>", "4" * 5000):
        resolved = v.resolve(src, unit, "en")
        assert resolved["code"] == district
        assert "not valid" in resolved["message"] and unit not in resolved["message"]
    assert v.resolve(src, None, "zh") == {"code": district, "message": None}


def test_empty_store_says_so(tmp_path):
    address = str(tmp_path / "empty.gpkg")
    open_store(address, create=True).close()
    resolved = v.resolve(Source(address), None, "en")
    assert resolved["code"] is None
    assert "no district" in resolved["message"]


def test_basemap_and_overlays(src, path):
    base = v.basemap(src)
    kinds = {f["geometry"]["type"] for f in base["features"]}
    assert kinds <= {"LineString", "MultiLineString"}
    assert all("_style" in f["properties"] for f in base["features"])
    party = v.overlays(src, path[1], "party", lang="zh")["overlays"]
    assert party[0]["id"] == "party_grid_branches"
    heat = v.overlays(src, path[1], "heatmap", window=[0, 5], categories=["dispute"], lang="en")
    assert heat["note"] is None and heat["overlays"][0]["legend"]["items"]


def test_search_round_trip():
    assert v.parse_search(v.search_for("431002001", "en")) == {"unit": "431002001", "lang": "en"}
    assert v.parse_search(None) == {}


def test_create_app_registers_the_page(demo_path):
    from gridmap.app import create_app

    app = create_app(str(demo_path), lang="en")
    assert app.server.config["GRIDMAP_STORE"] == str(demo_path)
    client = signed_in(app.server.test_client())
    assert client.get("/").status_code == 200
    assert client.get("/_dash-layout").status_code == 200


def test_basemap_is_served_once_at_a_cached_url(demo_path):
    from gridmap.app import create_app

    app = create_app(str(demo_path))
    url = _basemap_url(app, str(demo_path))
    assert "?v=" in url
    client = signed_in(app.server.test_client())
    response = client.get(url)
    assert response.status_code == 200
    assert "immutable" in response.headers["Cache-Control"]
    base = json.loads(response.data)
    assert base["features"]
    # The page names the URL; the geometry is not in the page's own payload.
    layout = client.get("/_dash-layout").get_data(as_text=True)
    assert "LineString" not in layout


def test_main_roads_are_merged_by_street(src):
    roads = src.roads
    main = roads[roads["kind"].isin(["motorway", "trunk", "primary", "secondary"])]
    merged = src.main_roads()
    assert len(merged) < len(main) / 5
    # Merging drops no road: the merged lines cover the segments (up to the ~5 m simplification).
    assert merged.geometry.union_all().buffer(1e-4).covers(main.geometry.union_all())


def _coords(collection: dict) -> np.ndarray:
    geoms = [shapely.geometry.shape(f["geometry"]) for f in collection["features"]]
    return shapely.get_coordinates(np.array(geoms, dtype=object))


def test_amap_shifts_what_is_sent_and_nothing_else(demo_path, path):
    from gridmap.offsets import wgs84_to_gcj02

    plain, shifted = Source(str(demo_path)), Source(str(demo_path), offset="gcj02")
    for code in (path[0], path[3]):
        a = v.level_view(plain, code, measure="households", lang="zh")
        b = v.level_view(shifted, code, measure="households", lang="zh")
        xy, gxy = _coords(a["data"]), _coords(b["data"])
        ex, ey = wgs84_to_gcj02(xy[:, 0], xy[:, 1])
        # Sent coordinates keep 6 decimals: equal to the exact shift within 1e-6 degrees.
        assert np.abs(gxy[:, 0] - ex).max() < 1.5e-6 and np.abs(gxy[:, 1] - ey).max() < 1.5e-6
        # The shift in 北湖区 (郴州) is hundreds of metres, not rounding.
        assert np.abs(gxy - xy).max() > 1e-3
        assert b["bounds"] != a["bounds"]
    base_a, base_b = _coords(v.basemap(plain)), _coords(v.basemap(shifted))
    ex, ey = wgs84_to_gcj02(base_a[:, 0], base_a[:, 1])
    assert np.abs(base_b[:, 0] - ex).max() < 2e-5
    overlays = v.overlays(shifted, path[1], "party", lang="zh")["overlays"]
    plain_overlays = v.overlays(plain, path[1], "party", lang="zh")["overlays"]
    assert np.abs(_coords(overlays[0]["data"]) - _coords(plain_overlays[0]["data"])).max() > 1e-3
    # The frames the figures are computed from stay in WGS 84.
    assert shifted.units("grid").geometry.geom_equals_exact(plain.units("grid").geometry, 0).all()
    assert v.numbers(shifted, path[2], "zh") == v.numbers(plain, path[2], "zh")


def _page(client, search: str) -> str:
    """The page callback's answer for ``?…`` (what the browser gets on navigation)."""
    body = {
        "output": ".._pages_content.children..._pages_store.data..",
        "outputs": [
            {"id": "_pages_content", "property": "children"},
            {"id": "_pages_store", "property": "data"},
        ],
        "inputs": [
            {"id": "_pages_location", "property": "pathname", "value": "/"},
            {"id": "_pages_location", "property": "search", "value": search},
        ],
        "changedPropIds": ["_pages_location.search"],
    }
    response = client.post("/_dash-update-component", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    # Decoded and re-encoded: Dash escapes non-ASCII text or not, depending on
    # whether orjson is installed.
    return json.dumps(response.get_json(), ensure_ascii=False)


def test_store_without_roads_or_incidents_says_so(bare_demo_path):
    from gridmap.app import create_app

    src = Source(str(bare_demo_path))
    assert src.roads.empty and src.incidents.empty
    client = signed_in(create_app(str(bare_demo_path), lang="en").server.test_client())
    page = _page(client, "?lang=en")
    assert "The store holds no roads" in page and "The store holds no incidents" in page
    # Still a map: the district's subdistricts are drawn.
    assert _drawn_levels(client, page) == ["subdistrict"] * 14
    # Figures without roads and incidents: dashes and zeros, never an error.
    rows = {r["key"]: r for r in v.numbers(src, src.district_code(), "en")}
    assert rows["coverage.clinic_share"]["text"] == "—"
    assert rows["incidents.open"]["value"] == 0
    assert rows["residents"]["value"] > 0
    assert v.incident_months(src) == []
    assert v.trend(src, src.district_code(), "en")["message"]
    heat = v.overlays(src, src.district_code(), "heatmap", lang="en")
    assert heat["overlays"] == [] and heat["note"] == "The store holds no incidents."
    url = _basemap_url(client.application, str(bare_demo_path))
    assert client.get(url).status_code == 200


def test_unknown_unit_page_shows_the_district(demo_path):
    from gridmap.app import create_app

    client = signed_in(create_app(str(demo_path), lang="zh").server.test_client())
    page = _page(client, "?unit=431002999&lang=zh")
    assert "没有编码为 431002999 的单元" in page
    assert _drawn_levels(client, page) == ["subdistrict"] * 14


def test_the_dashboard_on_postgis_shows_the_same(postgis_url, demo_path, src, path):
    """The same page and figures from the demo copied into PostGIS."""
    from gridmap.app import create_app

    with open_store(demo_path) as gpkg:
        layers = gpkg.read_all()
    with open_store(postgis_url, create=True) as pg:
        pg.write({k: v for k, v in layers.items() if k != "metadata"}, metadata=[])
    pg_src = Source(postgis_url)
    try:
        for code in (path[0], path[2], path[4]):
            assert v.numbers(pg_src, code, "zh") == v.numbers(src, code, "zh")
            assert v.trend(pg_src, code, "zh") == v.trend(src, code, "zh")
        app = create_app(postgis_url, lang="zh")
        client = signed_in(app.server.test_client())
        page = _page(client, f"?unit={path[1]}&lang=zh")
        shown = _drawn_levels(client, page)
        assert shown == ["community"] * len(src.children(path[1]))
        assert client.get(_basemap_url(app.server, postgis_url)).status_code == 200
    finally:
        pg_src.close()
        close_sources()  # the app's own Source of the database


def _basemap_url(app, address: str) -> str:
    """The basemap URL the page names (``app``: the Dash app or its Flask server)."""
    from gridmap.app import basemap_url
    from gridmap.services.source import get_source

    server = getattr(app, "server", app)
    return basemap_url(get_source(address), server.config["GRIDMAP_PATH_PREFIX"])


def _drawn_levels(client, page: str) -> list[str]:
    """The levels of the units the page draws, fetched from the URL it names."""
    found = re.findall(r"/_gridmap/units/[0-9]+\.geojson\?v=[0-9a-f]+", page)
    assert len(set(found)) == 1, found
    response = client.get(found[0])
    assert response.status_code == 200 and "immutable" in response.headers["Cache-Control"]
    return [f["properties"]["level"] for f in response.get_json()["features"]]


def test_the_dashboard_reads_the_store_again_when_it_changes(demo_path, tmp_path, monkeypatch):
    """A case closed by a supervisor (another process) shows on the open dashboard."""
    import shutil

    from gridmap.cli import main
    from gridmap.services import source as data

    copy = tmp_path / "live.gpkg"
    shutil.copy(demo_path, copy)
    monkeypatch.setattr(data, "RECHECK_SECONDS", 0.0)
    src = data.get_source(str(copy))
    case = src.incidents[src.incidents["step"] == "reported_back"].iloc[0]
    grid = str(case["grid_code"])
    before = {r["key"]: r["value"] for r in v.numbers(src, grid, "en")}
    assert data.get_source(str(copy)) is src  # nothing changed: the same copy
    move = ["incidents", "move", str(copy), str(case["id"]), "--to", "closed"]
    assert main([*move, "--closed-level", "grid"]) == 0
    fresh = data.get_source(str(copy))
    assert fresh is not src and fresh.version != src.version
    after = {r["key"]: r["value"] for r in v.numbers(fresh, grid, "en")}
    assert after["incidents.open"] == before["incidents.open"] - 1
    # The page's timer callback hands the new version to the figures, once.
    from gridmap.app import create_app

    app = create_app(str(copy), refresh_seconds=5)
    client = signed_in(app.server.test_client())
    body = {
        "output": "gm-data-version.data",
        "outputs": {"id": "gm-data-version", "property": "data"},
        "inputs": [
            {"id": "gm-refresh", "property": "n_intervals", "value": 1},
            {"id": "gm-reconnect", "property": "data", "value": None},
        ],
        "state": [{"id": "gm-data-version", "property": "data", "value": src.version}],
        "changedPropIds": ["gm-refresh.n_intervals"],
    }
    answer = client.post("/_dash-update-component", json=body)
    assert fresh.version in answer.get_data(as_text=True)
    body["state"][0]["value"] = fresh.version
    # The same version on screen: no update, so nothing downstream runs again.
    unchanged = client.post("/_dash-update-component", json=body)
    assert unchanged.get_json()["response"] == {}
    data.close_sources()


def test_outline_of_the_unit_on_screen(src, path):
    for code, shown in ((path[1], path[1]), (path[3], path[3]), (path[4], path[3])):
        line = v.outline(src, code)["features"][0]
        drawn = shapely.geometry.shape(line["geometry"])
        assert drawn.hausdorff_distance(src.unit(shown).geometry.boundary) < 1e-6

"""The dashboard's server side: the helpers the page callbacks call, on the demo store."""

from __future__ import annotations

import pytest

from gridmap.app import views as v
from gridmap.app.data import Source
from gridmap.stats import store_unit_stats
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
        assert all(f["properties"]["tooltip"] for f in features)
        (south, west), (north, east) = view["bounds"]
        assert south < north and west < east
        assert [c["code"] for c in v.breadcrumb(src, code, "zh")] == path[: path.index(code) + 1]
    # At building level the building itself is highlighted.
    assert (
        v.level_view(src, path[4], measure="households", lang="zh")["hideout"]["selected"]
        == (path[4])
    )


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
    figure = v.trend(src, path[1], "zh")
    counts = figure["data"][0]["y"]
    assert len(counts) == 12
    # The demo's incidents are all of one year: the months add up to the unit's count.
    assert sum(counts) == len(src.unit_incidents(path[1]))


def test_building_panel(src, path):
    info = v.building_info(src, path[4], "zh")
    assert info["code"] == path[4]
    assert info["households"] == src.stats(path[4])["households"]
    assert v.building_info(src, path[3], "zh") is None


def test_unknown_and_malformed_units_say_so(src):
    district = src.district_code()
    for unit in ("999999999", "x", "43100299999999"):
        resolved = v.resolve(src, unit, "en")
        assert resolved["code"] == district
        assert unit in resolved["message"]
    assert v.resolve(src, None, "zh") == {"code": district, "message": None}


def test_empty_store_says_so(tmp_path):
    address = str(tmp_path / "empty.gpkg")
    open_store(address, create=True).close()
    resolved = v.resolve(Source(address), None, "en")
    assert resolved["code"] is None
    assert "no district" in resolved["message"]


def test_basemap_and_overlays(src, path):
    base = v.basemap(src, "zh")
    kinds = {f["geometry"]["type"] for f in base["features"]}
    assert kinds <= {"LineString", "MultiLineString"}
    assert all("_style" in f["properties"] for f in base["features"])
    party = v.party_layers(src, path[1], "zh")
    assert party[0]["id"] == "party_grid_branches"
    heat = v.heatmap_layer(src, path[1], months=[1, 6], categories=["dispute"], lang="en")
    assert heat["legend"]["items"]


def test_search_round_trip():
    assert v.parse_search(v.search_for("431002001", "en")) == {"unit": "431002001", "lang": "en"}
    assert v.parse_search(None) == {}


def test_create_app_registers_the_page(demo_path):
    from gridmap.app import create_app

    app = create_app(str(demo_path), lang="en")
    assert app.server.config["GRIDMAP_STORE"] == str(demo_path)
    client = app.server.test_client()
    assert client.get("/").status_code == 200
    assert client.get("/_dash-layout").status_code == 200

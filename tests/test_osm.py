"""gridmap.osm, gridmap.services.osm and ``gridmap import-osm`` on the bundled Helsinki extract.

The extract is read once per module; the pure functions are checked on it and
on tiny hand-made cases (crossing without a shared node, trunk roads).
"""

from __future__ import annotations

import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import LineString, Polygon, box

from gridmap import osm
from gridmap.cli import main
from gridmap.codes import is_valid
from gridmap.errors import InputError
from gridmap.osm.buildings import building_use
from gridmap.osm.read import read_tag
from gridmap.resources import data_file
from gridmap.schema import FACILITY_TYPES, ROAD_KINDS
from gridmap.store import conform, open_store
from gridmap.validate import validate

PBF = data_file("helsinki.osm.pbf")


@pytest.fixture(scope="module")
def raw() -> dict[str, gpd.GeoDataFrame]:
    return osm.read_osm(PBF)


@pytest.fixture(scope="module")
def converted(raw) -> osm.OsmImport:
    return osm.convert_osm(raw, source=PBF.name)


def tags(frame: pd.DataFrame, key: str) -> pd.Series:
    """A tag's values the slow, obvious way (to check the vectorised reader)."""
    out = []
    for column, other in zip(
        frame[key] if key in frame else [None] * len(frame), frame["other_tags"], strict=True
    ):
        if isinstance(column, str):
            out.append(column)
            continue
        pairs = dict(re.findall(r'"([^"]+)"=>"([^"]*)"', other)) if isinstance(other, str) else {}
        out.append(pairs.get(key))
    return pd.Series(out, index=frame.index, dtype=object)


def run(capsys, *args) -> tuple[int, str, str]:
    rc = main([str(a) for a in args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def lines_frame(rows: list[tuple[str, str, str | None, LineString]]) -> gpd.GeoDataFrame:
    """A ``lines`` layer as the OSM driver gives it: (osm_id, highway, other_tags, line)."""
    return gpd.GeoDataFrame(
        {
            "osm_id": [r[0] for r in rows],
            "name": [None] * len(rows),
            "highway": [r[1] for r in rows],
            "other_tags": [r[2] for r in rows],
        },
        geometry=[r[3] for r in rows],
        crs="EPSG:4326",
    )


# -- roads ------------------------------------------------------------------------


def test_walkable_filter_on_helsinki(raw, converted):
    roads = converted.frames["roads"]
    assert set(roads["kind"]) <= set(ROAD_KINDS)
    assert {"footway", "steps", "residential", "primary"} <= set(roads["kind"])
    way_ids = set(roads["id"].str.extract(r"^osm_w(\d+)_\d+$", expand=False))
    lines = raw["lines"]
    foot = tags(lines, "foot")
    dropped = set(lines["osm_id"][(foot == "no") | (lines["highway"] == "construction")])
    assert dropped and not dropped & way_ids
    private = tags(lines, "access").isin(["private", "no"]) & ~foot.isin(["yes", "designated"])
    footways = lines["highway"] == "footway"
    assert set(lines["osm_id"][footways & (foot != "no") & ~private]) <= way_ids
    assert not set(lines["osm_id"][footways & private]) & way_ids
    assert converted.report.dropped["foot=no"] == int(
        (foot[lines["highway"].notna()] == "no").sum()
    )
    assert roads["id"].is_unique


def test_motorways_trunks_and_access_rules():
    line = LineString([(0, 0), (0.001, 0)])
    lines = lines_frame(
        [
            ("1", "motorway", None, line),
            ("2", "trunk", None, line),
            ("3", "trunk", '"sidewalk"=>"both"', line),
            ("4", "cycleway", '"foot"=>"no"', line),
            ("5", "cycleway", None, line),
            ("6", "service", '"access"=>"private"', line),
            ("7", "service", '"access"=>"private","foot"=>"yes"', line),
            ("8", "corridor", None, line),
            ("9", "primary_link", None, line),
            ("10", "bus_guideway", None, line),
            ("11", None, '"railway"=>"tram"', line),
        ]
    )
    ways, dropped = osm.walkable_ways(lines)
    assert dict(zip(ways["osm_id"], ways["kind"], strict=True)) == {
        "3": "primary",
        "5": "path",
        "7": "service",
        "8": "footway",
        "9": "primary",
    }
    assert dropped == {
        "highway=motorway": 1,
        "highway=trunk without sidewalk": 1,
        "foot=no": 1,
        "access=private": 1,
        "highway=bus_guideway": 1,
    }


def test_roads_meet_only_at_their_ends(converted):
    geoms = converted.frames["roads"].geometry.to_numpy()
    coords, which = shapely.get_coordinates(geoms, return_index=True)
    first = np.r_[True, which[1:] != which[:-1]]
    last = np.r_[which[1:] != which[:-1], True]
    frame = pd.DataFrame({"x": coords[:, 0], "y": coords[:, 1], "road": which, "end": first | last})
    # A coordinate on two or more roads (a junction) is an end of every one of them.
    roads_per_point = frame.groupby(["x", "y"])["road"].transform("nunique")
    assert len(frame[roads_per_point >= 2])
    assert frame[roads_per_point >= 2]["end"].all()
    assert converted.report.split > 0
    assert converted.report.roads > converted.report.ways


def test_crossing_without_shared_node_is_not_split():
    ways = gpd.GeoDataFrame(
        {"osm_id": ["1", "2", "3"], "kind": ["residential", "footway", "footway"]},
        geometry=[
            LineString([(0, 0), (1, 0), (2, 0)]),  # shares (1, 0) with way 2
            LineString([(1, 0), (1, 1)]),  # ends on way 1: a T junction
            LineString([(0.5, -1), (0.5, 1)]),  # a bridge over way 1: no shared vertex
        ],
        crs="EPSG:4326",
    )
    pieces = osm.split_at_shared_vertices(ways)
    assert list(zip(pieces["osm_id"], pieces["part"], strict=True)) == [
        ("1", 0),
        ("1", 1),
        ("2", 0),
        ("3", 0),
    ]
    assert pieces.geometry.iloc[0].equals(LineString([(0, 0), (1, 0)]))
    assert pieces.geometry.iloc[3].equals(ways.geometry.iloc[2])
    assert list(osm.network_components(pieces)) == [0, 0, 0, 1]


def test_network_components_reported(converted):
    report = converted.report
    assert report.components >= 1
    assert 0.5 < report.largest_share <= 1.0
    assert "connected pieces" in report.to_text()


# -- buildings ------------------------------------------------------------------------


def test_buildings_have_codes_inside_their_grid(converted):
    buildings = converted.frames["buildings"]
    grids = converted.frames["grids"].set_index("code")
    assert len(buildings) > 300
    assert buildings["code"].is_unique
    assert all(is_valid(c, "building") for c in buildings["code"])
    assert (buildings["code"].str[:14] == buildings["grid_code"]).all()
    parent = grids.geometry.loc[buildings["grid_code"]].to_numpy()
    assert shapely.covers(shapely.buffer(parent, 1e-6), buildings.geometry.to_numpy()).all()
    assert (buildings["code"].str[-3:].astype(int) <= 999).all()


def test_building_estimates(converted):
    b = converted.frames["buildings"]
    f = osm.EstimateFactors()
    assert b["estimated"].all()
    assert set(b["use"]) >= {"residential", "commercial", "public"}
    res = b[b["use"] == "residential"]
    assert (res["households"] >= 1).all()
    assert (b[b["use"].isin(["commercial", "public", "industrial"])]["households"] == 0).all()
    assert (b["population"] == np.rint(b["households"] * f.persons_per_household)).all()
    assert (b["elderly"] == np.rint(b["population"] * f.elderly_share)).all()
    assert (b["floors"] >= 1).all()
    area = shapely.area(b.to_crs(b.estimate_utm_crs()).geometry.to_numpy())
    assert area.min() >= f.min_footprint_m2
    assert converted.report.small > 0  # the extract has sheds
    assert converted.report.structures["roof"] > 0


def test_building_use_rules():
    use = building_use
    assert use("apartments", False, False, None, 5) == "residential"
    assert use("yes", True, False, None, 4) == "mixed"
    assert use("yes", True, False, None, 2) == "commercial"
    assert use("yes", False, False, "townhall", 2) == "public"
    assert use("yes", False, False, None, np.nan) == "residential"
    assert use("warehouse", False, False, None, 1) == "industrial"


# -- facilities -------------------------------------------------------------------------


def test_facilities_follow_the_mapping_table(raw, converted):
    fac = converted.frames["facilities"].set_index("id")
    assert set(fac["type"]) <= set(FACILITY_TYPES)
    assert {"clinic", "bus_stop", "primary_school", "middle_school"} <= set(fac["type"])
    points = raw["points"]
    amenity = tags(points, "amenity")
    clinics = "osm_n" + points["osm_id"][amenity.isin(["clinic", "doctors"])].astype(str)
    stops = "osm_n" + points["osm_id"][tags(points, "highway") == "bus_stop"].astype(str)
    assert len(clinics) and (fac.loc[clinics, "type"] == "clinic").all()
    assert len(stops) and (fac.loc[stops, "type"] == "bus_stop").all()
    areas = raw["multipolygons"]
    by_name = fac.reset_index().set_index("name")["type"]
    schools = areas[areas["amenity"] == "school"]
    assert len(schools) == 3
    assert by_name["Kaisaniemen ala-aste"] == "primary_school"
    assert by_name["Kruununhaan yläasteen koulu"] == "middle_school"
    assert by_name["Helsingin kaupungintalo"] == "subdistrict_centre"
    assert by_name["Vanha Kauppahalli"] == "fresh_market"
    assert fac.loc["osm_a24337154", "type"] == "subdistrict_centre"
    # Things that are no facility stay out.
    cafes = "osm_n" + points["osm_id"][amenity == "cafe"].astype(str)
    assert not set(cafes) & set(fac.index)


def test_school_type():
    assert osm.school_type("1", None, None) == "primary_school"
    assert osm.school_type("1;2", None, None) == "primary_school"
    assert osm.school_type("2", None, "x 小学") == "middle_school"
    assert osm.school_type(None, None, "北湖区第一中学") == "middle_school"
    assert osm.school_type(None, None, "北湖区实验小学") == "primary_school"
    assert osm.school_type(None, None, "St. Mary's") == "primary_school"


def test_tags_with_escaped_quotes():
    frame = pd.DataFrame(
        {"other_tags": ['"name"=>"the \\"old\\" mill","amenity"=>"clinic"', None, '"a"=>"b"']}
    )
    assert read_tag(frame, "name").tolist()[0] == 'the "old" mill'
    assert read_tag(frame, "amenity").tolist()[0] == "clinic"
    assert read_tag(frame, "amenity").isna().tolist() == [False, True, True]


# -- hierarchy ----------------------------------------------------------------------------


def test_generated_hierarchy_validates(converted):
    frames = {k: conform(k, v) for k, v in converted.frames.items()}
    report = validate(frames)
    assert report.ok, report.to_text(lang="en", max_per_check=5)
    assert frames["districts"]["code"].tolist() == [osm.DEFAULT_DISTRICT_CODE]
    assert frames["communities"]["code"].tolist() == ["990101001001"]
    assert len(frames["grids"]) > 1
    synthetic = {m["layer"]: m["synthetic"] for m in converted.metadata}
    assert synthetic == {
        "districts": True,
        "subdistricts": True,
        "communities": True,
        "grids": True,
        "roads": False,
        "buildings": False,
        "facilities": False,
    }
    assert all(m["licence"] == osm.LICENCE for m in converted.metadata if not m["synthetic"])


def test_more_than_99_grids_make_several_communities(raw):
    result = osm.convert_osm(raw, source=PBF.name, grid_size=100, district_code="990102")
    frames = {k: conform(k, v) for k, v in result.frames.items()}
    per_community = frames["grids"].groupby("community_code").size()
    assert len(per_community) > 1
    assert per_community.max() <= 99
    assert validate(frames).ok


def test_buildings_outside_every_grid_are_refused(converted):
    buildings = converted.frames["buildings"].assign(osm="way 1")
    far = gpd.GeoDataFrame({"code": ["43100200100101"]}, geometry=[box(0, 0, 1, 1)], crs=4326)
    with pytest.raises(InputError, match=r"433 of 433 buildings lie outside every grid"):
        osm.place_in_grids(buildings, far)


def test_serials_continue_after_existing_buildings():
    grid = box(0, 0, 0.01, 0.01)
    grids = gpd.GeoDataFrame({"code": ["99010100100100"]}, geometry=[grid], crs=4326)
    squares = [box(x, y, x + 0.0005, y + 0.0005) for y in (0.008, 0.001) for x in (0.006, 0.001)]
    buildings = gpd.GeoDataFrame(geometry=squares, crs=4326)
    codes = osm.building_codes(
        buildings, np.array(["99010100100100"] * 4), grids, existing=["99010100100100041"]
    )
    # North row first, west to east: squares 1 (NW), 0 (NE), then 3 (SW), 2 (SE).
    assert list(codes) == [
        "99010100100100043",
        "99010100100100042",
        "99010100100100045",
        "99010100100100044",
    ]


def test_overlapping_buildings_stay_together():
    a = Polygon([(0, 0), (0.0012, 0), (0.0012, 0.0004), (0, 0.0004)])
    b = Polygon([(0.0011, 0), (0.0030, 0), (0.0030, 0.0004), (0.0011, 0.0004)])
    buildings = gpd.GeoDataFrame(geometry=[a, b], crs=4326)
    frames, grid_codes = osm.build_hierarchy(buildings, buildings.geometry, name="t", grid_size=100)
    assert grid_codes[0] == grid_codes[1]
    layers = {k: conform(k, v) for k, v in frames.items()}
    assert validate(layers).ok


# -- the command ---------------------------------------------------------------------------


def test_cli_import_then_reimport(tmp_path, capsys):
    store = tmp_path / "helsinki.gpkg"
    rc, out, err = run(capsys, "import-osm", store, PBF, "--quiet")
    assert rc == 0, err
    assert "roads" in out and "connected pieces" in out and "SYNTHETIC" in out
    with open_store(store) as st:
        layers = st.read_all()
        counts = st.counts()
    assert validate(layers).ok
    assert counts["districts"] == 1 and counts["buildings"] > 300 and counts["roads"] > 4000
    meta = layers["metadata"].set_index("layer")
    assert meta.loc["grids", "synthetic"] and not meta.loc["roads", "synthetic"]
    assert "ESTIMATED" in meta.loc["buildings", "note"]
    with open_store(store) as st:
        (row,) = st.audit_log(action="import")
    assert row["target"] == "osm" and row["role"] == "admin" and PBF.name in row["detail"]

    # Again without --replace: refused, nothing written.
    rc, _, err = run(capsys, "import-osm", store, PBF, "-q")
    assert rc == 2
    assert len(err.strip().splitlines()) == 1 and "--replace" in err

    # With --replace: the hierarchy is kept and holds the buildings again.
    rc, out, err = run(capsys, "import-osm", store, PBF, "-q", "--replace")
    assert rc == 0, err
    assert "kept the store's" in out
    with open_store(store) as st:
        after = st.read_all()
    assert after["grids"]["code"].tolist() == layers["grids"]["code"].tolist()
    assert len(after["buildings"]) == counts["buildings"]
    assert validate(after).ok


@pytest.mark.parametrize("content", [None, b"not a pbf", b'{"type": "FeatureCollection"}'])
def test_cli_bad_file(tmp_path, capsys, content):
    bad = tmp_path / "bad.osm.pbf"
    if content is not None:
        bad.write_bytes(content)
    store = tmp_path / "new.gpkg"
    # Without --quiet: the progress bar must not add to the one line either.
    rc, _, err = run(capsys, "import-osm", store, bad)
    assert rc == 2
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("gridmap: error: ")
    assert not store.exists()


def test_cli_help(capsys):
    rc, out, _ = run(capsys, "import-osm", "--help")
    assert rc == 0
    assert "--grid-size" in out and "--district-code" in out and "--replace" in out


def test_cli_bad_district_code(tmp_path, capsys):
    rc, _, err = run(capsys, "import-osm", tmp_path / "x.gpkg", PBF, "--district-code", "431000")
    assert rc == 2 and "--district-code" in err
    assert not (tmp_path / "x.gpkg").exists()

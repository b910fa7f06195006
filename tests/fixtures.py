"""Small hand-made hierarchies for the core tests: one valid, and broken variants.

The valid hierarchy lies near 113.0°E 25.78°N (Beihu district, Chenzhou):

* district 431002 = subdistrict 431002001 = the box 113.000–113.020°E, 25.780–25.790°N;
* community 431002001001 (west half) with grids 01 (north) and 02 (south);
* community 431002001002 (east half) with grids 01 (west) and 02 (east);
  grid 43100200100202 has no buildings, party organisations or incidents, so
  the broken variants that renumber it break nothing else;
* six buildings, grid party branches in three of the four grids, building
  party groups, central households, four facilities (one outside the
  district) and four incidents.

Grid codes follow the numbering rule of :mod:`gridmap.hierarchy`. Each broken
variant changes one thing; :data:`BROKEN` names the findings it must produce.
"""

from __future__ import annotations

from collections.abc import Callable

import geopandas as gpd
import pandas as pd
from pyproj import Geod
from shapely.geometry import MultiPolygon, Point, Polygon, box

CRS = "EPSG:4326"

DISTRICT = "431002"
SUBDISTRICT = "431002001"
WEST, EAST = "431002001001", "431002001002"
G_NORTH, G_SOUTH = WEST + "01", WEST + "02"  # grids of the west community
G_WEST, G_EAST = EAST + "01", EAST + "02"  # grids of the east community

# Grid boxes (minx, miny, maxx, maxy) in degrees.
GRID_BOXES = {
    G_NORTH: (113.000, 25.785, 113.010, 25.790),
    G_SOUTH: (113.000, 25.780, 113.010, 25.785),
    G_WEST: (113.010, 25.780, 113.015, 25.790),
    G_EAST: (113.015, 25.780, 113.020, 25.790),
}


def _bld(x: float, y: float, size: float = 0.0004) -> Polygon:
    return box(x, y, x + size, y + size)


def geodesic_area(geom: Polygon) -> float:
    """Area of a lon/lat polygon on the WGS 84 ellipsoid, in m²."""
    return abs(Geod(ellps="WGS84").geometry_area_perimeter(geom)[0])


def valid_layers() -> dict[str, gpd.GeoDataFrame]:
    """A tiny valid hierarchy with party organisations, facilities and incidents."""
    whole = box(113.000, 25.780, 113.020, 25.790)
    districts = gpd.GeoDataFrame(
        {"code": [DISTRICT], "name": ["北湖区"]}, geometry=[MultiPolygon([whole])], crs=CRS
    )
    subdistricts = gpd.GeoDataFrame(
        {"code": [SUBDISTRICT], "name": ["人民路街道"], "district_code": [DISTRICT]},
        geometry=[whole],
        crs=CRS,
    )
    communities = gpd.GeoDataFrame(
        {
            "code": [WEST, EAST],
            "name": ["西街社区", "东街社区"],
            "subdistrict_code": [SUBDISTRICT, SUBDISTRICT],
        },
        geometry=[box(113.000, 25.780, 113.010, 25.790), box(113.010, 25.780, 113.020, 25.790)],
        crs=CRS,
    )
    grids = gpd.GeoDataFrame(
        {
            "code": list(GRID_BOXES),
            "name": ["西街一网格", "西街二网格", "东街一网格", "东街二网格"],
            "community_code": [WEST, WEST, EAST, EAST],
            "households": [54, 18, 50, 0],
            "population": [135, 45, 125, 0],
        },
        geometry=[box(*b) for b in GRID_BOXES.values()],
        crs=CRS,
    )
    buildings = gpd.GeoDataFrame(
        {
            "code": [
                G_NORTH + "001",
                G_NORTH + "002",
                G_SOUTH + "001",
                G_SOUTH + "002",
                G_WEST + "001",
                G_WEST + "002",
            ],
            "grid_code": [G_NORTH, G_NORTH, G_SOUTH, G_SOUTH, G_WEST, G_WEST],
            "use": ["residential"] * 3 + ["commercial", "residential", "mixed"],
            "floors": [6, 6, 5, 3, 11, 8],
            "households": [24, 30, 18, 0, 40, 10],
            "population": [60, 75, 45, 0, 100, 25],
            "elderly": [12, 10, 9, 0, 20, 3],
            "children": [4, 5, 3, 0, 6, 1],
            "estimated": [False] * 6,
        },
        geometry=[
            _bld(113.002, 25.787),
            _bld(113.006, 25.787),
            _bld(113.002, 25.781),
            _bld(113.006, 25.782),
            _bld(113.012, 25.785),
            _bld(113.012, 25.782),
        ],
        crs=CRS,
    )
    party_orgs = gpd.GeoDataFrame(
        {
            "id": ["P1", "P2", "P3", "G1", "G2", "G3", "C1", "C2"],
            "kind": ["grid_branch"] * 3 + ["building_group"] * 3 + ["central_household"] * 2,
            "unit_code": [
                G_NORTH,
                G_SOUTH,
                G_WEST,
                G_NORTH + "001",
                G_WEST + "001",
                G_SOUTH + "002",  # a group in a commercial building: not counted
                G_NORTH + "001",
                G_WEST,
            ],
            "name": ["西街一网格党支部", "西街二网格党支部", "东街一网格党支部"]
            + ["党小组"] * 3
            + ["中心户"] * 2,
            "members": [12, 8, 15, 5, 6, 3, 1, 1],
        },
        geometry=[
            Point(113.005, 25.7875),
            Point(113.005, 25.7825),
            Point(113.0125, 25.785),
            Point(113.0022, 25.7872),
            Point(113.0122, 25.7852),
            Point(113.0062, 25.7822),
            Point(113.0021, 25.7871),
            Point(113.013, 25.788),
        ],
        crs=CRS,
    )
    facilities = gpd.GeoDataFrame(
        {
            "id": ["F1", "F2", "F3", "F4"],
            "type": ["clinic", "kindergarten", "bus_stop", "clinic"],
            "name": ["西街卫生服务站", "东街幼儿园", "东街公交站", "邻区卫生服务站"],
        },
        geometry=[
            Point(113.005, 25.786),
            Point(113.013, 25.786),
            Point(113.017, 25.781),
            Point(113.030, 25.785),  # outside the district
        ],
        crs=CRS,
    )
    t0 = pd.Timestamp("2024-05-01 08:00", tz="UTC")
    incidents = gpd.GeoDataFrame(
        {
            "id": ["E1", "E2", "E3", "E4"],
            "category": ["dispute", "city_appearance", "safety_hazard", "other"],
            "source": ["patrol", "resident", "hotline_12345", "camera"],
            "step": ["handling", "closed", "registered", "voided"],
            "grid_code": [G_NORTH, G_WEST, G_WEST, G_SOUTH],
            "reported_at": [t0, t0 + pd.Timedelta(hours=1), t0, t0],
        },
        geometry=[
            Point(113.004, 25.788),
            Point(113.013, 25.784),
            Point(113.014, 25.788),
            Point(113.003, 25.782),
        ],
        crs=CRS,
    )
    return {
        "districts": districts,
        "subdistricts": subdistricts,
        "communities": communities,
        "grids": grids,
        "buildings": buildings,
        "party_orgs": party_orgs,
        "facilities": facilities,
        "incidents": incidents,
    }


def _row(frame: gpd.GeoDataFrame, code: str) -> int:
    key = "code" if "code" in frame else "id"
    return int((frame[key] == code).to_numpy().nonzero()[0][0])


def change(layers: dict, layer: str, key: str, /, **values: object) -> dict:
    """Change the values (``geometry`` included) of the row whose key is ``key``."""
    frame = layers[layer]
    i = frame.index[_row(frame, key)]
    for column, value in values.items():
        if column == "geometry":
            frame.loc[i, "geometry"] = value
        else:
            frame.loc[i, column] = value
    return layers


# -- broken variants: each returns the layers and changes one thing -----------

#: The gap left by ``with_gap``: the strip between the two west grids.
GAP_BOX = (113.000, 25.784, 113.010, 25.785)
#: The overlap made by ``with_overlap``.
OVERLAP_BOX = (113.000, 25.785, 113.010, 25.786)
#: The part of grid G_SOUTH that ``with_crossing_grid`` pushes into the east community.
CROSSING_BOX = (113.010, 25.780, 113.012, 25.785)


def with_gap() -> dict:
    """Grid G_SOUTH shrunk southwards: a strip of the west community has no grid."""
    return change(valid_layers(), "grids", G_SOUTH, geometry=box(113.000, 25.780, 113.010, 25.784))


def with_overlap() -> dict:
    """Grid G_SOUTH grown northwards over grid G_NORTH."""
    return change(valid_layers(), "grids", G_SOUTH, geometry=box(113.000, 25.780, 113.010, 25.786))


def with_crossing_grid() -> dict:
    """Grid G_SOUTH crossing into the east community."""
    return change(valid_layers(), "grids", G_SOUTH, geometry=box(113.000, 25.780, 113.012, 25.785))


def with_bad_code() -> dict:
    """Grid G_EAST with a 13-digit code."""
    return change(valid_layers(), "grids", G_EAST, code=G_EAST[:-1])


def with_wrong_prefix() -> dict:
    """Grid G_EAST coded under a community other than its own."""
    return change(valid_layers(), "grids", G_EAST, code=SUBDISTRICT + "00302")


def with_duplicate_code() -> dict:
    """Grid G_EAST carrying grid G_WEST's code."""
    return change(valid_layers(), "grids", G_EAST, code=G_WEST)


def with_orphan() -> dict:
    """A building in a grid that does not exist."""
    layers = valid_layers()
    b = layers["buildings"]
    extra = b.iloc[[0]].copy()
    extra["code"] = WEST + "03001"
    extra["grid_code"] = WEST + "03"
    extra["geometry"] = [_bld(113.008, 25.788)]
    layers["buildings"] = pd.concat([b, extra], ignore_index=True)
    return layers


def with_bowtie() -> dict:
    """A building whose outline crosses itself (a bow-tie)."""
    x, y, d = 113.006, 25.787, 0.0004
    bowtie = Polygon([(x, y), (x + d, y + d), (x + d, y), (x, y + d)])
    return change(valid_layers(), "buildings", G_NORTH + "002", geometry=bowtie)


def with_empty_geometry() -> dict:
    """A building with an empty polygon."""
    return change(valid_layers(), "buildings", G_SOUTH + "002", geometry=Polygon())


def with_undivided_sibling() -> dict:
    """Grid G_EAST numbered 00 although its community has another grid."""
    return change(valid_layers(), "grids", G_EAST, code=EAST + "00")


#: Variant → (builder, the (check, code) pairs it must produce, exactly).
BROKEN: dict[str, tuple[Callable[[], dict], set[tuple[str, str]]]] = {
    "gap": (with_gap, {("grid_gap", WEST)}),
    "overlap": (with_overlap, {("grid_overlap", G_NORTH)}),
    "crossing": (with_crossing_grid, {("outside_parent", G_SOUTH)}),
    "bad_code": (with_bad_code, {("code_width", G_EAST[:-1])}),
    "wrong_prefix": (with_wrong_prefix, {("code_prefix", SUBDISTRICT + "00302")}),
    "duplicate": (with_duplicate_code, {("duplicate_code", G_WEST)}),
    "orphan": (with_orphan, {("orphan", WEST + "03001")}),
    "bowtie": (with_bowtie, {("invalid_geometry", G_NORTH + "002")}),
    "empty": (with_empty_geometry, {("empty_geometry", G_SOUTH + "002")}),
    "undivided": (with_undivided_sibling, {("undivided_with_siblings", EAST + "00")}),
}

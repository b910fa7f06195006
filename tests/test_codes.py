"""Unit codes (gridmap.codes) and grid numbering (gridmap.hierarchy)."""

from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import box

from gridmap.codes import (
    WIDTHS,
    ancestors,
    check_code,
    child_level,
    children_of,
    is_valid,
    level_of,
    make_code,
    parent_level,
    parent_of,
)
from gridmap.errors import CodeError
from gridmap.hierarchy import grid_serials, number_grids

from fixtures import GRID_BOXES, valid_layers

CODES = {
    "district": "431002",
    "subdistrict": "431002001",
    "community": "431002001001",
    "grid": "43100200100101",
    "building": "43100200100101007",
}


# -- check_code -------------------------------------------------------------


@pytest.mark.parametrize(("level", "code"), CODES.items())
def test_level_of_each_width(level, code):
    assert level_of(code) == level
    assert len(code) == WIDTHS[level]
    assert check_code(code, level, parent_of(code)) == level


@pytest.mark.parametrize("code", ["4310021", "43100", "4310020010", "431002001001011001"])
def test_wrong_width(code):
    with pytest.raises(CodeError, match=f"has {len(code)} digits"):
        check_code(code)


@pytest.mark.parametrize("code", ["43100A", "431002 01", "４３１００２", "-43100"])
def test_non_digits(code):
    with pytest.raises(CodeError, match="other than digits"):
        check_code(code)


def test_number_instead_of_text():
    with pytest.raises(CodeError, match="not text"):
        check_code(431002)  # type: ignore[arg-type]


def test_wrong_level():
    with pytest.raises(CodeError, match="expected a grid code"):
        check_code(CODES["community"], "grid")


def test_wrong_prefix():
    with pytest.raises(CodeError, match="does not extend its parent's code '431003'"):
        check_code("431002001", "subdistrict", parent="431003")
    with pytest.raises(CodeError, match="belongs under '431002001002'"):
        check_code("43100200100201", "grid", parent="431002001001")


@pytest.mark.parametrize("code", ["431002000", "431002001000", "43100200100101000"])
def test_all_zero_serial(code):
    with pytest.raises(CodeError, match="serial"):
        check_code(code)


def test_undivided_grid_serial_is_valid():
    assert check_code("43100200100100", "grid", "431002001001") == "grid"


@pytest.mark.parametrize("code", ["431000", "430000"])
def test_district_ending_00(code):
    with pytest.raises(CodeError, match="ends in 00"):
        check_code(code)


def test_error_says_what_to_do():
    with pytest.raises(CodeError) as info:
        check_code("4310021")
    assert info.value.hint and "district 6" in str(info.value)


def test_is_valid():
    assert is_valid("431002")
    assert is_valid("43100200100101", "grid")
    assert not is_valid("43100200100101", "community")
    assert not is_valid(None)
    assert not is_valid("431000")


# -- navigation -------------------------------------------------------------


def test_parent_of_and_ancestors():
    assert parent_of(CODES["district"]) is None
    assert parent_of(CODES["building"]) == CODES["grid"]
    assert parent_of(CODES["grid"]) == CODES["community"]
    assert ancestors(CODES["building"]) == [CODES[lvl] for lvl in list(CODES)[:-1]]
    assert ancestors(CODES["district"]) == []


def test_parent_and_child_levels():
    assert parent_level("grid") == "community"
    assert child_level("community") == "grid"
    with pytest.raises(CodeError):
        parent_level("district")
    with pytest.raises(CodeError):
        child_level("building")


def test_children_of():
    codes = [
        "431002001001",
        "431002001002",
        "431002002001",  # another subdistrict's community
        "43100200100101",  # a grid: a grandchild, not a child
        "431002001",
    ]
    assert children_of("431002001", reversed(codes)) == ["431002001001", "431002001002"]
    assert children_of("431002002", codes) == ["431002002001"]
    assert children_of("431002003", codes) == []


def test_make_code():
    assert make_code("431002", 1) == "431002001"
    assert make_code("431002001", 12) == "431002001012"
    assert make_code("431002001001", 0) == "43100200100100"  # the undivided grid
    assert make_code("431002001001", 7) == "43100200100107"
    assert make_code("43100200100107", 999) == "43100200100107999"
    for parent, serial in (("431002", 0), ("431002", 1000), ("431002001001", 100)):
        with pytest.raises(CodeError, match="does not fit"):
            make_code(parent, serial)
    with pytest.raises(CodeError):
        make_code("43100200100107001", 1)  # a building has no children


# -- numbering --------------------------------------------------------------


def test_grid_serials_two_by_three_block():
    # A 3 km × 2 km community in UTM metres, cut into 1 km squares, given in
    # scrambled order: rows north→south, within a row west→east.
    x0, y0 = 500_000.0, 2_850_000.0
    cells = {
        (row, col): box(x0 + col * 1e3, y0 - (row + 1) * 1e3, x0 + (col + 1) * 1e3, y0 - row * 1e3)
        for row in range(2)
        for col in range(3)
    }
    order = [(1, 2), (0, 0), (1, 0), (0, 2), (0, 1), (1, 1)]
    grids = gpd.GeoSeries([cells[k] for k in order], crs="EPSG:32649")
    serials = grid_serials(grids, community_area=6e6, north=y0)
    expected = {(0, 0): "01", (0, 1): "02", (0, 2): "03", (1, 0): "04", (1, 1): "05", (1, 2): "06"}
    assert serials == [expected[k] for k in order]


def test_grid_serials_single_grid_is_00():
    grids = gpd.GeoSeries([box(0, 0, 1000, 1000)], crs="EPSG:32649")
    assert grid_serials(grids, 1e6, 1000) == ["00"]


def test_number_grids_fixture_follows_the_rule():
    layers = valid_layers()
    grids = layers["grids"].iloc[::-1]  # order does not matter
    codes = number_grids(grids, layers["communities"])
    assert list(codes) == list(grids["code"])
    assert list(codes.index) == list(grids.index)
    assert set(codes) == set(GRID_BOXES)


def test_number_grids_undivided_community():
    layers = valid_layers()
    communities = layers["communities"]
    # The east community as one grid: it becomes its community's "00" grid.
    grids = gpd.GeoDataFrame(
        {"community_code": ["431002001002", "431002001001", "431002001001"]},
        geometry=[
            communities.geometry.iloc[1],
            box(113.000, 25.780, 113.010, 25.785),
            box(113.000, 25.785, 113.010, 25.790),
        ],
        crs="EPSG:4326",
    )
    codes = number_grids(grids, communities)
    assert list(codes) == ["43100200100200", "43100200100102", "43100200100101"]

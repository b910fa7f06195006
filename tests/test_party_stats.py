"""gridmap.party, gridmap.stats and the label catalogue on the hand-made hierarchy."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
from shapely.geometry import Point, box

from gridmap import schema
from gridmap.errors import CodeError
from gridmap.i18n import CATALOGUE, label, t
from gridmap.party import MEASURES, party_coverage, party_coverage_table
from gridmap.stats import _width, format_stats, unit_stats

import fixtures as fx

# -- party coverage ---------------------------------------------------------

DISTRICT_EXPECTED = {
    "grids": 4,
    "grids_with_branch": 3,
    "branch_share": 0.75,
    "branches": 3,
    "residential_buildings": 4,  # the mixed and the commercial building are not
    "buildings_with_group": 2,  # the group in the commercial building does not count
    "group_share": 0.5,
    "building_groups": 3,
    "central_households": 2,
    "central_households_per_grid": 0.5,
    "members": 35,
    "households": 122,
    "members_per_100_households": pytest.approx(100 * 35 / 122),
    "subdistricts": 1,
    "branches_per_subdistrict": 3.0,
}


def test_party_coverage_of_the_district():
    layers = fx.valid_layers()
    assert party_coverage(layers) == DISTRICT_EXPECTED
    assert party_coverage(layers, fx.DISTRICT) == DISTRICT_EXPECTED
    district_only = ("subdistricts", "branches_per_subdistrict")
    assert party_coverage(layers, fx.SUBDISTRICT) == {
        k: v for k, v in DISTRICT_EXPECTED.items() if k not in district_only
    }


def test_party_coverage_types_are_plain_python():
    cov = party_coverage(fx.valid_layers())
    assert type(cov["grids"]) is int and type(cov["members"]) is int
    assert type(cov["branch_share"]) is float
    json.dumps(cov)


def test_party_coverage_of_a_community():
    assert party_coverage(fx.valid_layers(), fx.WEST) == {
        "grids": 2,
        "grids_with_branch": 2,
        "branch_share": 1.0,
        "branches": 2,
        "residential_buildings": 3,
        "buildings_with_group": 1,
        "group_share": pytest.approx(1 / 3),
        "building_groups": 2,
        "central_households": 1,
        "central_households_per_grid": 0.5,
        "members": 20,
        "households": 72,
        "members_per_100_households": pytest.approx(100 * 20 / 72),
    }


def test_party_coverage_ratios_without_denominator_are_none():
    cov = party_coverage(fx.valid_layers(), fx.G_EAST)
    assert cov["grids"] == 1 and cov["grids_with_branch"] == 0 and cov["branch_share"] == 0.0
    assert cov["residential_buildings"] == 0 and cov["group_share"] is None
    assert cov["households"] == 0 and cov["members_per_100_households"] is None


def test_party_coverage_of_a_building():
    cov = party_coverage(fx.valid_layers(), fx.G_NORTH + "001")
    assert cov["grids"] == 0 and cov["branch_share"] is None
    assert cov["residential_buildings"] == 1 and cov["group_share"] == 1.0
    assert cov["central_households"] == 1


def test_party_coverage_unknown_or_malformed_code():
    layers = fx.valid_layers()
    with pytest.raises(CodeError, match="no community has the code"):
        party_coverage(layers, "431002001009")
    with pytest.raises(CodeError):
        party_coverage(layers, "43100x")
    with pytest.raises(CodeError, match="no grids layer"):
        party_coverage({"districts": layers["districts"]}, fx.G_NORTH)


def test_two_branches_in_one_grid_count_once_for_coverage():
    layers = fx.valid_layers()
    orgs = layers["party_orgs"]
    extra = orgs.iloc[[0]].assign(id="P9", members=4)
    layers["party_orgs"] = pd.concat([orgs, extra], ignore_index=True)
    cov = party_coverage(layers)
    assert cov["grids_with_branch"] == 3 and cov["branches"] == 4 and cov["members"] == 39


def test_households_from_grids_without_buildings():
    layers = fx.valid_layers()
    del layers["buildings"]
    layers["grids"].loc[0, "households"] = 100
    cov = party_coverage(layers)
    assert cov["households"] == 100 + 18 + 50
    assert cov["residential_buildings"] == 0 and cov["group_share"] is None


def test_party_coverage_only_districts():
    cov = party_coverage({"districts": fx.valid_layers()["districts"]})
    assert cov["grids"] == 0 and cov["branch_share"] is None and cov["subdistricts"] == 0


@pytest.mark.parametrize("level", ["district", "subdistrict", "community", "grid"])
def test_table_matches_single_units(level):
    layers = fx.valid_layers()
    table = party_coverage_table(layers, level)
    units = layers[schema.LEVEL_LAYERS[level]]
    assert list(table.index) == list(units["code"])
    assert table.index.name == "code"
    assert list(table["name"]) == list(units["name"])
    assert list(table.columns[1 : len(MEASURES) + 1]) == list(MEASURES)
    for code in units["code"]:
        row = table.loc[code]
        for key, value in party_coverage(layers, code).items():
            if value is None:
                assert math.isnan(row[key]), (code, key)
            else:
                assert row[key] == pytest.approx(value), (code, key)


def test_table_includes_units_without_anything():
    layers = fx.valid_layers()
    table = party_coverage_table(layers, "grid")
    assert table.loc[fx.G_EAST, "grids_with_branch"] == 0
    assert math.isnan(table.loc[fx.G_EAST, "group_share"])
    assert "branches_per_subdistrict" not in table
    assert "branches_per_subdistrict" in party_coverage_table(layers, "district")


def test_table_bad_level():
    with pytest.raises(ValueError, match="not 'building'"):
        party_coverage_table(fx.valid_layers(), "building")


# -- unit statistics --------------------------------------------------------


def test_unit_stats_of_the_district():
    layers = fx.valid_layers()
    s = unit_stats(layers)
    assert s == unit_stats(layers, fx.DISTRICT)
    assert (s["code"], s["name"], s["level"]) == (fx.DISTRICT, "北湖区", "district")
    assert s["area_km2"] == pytest.approx(
        fx.geodesic_area(box(113.000, 25.780, 113.020, 25.790)) / 1e6, rel=0.01
    )
    assert {k: s[k] for k in ("subdistricts", "communities", "grids", "buildings")} == {
        "subdistricts": 1,
        "communities": 2,
        "grids": 4,
        "buildings": 6,
    }
    assert s["residential_buildings"] == 4
    assert (s["residents"], s["households"], s["elderly"], s["children"]) == (305, 122, 54, 19)
    assert s["party"] == party_coverage(layers, fx.DISTRICT)
    # F4 lies outside the district.
    assert s["facilities"]["clinic"] == 1
    assert s["facilities"]["kindergarten"] == 1 and s["facilities"]["bus_stop"] == 1
    assert set(s["facilities"]) == set(schema.FACILITY_TYPES)
    assert sum(s["facilities"].values()) == 3
    assert _count_open(s["incidents"]) == (4, 2)
    json.dumps(s)


def test_unit_stats_of_a_community():
    s = unit_stats(fx.valid_layers(), fx.EAST)
    assert "subdistricts" not in s and "communities" not in s
    assert (s["grids"], s["buildings"], s["residential_buildings"]) == (2, 2, 1)
    assert (s["residents"], s["households"]) == (125, 50)
    assert s["facilities"]["kindergarten"] == 1 and s["facilities"]["clinic"] == 0
    assert _count_open(s["incidents"]) == (2, 1)
    assert "branches_per_subdistrict" not in s["party"]


def test_unit_stats_of_a_grid_and_a_building():
    layers = fx.valid_layers()
    g = unit_stats(layers, fx.G_NORTH)
    assert "grids" not in g and g["buildings"] == 2 and g["residents"] == 135
    assert _count_open(g["incidents"]) == (1, 1)
    b = unit_stats(layers, fx.G_NORTH + "001")
    assert b["level"] == "building" and b["name"] is None
    assert "buildings" not in b and b["residents"] == 60
    footprint = fx.geodesic_area(box(113.002, 25.787, 113.0024, 25.7874))
    assert b["area_km2"] == pytest.approx(footprint / 1e6, rel=0.01)


def test_incident_on_the_boundary_and_open_steps():
    layers = fx.valid_layers()
    fx.change(layers, "incidents", "E2", geometry=Point(113.010, 25.786), step="evaluated")
    # On the boundary between the two communities: an incident counts for the one
    # grid it was assigned to (its grid_code), never for both.
    assert _count_open(unit_stats(layers, fx.WEST)["incidents"]) == (2, 1)
    assert _count_open(unit_stats(layers, fx.EAST)["incidents"]) == (2, 1)


def test_unit_stats_without_buildings_uses_grids():
    layers = fx.valid_layers()
    del layers["buildings"]
    s = unit_stats(layers)
    assert s["residents"] == 135 + 45 + 125 and s["households"] == 122
    assert s["elderly"] is None and s["buildings"] == 0


def test_unit_stats_errors():
    layers = fx.valid_layers()
    with pytest.raises(CodeError, match="no grid has the code"):
        unit_stats(layers, fx.WEST + "09")
    with pytest.raises(CodeError, match="no district"):
        unit_stats({k: v for k, v in layers.items() if k != "districts"})
    two = pd.concat([layers["districts"], layers["districts"].assign(code="431003")])
    with pytest.raises(CodeError, match="2 districts"):
        unit_stats({**layers, "districts": two})


# -- formatting -------------------------------------------------------------


def test_format_stats_chinese():
    text = format_stats(unit_stats(fx.valid_layers()))
    lines = text.splitlines()
    assert lines[0] == "北湖区 (431002) · 区"
    assert "常住人口" in text and "305" in text and "75.0%" in text and "50.0%" in text
    assert "网格党支部覆盖率" in text and "社区卫生服务站" in text and "未办结" in text
    assert "2.22 km²" in text
    # Values line up: the label column is padded to one display width (CJK = 2).
    top = [ln for ln in lines[1:] if ln.startswith("  ") and not ln.startswith("    ")]
    value_cols = {_width(ln) - _width(ln.split()[-1]) for ln in top if len(ln.split()) == 2}
    assert len(value_cols) == 1, value_cols


def test_format_stats_english_and_extensions():
    s = unit_stats(fx.valid_layers(), fx.G_EAST)
    s["coverage_rate"] = 0.847  # a key added by a later feature
    text = format_stats(s, lang="en")
    assert text.splitlines()[0] == "东街二网格 (43100200100202) · grid"
    assert "grid branch coverage" in text and "0.0%" in text
    assert "building group coverage" in text and "—" in text
    assert "coverage_rate" in text and "84.7%" in text
    assert "m²" in text  # a grid's area reads in m², not 0.00 km²


# -- the catalogue ----------------------------------------------------------


@pytest.mark.parametrize(
    ("group", "values"),
    [
        ("level", schema.LEVELS),
        ("layer", tuple(schema.LAYERS)),
        ("facility", schema.FACILITY_TYPES),
        ("party_kind", schema.PARTY_KINDS),
        ("use", schema.BUILDING_USES),
        ("step", schema.INCIDENT_STEPS),
        ("category", schema.INCIDENT_CATEGORIES),
        ("source", schema.INCIDENT_SOURCES),
        ("closing_level", schema.CLOSING_LEVELS),
        ("satisfaction", schema.SATISFACTION),
    ],
)
def test_every_identifier_has_labels(group, values):
    for value in values:
        zh, en = CATALOGUE[f"{group}.{value}"]
        assert zh and en and zh != en


def test_every_check_has_labels():
    from gridmap.validate import CHECKS

    for check in CHECKS:
        assert f"check.{check}" in CATALOGUE


def test_t_and_label():
    assert t("level.grid") == "网格" and t("level.grid", "en") == "grid"
    assert t("facility.clinic") == "社区卫生服务站"
    assert t("no.such.key") == "no.such.key"
    assert label("step", "reported_back") == "处理反馈"
    assert label("step", "teleported") == "teleported"
    with pytest.raises(ValueError, match="unknown language"):
        t("level.grid", "fr")


def _count_open(kpis: dict) -> tuple[int, int]:
    """The incident count and open count of a unit's KPIs."""
    return kpis["count"], kpis["open"]

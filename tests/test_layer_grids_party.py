"""The unit choropleth (layers.grids) and the party layers (layers.party), on the small fixtures."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from layers import grids, party
from layers.base import NO_DATA, PALETTES, LayerSpec, class_breaks, classify
from layers.palette import SCHEMES

from fixtures import G_EAST, G_NORTH, G_SOUTH, G_WEST, valid_layers


@pytest.fixture
def layers() -> dict:
    return valid_layers()


def _fills(spec: LayerSpec) -> list[str]:
    return [s["fillColor"] for s in spec.features["_style"]]


# -- layers.grids ---------------------------------------------------------------


def test_choropleth_colours_each_class_and_has_a_legend(layers):
    spec = grids.build(layers["grids"], measure="households", synthetic=True)
    assert spec.id == "units_grid" and spec.features.crs.to_epsg() == 4326
    values = layers["grids"]["households"].to_numpy(float)  # 54, 18, 50, 0
    breaks = class_breaks(values)
    assert _fills(spec) == classify(values, breaks, SCHEMES["units"])
    legend = spec.legend.to_dict()
    assert legend["title"] == "网格户数（户）"
    assert len(legend["items"]) == len(breaks) == 4
    # Each class's swatch is the colour its features get; the top class is the darkest.
    for item, upper in zip(legend["items"], breaks, strict=True):
        assert item["color"] == classify([upper], breaks, SCHEMES["units"])[0]
    assert legend["items"][-1]["color"] == SCHEMES["units"][-1]
    assert legend["items"][0]["label"] == "≤ 0" and legend["items"][-1]["label"] == "50 – 54"
    assert "合成" in legend["note"]
    assert spec.features["_tooltip"].iloc[0] == f"西街一网格（{G_NORTH}）: 户数（户） 54"
    json.dumps(spec.to_geojson())


def test_fixed_breaks_are_reused(layers):
    whole = layers["grids"]
    breaks = grids.breaks_of(whole, "households")
    first = grids.build(whole, measure="households", breaks=breaks)
    # A subset (one community) with the district's breaks: same colours, same legend.
    west = whole[whole["code"].str.startswith(G_NORTH[:12])]
    again = grids.build(west, measure="households", breaks=breaks)
    by_code = dict(zip(first.features["code"], _fills(first), strict=True))
    assert _fills(again) == [by_code[c] for c in west["code"]]
    assert again.legend.items == first.legend.items
    assert "固定" in again.legend.note
    # Its own quantiles would differ: the breaks really were reused.
    assert not np.array_equal(grids.breaks_of(west, "households"), breaks)


def test_missing_values_are_no_data_with_a_legend_entry(layers):
    g = layers["grids"].copy()
    g["households"] = pd.array([54, None, 50, 0], dtype="Int64")
    spec = grids.build(g, measure="households", lang="en", level="grid")
    assert _fills(spec)[1] == NO_DATA
    assert spec.legend.items[-1].color == NO_DATA and spec.legend.items[-1].label == "no data"
    assert spec.legend.title == "Households by grid"
    assert spec.features["_tooltip"].iloc[1] == f"西街二网格 ({G_SOUTH}): Households no data"


def test_density_is_derived_from_population_and_area(layers):
    spec = grids.build(layers["grids"], measure="density", level="grid")
    # Grid boxes of 0.010° × 0.005° near 25.78°N are about 0.557 km².
    value = spec.features.set_index("code").loc[G_NORTH, "value"]
    assert value == pytest.approx(135 / 0.557, rel=0.01)
    assert spec.legend.title == "网格人口密度（人/平方公里）"
    with pytest.raises(ValueError, match="population"):
        grids.build(layers["communities"], measure="density", level="community")


def test_levels_palettes_and_measures(layers):
    communities = layers["communities"].assign(households=[72, 50])
    spec = grids.build(communities, measure="households", level="community", palette="Blues")
    assert spec.id == "units_community" and spec.legend.title == "社区户数（户）"
    assert set(_fills(spec)) <= set(PALETTES["Blues"])
    assert {"households", "population", "elderly", "children", "density"} <= set(grids.MEASURES)
    assert all(grids.measure_label(m, "zh") != m for m in grids.MEASURES)
    with pytest.raises(ValueError, match="palette"):
        grids.build(communities, measure="households", palette="Nope")
    with pytest.raises(ValueError, match="no column"):
        grids.build(communities, measure="elderly")


# -- layers.party -----------------------------------------------------------------


def test_party_layers_counts_and_legends(layers):
    specs = party.build(layers["grids"], layers["buildings"], layers["party_orgs"], synthetic=True)
    branches, groups, central = specs
    assert [s.id for s in specs] == [
        "party_grid_branches",
        "party_building_groups",
        "party_central_households",
    ]
    # (a) Three of the four grids have a branch: two colours.
    f = branches.features.set_index("code")
    assert f["has_branch"].to_dict() == {G_NORTH: True, G_SOUTH: True, G_WEST: True, G_EAST: False}
    colours = {c: s["fillColor"] for c, s in f["_style"].items()}
    assert colours[G_EAST] == party.NO_BRANCH_COLOR
    assert {colours[c] for c in (G_NORTH, G_SOUTH, G_WEST)} == {party.BRANCH_COLOR}
    assert f.loc[G_WEST, "_tooltip"] == f"东街一网格（{G_WEST}）: 东街一网格党支部 · 党员 15 人"
    assert f.loc[G_EAST, "_tooltip"].endswith("未建网格党支部")
    items = branches.legend.items
    assert [i.color for i in items] == [party.BRANCH_COLOR, party.NO_BRANCH_COLOR]
    assert "3 个网格" in items[0].label and "1 个网格" in items[1].label
    assert "75.0%" in branches.legend.note and "合成" in branches.legend.note

    # (b) Groups in two residential buildings; the one in a commercial building is not shown.
    assert sorted(groups.features["code"]) == [G_NORTH + "001", G_WEST + "001"]
    assert "2 / 4" in groups.legend.note and "50.0%" in groups.legend.note
    assert {s["fillColor"] for s in groups.features["_style"]} == {party.GROUP_COLOR}

    # (c) Two central households as points with a radius.
    assert central.kind == "point" and len(central.features) == 2
    assert all(s["radius"] == party.CENTRAL_RADIUS for s in central.features["_style"])
    assert (central.features.geometry.geom_type == "Point").all()
    assert central.legend.items[0].kind == "point" and "2 户" in central.legend.items[0].label
    for spec in specs:
        assert spec.legend.title and spec.legend.items
        assert spec.features.crs.to_epsg() == 4326
        json.dumps(spec.to_geojson())


def test_party_layers_in_english_and_without_data(layers):
    specs = party.build(layers["grids"], None, None, lang="en")
    assert [len(s.features) for s in specs] == [4, 0, 0]
    assert specs[0].legend.title == "Grid party branch coverage"
    assert "0 grids" in specs[0].legend.items[0].label
    assert specs[0].features["_tooltip"].iloc[0].endswith("no grid party branch")
    assert specs[2].legend.items[0].label == "central households (0)"
    assert specs[1].legend.note == "0 of 0 residential buildings have a group (—)"


def test_party_branch_members_are_summed_over_two_branches(layers):
    orgs = layers["party_orgs"].copy()
    extra = orgs.iloc[[0]].assign(id="P9", name="第二支部", members=4)
    orgs = pd.concat([orgs, extra], ignore_index=True)
    branches = party.build(layers["grids"], layers["buildings"], orgs)[0]
    row = branches.features.set_index("code").loc[G_NORTH]
    assert row["members"] == 16 and row["branch"] == "西街一网格党支部、第二支部"


def test_buildings_are_named_by_their_code(layers):
    spec = grids.build(layers["buildings"], measure="households", level="building")
    assert spec.id == "units_building" and spec.legend.title == "楼栋户数（户）"
    assert spec.features["_tooltip"].iloc[0] == f"{G_NORTH}001: 户数（户） 24"

"""gridmap.validate on the hand-made hierarchy of tests/fixtures.py."""

from __future__ import annotations

import json

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Point, box

from gridmap.validate import CHECKS, Finding, Report, validate

import fixtures as fx


def found(report: Report) -> set[tuple[str, str | None]]:
    return {(f.check, f.code) for f in report.findings}


def test_valid_fixture_has_no_findings():
    report = validate(fx.valid_layers())
    assert report.findings == []
    assert report.ok
    assert report.counts == {
        "districts": 1,
        "subdistricts": 1,
        "communities": 2,
        "grids": 4,
        "buildings": 6,
        "facilities": 4,
        "party_orgs": 8,
        "incidents": 4,
    }


@pytest.mark.parametrize("variant", sorted(fx.BROKEN))
def test_broken_fixture_gives_exactly_its_findings(variant):
    build, expected = fx.BROKEN[variant]
    report = validate(build())
    assert found(report) == expected, report.to_text("en")
    assert len(report.findings) == len(expected)
    assert not report.ok
    assert all(f.severity == "error" for f in report.findings)
    assert all(f.check in CHECKS for f in report.findings)


@pytest.mark.parametrize(
    ("build", "check", "area_box"),
    [
        (fx.with_gap, "grid_gap", fx.GAP_BOX),
        (fx.with_overlap, "grid_overlap", fx.OVERLAP_BOX),
        (fx.with_crossing_grid, "outside_parent", fx.CROSSING_BOX),
    ],
)
def test_area_and_location_of_spatial_findings(build, check, area_box):
    (finding,) = validate(build()).by_check(check)
    known = fx.geodesic_area(box(*area_box))
    assert finding.area_m2 == pytest.approx(known, rel=0.01)
    # The location lies in the faulty piece, given in lon/lat.
    assert box(*area_box).buffer(1e-6).contains(Point(finding.lon, finding.lat))


def test_gap_names_the_community_and_overlap_both_grids():
    (gap,) = validate(fx.with_gap()).findings
    assert gap.layer == "grids" and gap.code == fx.WEST and gap.row is None
    assert "111," in gap.message and fx.WEST in gap.message
    (overlap,) = validate(fx.with_overlap()).findings
    assert overlap.row == 0
    assert fx.G_NORTH in overlap.message and fx.G_SOUTH in overlap.message


def test_messages_say_what_is_wrong():
    (f,) = validate(fx.with_bowtie()).findings
    assert "Self-intersection" in f.message and f.row == 1
    assert f.lon == pytest.approx(113.0062) and f.lat == pytest.approx(25.7872)
    (f,) = validate(fx.with_wrong_prefix()).findings
    assert "431002001002" in f.message
    (f,) = validate(fx.with_duplicate_code()).findings
    assert f.row == 3 and "row 3" in f.message


def test_sliver_below_threshold_is_ignored():
    assert validate(fx.with_gap(), sliver_area_m2=200_000).findings == []


def test_containment_tolerance():
    # 0.5 m over the community's eastern edge (113.010°E): within the 1 m default.
    layers = fx.change(
        fx.valid_layers(), "grids", fx.G_SOUTH, geometry=box(113.000, 25.780, 113.010005, 25.785)
    )
    assert validate(layers).findings == []
    (f,) = validate(layers, containment_tolerance_m=0.1).findings
    assert (f.check, f.code) == ("outside_parent", fx.G_SOUTH)


def test_building_outside_its_grid():
    code = fx.G_NORTH + "001"
    # 0.0002° (about 22 m) of it south of its grid, in the grid below.
    moved = box(113.002, 25.7848, 113.0024, 25.7852)
    layers = fx.change(fx.valid_layers(), "buildings", code, geometry=moved)
    (f,) = validate(layers).findings
    assert (f.check, f.layer, f.code) == ("outside_parent", "buildings", code)
    outside = fx.geodesic_area(box(113.002, 25.7848, 113.0024, 25.785))
    assert f.area_m2 == pytest.approx(outside, rel=0.01)


def test_null_geometry():
    layers = fx.change(fx.valid_layers(), "buildings", fx.G_SOUTH + "002", geometry=None)
    assert found(validate(layers)) == {("empty_geometry", fx.G_SOUTH + "002")}


def test_community_without_grid():
    layers = fx.valid_layers()
    for name, column in (("grids", "community_code"), ("buildings", "code")):
        frame = layers[name]
        layers[name] = frame[~frame[column].str.startswith(fx.EAST)]
    for name in ("party_orgs", "incidents"):
        frame = layers[name]
        column = "unit_code" if name == "party_orgs" else "grid_code"
        layers[name] = frame[~frame[column].str.startswith(fx.EAST)]
    (f,) = validate(layers).findings
    assert (f.check, f.layer, f.row) == ("community_without_grid", "communities", 1)
    assert f.code == fx.EAST


def test_bad_values():
    layers = fx.valid_layers()
    fx.change(layers, "buildings", fx.G_NORTH + "001", use="shop")
    fx.change(layers, "buildings", fx.G_NORTH + "002", households=-3)
    fx.change(layers, "communities", fx.WEST, name="  ")
    fx.change(layers, "facilities", "F1", type="hospital")
    report = validate(layers)
    assert found(report) == {
        ("bad_value", fx.G_NORTH + "001"),
        ("bad_value", fx.G_NORTH + "002"),
        ("bad_value", fx.WEST),
        ("bad_value", "F1"),
    }
    messages = " ".join(f.message for f in report.findings)
    assert "'shop'" in messages and "residential" in messages
    assert "negative" in messages and "'name'" in messages and "'hospital'" in messages


def test_missing_required_column():
    layers = fx.valid_layers()
    layers["grids"] = layers["grids"].drop(columns="name")
    (f,) = validate(layers).findings
    assert (f.check, f.layer, f.row) == ("bad_value", "grids", None)
    assert "'name'" in f.message


def test_codes_stored_as_numbers():
    layers = fx.valid_layers()
    layers["districts"] = layers["districts"].assign(code=[431002])
    report = validate(layers)
    assert ("code_width", "431002") in found(report)
    assert any("not text" in f.message for f in report.findings)


def test_code_serial():
    layers = {"districts": fx.valid_layers()["districts"].assign(code=["431000"])}
    assert found(validate(layers)) == {("code_serial", "431000")}


def test_duplicate_facility_id():
    layers = fx.valid_layers()
    fx.change(layers, "facilities", "F2", id="F1")
    assert found(validate(layers)) == {("duplicate_id", "F1")}


def test_party_org_unit_checks():
    layers = fx.valid_layers()
    fx.change(layers, "party_orgs", "P1", unit_code=fx.G_NORTH + "001")  # a building
    fx.change(layers, "party_orgs", "G1", unit_code=fx.G_NORTH + "099")  # no such building
    report = validate(layers)
    assert found(report) == {("bad_value", "P1"), ("orphan", "G1")}


def test_incident_checks():
    layers = fx.valid_layers()
    fx.change(layers, "incidents", "E1", grid_code=fx.WEST + "09")
    fx.change(layers, "incidents", "E2", geometry=Point(113.0175, 25.785))  # in the east grid
    report = validate(layers)
    assert found(report) == {("orphan", "E1"), ("outside_parent", "E2")}
    (warning,) = report.warnings
    assert warning.code == "E2"
    assert report.ok is False  # the orphan is an error


def test_missing_and_empty_layers_are_skipped():
    full = fx.valid_layers()
    assert validate({"districts": full["districts"]}).findings == []
    layers = {n: full[n] for n in ("districts", "subdistricts", "communities")}
    layers["grids"] = full["grids"].iloc[0:0]
    assert validate(layers).findings == []
    assert validate({}).findings == []


def test_empty_districts_with_other_layers_is_an_error():
    layers = fx.valid_layers()
    layers["districts"] = layers["districts"].iloc[0:0]
    (f,) = validate(layers).findings
    assert (f.check, f.layer) == ("no_district", "districts")
    del layers["districts"]
    assert found(validate(layers)) == {("no_district", None)}


def test_plain_dataframe_without_geometry():
    layers = fx.valid_layers()
    layers["facilities"] = pd.DataFrame(layers["facilities"].drop(columns="geometry"))
    (f,) = validate(layers).findings
    assert (f.check, f.layer) == ("empty_geometry", "facilities")


def test_wrong_geometry_type():
    point = Point(113.002, 25.787)
    layers = fx.change(fx.valid_layers(), "buildings", fx.G_NORTH + "001", geometry=point)
    assert found(validate(layers)) == {("geometry_type", fx.G_NORTH + "001")}


def test_other_crs_is_accepted():
    layers = {n: f.to_crs(3857) for n, f in fx.valid_layers().items()}
    assert validate(layers).findings == []


def test_upper_levels_tile_too():
    layers = fx.valid_layers()
    layers["communities"] = layers["communities"].iloc[[0]]
    for name, column in (("grids", "code"), ("buildings", "code"), ("party_orgs", "unit_code")):
        frame = layers[name]
        layers[name] = frame[~frame[column].str.startswith(fx.EAST)]
    incidents = layers["incidents"]
    layers["incidents"] = incidents[~incidents["grid_code"].str.startswith(fx.EAST)]
    (f,) = validate(layers).findings
    assert (f.check, f.code) == ("community_gap", fx.SUBDISTRICT)
    east = fx.geodesic_area(box(113.010, 25.780, 113.020, 25.790))
    assert f.area_m2 == pytest.approx(east, rel=0.01)


# -- the report -------------------------------------------------------------


def test_to_dict_is_json():
    report = validate(fx.with_gap())
    data = json.loads(json.dumps(report.to_dict()))
    assert data["ok"] is False and data["errors"] == 1 and data["warnings"] == 0
    assert data["counts"]["grids"] == 4
    (finding,) = data["findings"]
    assert finding["check"] == "grid_gap" and finding["code"] == fx.WEST
    assert set(finding) == set(Finding.__dataclass_fields__)


def test_to_text_chinese_and_english():
    report = validate(fx.with_gap())
    zh = report.to_text()
    assert "网格间空隙" in zh and "错误" in zh and "面积" in zh
    assert "网格 4" in zh and "楼栋 6" in zh
    assert "113.005000, 25.784500" in zh
    assert "m²" in zh
    en = report.to_text("en")
    assert "gap between grids" in en and "error" in en and "grids 4" in en
    assert "113.005000, 25.784500" in en
    assert fx.WEST in en


def test_to_text_of_a_clean_report_and_limit():
    assert "未发现问题" in validate(fx.valid_layers()).to_text()
    assert "No problems found" in validate(fx.valid_layers()).to_text("en")
    layers = fx.valid_layers()
    for code in ("F1", "F2", "F3"):
        fx.change(layers, "facilities", code, type="hospital")
    text = validate(layers).to_text("en", max_per_check=1)
    assert "… and 2 more" in text


def test_input_is_not_modified():
    layers = fx.with_overlap()
    before = {n: f.copy() for n, f in layers.items()}
    validate(layers)
    for name, frame in layers.items():
        assert frame.equals(before[name])
        assert isinstance(frame, gpd.GeoDataFrame)

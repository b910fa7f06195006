"""The walking network, checked against networkx on the same graph with the same snapping.

The reference graph (:func:`nx_reference`) is built independently: the network's
segments, each split at the snap points on it, plus one leaf per point joined
by its access walk. Every distance gridmap computes must equal networkx's to
0.01 m on a jittered street lattice with dead ends, a disconnected island, a
bridge crossing streets without a shared vertex, points off the network, a
facility exactly at a node and source/target pairs on the same segment.
"""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, MultiLineString, Point, Polygon

from gridmap import network as net_mod
from gridmap.errors import InputError
from gridmap.network import (
    Snapped,
    WalkNetwork,
    build_network,
    nearest_distance,
    reachable_counts,
    service_areas,
    snap,
)

from nxref import nx_counts, nx_nearest, nx_reference, reached_street_parts

CRS = "EPSG:32649"  # UTM 49N: the lattice lies near Chenzhou (~112°E, 25°N)
X0, Y0 = 600_000.0, 2_850_000.0
SPACING = 100.0
SNAP = 60.0  # the snapping distance the lattice tests use
N_RANDOM_SOURCES = 30


# ---------------------------------------------------------------------------
# Synthetic data shared with test_coverage


def lattice_roads(rng: np.random.Generator, n: int = 8) -> gpd.GeoDataFrame:
    """A jittered n×n street lattice with gaps, an island and a bridge (metric CRS).

    Rows are single many-vertex lines, columns are separate two-vertex roads
    (some left out: dead ends and detours). An island square lies 400 m east
    (its own component), and a "bridge" crosses the lattice without sharing a
    vertex with the streets it crosses.
    """
    pts = np.stack(
        np.meshgrid(X0 + SPACING * np.arange(n), Y0 + SPACING * np.arange(n), indexing="ij"), -1
    ) + rng.uniform(-15, 15, (n, n, 2))
    roads: list[LineString | MultiLineString] = [LineString(pts[:, j]) for j in range(n)]
    for i in range(n):
        for j in range(n - 1):
            if rng.random() > 0.15:
                roads.append(LineString([pts[i, j], pts[i, j + 1]]))
    east = X0 + SPACING * (n - 1) + 400
    island = [(east, Y0), (east + 150, Y0), (east + 150, Y0 + 150), (east, Y0 + 150), (east, Y0)]
    roads.append(LineString(island))
    mid = Y0 + SPACING * (n / 2 - 0.5) + 31.0
    roads.append(LineString([(X0 - 80, mid), (X0 + SPACING * (n - 1) + 80, mid)]))
    # A two-part road: one part hangs off the lattice's corner, one is a spur.
    corner = pts[0, 0]
    roads.append(
        MultiLineString(
            [
                [tuple(corner), (corner[0] - 70, corner[1] - 40), (corner[0] - 120, corner[1])],
                [(corner[0] - 120, corner[1]), (corner[0] - 120, corner[1] + 90)],
            ]
        )
    )
    ids = [f"R{i:03d}" for i in range(len(roads))]
    return gpd.GeoDataFrame({"id": ids, "kind": "residential"}, geometry=roads, crs=CRS)


def point_on(net: WalkNetwork, seg: int, t: float, offset: float) -> tuple[float, float]:
    """A point ``offset`` metres to the left of segment ``seg`` at fraction ``t``."""
    a, b = net.xy[net.u[seg]], net.xy[net.v[seg]]
    d = (b - a) / np.hypot(*(b - a))
    p = a + t * (b - a) + offset * np.array([-d[1], d[0]])
    return float(p[0]), float(p[1])


def random_points(
    rng: np.random.Generator, net: WalkNetwork, n: int, *, margin: float = 150.0
) -> np.ndarray:
    """``n`` uniform points over the network's bounds widened by ``margin``."""
    lo, hi = net.xy.min(axis=0) - margin, net.xy.max(axis=0) + margin
    return rng.uniform(lo, hi, (n, 2))


def longest_lattice_segment(net: WalkNetwork) -> int:
    """A long segment of the main component (for same-segment pairs)."""
    main = net.component[net.u] == 0
    return int(np.flatnonzero(main)[np.argmax(net.length[main])])


def make_lattice() -> tuple[WalkNetwork, Snapped, Snapped, nx.Graph]:
    """A lattice network with sources and targets covering every special case."""
    rng = np.random.default_rng(20240601)
    net = build_network(lattice_roads(rng))
    seg = longest_lattice_segment(net)
    node = int(net.u[seg])
    src_xy = np.vstack(
        [
            random_points(rng, net, N_RANDOM_SOURCES),
            [point_on(net, seg, 0.25, 8.0)],  # shares its segment with two targets
            [tuple(net.xy[(node + 7) % net.n_nodes])],  # exactly at a node
            [point_on(net, int(np.flatnonzero(net.component[net.u] == 1)[0]), 0.5, 5.0)],
            [(X0 - 1000.0, Y0 - 1000.0)],  # far from every street: unreachable
        ]
    )
    tgt_xy = np.vstack(
        [
            random_points(rng, net, 220),
            [point_on(net, seg, 0.6, -5.0), point_on(net, seg, 0.1, 3.0)],
            [tuple(net.xy[node])],
        ]
    )
    sources = snap(net, gpd.GeoSeries(shapely.points(src_xy), crs=CRS), max_distance=SNAP)
    targets = snap(net, gpd.GeoSeries(shapely.points(tgt_xy), crs=CRS), max_distance=SNAP)
    g = nx_reference(net, s=sources, t=targets)
    return net, sources, targets, g


@pytest.fixture(scope="module")
def lattice():
    """:func:`make_lattice`, once per module."""
    return make_lattice()


# ---------------------------------------------------------------------------
# build_network


def test_build_network_nodes_segments_and_components():
    rng = np.random.default_rng(1)
    roads = lattice_roads(rng)
    net = build_network(roads)
    assert net.crs.to_epsg() == 32649
    # Nodes are distinct, every segment has two different ends and its length.
    assert np.unique(net.xy, axis=0).shape[0] == net.n_nodes
    assert (net.u != net.v).all()
    np.testing.assert_allclose(net.length, shapely.length(net.geometry))
    assert (net.graph != net.graph.T).nnz == 0
    assert net.graph.nnz == 2 * net.n_segments
    # Each segment lies on the road it says it came from.
    mids = shapely.line_interpolate_point(net.geometry, 0.5, normalized=True)
    road_geoms = roads.geometry.to_numpy()[net.road]
    assert (shapely.distance(mids, road_geoms) < 1e-6).all()
    assert (roads["id"].to_numpy()[net.road] == net.road_id).all()
    # Lattice (with its spur), island, bridge: the bridge crosses streets
    # without a shared vertex, so it connects to none of them.
    summary = net.summary()
    assert summary["components"] == 3
    assert summary["component_sizes"][1:] == [4, 2]
    bridge = np.flatnonzero(net.road_id == f"R{len(roads) - 2:03d}")
    assert net.component[net.u[bridge]] == 2
    assert summary["nodes"] == net.n_nodes and summary["segments"] == net.n_segments


def test_build_network_drops_repeated_vertices_and_duplicate_roads():
    roads = gpd.GeoDataFrame(
        {"id": ["a", "b", "c"]},
        geometry=[
            LineString([(X0, Y0), (X0, Y0), (X0 + 100, Y0)]),  # a repeated vertex
            LineString([(X0 + 100, Y0), (X0, Y0)]),  # the same street, drawn again
            LineString([(X0 + 100, Y0), (X0 + 100, Y0 + 50)]),
        ],
        crs=CRS,
    )
    net = build_network(roads)
    assert net.n_nodes == 3 and net.n_segments == 2
    # A CSR built from duplicates would have summed them to 200 m.
    assert net.graph.max() == pytest.approx(100.0)
    assert list(net.road_id) == ["a", "c"]


def test_build_network_projects_wgs84_to_utm():
    roads = gpd.GeoDataFrame(
        {"id": ["a"]}, geometry=[LineString([(113.0, 25.78), (113.001, 25.78)])], crs=4326
    )
    net = build_network(roads)
    assert net.crs.to_epsg() == 32649
    assert net.length[0] == pytest.approx(100.3, abs=0.5)  # 0.001° of longitude at 25.78°N


@pytest.mark.parametrize(
    ("roads", "message"),
    [
        (gpd.GeoDataFrame({"id": []}, geometry=[], crs=4326), "no roads"),
        (gpd.GeoDataFrame({"id": ["a"]}, geometry=[None], crs=4326), "no roads"),
        (gpd.GeoDataFrame({"id": ["a"]}, geometry=[LineString([(0, 0), (1, 1)])]), "no coordinate"),
        (
            gpd.GeoDataFrame({"id": ["a"]}, geometry=[Polygon([(0, 0), (1, 0), (1, 1)])], crs=4326),
            "not a line",
        ),
    ],
)
def test_build_network_rejects_bad_roads(roads, message):
    with pytest.raises(InputError, match=message):
        build_network(roads)


# ---------------------------------------------------------------------------
# snap


def test_snap_joins_the_nearest_point_of_the_nearest_segment(lattice):
    net, sources, targets, _ = lattice
    pts = shapely.points(targets.xy)
    dist_all = shapely.distance(pts[:, None], net.geometry[None, :])
    nearest = dist_all.min(axis=1)
    ok = targets.reachable
    np.testing.assert_allclose(targets.access[ok], nearest[ok], atol=1e-9)
    # The join is on the segment, at the foot of the perpendicular, not at a node.
    joins = shapely.line_interpolate_point(
        net.geometry[targets.segment[ok]], targets.t[ok], normalized=True
    )
    np.testing.assert_allclose(shapely.distance(joins, pts[ok]), nearest[ok], atol=1e-6)
    assert ((targets.t[ok] > 0.01) & (targets.t[ok] < 0.99)).mean() > 0.5
    # Too far: flagged, kept, with no segment.
    assert (nearest[~ok] > SNAP).all() and (targets.segment[~ok] == -1).all()
    assert (~ok).sum() > 5 and len(targets) == targets.xy.shape[0]
    assert not sources.reachable[-1]


def test_snap_middle_of_a_long_street_walks_straight_to_it():
    roads = gpd.GeoDataFrame(
        {"id": ["a"]}, geometry=[LineString([(X0, Y0), (X0 + 1000, Y0)])], crs=CRS
    )
    net = build_network(roads)
    s = snap(net, gpd.GeoSeries([Point(X0 + 500, Y0 + 30), None], crs=CRS))
    assert s.segment[0] == 0 and s.t[0] == pytest.approx(0.5) and s.access[0] == pytest.approx(30)
    assert not s.reachable[1] and s.segment[1] == -1  # a missing geometry: unreachable, kept
    with pytest.raises(InputError, match="snapping distance"):
        snap(net, np.array([[X0, Y0]]), max_distance=-1)


def test_snap_uses_the_centroid_of_a_polygon_and_reprojects():
    roads = gpd.GeoDataFrame(
        {"id": ["a"]}, geometry=[LineString([(X0, Y0), (X0 + 1000, Y0)])], crs=CRS
    )
    net = build_network(roads)
    house = gpd.GeoSeries([shapely.box(X0 + 100, Y0 + 20, X0 + 120, Y0 + 40)], crs=CRS)
    s = snap(net, house.to_crs(4326))
    assert s.access[0] == pytest.approx(30, abs=1e-3)
    assert s.t[0] * net.length[0] == pytest.approx(110, abs=1e-3)


# ---------------------------------------------------------------------------
# distances


@pytest.mark.parametrize("limit", [150.0, 450.0, 5000.0])
def test_nearest_distance_equals_networkx(lattice, limit):
    net, sources, targets, g = lattice
    ours = nearest_distance(net, sources, targets, limit=limit)
    ref = nx_nearest(g, sources, targets, limit)
    assert np.array_equal(np.isinf(ours), np.isinf(ref))
    fin = np.isfinite(ref)
    np.testing.assert_allclose(ours[fin], ref[fin], atol=0.01, rtol=0)
    assert fin.sum() > 10
    assert np.isinf(ours[~targets.reachable]).all()
    if limit == 5000.0:
        # Every reachable target of the main component has a source; the
        # island's and bridge's targets only if a source is there too.
        main = targets.reachable & (net.component[net.u[targets.segment]] == 0)
        assert np.isfinite(ours[main]).all()


def test_same_segment_pairs_walk_directly_along_it(lattice):
    net, sources, targets, _ = lattice
    seg = longest_lattice_segment(net)
    s, (t1, t2) = N_RANDOM_SOURCES, len(targets) - 3 + np.arange(2)
    assert sources.segment[s] == seg and targets.segment[t1] == seg == targets.segment[t2]
    length = net.length[seg]
    direct = sources.access[s] + abs(sources.t[s] - targets.t[t1]) * length + targets.access[t1]
    only = sources.take(np.array([s]))
    d = nearest_distance(net, only, targets, limit=direct + 1e-6)
    assert d[t1] == pytest.approx(direct, abs=1e-9)
    assert reachable_counts(net, only, targets, limit=direct + 1e-6)[t1] == 1


def test_a_short_walk_between_two_far_ends_is_found():
    # Both ends of the street are beyond the limit: only the direct walk along
    # the street reaches, and it must.
    roads = gpd.GeoDataFrame(
        {"id": ["a"]}, geometry=[LineString([(X0, Y0), (X0 + 1000, Y0)])], crs=CRS
    )
    net = build_network(roads)
    s = snap(net, np.array([[X0 + 400, Y0 + 10]]))
    t = snap(net, np.array([[X0 + 600, Y0 - 10], [X0 + 700, Y0 - 10]]))
    d = nearest_distance(net, s, t, limit=250)
    assert d[0] == pytest.approx(220) and np.isinf(d[1])
    assert list(reachable_counts(net, s, t, limit=250)) == [1, 0]
    assert list(reachable_counts(net, s.take(np.array([0, 0])), t, limit=320)) == [2, 2]


def test_a_source_on_another_component_is_never_reached(lattice):
    net, sources, targets, _ = lattice
    island = np.flatnonzero(sources.reachable & (net.component[net.u[sources.segment]] == 1))
    assert island.size >= 1
    d = nearest_distance(net, sources.take(island), targets, limit=1e6)
    on_island = targets.reachable & (net.component[net.u[targets.segment]] == 1)
    assert np.isinf(d[~on_island]).all()


@pytest.mark.parametrize("limit", [150.0, 450.0])
def test_reachable_counts_equal_networkx(lattice, limit):
    net, sources, targets, g = lattice
    ours = reachable_counts(net, sources, targets, limit=limit)
    ref = nx_counts(g, sources, targets, limit)
    assert ours.dtype.kind == "i"
    np.testing.assert_array_equal(ours, ref)
    assert ref.max() >= (2 if limit > 300 else 1)
    # Counting and nearest agree on who reaches anything.
    d = nearest_distance(net, sources, targets, limit=limit)
    np.testing.assert_array_equal(ours > 0, np.isfinite(d))


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_random_crowded_cases_agree_with_networkx(seed):
    # Few streets, many points: most sources share a segment with targets.
    rng = np.random.default_rng(seed)
    net = build_network(lattice_roads(rng, n=4))
    segs = rng.integers(0, net.n_segments, 40)
    crowd = np.array([point_on(net, int(k), rng.uniform(), rng.uniform(-30, 30)) for k in segs])
    src_xy = np.vstack([crowd[:15], random_points(rng, net, 5)])
    tgt_xy = np.vstack([crowd[15:], random_points(rng, net, 30), net.xy[:3]])
    sources, targets = snap(net, src_xy, max_distance=SNAP), snap(net, tgt_xy, max_distance=SNAP)
    same = np.isin(targets.segment, sources.segment[sources.reachable]) & targets.reachable
    assert same.sum() >= 5
    g = nx_reference(net, s=sources, t=targets)
    for limit in (90.0, 260.0):
        ours = nearest_distance(net, sources, targets, limit=limit)
        ref = nx_nearest(g, sources, targets, limit)
        assert np.array_equal(np.isinf(ours), np.isinf(ref))
        fin = np.isfinite(ref)
        np.testing.assert_allclose(ours[fin], ref[fin], atol=0.01, rtol=0)
        counts = reachable_counts(net, sources, targets, limit=limit)
        np.testing.assert_array_equal(counts, nx_counts(g, sources, targets, limit))


def test_reach_pairs_carry_exact_distances(lattice):
    net, sources, targets, g = lattice
    src, tgt, dist = net_mod._reach_pairs(net, sources, targets, 300.0)
    for i, j, d in zip(src[:200], tgt[:200], dist[:200], strict=True):
        ref = nx.dijkstra_path_length(g, ("s", i), ("t", j), weight="weight")
        assert d == pytest.approx(ref, abs=0.01)


def test_distances_reject_a_bad_limit(lattice):
    net, sources, targets, _ = lattice
    for limit in (-1.0, float("nan"), float("inf")):
        with pytest.raises(InputError, match="limit"):
            nearest_distance(net, sources, targets, limit=limit)
        with pytest.raises(InputError, match="limit"):
            reachable_counts(net, sources, targets, limit=limit)


def test_no_sources_reach_nothing(lattice):
    net, sources, targets, _ = lattice
    none = sources.take(np.zeros(0, np.int64))
    assert np.isinf(nearest_distance(net, none, targets, limit=500)).all()
    assert (reachable_counts(net, none, targets, limit=500) == 0).all()


# ---------------------------------------------------------------------------
# service areas


def test_service_areas_follow_the_reached_streets(lattice):
    net, sources, targets, g = lattice
    limit, width = 220.0, 10.0
    areas = service_areas(net, sources, limit=limit, width=width)
    assert areas.shape == (len(sources),)
    checked = 0
    for i in np.flatnonzero(sources.reachable):
        reached, unreached = reached_street_parts(net, g, sources, targets, i, limit)
        area = areas[i]
        # Every reached street part lies within the area…
        assert area.buffer(1e-6).contains(shapely.MultiLineString(reached))
        # …and no unreached part farther than `width` from them enters it.
        near = shapely.union_all(reached).buffer(width + 0.05)
        for part in unreached:
            assert not area.intersects(part.difference(near))
        checked += 1
    assert checked >= 12
    assert areas[~sources.reachable][0].is_empty


def test_service_areas_are_smaller_than_the_hull_of_reached_nodes(lattice):
    # Streets, not the convex hull of the reached nodes, which claims the
    # blocks between the streets too.
    net, sources, _, g = lattice
    limit = 600.0
    areas = service_areas(net, sources, limit=limit)
    checked = 0
    for i in np.flatnonzero(sources.reachable):
        dist = nx.single_source_dijkstra_path_length(g, ("s", i), cutoff=limit, weight="weight")
        nodes = [net.xy[n] for n in dist if not isinstance(n, tuple)]
        if len(nodes) >= 20:
            assert areas[i].area < 0.8 * shapely.MultiPoint(nodes).convex_hull.area
            checked += 1
    assert checked >= 10


def test_merged_service_area_is_the_union(lattice):
    net, sources, _, _ = lattice
    each = service_areas(net, sources, limit=300.0)
    merged = service_areas(net, sources, limit=300.0, merge=True)
    union = shapely.union_all(each)
    assert merged.symmetric_difference(union).area < 1e-3 * union.area
    assert merged.area > max(shapely.area(each))


def test_service_areas_reject_a_bad_width(lattice):
    net, sources, _, _ = lattice
    with pytest.raises(InputError, match="width"):
        service_areas(net, sources, limit=100.0, width=0.0)

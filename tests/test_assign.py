"""Points to polygons: equal to geopandas.sjoin, exact on boundaries by the documented rule."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gridmap.assign import (
    assign_frame,
    assign_points,
    build_index,
    count_per_polygon,
    reference_budget,
)
from gridmap.errors import InputError


def _voronoi(n: int, seed: int = 0, side: float = 1000.0) -> gpd.GeoSeries:
    """Irregular polygons: Voronoi cells of random points, clipped to a square."""
    rng = np.random.default_rng(seed)
    box = shapely.box(0, 0, side, side)
    seeds = shapely.multipoints(rng.uniform(0, side, (n, 2)))
    cells = shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=box))
    return gpd.GeoSeries(shapely.intersection(cells, box))


def _sjoin_within(x: np.ndarray, y: np.ndarray, polygons: gpd.GeoSeries) -> np.ndarray:
    """The polygon position of each point by sjoin(within), −1 for none."""
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x, y))
    polys = gpd.GeoDataFrame(geometry=polygons.reset_index(drop=True))
    j = gpd.sjoin(pts, polys, predicate="within", how="left")
    assert not j.index.duplicated().any()  # no overlaps: at most one polygon per point
    return j["index_right"].fillna(-1).astype("int64").sort_index().to_numpy()


def _sjoin_intersects_count(x: np.ndarray, y: np.ndarray, polygons: gpd.GeoSeries) -> np.ndarray:
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x, y))
    polys = gpd.GeoDataFrame(geometry=polygons.reset_index(drop=True))
    j = gpd.sjoin(pts, polys, predicate="intersects", how="inner")
    return j.index.value_counts().reindex(range(len(x)), fill_value=0).to_numpy()


def _unit_squares(n: int = 3) -> gpd.GeoSeries:
    """An n × n grid of unit squares, numbered row by row from the bottom left."""
    return gpd.GeoSeries([shapely.box(i, j, i + 1, j + 1) for j in range(n) for i in range(n)])


# ---------------------------------------------------------------------------
# Equal to sjoin


@pytest.mark.parametrize("cell", [None, 3.0, 400.0])
def test_random_points_in_voronoi_cells_equal_sjoin(cell):
    # cell=3: nearly every point on the fast path; cell=400: every point ray-cast.
    polys = _voronoi(300)
    rng = np.random.default_rng(1)
    x, y = rng.uniform(-50, 1050, 20_000), rng.uniform(-50, 1050, 20_000)
    got = build_index(polys, cell=cell).query(x, y)
    np.testing.assert_array_equal(got, _sjoin_within(x, y, polys))
    assert (got == -1).sum() > 500  # some points really are outside


def test_holes_and_islands():
    outer = shapely.Polygon(
        [(0, 0), (10, 0), (10, 10), (0, 10)], holes=[[(3, 3), (7, 3), (7, 7), (3, 7)]]
    )
    island = shapely.box(4, 4, 6, 6)  # inside the hole, leaving a ring of nothing around it
    polys = gpd.GeoSeries([outer, island])
    got = assign_points(
        np.array([1.0, 3.5, 5.0, 8.0, 11.0]), np.array([1.0, 5.0, 5.0, 8, 5]), polys
    )
    np.testing.assert_array_equal(got, [0, -1, 1, 0, -1])
    rng = np.random.default_rng(2)
    x, y = rng.uniform(-1, 11, 5_000), rng.uniform(-1, 11, 5_000)
    np.testing.assert_array_equal(assign_points(x, y, polys), _sjoin_within(x, y, polys))


def test_multipolygons_with_parts_and_a_part_inside_a_hole():
    ring = shapely.Polygon(
        [(0, 0), (10, 0), (10, 10), (0, 10)], holes=[[(2, 2), (8, 2), (8, 8), (2, 8)]]
    )
    multi = shapely.MultiPolygon([ring, shapely.box(4, 4, 6, 6), shapely.box(20, 0, 22, 2)])
    other = shapely.box(2.5, 2.5, 3.5, 3.5)  # in the hole, not part of the multipolygon
    polys = gpd.GeoSeries([other, multi])
    got = assign_points(np.array([1.0, 5, 21, 3, 7, 15]), np.array([1.0, 5, 1, 3, 7, 1]), polys)
    np.testing.assert_array_equal(got, [1, 1, 1, 0, -1, -1])
    rng = np.random.default_rng(3)
    x, y = rng.uniform(-1, 23, 5_000), rng.uniform(-1, 11, 5_000)
    np.testing.assert_array_equal(assign_points(x, y, polys), _sjoin_within(x, y, polys))


def test_a_large_detailed_polygon_coarsens_the_grid_and_stays_exact():
    # One polygon of 20,000 vertices: the index must stay small (coarsened) and exact.
    disk = shapely.Point(0, 0).buffer(100, quad_segs=5_000)
    star = shapely.Polygon(
        [
            (r * np.cos(t), r * np.sin(t))
            for t, r in zip(
                np.linspace(0, 2 * np.pi, 4_000, endpoint=False),
                np.tile([40.0, 20.0], 2_000),
                strict=True,
            )
        ]
    )
    polys = gpd.GeoSeries([disk.difference(star.buffer(1)), star])
    index = build_index(polys)
    assert len(index.edge) <= reference_budget(len(index.seg))
    assert (index.owner >= -1).mean() > 0.5  # most cells on the fast path
    rng = np.random.default_rng(4)
    x, y = rng.uniform(-110, 110, 20_000), rng.uniform(-110, 110, 20_000)
    np.testing.assert_array_equal(index.query(x, y), _sjoin_within(x, y, polys))


# ---------------------------------------------------------------------------
# The boundary rule: (x, y) is assigned as if it were (x + ε, y + ε²)


def test_points_on_shared_edges_go_to_the_right_or_upper_polygon():
    squares = _unit_squares(3)  # 0 1 2 bottom row; 3 4 5; 6 7 8 top row
    x = np.array([1.0, 2.0, 1.5, 0.5, 1.0, 2.0, 1.0, 0.0, 0.5, 3.0, 1.5, 3.0, 0.0])
    y = np.array([0.5, 1.5, 1.0, 2.0, 1.0, 2.0, 3.0, 0.0, 0.0, 1.5, 3.0, 3.0, 3.0])
    expect = [
        1,  # vertical edge between 0 and 1: to the right
        5,  # vertical edge between 4 and 5
        4,  # horizontal edge between 1 and 4: upwards
        6,  # horizontal edge between 3 and 6
        4,  # vertex shared by 0, 1, 3, 4: upper right
        8,  # vertex shared by 4, 5, 7, 8
        -1,  # top outer edge: nothing above
        0,  # bottom-left outer corner: the square to its upper right
        0,  # bottom outer edge: the square above
        -1,  # right outer edge: nothing to the right
        -1,  # top outer edge
        -1,  # top-right outer corner
        -1,  # top-left outer corner (nothing above it)
    ]
    np.testing.assert_array_equal(assign_points(x, y, squares), expect)
    # sjoin cannot decide: "within" gives these points to no polygon, "intersects" to several.
    inner = np.array([0, 1, 2, 3, 4, 5])
    assert (_sjoin_within(x[inner], y[inner], squares) == -1).all()
    np.testing.assert_array_equal(
        _sjoin_intersects_count(x[inner], y[inner], squares), [2, 2, 2, 2, 4, 4]
    )


def test_points_on_a_slanted_shared_edge_go_to_the_polygon_on_the_right():
    # A square cut along its diagonal: (0.5, 0.5) lies on the cut; to its right is the
    # lower-right triangle.
    upper_left = shapely.Polygon([(0, 0), (1, 1), (0, 1)])
    lower_right = shapely.Polygon([(0, 0), (1, 0), (1, 1)])
    for order in ([upper_left, lower_right], [lower_right, upper_left]):
        polys = gpd.GeoSeries(order)
        got = assign_points(np.array([0.5, 0.25]), np.array([0.5, 0.25]), polys)
        assert (got == order.index(lower_right)).all()


def test_the_rule_does_not_depend_on_ring_orientation():
    left, right = shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)
    for a, b in ((left, right), (left.reverse(), right), (left, right.reverse())):
        got = assign_points(np.array([1.0, 1.0]), np.array([0.5, 0.0]), gpd.GeoSeries([a, b]))
        np.testing.assert_array_equal(got, [1, 1])


def test_vertices_and_edges_of_a_voronoi_tessellation_go_to_exactly_one_polygon():
    polys = _voronoi(200, seed=5)
    coords = shapely.get_coordinates(polys.boundary)
    # Every vertex, and points along every edge, strictly inside the square: each
    # lies on two or three cells and must go to exactly one of them.
    a, b = coords[:-1], coords[1:]
    t = np.random.default_rng(6).uniform(0, 1, (len(a), 1))
    pts = np.unique(np.vstack([coords, a + t * (b - a)]), axis=0)
    pts = pts[(pts > 1e-9).all(1) & (pts < 1000 - 1e-9).all(1)]
    got = assign_points(pts[:, 0], pts[:, 1], polys)
    assert (got >= 0).all()
    # One of the cells the point lies on (points along edges are on them to a few ulps).
    assert shapely.dwithin(polys.to_numpy()[got], shapely.points(pts), 1e-9).all()
    on_vertices = np.unique(coords, axis=0)
    on_vertices = on_vertices[(on_vertices > 1e-9).all(1) & (on_vertices < 1000 - 1e-9).all(1)]
    touching = _sjoin_intersects_count(on_vertices[:, 0], on_vertices[:, 1], polys)
    assert (touching >= 2).all()


# ---------------------------------------------------------------------------
# Counts, frames, edge cases


def test_count_per_polygon_ignores_outside_points():
    np.testing.assert_array_equal(count_per_polygon(np.array([0, 2, 2, -1, -1]), 4), [1, 0, 2, 0])
    assert count_per_polygon(np.array([], np.int64), 2).tolist() == [0, 0]


def test_assign_frame_reprojects_and_keeps_the_key_dtype():
    squares = gpd.GeoDataFrame(
        {"code": pd.Series(["A", "B", "C", "D"], dtype="str")},
        geometry=list(_unit_squares(2).scale(1000, 1000, origin=(0, 0))),
        crs="EPSG:32649",
    )
    squares = squares.set_geometry(squares.translate(500_000, 3_000_000))
    pts_m = gpd.GeoSeries.from_xy(
        [500_100, 501_900, 500_100, 503_000], [3_000_100, 3_001_500, 3_001_900, 3_000_000]
    )
    lonlat = pts_m.set_crs("EPSG:32649").to_crs("EPSG:4326")
    pts = gpd.GeoDataFrame(
        {"id": [1, 2, 3, 4, 5]},
        # The last one is missing: outside.
        geometry=[*lonlat, None],
        crs="EPSG:4326",
        index=[10, 11, 12, 13, 14],
    )
    got = assign_frame(pts, squares)
    assert got.index.tolist() == [10, 11, 12, 13, 14]
    assert got.name == "code" and got.dtype == squares["code"].dtype
    assert got.iloc[:3].tolist() == ["A", "D", "C"]
    assert got.iloc[3:].isna().all()
    with pytest.raises(InputError):
        assign_frame(pts, squares, key="nope")
    squares["n"] = [1, 2, 3, 4]
    numbers = assign_frame(pts, squares, key="n")
    assert str(numbers.dtype) == "Int64" and numbers.iloc[:3].tolist() == [1, 4, 3]


def test_nan_points_empty_inputs_and_wrong_geometries():
    squares = _unit_squares(2)
    got = assign_points(np.array([np.nan, 0.5, 0.5]), np.array([0.5, np.nan, 0.5]), squares)
    np.testing.assert_array_equal(got, [-1, -1, 0])
    assert assign_points(np.array([]), np.array([]), squares).shape == (0,)
    np.testing.assert_array_equal(
        assign_points(np.array([0.5]), np.array([0.5]), gpd.GeoSeries([None, squares[0]])), [1]
    )
    assert assign_points(np.array([0.5]), np.array([0.5]), gpd.GeoSeries([], dtype="geometry"))[
        0
    ] == (-1)
    with pytest.raises(InputError):
        assign_points(np.array([0.5]), np.array([0.5]), gpd.GeoSeries([shapely.Point(0, 0)]))
    with pytest.raises(InputError):
        assign_points(np.array([0.5, 1.0]), np.array([0.5]), squares)


# ---------------------------------------------------------------------------
# The demo


@pytest.mark.slow
def test_demo_incidents_fall_in_their_own_grid(demo_path):
    from gridmap.crs import to_metric
    from gridmap.store import open_store

    store = open_store(demo_path)
    grids, incidents = store.read("grids"), store.read("incidents")
    # In metres (where the demo placed them), every incident lies in its own grid.
    metric = to_metric(grids)
    pts = incidents.geometry.to_crs(metric.crs)
    got = assign_points(pts.x.to_numpy(), pts.y.to_numpy(), metric.geometry)
    assert (got >= 0).all()
    assert (grids["code"].to_numpy()[got] == incidents["grid_code"].to_numpy()).all()
    # And in the stored lon/lat, the assignment equals sjoin(within) exactly.
    in_lonlat = assign_frame(incidents, grids)
    joined = gpd.sjoin(
        incidents[["geometry"]], grids[["code", "geometry"]], predicate="within", how="left"
    )
    assert not joined.index.duplicated().any()
    assert (joined["code"].reindex(incidents.index) == in_lonlat).all()
    counts = count_per_polygon(
        assign_points(pts.x.to_numpy(), pts.y.to_numpy(), metric.geometry), len(grids)
    )
    assert counts.sum() == len(incidents)
    np.testing.assert_array_equal(
        counts, incidents["grid_code"].value_counts().reindex(grids["code"], fill_value=0)
    )

"""Locating reported incidents: the grid and the building of each location.

:func:`locate` gives each reported point its grid (the grid containing it, by
:func:`gridmap.assign.assign_points`) and its building (the nearest building of
that grid within 30 m), or the reason it has none. Everything is measured in
metres, in the UTM zone of the grids.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from gridmap.assign import assign_points
from gridmap.codes import ancestors_at
from gridmap.crs import STORAGE_CRS, utm_crs

__all__ = ["locate"]


def locate(
    points_gdf: gpd.GeoDataFrame | gpd.GeoSeries,
    grids: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame | None,
    *,
    building_radius_m: float = 30.0,
) -> pd.DataFrame:
    """The grid and the building of each reported location.

    Parameters
    ----------
    points_gdf
        The locations (points, any CRS; without one taken as EPSG:4326). Empty
        or missing geometries are refused with a reason.
    grids
        The ``grids`` layer (``code`` and polygons).
    buildings
        The ``buildings`` layer (``code``, ``grid_code`` and footprints), or
        ``None``/empty for a store without buildings.
    building_radius_m
        How near (m) a location must be to a building's footprint to be
        attributed to it.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``points_gdf``: ``grid_code`` (the grid containing the
        point, by :func:`gridmap.assign.assign_points` and its rule for points
        on shared edges; NA when the point lies in none), ``building_code``
        (the nearest building *of that grid* within ``building_radius_m`` of
        the point, measured in the UTM zone of the grids, ties to the lower
        code; NA when none) and ``reason`` (why the point has no grid; NA when
        it has one).

    Notes
    -----
    The building is taken from the point's own grid only, so an incident's
    building always lies in its grid (the code hierarchy holds) even on a
    street between two grids.
    """
    geoms = points_gdf.geometry if isinstance(points_gdf, gpd.GeoDataFrame) else points_gdf
    index = geoms.index
    geoms = gpd.GeoSeries(geoms).reset_index(drop=True)
    if geoms.crs is None:
        geoms = geoms.set_crs(STORAGE_CRS)
    n = len(geoms)
    grid_code = np.full(n, None, dtype=object)
    building_code = np.full(n, None, dtype=object)
    reason = np.full(n, None, dtype=object)

    raw = geoms.to_numpy()
    present = ~pd.isna(raw)
    present[present] = ~shapely.is_empty(raw[present].astype(object))
    reason[~present] = "the incident has no location"
    point = present.copy()
    point[present] = shapely.get_type_id(raw[present].astype(object)) == 0
    reason[present & ~point] = "the location is not a point"

    # Everything in metres, in the UTM zone of the grids: the containment test
    # then agrees with how grids are drawn and checked (straight edges in a
    # projected CRS; a long edge straight in degrees bows by centimetres), and
    # the 30 m to a building is a true distance.
    grids_crs = grids.crs or STORAGE_CRS
    metric = _metric_crs(gpd.GeoSeries(grids.geometry, crs=grids_crs), geoms[point])
    points = _project(geoms, metric)
    grid_geoms = _project(gpd.GeoSeries(grids.geometry, crs=grids_crs), metric)
    codes = grids["code"].to_numpy(dtype=object)

    x = np.full(n, np.nan)
    y = np.full(n, np.nan)
    x[point] = shapely.get_x(points[point].astype(object))
    y[point] = shapely.get_y(points[point].astype(object))
    which = np.full(n, -1, dtype=np.int64)
    if point.any() and len(grid_geoms):
        which[point] = assign_points(x[point], y[point], grid_geoms)
    inside = which >= 0
    grid_code[inside] = codes[which[inside]]

    outside = np.flatnonzero(point & ~inside)
    if len(outside):
        reason[outside] = _outside_reasons(points[outside], grid_geoms, codes)

    if buildings is not None and len(buildings) and inside.any():
        hit = np.flatnonzero(inside)
        building_code[hit] = _nearest_building(
            points[hit], grid_code[hit], buildings, metric, building_radius_m
        )
    return pd.DataFrame(
        {
            "grid_code": pd.array(grid_code, dtype="str"),
            "building_code": pd.array(building_code, dtype="str"),
            "reason": pd.array(reason, dtype="str"),
        },
        index=index,
    )


def _metric_crs(grids: gpd.GeoSeries, points: gpd.GeoSeries) -> CRS | None:
    """The UTM zone of the grids (of the points for a store without grids)."""
    frame = grids if len(grids) else points
    if not len(frame):
        return None
    minx, miny, maxx, maxy = frame.to_crs(STORAGE_CRS).total_bounds
    return utm_crs((minx + maxx) / 2, (miny + maxy) / 2)


def _project(series: gpd.GeoSeries, metric: CRS | None) -> np.ndarray:
    """The geometries in ``metric`` (as they are when there is nothing to measure)."""
    return (series if metric is None else series.to_crs(metric)).to_numpy()


def _outside_reasons(points: np.ndarray, grid_geoms: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Why each point (in metres) has no grid: how far the nearest grid is."""
    if not len(grid_geoms):
        return np.full(len(points), "the store has no grids to place the location in", dtype=object)
    nearest = shapely.STRtree(grid_geoms).nearest(points)
    dist = shapely.distance(points, grid_geoms[nearest])
    return np.array(
        [
            f"the location lies outside every grid ({d:,.0f} m from grid {c})"
            if d >= 0.5
            else f"the location lies outside every grid (on the edge of grid {c})"
            for d, c in zip(dist, codes[nearest], strict=True)
        ],
        dtype=object,
    )


def _nearest_building(
    points: np.ndarray,
    grid_code: np.ndarray,
    buildings: gpd.GeoDataFrame,
    metric: CRS | None,
    radius_m: float,
) -> np.ndarray:
    """Code of the nearest building of each point's grid within ``radius_m`` (metres), else None."""
    out = np.full(len(points), None, dtype=object)
    b_geoms = _project(gpd.GeoSeries(buildings.geometry, crs=buildings.crs or STORAGE_CRS), metric)
    b_codes = buildings["code"].to_numpy(dtype=object)
    if "grid_code" in buildings:
        b_grid = buildings["grid_code"].to_numpy(dtype=object)
    else:
        b_grid = ancestors_at(b_codes, "grid")
    pi, bi = shapely.STRtree(b_geoms).query(points, predicate="dwithin", distance=radius_m)
    # Only the point's own grid: its building must lie in its grid (codes nest).
    same = b_grid[bi] == grid_code[pi]
    pi, bi = pi[same], bi[same]
    if not len(pi):
        return out
    d = shapely.distance(points[pi], b_geoms[bi])
    # Nearest first; equal distances go to the lower code (stable, reproducible).
    order = np.lexsort((b_codes[bi].astype(str), d, pi))
    pi, bi = pi[order], bi[order]
    first = np.r_[True, pi[1:] != pi[:-1]]
    out[pi[first]] = b_codes[bi[first]]
    return out

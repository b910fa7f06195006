"""The five-level hierarchy on GeoDataFrames: numbering, lookup, roll-ups.

Grid numbering rule (modelled on CJ/T 213-2005 and CJ/T 349-2010, which number
cells west→east, north→south):

1. Work in a metric CRS. Let ``n`` be the number of grids of the community and
   ``h = sqrt(community area / n)``, the side of a typical grid.
2. Cut the community into horizontal bands of height ``h`` from its northern
   edge down: a grid's row is ``floor((north edge − y) / h)``, with ``y`` the
   northing of the grid's centroid.
3. Order the grids by row (north first), then by the easting of the centroid
   (west first), and number them 01, 02, … in that order.
4. A community with one grid is not subdivided: its grid is ``00``.

Buildings are numbered by the same rule within their grid
(:func:`building_codes`): bands of height ``sqrt(grid area / new buildings)``
from the grid's northern edge, west→east within a band, serials continuing
after the grid's existing buildings. Both use :func:`reading_order`.

A building belongs to the grid holding its centroid (:func:`grids_holding`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridmap.codes import (
    UNDIVIDED_GRID,
    ancestor,
    level_of,
    make_code,
    serial_of,
    under,
    width_of,
)
from gridmap.crs import STORAGE_CRS, project, utm_crs_of
from gridmap.errors import CodeError, InputError, option
from gridmap.schema import LEVEL_LAYERS, LEVELS

__all__ = [
    "reading_order",
    "grid_serials",
    "number_grids",
    "grids_holding",
    "building_codes",
    "units_under",
    "unit_row",
]

#: The most buildings a grid can number: a building serial has three digits.
_MAX_BUILDINGS = 999


def reading_order(x: np.ndarray, y: np.ndarray, band: float, north: float) -> np.ndarray:
    """Positions (0-based) of points read west→east in bands from ``north`` down.

    Steps 2 and 3 of the numbering rule, for grids and buildings alike.

    Parameters
    ----------
    x, y
        Eastings and northings (metric).
    band
        The height of a band; 0 or less puts every point in one band.
    north
        The northing the first band starts at.

    Returns
    -------
    numpy.ndarray
        The position of each point in reading order.
    """
    rows = np.floor((north - y) / band) if band > 0 else np.zeros(len(y))
    order = np.lexsort((x, rows))
    rank = np.empty(len(x), dtype=np.int64)
    rank[order] = np.arange(len(x))
    return rank


def grid_serials(grids: gpd.GeoSeries, community_area: float, north: float) -> list[str]:
    """Two-digit serials of one community's grids, by the numbering rule.

    Parameters
    ----------
    grids
        The community's grid polygons in a metric CRS.
    community_area
        The community's area in m².
    north
        The northing of the community's northern edge.

    Returns
    -------
    list of str
        The serial of each grid, in the order given.
    """
    n = len(grids)
    if n == 1:
        return [UNDIVIDED_GRID]
    if n > 99:
        raise ValueError(f"a community has {n} grids; a grid serial has two digits (at most 99)")
    band = math.sqrt(community_area / n) if community_area > 0 else 1.0
    c = grids.centroid
    rank = reading_order(c.x.to_numpy(), c.y.to_numpy(), band, north)
    return [f"{r + 1:02d}" for r in rank]


def number_grids(grids: gpd.GeoDataFrame, communities: gpd.GeoDataFrame) -> pd.Series:
    """Grid codes for every grid, numbered within its community by the rule above.

    Parameters
    ----------
    grids
        Grids with a ``community_code`` column, in any CRS.
    communities
        Communities with ``code`` and geometry, in the same CRS.

    Returns
    -------
    pandas.Series
        The 14-digit grid code of each grid, aligned with ``grids``.
    """
    from gridmap.crs import to_metric

    g = to_metric(grids)
    comm = communities.to_crs(g.crs).set_index("code")
    out = pd.Series(index=grids.index, dtype="str")
    for code, part in g.groupby("community_code", sort=False):
        geom = comm.geometry.loc[code]
        serials = grid_serials(part.geometry, geom.area, geom.bounds[3])
        out.loc[part.index] = [code + s for s in serials]
    return out


def grids_holding(buildings: gpd.GeoDataFrame, grids: gpd.GeoDataFrame) -> np.ndarray:
    """The code of the grid holding each building's centroid.

    Parameters
    ----------
    buildings
        Buildings (EPSG:4326).
    grids
        Grids (``code``, geometry, EPSG:4326); grids without a geometry hold nothing.

    Returns
    -------
    numpy.ndarray
        A grid code per building, ``None`` for a building outside every grid;
        a centroid on the edge of two grids goes to the lower code.
    """
    out = np.full(len(buildings), None, dtype=object)
    if not len(buildings):
        return out
    grids = grids[~grids.geometry.isna()].sort_values("code", ignore_index=True)
    if len(grids):
        centroids = shapely.centroid(buildings.geometry.to_numpy())
        tree = shapely.STRtree(grids.geometry.to_numpy())
        b, g = tree.query(centroids, predicate="intersects")
        # Grids are sorted by code, so the smallest index is the lowest code.
        first = pd.Series(g).groupby(b).min()
        out[first.index.to_numpy()] = grids["code"].to_numpy(dtype=object)[first.to_numpy()]
    return out


def building_codes(
    buildings: gpd.GeoDataFrame,
    grid_codes: np.ndarray,
    grids: gpd.GeoDataFrame,
    existing: Iterable[str] = (),
) -> np.ndarray:
    """17-digit codes: each building's grid code and a serial after the grid's existing ones.

    Within a grid, new buildings are numbered west→east, north→south in bands of
    height √(grid area / new buildings) from the grid's northern edge (the rule
    of :func:`grid_serials`).

    Parameters
    ----------
    buildings
        The new buildings (EPSG:4326).
    grid_codes
        The grid of each.
    grids
        Grids (``code``, geometry) holding at least those named.
    existing
        Building codes already in the store (other values are ignored).

    Returns
    -------
    numpy.ndarray
        The code of each building.

    Raises
    ------
    gridmap.errors.InputError
        If a grid would hold more than 999 buildings.
    """
    codes = np.empty(len(buildings), dtype=object)
    if not len(buildings):
        return codes
    taken: dict[str, int] = {}
    for code in existing:
        if isinstance(code, str) and len(code) == width_of("building"):
            grid = ancestor(code, "grid")
            taken[grid] = max(taken.get(grid, 0), int(serial_of(code)))
    metric = utm_crs_of(buildings.geometry.to_numpy())
    centroids = project(shapely.centroid(buildings.geometry.to_numpy()), STORAGE_CRS, metric)
    x, y = shapely.get_x(centroids), shapely.get_y(centroids)
    grid_geom = dict(zip(grids["code"], grids.geometry, strict=True))
    grid_codes = np.asarray(grid_codes, dtype=object)
    for grid, idx in pd.Series(np.arange(len(grid_codes))).groupby(grid_codes).groups.items():
        idx = np.asarray(idx)
        start = taken.get(grid, 0)
        if start + len(idx) > _MAX_BUILDINGS:
            raise InputError(
                f"grid {grid} would hold {start + len(idx):,} buildings; a building serial "
                f"has three digits (at most {_MAX_BUILDINGS})",
                hint=f"give a smaller {option('grid_size')}, or split the grid",
            )
        geom_m = project(np.array([grid_geom[grid]], dtype=object), STORAGE_CRS, metric)[0]
        band = math.sqrt(geom_m.area / len(idx)) if geom_m.area > 0 else 1.0
        rank = reading_order(x[idx], y[idx], band, geom_m.bounds[3])
        codes[idx] = [make_code(grid, start + r + 1) for r in rank]
    return codes


def units_under(layers: dict[str, gpd.GeoDataFrame], code: str, level: str) -> pd.DataFrame:
    """The units of ``level`` that lie under unit ``code`` (by code prefix).

    Parameters
    ----------
    layers
        Layers by name, holding at least the one of ``level``.
    code
        The ancestor unit's code (any level above ``level``, or of ``level`` itself).
    level
        The level of units to return.
    """
    frame = layers[LEVEL_LAYERS[level]]
    if LEVELS.index(level_of(code)) > LEVELS.index(level):
        raise ValueError(f"{code} is below the {level} level")
    return frame[under(frame["code"], code)]


def unit_row(layers: dict[str, gpd.GeoDataFrame], code: str) -> pd.Series:
    """The row of unit ``code`` in its level's layer.

    Raises
    ------
    gridmap.errors.CodeError
        If the code is malformed or no unit has it.
    """
    level = level_of(code)
    frame = layers[LEVEL_LAYERS[level]]
    hit = frame[frame["code"] == code]
    if hit.empty:
        raise CodeError(
            f"no {level} has the code '{code}'", "run `gridmap stats STORE` to list units"
        )
    return hit.iloc[0]

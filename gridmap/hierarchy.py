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
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd

from gridmap.codes import UNDIVIDED_GRID, WIDTHS, level_of
from gridmap.schema import LEVEL_LAYERS, LEVELS

__all__ = ["grid_serials", "number_grids", "units_under", "unit_row"]


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
    rows = np.floor((north - c.y.to_numpy()) / band)
    order = np.lexsort((c.x.to_numpy(), rows))
    serials = np.empty(n, dtype=object)
    serials[order] = [f"{i + 1:02d}" for i in range(n)]
    return list(serials)


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
    codes = frame["code"].astype("str")
    return frame[codes.str.startswith(code)] if len(code) < WIDTHS[level] else frame[codes == code]


def unit_row(layers: dict[str, gpd.GeoDataFrame], code: str) -> pd.Series:
    """The row of unit ``code`` in its level's layer.

    Raises
    ------
    gridmap.errors.CodeError
        If the code is malformed or no unit has it.
    """
    from gridmap.errors import CodeError

    level = level_of(code)
    frame = layers[LEVEL_LAYERS[level]]
    hit = frame[frame["code"] == code]
    if hit.empty:
        raise CodeError(
            f"no {level} has the code '{code}'", "run `gridmap stats STORE` to list units"
        )
    return hit.iloc[0]

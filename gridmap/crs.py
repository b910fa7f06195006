"""Coordinate reference systems: storage in WGS 84, measurement in UTM.

Store in EPSG:4326 (CGCS2000, EPSG:4490, differs by well under a metre and is
accepted as is); measure distances and areas in the UTM zone of the data.
"""

from __future__ import annotations

from collections.abc import Iterable

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS, Transformer

__all__ = ["STORAGE_CRS", "utm_crs", "utm_crs_of", "to_metric", "project"]

STORAGE_CRS = CRS.from_epsg(4326)


def utm_crs(lon: float, lat: float) -> CRS:
    """The WGS 84 UTM zone CRS containing a point.

    Parameters
    ----------
    lon, lat
        Longitude and latitude in degrees.
    """
    zone = int((lon + 180) // 6) % 60 + 1
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def utm_crs_of(geoms: Iterable[shapely.Geometry]) -> CRS:
    """The UTM zone of the centre of some lon/lat geometries.

    Parameters
    ----------
    geoms
        Geometries in EPSG:4326 (missing ones are ignored).

    Returns
    -------
    pyproj.CRS
        The zone holding the centre of their bounds; with nothing to measure,
        the zone at (0, 0), so a caller on empty data still gets a metric CRS.
    """
    minx, miny, maxx, maxy = shapely.total_bounds(np.asarray(list(geoms), dtype=object))
    if not np.isfinite(minx):
        return utm_crs(0.0, 0.0)
    return utm_crs((minx + maxx) / 2, (miny + maxy) / 2)


def project(geoms: np.ndarray, src: CRS, dst: CRS) -> np.ndarray:
    """Shapely geometries from ``src`` to ``dst`` (an array in, an array out).

    For bare geometry arrays, where :func:`to_metric` would need a GeoDataFrame.

    Parameters
    ----------
    geoms
        Geometries in ``src``.
    src, dst
        The CRS they are in and the one wanted.
    """
    transformer = Transformer.from_crs(src, dst, always_xy=True)
    return shapely.transform(
        geoms, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1]))
    )


def to_metric(gdf: gpd.GeoDataFrame | gpd.GeoSeries, crs: CRS | None = None):
    """Project to a metric CRS: ``crs``, or the UTM zone of the data's centre.

    Parameters
    ----------
    gdf
        Data in any CRS (it must have one).
    crs
        The metric CRS to use; by default the UTM zone of the data's bounds centre.
    """
    if crs is None:
        minx, miny, maxx, maxy = gdf.to_crs(STORAGE_CRS).total_bounds
        crs = utm_crs((minx + maxx) / 2, (miny + maxy) / 2)
    return gdf.to_crs(crs)

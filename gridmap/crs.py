"""Coordinate reference systems: storage in WGS 84, measurement in UTM.

Store in EPSG:4326 (CGCS2000, EPSG:4490, differs by well under a metre and is
accepted as is); measure distances and areas in the UTM zone of the data.
"""

from __future__ import annotations

import geopandas as gpd
from pyproj import CRS

__all__ = ["STORAGE_CRS", "utm_crs", "to_metric"]

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

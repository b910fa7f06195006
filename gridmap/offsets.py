"""Chinese coordinate offsets: GCJ-02 (AMap, Tencent) and BD-09 (Baidu).

Chinese web maps publish their data in obfuscated coordinates: GCJ-02 shifts
WGS 84 by a few hundred metres with a non-linear formula, and BD-09 shifts
GCJ-02 again. gridmap stores WGS 84; this module converts data exported from
those maps back to it (import), and shifts layers for drawing on their
basemaps (display). The stored data are never shifted.

The offsets apply inside mainland China only. Whether a point is inside is
decided with a coarse polygon of mainland China (``data/cn_mainland.geojson``),
not with the usual bounding box, which wrongly shifts Hong Kong, Macau and
Taiwan. Points outside it, and non-finite coordinates, are returned unchanged
by every conversion.

All functions are vectorised: they take scalars or array-likes of longitudes
and latitudes in degrees and return float64 arrays of the broadcast shape.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import lru_cache

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray

from gridmap.resources import data_file

__all__ = [
    "OFFSETS",
    "in_mainland_china",
    "mainland_polygon",
    "wgs84_to_gcj02",
    "gcj02_to_wgs84",
    "gcj02_to_bd09",
    "bd09_to_gcj02",
    "wgs84_to_bd09",
    "bd09_to_wgs84",
    "unshift_geometries",
    "shift_geometries",
]

#: The offset systems gridmap knows, as named on the command line.
OFFSETS: tuple[str, ...] = ("gcj02", "bd09")

# Krasovsky 1940 ellipsoid, which the GCJ-02 formula is built on.
_A = 6378245.0
_EE = 0.00669342162296594323
# BD-09's constant: pi * 3000 / 180.
_X_PI = np.pi * 3000.0 / 180.0

# The inverses are solved by fixed-point iteration. The GCJ-02 shift changes by
# under 1e-5 of itself per degree, so each step gains about five digits: three
# steps reach 1e-12 degrees; the cap only guards against pathological input.
_TOLERANCE = 1e-12
_MAX_ITERATIONS = 30

Floats = NDArray[np.float64]


@lru_cache(maxsize=1)
def mainland_polygon() -> shapely.Geometry:
    """The (prepared) polygon of mainland China used to decide whether an offset applies.

    Returns
    -------
    shapely.Geometry
        A polygon in EPSG:4326 with holes for Hong Kong and Macau; Taiwan lies
        outside it. Coarse and hand-drawn: it is not a map of borders.
    """
    with open(data_file("cn_mainland.geojson"), encoding="utf-8") as f:
        doc = json.load(f)
    geoms = [shapely.from_geojson(json.dumps(feat["geometry"])) for feat in doc["features"]]
    polygon = shapely.union_all(geoms)
    shapely.prepare(polygon)
    return polygon


def in_mainland_china(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.bool_]:
    """Whether points lie in mainland China, where the offsets apply.

    Parameters
    ----------
    lon, lat
        Longitudes and latitudes in degrees (broadcast against each other).

    Returns
    -------
    numpy.ndarray of bool
        ``True`` inside the mainland polygon; ``False`` outside it (Hong Kong,
        Macau, Taiwan, abroad) and for non-finite coordinates.
    """
    x, y = _as_arrays(lon, lat)
    inside = np.zeros(x.shape, dtype=bool)
    finite = np.isfinite(x) & np.isfinite(y)
    # A bounding-box pre-filter keeps the polygon test to plausible points.
    minx, miny, maxx, maxy = shapely.bounds(mainland_polygon())
    near = finite & (x >= minx) & (x <= maxx) & (y >= miny) & (y <= maxy)
    if near.any():
        inside[near] = shapely.contains_xy(mainland_polygon(), x[near], y[near])
    return inside


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[Floats, Floats]:
    """Shift WGS 84 coordinates to GCJ-02.

    Parameters
    ----------
    lon, lat
        WGS 84 longitudes and latitudes in degrees.

    Returns
    -------
    tuple of numpy.ndarray
        GCJ-02 longitudes and latitudes; points outside mainland China unchanged.
    """
    x, y = _as_arrays(lon, lat)
    inside = in_mainland_china(x, y)
    gx, gy = x.copy(), y.copy()
    dx, dy = _gcj_delta(x[inside], y[inside])
    gx[inside] += dx
    gy[inside] += dy
    return gx, gy


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[Floats, Floats]:
    """Unshift GCJ-02 coordinates to WGS 84, exactly.

    The forward formula has no closed-form inverse. The usual one-step
    approximation (subtract the shift computed at the GCJ-02 point) is off by
    up to a few metres; this solves ``wgs + delta(wgs) = gcj`` by fixed-point
    iteration to better than 1e-9 degrees.

    Parameters
    ----------
    lon, lat
        GCJ-02 longitudes and latitudes in degrees.

    Returns
    -------
    tuple of numpy.ndarray
        WGS 84 longitudes and latitudes; points outside mainland China unchanged.
    """
    x, y = _as_arrays(lon, lat)
    inside = in_mainland_china(x, y)
    wx, wy = x.copy(), y.copy()
    wx[inside], wy[inside] = _invert(_gcj_forward, x[inside], y[inside])
    return wx, wy


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[Floats, Floats]:
    """Shift GCJ-02 coordinates to BD-09 (directly, as Baidu defines BD-09).

    Parameters
    ----------
    lon, lat
        GCJ-02 longitudes and latitudes in degrees.

    Returns
    -------
    tuple of numpy.ndarray
        BD-09 longitudes and latitudes; points outside mainland China unchanged.
    """
    x, y = _as_arrays(lon, lat)
    inside = in_mainland_china(x, y)
    bx, by = x.copy(), y.copy()
    bx[inside], by[inside] = _bd_forward(x[inside], y[inside])
    return bx, by


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[Floats, Floats]:
    """Unshift BD-09 coordinates to GCJ-02 (directly, not through WGS 84).

    Starts from the published closed-form inverse, which is only approximate
    (about 1e-6 degrees), and refines it by fixed-point iteration so that
    :func:`gcj02_to_bd09` of the result gives the input back.

    Parameters
    ----------
    lon, lat
        BD-09 longitudes and latitudes in degrees.

    Returns
    -------
    tuple of numpy.ndarray
        GCJ-02 longitudes and latitudes; points outside mainland China unchanged.
    """
    x, y = _as_arrays(lon, lat)
    inside = in_mainland_china(x, y)
    gx, gy = x.copy(), y.copy()
    bx, by = x[inside], y[inside]
    gx[inside], gy[inside] = _invert(_bd_forward, bx, by, start=_bd_inverse_approx(bx, by))
    return gx, gy


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[Floats, Floats]:
    """Shift WGS 84 coordinates to BD-09 (through GCJ-02).

    Parameters
    ----------
    lon, lat
        WGS 84 longitudes and latitudes in degrees.

    Returns
    -------
    tuple of numpy.ndarray
        BD-09 longitudes and latitudes; points outside mainland China unchanged.
    """
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[Floats, Floats]:
    """Unshift BD-09 coordinates to WGS 84 (through GCJ-02), exactly.

    Parameters
    ----------
    lon, lat
        BD-09 longitudes and latitudes in degrees.

    Returns
    -------
    tuple of numpy.ndarray
        WGS 84 longitudes and latitudes; points outside mainland China unchanged.
    """
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


_UNSHIFT: dict[str, Callable[[ArrayLike, ArrayLike], tuple[Floats, Floats]]] = {
    "gcj02": gcj02_to_wgs84,
    "bd09": bd09_to_wgs84,
}
_SHIFT: dict[str, Callable[[ArrayLike, ArrayLike], tuple[Floats, Floats]]] = {
    "gcj02": wgs84_to_gcj02,
    "bd09": wgs84_to_bd09,
}


def unshift_geometries(geoms, offset: str):
    """Convert every coordinate of geometries from GCJ-02 or BD-09 to WGS 84.

    Parameters
    ----------
    geoms
        Geometries in lon/lat degrees of the offset system: a GeoSeries, an
        array or a list of shapely geometries (any type, ``None`` allowed).
    offset
        ``"gcj02"`` (AMap, Tencent) or ``"bd09"`` (Baidu).

    Returns
    -------
    geopandas.GeoSeries or numpy.ndarray
        The converted geometries: a GeoSeries (same index and CRS) if a
        GeoSeries was given, else an object array. Z values are kept.
    """
    return _transform_geometries(geoms, _pick(_UNSHIFT, offset))


def shift_geometries(geoms, offset: str):
    """Convert every coordinate of WGS 84 geometries to GCJ-02 or BD-09.

    For drawing layers on an AMap/Tencent (GCJ-02) or Baidu (BD-09) basemap:
    shift the layers, never the stored data.

    Parameters
    ----------
    geoms
        WGS 84 geometries (GeoSeries, array or list of shapely geometries).
    offset
        ``"gcj02"`` or ``"bd09"``.

    Returns
    -------
    geopandas.GeoSeries or numpy.ndarray
        As :func:`unshift_geometries`.
    """
    return _transform_geometries(geoms, _pick(_SHIFT, offset))


# -- helpers ------------------------------------------------------------------


def _pick(table: dict, offset: str):
    try:
        return table[offset]
    except KeyError:
        raise ValueError(f"unknown offset {offset!r}; use one of: {', '.join(OFFSETS)}") from None


def _transform_geometries(geoms, convert):
    """Apply a (lon, lat) converter to every vertex, keeping Z and the container type."""

    def on_coords(coords: Floats) -> Floats:
        out = coords.copy()
        out[:, 0], out[:, 1] = convert(coords[:, 0], coords[:, 1])
        return out

    import geopandas as gpd

    if isinstance(geoms, gpd.GeoSeries):
        values = shapely.transform(geoms.to_numpy(), on_coords, include_z=None)
        return gpd.GeoSeries(values, index=geoms.index, crs=geoms.crs, name=geoms.name)
    return shapely.transform(np.asarray(geoms, dtype=object), on_coords, include_z=None)


def _as_arrays(lon: ArrayLike, lat: ArrayLike) -> tuple[Floats, Floats]:
    # Copies, so callers' arrays are never modified in place.
    x, y = np.broadcast_arrays(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    return np.array(x, dtype=float), np.array(y, dtype=float)


def _gcj_delta(lon: Floats, lat: Floats) -> tuple[Floats, Floats]:
    """The GCJ-02 shift (degrees) at WGS 84 points: the well-known published formula."""
    x, y = lon - 105.0, lat - 35.0
    # The polynomial-plus-sine noise, in metres-ish units along each axis.
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    dlat += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    dlon += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlon += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    # Metres to degrees on the Krasovsky ellipsoid.
    radlat = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * np.pi)
    return dlon, dlat


def _gcj_forward(lon: Floats, lat: Floats) -> tuple[Floats, Floats]:
    dx, dy = _gcj_delta(lon, lat)
    return lon + dx, lat + dy


def _bd_forward(lon: Floats, lat: Floats) -> tuple[Floats, Floats]:
    """GCJ-02 to BD-09, Baidu's published formula."""
    z = np.sqrt(lon * lon + lat * lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _bd_inverse_approx(lon: Floats, lat: Floats) -> tuple[Floats, Floats]:
    """BD-09 to GCJ-02, the published closed form (approximate to about 1e-6 degrees)."""
    x, y = lon - 0.0065, lat - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def _invert(
    forward: Callable[[Floats, Floats], tuple[Floats, Floats]],
    tx: Floats,
    ty: Floats,
    start: tuple[Floats, Floats] | None = None,
) -> tuple[Floats, Floats]:
    """Solve ``forward(x, y) == (tx, ty)`` for a near-identity shift by fixed-point iteration.

    Each step corrects the guess by the residual: ``x += tx - fx``. It converges
    because the shift varies slowly with position (its derivative is far below 1).
    """
    x, y = (tx.copy(), ty.copy()) if start is None else (start[0].copy(), start[1].copy())
    for _ in range(_MAX_ITERATIONS):
        fx, fy = forward(x, y)
        ex, ey = tx - fx, ty - fy
        x += ex
        y += ey
        if x.size == 0 or max(np.abs(ex).max(), np.abs(ey).max()) < _TOLERANCE:
            break
    return x, y

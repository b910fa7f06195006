"""A user file's geometries, brought to what the store keeps.

In the order an import runs them:

* :func:`check_offset` and :func:`resolve_crs`: the coordinates' system (the
  file's own CRS, or the one the user gives a file without one) and an
  AMap/Baidu offset, refused before any row is looked at;
* :func:`csv_geometries`: a CSV file's geometry from a WKT column or a pair
  of coordinate columns;
* :func:`prepare_geometries`: each geometry to 2-D EPSG:4326, checked for a
  longitude/latitude range, unshifted, fitted to the layer's type (repaired
  if asked) and checked to lie inside the district.

Problems are noted row by row on a :class:`~gridmap.io.problems.Problems`.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError

from gridmap import offsets
from gridmap.crs import utm_crs
from gridmap.errors import option
from gridmap.io.parse import parse_coordinates
from gridmap.io.problems import Problems, file_error, shorten
from gridmap.schema import CRS as STORAGE_CRS
from gridmap.schema import Layer

__all__ = [
    "check_offset",
    "resolve_crs",
    "same_crs",
    "crs_name",
    "csv_geometries",
    "prepare_geometries",
    "as_multi",
]

# CSV geometry columns, matched case-insensitively: a WKT column, or a pair of
# coordinate columns (Chinese spreadsheets often say 经度/纬度).
_WKT_NAMES = ("geometry", "wkt")
_LONLAT_NAMES = (
    ("lon", "lat"),
    ("lng", "lat"),
    ("longitude", "latitude"),
    ("x", "y"),
    ("经度", "纬度"),
)


# -- the coordinates' system ------------------------------------------------------


def check_offset(offset: str | None, file: str) -> None:
    """Refuse an offset other than those :mod:`gridmap.offsets` undoes.

    Parameters
    ----------
    offset
        ``gcj02``, ``bd09`` or ``None`` (WGS 84 coordinates).
    file
        The file, as the user named it (for the error).

    Raises
    ------
    gridmap.errors.InputError
        For an unknown offset.
    """
    if offset is not None and offset not in offsets.OFFSETS:
        raise file_error(
            f"unknown offset '{offset}'",
            file=file,
            hint=f"use one of: {', '.join(offsets.OFFSETS)} (or none for WGS 84 data)",
        )


def resolve_crs(file_crs: CRS | None, given: str | None, file: str) -> CRS:
    """The CRS of the file's coordinates: its own, or the one given for a file without one.

    Parameters
    ----------
    file_crs
        The CRS the file declares (a CSV file declares none).
    given
        The CRS the user gave (anything :meth:`pyproj.CRS.from_user_input`
        reads, e.g. ``EPSG:4326``), if any.
    file
        The file, as the user named it (for errors).

    Raises
    ------
    gridmap.errors.InputError
        For an unknown CRS, a file with no CRS and none given, or a given CRS
        contradicting the file's own.
    """
    given_crs = None
    if given is not None:
        try:
            given_crs = CRS.from_user_input(given)
        except CRSError:
            raise file_error(
                f"unknown CRS '{given}'",
                file=file,
                hint=f"give an EPSG code, e.g. {option('crs', 'EPSG:4326')} "
                "(WGS 84 longitude/latitude)",
            ) from None
    if file_crs is None:
        if given_crs is None:
            raise file_error(
                "the file has no coordinate reference system (CRS)",
                file=file,
                hint=f"add {option('crs', 'EPSG:4326')} if the coordinates are WGS 84 "
                "longitude/latitude",
            )
        return given_crs
    if given_crs is not None and not same_crs(file_crs, given_crs):
        raise file_error(
            f"the file says its CRS is {crs_name(file_crs)}, but {option('crs')} says "
            f"{crs_name(given_crs)}",
            file=file,
            hint=f"leave out {option('crs')}: it is for files without a CRS of their own",
        )
    return file_crs


def same_crs(a: CRS, b: CRS) -> bool:
    """Whether two CRSs are the same (axis order aside, or by their EPSG code)."""
    if a.equals(b, ignore_axis_order=True):
        return True
    code_a, code_b = a.to_epsg(), b.to_epsg()
    return code_a is not None and code_a == code_b


def crs_name(crs: CRS) -> str:
    """``EPSG:n`` if the CRS has a code, else its name: how messages and notes call it."""
    code = crs.to_epsg()
    return f"EPSG:{code}" if code else crs.name


def _is_cgcs2000(crs: CRS) -> bool:
    geodetic = crs.geodetic_crs
    return geodetic is not None and (
        geodetic.to_epsg() == 4490 or "china 2000" in (geodetic.datum.name or "").lower()
    )


# -- a CSV file's geometry ----------------------------------------------------------


def csv_geometries(
    frame: pd.DataFrame, file: str, problems: Problems
) -> tuple[pd.DataFrame, np.ndarray, str]:
    """Build geometries from a CSV file's WKT column or coordinate columns.

    Parameters
    ----------
    frame
        The CSV file's table, columns named as the schema's.
    file
        The file, as the user named it (for errors).
    problems
        Where unreadable WKT and coordinates are noted.

    Returns
    -------
    frame : pandas.DataFrame
        The table without its geometry columns.
    geometries : numpy.ndarray
        One geometry per row (``None`` where empty or unreadable).
    field : str
        The geometry's column(s) as the file names them (``lon/lat`` for a
        pair), for the problems of later checks.

    Raises
    ------
    gridmap.errors.InputError
        If the table has neither a WKT column nor a pair of coordinate columns.
    """
    lower = {str(c).lower(): c for c in frame.columns}
    wkt_col = next((lower[n] for n in _WKT_NAMES if n in lower), None)
    if wkt_col is not None:
        text = frame[wkt_col].to_numpy(dtype=object)
        geoms = np.full(len(text), None, dtype=object)
        given = np.array([isinstance(t, str) and t.strip() != "" for t in text], dtype=bool)
        parsed = shapely.from_wkt(
            np.array([t.strip() for t in text[given]], dtype=object), on_invalid="ignore"
        )
        geoms[given] = parsed
        for i in np.flatnonzero(given)[pd.isna(parsed)]:
            problems.add(
                int(i) + 1,
                wkt_col,
                f"cannot read the geometry '{shorten(text[i])}' as WKT",
                "write it as WKT, e.g. POINT (113.01 25.78) or POLYGON ((113.0 25.78, ...))",
            )
        return frame.drop(columns=[wkt_col]), geoms, wkt_col

    for lon_name, lat_name in _LONLAT_NAMES:
        if lon_name in lower and lat_name in lower:
            lon_col, lat_col = lower[lon_name], lower[lat_name]
            break
    else:
        raise file_error(
            "the CSV file has no geometry column",
            file=file,
            hint="add a WKT column named geometry (or wkt), or coordinate columns lon and "
            "lat (lng/lat, longitude/latitude, x/y, 经度/纬度)",
        )
    xs = parse_coordinates(frame[lon_col], lon_col, problems)
    ys = parse_coordinates(frame[lat_col], lat_col, problems)
    geoms = np.full(len(frame), None, dtype=object)
    ok = np.isfinite(xs) & np.isfinite(ys)
    geoms[ok] = shapely.points(xs[ok], ys[ok])
    return frame.drop(columns=[lon_col, lat_col]), geoms, f"{lon_col}/{lat_col}"


# -- to what the store keeps ----------------------------------------------------------


def prepare_geometries(
    geoms: np.ndarray,
    lay: Layer,
    source_crs: CRS,
    *,
    offset: str | None,
    repair: bool,
    district: shapely.Geometry | None,
    tolerance_m: float | None,
    keys: list | None,
    field_name: str,
    problems: Problems,
    notes: list[str],
) -> np.ndarray:
    """Bring geometries to EPSG:4326 and the layer's type, checking each one.

    Parameters
    ----------
    geoms
        One geometry per row (``None`` or empty where the row has none).
    lay
        The layer: its geometry type, and its key to name rows in notes.
    source_crs
        The coordinates' CRS (:func:`resolve_crs`).
    offset
        ``gcj02``/``bd09`` coordinates are unshifted to WGS 84 (inside
        mainland China only); ``None``: they are WGS 84 already.
    repair
        Repair invalid polygons (:func:`shapely.make_valid`, polygonal parts
        kept, each repair noted) instead of refusing them.
    district
        The district's outline (EPSG:4326): geometries reaching more than
        ``tolerance_m`` outside it are refused. ``None``: no such check.
    tolerance_m
        How far (m) a geometry may stray outside ``district``; ``None``: the
        ``containment_tolerance_m`` setting.
    keys
        The rows' keys, to name repaired rows in notes.
    field_name
        The geometry's column(s) in the file, for the problems.
    problems
        Where each refused geometry is noted.
    notes
        Where what was done to all geometries (reprojection, offset, Z
        dropped, promotions, repairs) is noted.

    Returns
    -------
    numpy.ndarray
        The geometries to store: 2-D, EPSG:4326, of the layer's type
        (polygons as MultiPolygons, one ring orientation); ``None`` where the
        row had none. A refused geometry is returned unfitted: the problems
        say which rows not to store.
    """
    geoms = np.asarray(geoms, dtype=object).copy()
    present = ~pd.isna(geoms)
    present[present] = ~shapely.is_empty(geoms[present].astype(object))
    for i in np.flatnonzero(~present):
        problems.add(int(i) + 1, field_name, "the geometry is empty", "every row needs a geometry")
    geoms[~present] = None

    if shapely.has_z(geoms[present]).any():
        # The store is 2-D; heights of footprints are not used.
        geoms[present] = shapely.force_2d(geoms[present])
        notes.append("dropped Z coordinates (the store is 2-D)")

    geoms = _to_storage_crs(geoms, source_crs, notes)
    present &= _check_lonlat_range(geoms, present, field_name, problems)

    if offset is not None:
        xy = shapely.get_coordinates(geoms[present])
        inside = int(offsets.in_mainland_china(xy[:, 0], xy[:, 1]).sum()) if len(xy) else 0
        geoms[present] = offsets.unshift_geometries(geoms[present], offset)
        label = {"gcj02": "GCJ-02", "bd09": "BD-09"}[offset]
        notes.append(
            f"unshifted coordinates from {label} to WGS 84 ({inside} of {len(xy)} vertices lie "
            "in mainland China; the offset does not apply to the others)"
        )

    def key_of(i: int) -> str:
        return f" ({lay.key} {keys[i]})" if keys is not None and keys[i] else ""

    promoted = 0
    for i in np.flatnonzero(present):
        try:
            geom, repaired = _fit_type(geoms[i], lay, repair)
        except _RefusedError as refused:
            problems.add(int(i) + 1, field_name, refused.what, refused.hint)
            present[i] = False
            continue
        if repaired:
            notes.append(f"row {i + 1}{key_of(i)}: repaired {repaired}")
        promoted += geoms[i].geom_type == "Polygon" and lay.geometry == "MultiPolygon"
        geoms[i] = geom
    if promoted:
        notes.append(f"promoted {promoted} Polygon(s) to MultiPolygon")
    if lay.geometry == "MultiPolygon" and present.any():
        # One ring orientation whatever the source (shapefiles wind outer rings
        # clockwise, GeoJSON counter-clockwise), so a round trip is exact.
        geoms[present] = shapely.orient_polygons(geoms[present].astype(object))

    if district is not None and present.any():
        _check_inside(geoms, present, district, tolerance_m, field_name, problems)
    return geoms


def _to_storage_crs(geoms: np.ndarray, source: CRS, notes: list[str]) -> np.ndarray:
    """Reproject to EPSG:4326; CGCS2000 longitude/latitude is taken as is."""
    if same_crs(source, CRS.from_epsg(4326)):
        return geoms
    series = gpd.GeoSeries(geoms, crs=source)
    if _is_cgcs2000(source):
        if not source.is_geographic:
            series = series.to_crs(4490)
        notes.append(
            f"took CGCS2000 ({crs_name(source)}) coordinates as WGS 84 "
            "(they differ by well under a metre)"
        )
        return series.to_numpy()
    notes.append(f"reprojected from {crs_name(source)} to EPSG:4326")
    return series.to_crs(4326).to_numpy()


def _check_lonlat_range(
    geoms: np.ndarray, present: np.ndarray, field_name: str, problems: Problems
) -> np.ndarray:
    """Rows whose coordinates are plausible longitude/latitude (others are reported)."""
    ok = np.ones(len(geoms), dtype=bool)
    if not present.any():
        return ok
    bounds = np.full((len(geoms), 4), np.nan)
    bounds[present] = shapely.bounds(geoms[present].astype(object))
    with np.errstate(invalid="ignore"):
        bad = present & ~(
            np.isfinite(bounds).all(axis=1)
            & (bounds[:, 0] >= -180)
            & (bounds[:, 2] <= 180)
            & (bounds[:, 1] >= -90)
            & (bounds[:, 3] <= 90)
        )
    for i in np.flatnonzero(bad):
        x, y = bounds[i, 0], bounds[i, 1]
        problems.add(
            int(i) + 1,
            field_name,
            f"the coordinates ({x:.6g}, {y:.6g}) are not longitude/latitude",
            f"is {option('crs')} right? projected coordinates in metres need their own EPSG "
            f"code, e.g. {option('crs', 'EPSG:4547')} (CGCS2000 3-degree Gauss-Kruger CM 114E)",
        )
        ok[i] = False
    return ok


class _RefusedError(Exception):
    """A geometry that cannot be stored: what is wrong, and what to do."""

    def __init__(self, what: str, hint: str) -> None:
        super().__init__(what)
        self.what, self.hint = what, hint


def _fit_type(geom: shapely.Geometry, lay: Layer, repair: bool) -> tuple[shapely.Geometry, str]:
    """Fit one geometry to the layer's type.

    Returns
    -------
    tuple
        The geometry to store, and the reason it was repaired ("" if it was not).

    Raises
    ------
    _RefusedError
        If the geometry has the wrong type, or is invalid and not repaired.
    """
    kind = geom.geom_type
    want = lay.geometry
    if want == "MultiPolygon":
        if kind not in ("Polygon", "MultiPolygon"):
            raise _RefusedError(
                f"a {kind} where layer '{lay.name}' needs polygons",
                "export the layer's polygons (areas), not points or lines",
            )
        if shapely.is_valid(geom):
            return as_multi(geom), ""
        reason = shapely.is_valid_reason(geom)
        if not repair:
            raise _RefusedError(
                f"the polygon is invalid: {reason}",
                f"fix it in a GIS, or import with {option('repair')} to repair it automatically",
            )
        fixed = _polygonal(shapely.make_valid(geom))
        if fixed is None:
            raise _RefusedError(
                f"the polygon is invalid ({reason}) and repairing it leaves no area",
                "redraw the polygon",
            )
        return fixed, reason
    multi = {"Point": "MultiPoint", "LineString": "MultiLineString"}[want]
    if kind == multi and len(geom.geoms) == 1:
        geom, kind = geom.geoms[0], want
    if kind != want:
        hint = (
            "split multi-part features into single parts (e.g. ogr2ogr -explodecollections)"
            if kind == multi
            else f"export {want} features for this layer"
        )
        raise _RefusedError(f"a {kind} where layer '{lay.name}' needs {want}s", hint)
    if not shapely.is_valid(geom):
        raise _RefusedError(
            f"the geometry is invalid: {shapely.is_valid_reason(geom)}", "fix it in a GIS"
        )
    return geom, ""


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry | None:
    """The polygonal parts of a repaired geometry as a MultiPolygon, or None."""
    parts = [
        p
        for g in shapely.get_parts(geom)
        for p in (shapely.get_parts(g) if g.geom_type == "MultiPolygon" else [g])
        if p.geom_type == "Polygon" and not p.is_empty
    ]
    if not parts:
        return None
    merged = shapely.union_all(parts)
    return as_multi(merged) if not merged.is_empty else None


def as_multi(geom: shapely.Geometry) -> shapely.Geometry:
    """A Polygon as a one-part MultiPolygon; any other geometry as it is."""
    return shapely.MultiPolygon([geom]) if geom.geom_type == "Polygon" else geom


def _check_inside(
    geoms: np.ndarray,
    present: np.ndarray,
    district: shapely.Geometry,
    tolerance_m: float | None,
    field_name: str,
    problems: Problems,
) -> None:
    """Report features lying more than the tolerance outside the district (measured in UTM)."""
    if tolerance_m is None:
        # Loaded only for a caller that leaves the tolerance to the settings.
        from gridmap.settings import get_settings

        tolerance_m = get_settings().containment_tolerance_m
    centre = district.centroid
    metric = utm_crs(centre.x, centre.y)
    area_m = gpd.GeoSeries([district], crs=STORAGE_CRS).to_crs(metric).iloc[0]
    allowed = shapely.buffer(area_m, tolerance_m)
    shapely.prepare(allowed)
    idx = np.flatnonzero(present)
    geoms_m = gpd.GeoSeries(geoms[idx], crs=STORAGE_CRS).to_crs(metric).to_numpy()
    inside = shapely.covered_by(geoms_m, allowed)
    for i, geom_m in zip(idx[~inside], geoms_m[~inside], strict=True):
        # How far the farthest vertex strays tells a slightly-off outline from
        # a feature of another district (or coordinates in the wrong system).
        vertices = shapely.points(shapely.get_coordinates(geom_m))
        far = float(shapely.distance(area_m, vertices).max())
        what = (
            f"the point lies {far:,.0f} m outside the district"
            if geom_m.geom_type == "Point"
            else f"the geometry reaches {far:,.0f} m outside the district"
        )
        problems.add(
            int(i) + 1,
            field_name,
            what,
            f"is it in this district? AMap/Baidu exports need {option('offset', 'gcj02')} or "
            f"{option('offset', 'bd09')}",
        )

"""Writing a layer frame to a file others open: GeoPackage, GeoJSON or CSV.

:func:`write_layer_file` conforms the frame to the layer's schema (columns in
order, the store's dtypes, EPSG:4326) and writes it through
:func:`gridmap.io.atomic.atomic_path`, so a failure never leaves a
half-written file. A CSV file gets GDAL's ``.csvt`` (column types) and
``.prj`` (CRS) sidecars, so QGIS reads codes as text.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS

from gridmap.errors import option
from gridmap.io.atomic import atomic_path
from gridmap.io.geometry import as_multi, same_crs
from gridmap.io.parse import is_missing
from gridmap.io.problems import file_error, first_line
from gridmap.io.readers import GDAL_ERRORS, layer_names
from gridmap.schema import CRS as STORAGE_CRS
from gridmap.schema import Layer
from gridmap.schema import layer as schema_layer

__all__ = ["WRITE_FORMATS", "write_layer_file"]

#: Formats write_layer_file writes (by name or file ending).
WRITE_FORMATS: tuple[str, ...] = ("gpkg", "geojson", "csv")

_GEOJSON_OPTIONS = {"RFC7946": "YES", "COORDINATE_PRECISION": "15"}
_CSVT_TYPES = {
    "text": "String",
    "int": "Integer64",
    "float": "Real",
    "bool": "Integer(Boolean)",
    "datetime": "DateTime",
}


def write_layer_file(
    frame: pd.DataFrame, path: str | os.PathLike, *, layer: str, fmt: str | None = None
) -> Path:
    """Write a layer frame as GeoPackage, GeoJSON or CSV.

    Parameters
    ----------
    frame
        The layer's rows: its schema columns (missing optional ones are
        written empty; other columns are left out) and, for a spatial layer,
        a geometry in any CRS (a frame without a CRS is taken as EPSG:4326).
    path
        The file to write. A GeoPackage that exists keeps its other layers
        (this layer is replaced); other formats are replaced whole.
    layer
        The schema layer the frame holds; also the GeoPackage layer's name.
    fmt
        ``gpkg``, ``geojson`` or ``csv``; by default from the file's ending.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    gridmap.errors.InputError
        For an unknown format, GeoJSON for a layer without geometry, or a
        file that cannot be written.
    ValueError
        If the frame lacks one of the layer's required columns (a bug in the
        caller, not the user's doing).

    Notes
    -----
    GeoJSON follows RFC 7946: EPSG:4326 longitude/latitude, no ``crs`` member,
    15 decimals. CSV is UTF-8 with a BOM (so spreadsheets detect the
    encoding), geometry as a WKT column ``geometry``, datetimes as ISO 8601
    UTC ending in ``Z``, text (codes) quoted; a GDAL ``.csvt`` sidecar gives
    the column types (codes are ``String``, so GDAL and QGIS keep them text)
    and a ``.prj`` sidecar the CRS. Spreadsheets still guess types when
    opening a CSV directly: import it with the code columns set to Text.
    Everything is written to a temporary file in the same folder and renamed
    into place, so a failure leaves no half-written file.
    """
    lay = schema_layer(layer)
    target = Path(path)
    fmt = _write_format(target, fmt)
    if fmt == "geojson" and lay.geometry is None:
        raise file_error(
            f"layer '{lay.name}' has no geometry and cannot be written as GeoJSON",
            file=str(path),
            hint="write it as csv or gpkg",
        )
    if not target.parent.is_dir():
        raise file_error(
            "the folder does not exist", file=str(path), hint="create the folder first"
        )
    out = _conform(frame, lay)
    try:
        # Every file goes to a temporary sibling first; the stack moves them all
        # into place (sidecars, then the file itself) only when each one was
        # written, and removes them all otherwise.
        with contextlib.ExitStack() as stack:
            tmp = stack.enter_context(atomic_path(target, suffix=target.suffix or "." + fmt))
            if fmt == "gpkg":
                if target.exists():
                    layer_names(target, str(path))
                    # Copy, then replace only this layer: other layers survive, and
                    # the original stays intact until the rename.
                    tmp.write_bytes(target.read_bytes())
                pyogrio.write_dataframe(out, tmp, layer=lay.name, driver="GPKG")
            elif fmt == "geojson":
                pyogrio.write_dataframe(
                    out, tmp, layer=lay.name, driver="GeoJSON", layer_options=_GEOJSON_OPTIONS
                )
            else:
                _write_csv(out, lay, tmp)
                csvt = stack.enter_context(atomic_path(target.with_suffix(".csvt")))
                csvt.write_text(_csvt_line(lay), encoding="utf-8")
                if lay.geometry is not None:
                    prj = stack.enter_context(atomic_path(target.with_suffix(".prj")))
                    prj.write_text(CRS.from_epsg(4326).to_wkt("WKT1_ESRI"), encoding="utf-8")
    except GDAL_ERRORS as exc:
        raise file_error(
            f"cannot write the file ({first_line(exc)})",
            file=str(path),
            hint="check the folder is writable and, for a GeoPackage, that it is one",
        ) from None
    return target


def _write_format(path: Path, fmt: str | None) -> str:
    name = (fmt or path.suffix.lstrip(".")).lower()
    name = {"json": "geojson"}.get(name, name)
    if name not in WRITE_FORMATS:
        raise file_error(
            f"cannot write the format '{fmt or path.suffix or 'none'}'",
            file=str(path),
            hint=f"use one of: {', '.join(WRITE_FORMATS)} (by file ending or {option('fmt')})",
        )
    return name


def _conform(frame: pd.DataFrame, lay: Layer) -> pd.DataFrame:
    """The frame's schema columns in order, with the store's dtypes."""
    n = len(frame)
    data: dict[str, pd.Series] = {}
    for col in lay.columns:
        if col.name in frame.columns:
            series = frame[col.name].reset_index(drop=True)
        elif col.required:
            raise ValueError(f"the {lay.name} frame lacks the required column '{col.name}'")
        else:
            series = pd.Series([None] * n, dtype=object)
        data[col.name] = _coerce(series, col.type)
    out = pd.DataFrame(data, index=pd.RangeIndex(n))
    if lay.geometry is None:
        return out
    geoseries = gpd.GeoSeries(frame.geometry).reset_index(drop=True)
    if geoseries.crs is None:
        geoseries = geoseries.set_crs(STORAGE_CRS)
    elif not same_crs(geoseries.crs, CRS.from_epsg(4326)):
        geoseries = geoseries.to_crs(STORAGE_CRS)
    geoms = geoseries.to_numpy()
    if lay.geometry == "MultiPolygon":
        # One geometry type per layer: GeoPackage readers expect it.
        geoms = np.array(
            [g if g is None else as_multi(g) if g.geom_type == "Polygon" else g for g in geoms],
            dtype=object,
        )
    return gpd.GeoDataFrame(out, geometry=gpd.GeoSeries(geoms, crs=STORAGE_CRS))


def _coerce(series: pd.Series, kind: str) -> pd.Series:
    if kind == "text":
        return series.astype("str")
    if kind == "int":
        return series.astype("Int64")
    if kind == "float":
        return series.astype("float64")
    if kind == "bool":
        return series.fillna(False).astype("bool")
    if kind == "datetime":
        return pd.Series(pd.to_datetime(series, utc=True)).astype("datetime64[ms, UTC]")
    raise ValueError(f"unknown column type {kind!r}")


def _write_csv(frame: pd.DataFrame, lay: Layer, path: Path) -> None:
    """CSV in UTF-8 with BOM: text quoted, numbers bare, empty cells bare."""
    columns: list[list[str]] = []
    for col in lay.columns:
        columns.append([_csv_cell(v, col.type) for v in frame[col.name].tolist()])
    header = lay.column_names
    if lay.geometry is not None:
        wkt = shapely.to_wkt(frame.geometry.to_numpy(), rounding_precision=-1)
        columns.append(["" if w is None else _quote(w) for w in wkt])
        header = [*header, "geometry"]
    lines = [",".join(_quote(h) for h in header)]
    lines.extend(",".join(cells) for cells in zip(*columns, strict=True))
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        f.write("\r\n".join(lines) + "\r\n")


def _csv_cell(value: Any, kind: str) -> str:
    if is_missing(value):
        return ""
    if kind == "int":
        return str(int(value))
    if kind == "float":
        return repr(float(value))
    if kind == "bool":
        return _quote("true" if value else "false")
    if kind == "datetime":
        stamp = pd.Timestamp(value).tz_convert("UTC")
        text = stamp.strftime("%Y-%m-%dT%H:%M:%S")
        if stamp.microsecond:
            text += f".{stamp.microsecond // 1000:03d}"
        return _quote(text + "Z")
    return _quote(str(value))


def _quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _csvt_line(lay: Layer) -> str:
    types = [_CSVT_TYPES[c.type] for c in lay.columns]
    if lay.geometry is not None:
        types.append("WKT")
    return ",".join(_quote(t) for t in types) + "\r\n"

"""Reading users' files into layer frames, and writing layer frames to files.

This is file I/O at the edge: no database here. :func:`read_layer_file` turns
a GeoPackage, GeoJSON, Shapefile (plain or zipped) or CSV file into a frame
shaped exactly like a layer of :mod:`gridmap.schema`, after checking every
row; the caller stores only a frame that passed every check.
:func:`write_layer_file` writes a layer frame as GeoPackage, GeoJSON or CSV.

Rows in messages are 1-based data rows: the header of a CSV file is not
counted, and in GIS files row *n* is the *n*-th feature.
"""

from __future__ import annotations

import contextlib
import io as _stdio
import math
import os
import re
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyogrio.errors
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError

from gridmap import offsets
from gridmap.codes import WIDTHS, check_code, parent_level
from gridmap.crs import utm_crs
from gridmap.errors import CodeError, InputError
from gridmap.schema import CRS as STORAGE_CRS
from gridmap.schema import Column, Layer
from gridmap.schema import layer as schema_layer

__all__ = [
    "READ_FORMATS",
    "WRITE_FORMATS",
    "MAX_PROBLEMS",
    "read_layer_file",
    "write_layer_file",
]

#: File name endings read_layer_file understands, and what they are.
READ_FORMATS: dict[str, str] = {
    ".gpkg": "GeoPackage",
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".shp": "Shapefile",
    ".zip": "zipped Shapefile",
    ".csv": "CSV",
}
#: Formats write_layer_file writes (by name or file ending).
WRITE_FORMATS: tuple[str, ...] = ("gpkg", "geojson", "csv")
#: At most this many problems are listed on an InputError's ``problems``.
MAX_PROBLEMS = 100

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
# Columns naming a unit of a known level; other layers' codes are checked against it.
_CODE_LEVELS = {f"{level}_code": level for level in WIDTHS}
# Party organisations sit on the unit they organise.
_PARTY_UNIT_LEVELS = {
    "grid_branch": ("grid",),
    "building_group": ("building",),
    "central_household": ("grid", "building"),
}
_TRUE = {"true", "t", "yes", "y", "1", "是"}
_FALSE = {"false", "f", "no", "n", "0", "否"}
# Floats hold integers exactly only up to 2**53: a 17-digit code stored as a
# number in a spreadsheet or DBF has lost its last digits.
_EXACT_FLOAT_INT = 2**53
_PYOGRIO_ERRORS = (
    pyogrio.errors.DataSourceError,
    pyogrio.errors.DataLayerError,
    pyogrio.errors.FieldError,
    pyogrio.errors.GeometryError,
    pyogrio.errors.CRSError,
    OSError,
    RuntimeError,
    ValueError,
)
_GEOJSON_OPTIONS = {"RFC7946": "YES", "COORDINATE_PRECISION": "15"}
_CSVT_TYPES = {
    "text": "String",
    "int": "Integer64",
    "float": "Real",
    "bool": "Integer(Boolean)",
    "datetime": "DateTime",
}


# -- reading --------------------------------------------------------------------


def read_layer_file(
    path: str | os.PathLike,
    layer: str,
    *,
    crs: str | None = None,
    offset: str | None = None,
    mapping: dict[str, str] | None = None,
    repair: bool = False,
    district: shapely.Geometry | None = None,
    existing_keys: set[str] | None = None,
    source_layer: str | None = None,
    tolerance_m: float | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """Read a user's file as a layer of the store, checking every row.

    Parameters
    ----------
    path
        A GeoPackage (``.gpkg``), GeoJSON (``.geojson``/``.json``), Shapefile
        (``.shp``, or a ``.zip`` holding one) or CSV (``.csv``) file. A CSV
        file is read as text (codes keep their leading zeros), in UTF-8 with
        or without BOM, or else GB18030; its geometry comes from a WKT column
        named ``geometry`` or ``wkt``, or from coordinate columns ``lon``/``lat``,
        ``lng``/``lat``, ``longitude``/``latitude``, ``x``/``y`` or ``经度``/``纬度``.
    layer
        The store layer the file holds (:data:`gridmap.schema.LAYERS`).
    crs
        The CRS of a file that has none (a CSV file never has one), e.g.
        ``"EPSG:4326"``. A file with a CRS of its own must not be given another.
    offset
        ``"gcj02"`` or ``"bd09"`` for coordinates exported from AMap/Tencent or
        Baidu: they are unshifted to WGS 84 (inside mainland China only).
    mapping
        Renames the file's columns to the layer's (``{"source": "schema"}``,
        from ``--map source=schema``). For a CSV file a column may also be
        mapped to ``geometry``, ``lon`` or ``lat``.
    repair
        Repair invalid polygons with :func:`shapely.make_valid` (keeping the
        polygonal parts) instead of refusing them; each repair is noted.
    district
        The district's outline (EPSG:4326). Features lying more than
        ``tolerance_m`` outside it are refused.
    existing_keys
        Keys already in the store: rows repeating one are refused.
    source_layer
        The layer to read inside a GeoPackage (default: the one named like
        ``layer``, else the only one), or the shapefile to read inside a zip
        archive holding several.
    tolerance_m
        How far (m) a feature may stray outside ``district``; default the
        ``containment_tolerance_m`` setting (1 m).

    Returns
    -------
    frame : pandas.DataFrame or geopandas.GeoDataFrame
        Exactly the layer's columns in schema order (and ``geometry``, in
        EPSG:4326, for a spatial layer), with dtypes ``str`` (text), ``Int64``,
        ``float64``, ``bool`` (an empty optional value reads as false) and
        ``datetime64[ms, UTC]``. Datetimes with a time zone are converted to
        UTC; datetimes without one are taken to be UTC already. Polygons of a
        MultiPolygon layer are promoted to MultiPolygons.
    notes : list of str
        What was done on the way that the user should know: columns ignored,
        reprojection, offset, repairs.

    Raises
    ------
    gridmap.errors.InputError
        For a file that cannot be read or any row that fails a check. The
        error describes the first problem (file, 1-based data row, field);
        its ``problems`` attribute lists every problem found, up to
        :data:`MAX_PROBLEMS`, one string each.

    Notes
    -----
    Checks, all made before anything is returned: required columns present;
    required values not empty; integers, numbers, yes/no values and
    datetimes parse; values among the column's choices; unit codes well
    formed, of the layer's level and extending the parent column's code;
    geometry present, parseable, in longitude/latitude range, of the
    layer's type, valid (or repaired), inside the district; keys unique in
    the file and new to the store.
    """
    lay = schema_layer(layer)
    file = os.fspath(path)
    notes: list[str] = []
    if offset is not None and offset not in offsets.OFFSETS:
        raise _error(
            f"unknown offset '{offset}'",
            file=file,
            hint=f"use one of: {', '.join(offsets.OFFSETS)} (or none for WGS 84 data)",
        )

    table = _read_table(Path(path), file, lay, source_layer, notes)
    frame = table.frame
    frame.columns = [str(c).strip() for c in frame.columns]
    spatial = lay.geometry is not None
    csv_geometry = table.kind == "CSV" and spatial
    frame, sources = _apply_mapping(frame, mapping, lay, file, csv_geometry)
    frame, sources = _match_case(frame, sources, lay, notes)

    problems = _Problems(file)
    geoms: np.ndarray | None = None
    geom_field = "geometry"
    # The CRS first: without it no coordinate can be checked.
    source_crs = _resolve_crs(table.crs, crs, file) if spatial else None
    if csv_geometry:
        frame, geoms, geom_field = _csv_geometry(frame, file, problems)
    elif spatial:
        geoms = table.geometry
        if geoms is None:
            raise _error(
                f"the file has no geometry, but layer '{lay.name}' needs {lay.geometry} geometries",
                file=file,
                hint="export the layer with its geometry",
            )
    elif table.geometry is not None:
        notes.append(f"ignored the file's geometry: layer '{lay.name}' has none")

    _check_columns(frame, lay, file, notes)
    if len(frame) == 0:
        raise _error("the file has no rows", file=file, hint="check you exported the right layer")

    values = {
        col.name: _parse_column(frame, col, sources.get(col.name, col.name), problems)
        for col in lay.columns
    }
    _check_codes(values, lay, sources, problems)

    if geoms is not None and source_crs is not None:
        geoms = _prepare_geometries(
            geoms,
            lay,
            source_crs,
            offset,
            repair,
            district,
            tolerance_m,
            keys=values.get(lay.key) if lay.key else None,
            field_name=geom_field,
            problems=problems,
            notes=notes,
        )
    if lay.key:
        _check_keys(values[lay.key], sources.get(lay.key, lay.key), existing_keys, problems)

    problems.raise_if_any()

    data = {col.name: _series(values[col.name], col.type) for col in lay.columns}
    result = pd.DataFrame(data, index=pd.RangeIndex(len(frame)))
    if spatial:
        result = gpd.GeoDataFrame(result, geometry=gpd.GeoSeries(geoms, crs=STORAGE_CRS))
    return result, notes


@dataclass
class _Table:
    """A file's contents before any check: attributes, geometries, CRS."""

    frame: pd.DataFrame
    geometry: np.ndarray | None
    crs: CRS | None
    kind: str


def _read_table(
    path: Path, file: str, lay: Layer, source_layer: str | None, notes: list[str]
) -> _Table:
    suffix = path.suffix.lower()
    if suffix not in READ_FORMATS:
        raise _error(
            f"cannot import '{suffix or 'extensionless'}' files",
            file=file,
            hint="use one of: "
            + ", ".join(f"{v} ({k})" for k, v in READ_FORMATS.items())
            + "; save spreadsheets as CSV",
        )
    if not path.exists():
        raise _error("no such file", file=file, hint="check the path and the file name")
    if not path.is_file():
        raise _error("not a file", file=file, hint="name the file itself, not its folder")
    if path.stat().st_size == 0:
        raise _error("the file is empty", file=file, hint="export the layer again")
    if suffix == ".csv":
        return _read_csv(path, file, notes)

    kind = READ_FORMATS[suffix]
    layer_name: str | None = None
    has_cpg = True
    if suffix == ".zip":
        target, has_cpg = _zip_target(path, file, source_layer)
    else:
        target = str(path)
        if suffix == ".shp":
            has_cpg = path.with_suffix(".cpg").exists() or path.with_suffix(".CPG").exists()
        elif suffix == ".gpkg":
            layer_name = _pick_layer(target, file, lay.name, source_layer)
    gdf = _pyogrio_read(target, layer_name, file, kind)
    if kind.endswith("Shapefile") and not has_cpg and _looks_misdecoded(gdf):
        # Without a .cpg file GDAL decodes a DBF as Latin-1; Chinese shapefiles
        # are usually GBK/GB18030, which then shows as accented letters.
        gdf = _pyogrio_read(target, layer_name, file, kind, encoding="GB18030")
        notes.append("read the attribute table as GB18030 (the shapefile has no .cpg file)")

    geometry = None
    crs = None
    if isinstance(gdf, gpd.GeoDataFrame):
        geometry = gdf.geometry.to_numpy()
        crs = gdf.crs
        frame = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    else:
        frame = gdf
    return _Table(frame.reset_index(drop=True), geometry, crs, kind)


def _pyogrio_read(
    target: str, layer_name: str | None, file: str, kind: str, encoding: str | None = None
) -> pd.DataFrame:
    try:
        return pyogrio.read_dataframe(target, layer=layer_name, encoding=encoding)
    except _PYOGRIO_ERRORS as exc:
        raise _error(
            f"cannot read it as a {kind} file ({_first_line(exc)})",
            file=file,
            hint=f"check that it is a complete {kind} file (export it again), "
            "or give it the ending of its real format",
        ) from None


def _pick_layer_names(target: str | Path, file: str) -> list[str]:
    """The layers of a GeoPackage (an InputError if it is not one)."""
    try:
        return [str(n) for n in pyogrio.list_layers(target)[:, 0]]
    except _PYOGRIO_ERRORS as exc:
        raise _error(
            f"cannot read it as a GeoPackage ({_first_line(exc)})",
            file=file,
            hint="check that it is a complete GeoPackage, or choose another file name",
        ) from None


def _pick_layer(target: str, file: str, wanted: str, source_layer: str | None) -> str:
    """The layer to read in a GeoPackage: the one asked for, the same-named one, or the only one."""
    names = _pick_layer_names(target, file)
    if source_layer is not None:
        if source_layer not in names:
            raise _error(
                f"the GeoPackage has no layer '{source_layer}'",
                file=file,
                hint=f"its layers are: {', '.join(names) or 'none'}",
            )
        return source_layer
    if wanted in names:
        return wanted
    if len(names) == 1:
        return names[0]
    if not names:
        raise _error("the GeoPackage has no layers", file=file, hint="export the layer again")
    raise _error(
        f"the GeoPackage has {len(names)} layers and none is called '{wanted}'",
        file=file,
        hint=f"choose one with --source-layer: {', '.join(names)}",
    )


def _zip_target(path: Path, file: str, source_layer: str | None) -> tuple[str, bool]:
    """The /vsizip/ path of the shapefile inside a zip archive, and whether it has a .cpg."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise _error(
            f"not a readable zip archive ({_first_line(exc)})",
            file=file,
            hint="zip the shapefile's .shp, .shx, .dbf and .prj files together again",
        ) from None
    # macOS's Finder adds resource forks under __MACOSX/: never data.
    shps = [n for n in names if n.lower().endswith(".shp") and not n.startswith("__MACOSX/")]
    if not shps:
        raise _error(
            "the zip archive holds no shapefile (.shp)",
            file=file,
            hint="zip the shapefile's .shp, .shx, .dbf and .prj files together",
        )
    if len(shps) > 1:
        stems = {Path(n).stem: n for n in shps}
        if source_layer is None or source_layer not in stems:
            raise _error(
                f"the zip archive holds {len(shps)} shapefiles",
                file=file,
                hint=f"choose one with --source-layer: {', '.join(stems)}",
            )
        shps = [stems[source_layer]]
    inner = shps[0]
    has_cpg = inner[:-4] + ".cpg" in names or inner[:-4] + ".CPG" in names
    return f"/vsizip/{path.resolve().as_posix()}/{inner}", has_cpg


def _looks_misdecoded(frame: pd.DataFrame) -> bool:
    """Whether text values look like GBK bytes decoded as Latin-1."""
    for name in frame.columns:
        column = frame[name]
        if column.dtype == object or pd.api.types.is_string_dtype(column.dtype):
            sample = column.dropna().astype(str).head(200)
            if sample.str.contains("[\u0080-\u00ff]", regex=True).any():
                return True
    return False


def _read_csv(path: Path, file: str, notes: list[str]) -> _Table:
    raw = path.read_bytes()
    if b"\x00" in raw[:65536]:
        raise _error(
            "not a CSV file: it holds binary data",
            file=file,
            hint="save the table as CSV (UTF-8), or give the file the ending of its format",
        )
    # Chinese spreadsheets save CSV as GB18030/GBK unless told "CSV UTF-8".
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise _error(
            "the file is neither UTF-8 nor GB18030 text",
            file=file,
            hint="save it as CSV UTF-8",
        )
    if encoding == "gb18030":
        notes.append("read the CSV file as GB18030 (it is not UTF-8)")
    try:
        # Everything as text: codes keep their leading zeros and all 17 digits;
        # "NA" and friends stay text, an empty field is the only missing value.
        frame = pd.read_csv(_stdio.StringIO(text), dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise _error("the CSV file has no header row", file=file, hint="export it again") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise _error(
            f"not a well-formed CSV file ({_first_line(exc)})",
            file=file,
            hint="check the quoting and that every row has as many fields as the header",
        ) from None
    return _Table(frame, None, None, "CSV")


def _apply_mapping(
    frame: pd.DataFrame,
    mapping: dict[str, str] | None,
    lay: Layer,
    file: str,
    csv_geometry: bool,
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Rename the file's columns (``--map source=target``); return target → source names."""
    if not mapping:
        return frame, {}
    targets = list(lay.column_names) + (["geometry", "lon", "lat"] if csv_geometry else [])
    columns = list(frame.columns)
    seen: dict[str, str] = {}
    for src, dst in mapping.items():
        if src not in columns:
            raise _error(
                f"--map {src}={dst}: the file has no column '{src}'",
                file=file,
                hint=f"its columns are: {', '.join(columns)}",
            )
        if dst not in targets:
            raise _error(
                f"--map {src}={dst}: '{dst}' is not a column of layer '{lay.name}'",
                file=file,
                hint=f"map to one of: {', '.join(targets)}",
            )
        if dst in seen:
            raise _error(
                f"--map maps both '{seen[dst]}' and '{src}' to '{dst}'",
                file=file,
                hint="map one column to each target",
            )
        if dst in columns and dst != src and dst not in mapping:
            raise _error(
                f"--map {src}={dst}: the file already has a column '{dst}'",
                file=file,
                hint=f"map '{dst}' to another column too, or drop --map {src}={dst}",
            )
        seen[dst] = src
    return frame.rename(columns=mapping), {dst: src for dst, src in seen.items() if dst != src}


def _match_case(
    frame: pd.DataFrame, sources: dict[str, str], lay: Layer, notes: list[str]
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Take a column differing only in case (shapefiles often say CODE) as the schema's."""
    present = set(frame.columns)
    renames: dict[str, str] = {}
    for name in lay.column_names:
        if name in present:
            continue
        matches = [c for c in frame.columns if c.lower() == name.lower() and c not in renames]
        if len(matches) == 1 and matches[0] not in lay.column_names:
            renames[matches[0]] = name
    if renames:
        notes.append(
            "read columns " + ", ".join(f"'{src}' as '{dst}'" for src, dst in renames.items())
        )
        sources = {**sources, **{dst: src for src, dst in renames.items()}}
    return frame.rename(columns=renames), sources


def _check_columns(frame: pd.DataFrame, lay: Layer, file: str, notes: list[str]) -> None:
    missing = [c.name for c in lay.columns if c.required and c.name not in frame.columns]
    if missing:
        raise _error(
            f"the file lacks the required column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)} of layer '{lay.name}'",
            file=file,
            hint=f"the file's columns are: {', '.join(map(str, frame.columns)) or 'none'}; "
            "rename them with --map source=target",
        )
    extra = [c for c in frame.columns if c not in lay.column_names]
    if extra:
        notes.append(f"ignored columns: {', '.join(map(str, extra))}")


def _csv_geometry(
    frame: pd.DataFrame, file: str, problems: _Problems
) -> tuple[pd.DataFrame, np.ndarray, str]:
    """Build geometries from a CSV file's WKT column or coordinate columns."""
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
                f"cannot read the geometry '{_shorten(text[i])}' as WKT",
                "write it as WKT, e.g. POINT (113.01 25.78) or POLYGON ((113.0 25.78, ...))",
            )
        return frame.drop(columns=[wkt_col]), geoms, wkt_col

    for lon_name, lat_name in _LONLAT_NAMES:
        if lon_name in lower and lat_name in lower:
            lon_col, lat_col = lower[lon_name], lower[lat_name]
            break
    else:
        raise _error(
            "the CSV file has no geometry column",
            file=file,
            hint="add a WKT column named geometry (or wkt), or coordinate columns lon and "
            "lat (lng/lat, longitude/latitude, x/y, 经度/纬度)",
        )
    xs = _coordinates(frame[lon_col], lon_col, problems)
    ys = _coordinates(frame[lat_col], lat_col, problems)
    geoms = np.full(len(frame), None, dtype=object)
    ok = np.isfinite(xs) & np.isfinite(ys)
    geoms[ok] = shapely.points(xs[ok], ys[ok])
    return frame.drop(columns=[lon_col, lat_col]), geoms, f"{lon_col}/{lat_col}"


def _coordinates(column: pd.Series, name: str, problems: _Problems) -> np.ndarray:
    text = column.to_numpy(dtype=object)
    out = np.full(len(text), np.nan)
    for i, value in enumerate(text):
        value = "" if value is None else str(value).strip()
        if not value:
            continue  # reported as a missing geometry
        try:
            out[i] = float(value)
        except ValueError:
            problems.add(i + 1, name, f"'{_shorten(value)}' is not a number")
    return out


# -- values -------------------------------------------------------------------


def _parse_column(frame: pd.DataFrame, col: Column, source: str, problems: _Problems) -> list:
    """Parse one schema column into Python values (``None`` where empty), noting problems."""
    if col.name not in frame.columns:
        return [None] * len(frame)
    parse = _PARSERS[col.type]
    out = []
    for i, raw in enumerate(frame[col.name].tolist()):
        row = i + 1
        try:
            value = parse(raw)
        except ValueError as exc:
            problems.add(row, source, str(exc), _TYPE_HINTS[col.type])
            out.append(None)
            continue
        if value is None and col.required:
            problems.add(row, source, "the value is empty", "the column is required")
        elif col.choices is not None and value is not None and value not in col.choices:
            near = value.strip().lower().replace(" ", "_")
            hint = f"did you mean '{near}'? " if near in col.choices else ""
            problems.add(
                row,
                source,
                f"'{_shorten(value)}' is not one of the allowed values",
                f"{hint}use one of: {', '.join(col.choices)}",
            )
        out.append(value)
    return out


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip() == ""


def _parse_text(value: Any) -> str | None:
    if _is_missing(value):
        return None
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if float(value).is_integer():
            if abs(value) >= _EXACT_FLOAT_INT:
                raise ValueError(
                    f"the value {value:.17g} was stored as a number too large to be exact"
                )
            return str(int(value))
        return repr(float(value))
    return str(value)


def _parse_int(value: Any) -> int | None:
    if _is_missing(value):
        return None
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"'{value}' is not a whole number")
    if isinstance(value, (int, np.integer)):
        return int(value)
    number = value if isinstance(value, (float, np.floating)) else None
    if number is None:
        text = str(value).strip()
        try:
            return int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                raise ValueError(f"'{_shorten(text)}' is not a whole number") from None
    if not math.isfinite(number) or not float(number).is_integer():
        raise ValueError(f"'{_shorten(value)}' is not a whole number")
    return int(number)


def _parse_float(value: Any) -> float | None:
    if _is_missing(value):
        return None
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"'{value}' is not a number")
    try:
        return float(str(value).strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        raise ValueError(f"'{_shorten(value)}' is not a number") from None


def _parse_bool(value: Any) -> bool | None:
    if _is_missing(value):
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer, float, np.floating)) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"'{_shorten(value)}' is not a yes/no value")


def _parse_timestamp(value: Any) -> pd.Timestamp | None:
    """One time as a Timestamp (naive if written without a zone), or None if empty."""
    if _is_missing(value):
        return None
    if isinstance(value, (int, float, np.integer, np.floating, bool)):
        # A bare number is ambiguous (seconds? days since 1900 in a spreadsheet?).
        raise ValueError(f"'{value}' is a number, not a date and time")
    try:
        stamp = pd.Timestamp(value.strip() if isinstance(value, str) else value)
    except (ValueError, TypeError, OverflowError):
        raise ValueError(f"'{_shorten(value)}' is not a date and time") from None
    return None if pd.isna(stamp) else stamp


def _parse_datetime(value: Any) -> pd.Timestamp | None:
    stamp = _parse_timestamp(value)
    if stamp is None:
        return None
    # Naive datetimes are taken as UTC, as the store keeps them.
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


_PARSERS = {
    "text": _parse_text,
    "int": _parse_int,
    "float": _parse_float,
    "bool": _parse_bool,
    "datetime": _parse_datetime,
}
_TYPE_HINTS = {
    "text": "store codes and ids as text (format the spreadsheet column as Text)",
    "int": "write a whole number, e.g. 12",
    "float": "write a number with a decimal point, e.g. 12.5",
    "bool": "write true or false (also yes/no, 1/0, 是/否)",
    "datetime": "write ISO 8601, e.g. 2024-05-01T08:30:00Z (without a zone it is taken as UTC)",
}


def _series(values: list, kind: str) -> pd.Series:
    """A column of parsed values with the store's dtype."""
    if kind == "text":
        return pd.Series(values, dtype="str")
    if kind == "int":
        return pd.Series(pd.array(values, dtype="Int64"))
    if kind == "float":
        return pd.Series([np.nan if v is None else v for v in values], dtype="float64")
    if kind == "bool":
        # bool columns are not nullable: an empty optional yes/no means no.
        return pd.Series([bool(v) for v in values], dtype="bool")
    if kind == "datetime":
        return pd.Series(pd.to_datetime(values, utc=True)).astype("datetime64[ms, UTC]")
    raise ValueError(f"unknown column type {kind!r}")


# -- codes and keys -------------------------------------------------------------


def _check_codes(
    values: dict[str, list], lay: Layer, sources: dict[str, str], problems: _Problems
) -> None:
    """Check unit codes: the layer's own level and parent, and other layers' codes named here."""

    def check(column: str, levels_of_row) -> list[bool]:
        ok = []
        for i, code in enumerate(values[column]):
            problem = None if code is None else _code_problem(code, levels_of_row(i))
            if problem is not None:
                problems.add(i + 1, sources.get(column, column), *problem)
            ok.append(code is not None and problem is None)
        return ok

    if lay.level is not None:
        own = check("code", lambda i: (lay.level,))
        if lay.parent is None:
            return
        level = parent_level(lay.level)
        width = WIDTHS[level]
        parents = check(lay.parent, lambda i: (level,))
        for i, (code, parent) in enumerate(zip(values["code"], values[lay.parent], strict=True)):
            if own[i] and parents[i] and code[:width] != parent:
                problems.add(
                    i + 1,
                    sources.get(lay.parent, lay.parent),
                    f"'{parent}' is not the {level} of code '{code}'",
                    f"a code starts with its parent's code: '{code}' belongs under "
                    f"'{code[:width]}'",
                )
        return

    for column in lay.column_names:
        if column in _CODE_LEVELS:
            check(column, lambda i, column=column: (_CODE_LEVELS[column],))
    if "unit_code" in values:
        # A party organisation's unit is a grid or a building, by its kind.
        kinds = values.get("kind", [None] * len(values["unit_code"]))
        check("unit_code", lambda i: _PARTY_UNIT_LEVELS.get(kinds[i] or ""))
    if "grid_code" in values and "building_code" in values:
        width = WIDTHS["grid"]
        for i, (grid, building) in enumerate(
            zip(values["grid_code"], values["building_code"], strict=True)
        ):
            if grid and building and building[:width] != grid:
                problems.add(
                    i + 1,
                    sources.get("building_code", "building_code"),
                    f"building '{building}' is not in grid '{grid}'",
                    "a building's code starts with its grid's code",
                )


def _code_problem(code: str, levels: tuple[str, ...] | None) -> tuple[str, str | None] | None:
    """What is wrong with a code (of one of ``levels``, if given), or ``None``."""
    try:
        found = check_code(code)
    except CodeError as exc:
        if re.fullmatch(r"[0-9.]+[eE][+-]?[0-9]+", code):
            return exc.what, "a spreadsheet made the code a number: format the column as Text"
        return exc.what, exc.hint
    if levels and found not in levels:
        return (
            f"code '{code}' is a {found} code ({len(code)} digits), "
            f"expected a {' or '.join(levels)} code",
            ", ".join(f"a {lv} code has {WIDTHS[lv]} digits" for lv in levels),
        )
    return None


def _check_keys(keys: list, source: str, existing: set[str] | None, problems: _Problems) -> None:
    first: dict[str, int] = {}
    for i, key in enumerate(keys):
        if key is None:
            continue
        if key in first:
            problems.add(
                i + 1,
                source,
                f"{source} '{key}' repeats row {first[key]}",
                "each row needs its own key",
            )
            continue
        first[key] = i + 1
        if existing is not None and key in existing:
            problems.add(
                i + 1,
                source,
                f"{source} '{key}' is already in the store",
                "give it a new key, or replace the layer instead of adding to it",
            )


# -- geometry -------------------------------------------------------------------


def _resolve_crs(file_crs: CRS | None, given: str | None, file: str) -> CRS:
    """The CRS of the file's coordinates: its own, or ``--crs`` for a file without one."""
    given_crs = None
    if given is not None:
        try:
            given_crs = CRS.from_user_input(given)
        except CRSError:
            raise _error(
                f"unknown CRS '{given}'",
                file=file,
                hint="give an EPSG code, e.g. --crs EPSG:4326 (WGS 84 longitude/latitude)",
            ) from None
    if file_crs is None:
        if given_crs is None:
            raise _error(
                "the file has no coordinate reference system (CRS)",
                file=file,
                hint="add --crs EPSG:4326 if the coordinates are WGS 84 longitude/latitude",
            )
        return given_crs
    if given_crs is not None and not _same_crs(file_crs, given_crs):
        raise _error(
            f"the file says its CRS is {_crs_name(file_crs)}, but --crs says "
            f"{_crs_name(given_crs)}",
            file=file,
            hint="leave out --crs: it is for files without a CRS of their own",
        )
    return file_crs


def _same_crs(a: CRS, b: CRS) -> bool:
    if a.equals(b, ignore_axis_order=True):
        return True
    code_a, code_b = a.to_epsg(), b.to_epsg()
    return code_a is not None and code_a == code_b


def _crs_name(crs: CRS) -> str:
    code = crs.to_epsg()
    return f"EPSG:{code}" if code else crs.name


def _is_cgcs2000(crs: CRS) -> bool:
    geodetic = crs.geodetic_crs
    return geodetic is not None and (
        geodetic.to_epsg() == 4490 or "china 2000" in (geodetic.datum.name or "").lower()
    )


def _prepare_geometries(
    geoms: np.ndarray,
    lay: Layer,
    source_crs: CRS,
    offset: str | None,
    repair: bool,
    district: shapely.Geometry | None,
    tolerance_m: float | None,
    *,
    keys: list | None,
    field_name: str,
    problems: _Problems,
    notes: list[str],
) -> np.ndarray:
    """Bring geometries to EPSG:4326 and the layer's type, checking each one."""
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
    if _same_crs(source, CRS.from_epsg(4326)):
        return geoms
    series = gpd.GeoSeries(geoms, crs=source)
    if _is_cgcs2000(source):
        if not source.is_geographic:
            series = series.to_crs(4490)
        notes.append(
            f"took CGCS2000 ({_crs_name(source)}) coordinates as WGS 84 "
            "(they differ by well under a metre)"
        )
        return series.to_numpy()
    notes.append(f"reprojected from {_crs_name(source)} to EPSG:4326")
    return series.to_crs(4326).to_numpy()


def _check_lonlat_range(
    geoms: np.ndarray, present: np.ndarray, field_name: str, problems: _Problems
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
            "is --crs right? projected coordinates in metres need their own EPSG code, "
            "e.g. --crs EPSG:4547 (CGCS2000 3-degree Gauss-Kruger CM 114E)",
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
            return _as_multi(geom), ""
        reason = shapely.is_valid_reason(geom)
        if not repair:
            raise _RefusedError(
                f"the polygon is invalid: {reason}",
                "fix it in a GIS, or import with --repair to repair it automatically",
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
    return _as_multi(merged) if not merged.is_empty else None


def _as_multi(geom: shapely.Geometry) -> shapely.Geometry:
    return shapely.MultiPolygon([geom]) if geom.geom_type == "Polygon" else geom


def _check_inside(
    geoms: np.ndarray,
    present: np.ndarray,
    district: shapely.Geometry,
    tolerance_m: float | None,
    field_name: str,
    problems: _Problems,
) -> None:
    """Report features lying more than the tolerance outside the district (measured in UTM)."""
    if tolerance_m is None:
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
            "is it in this district? AMap/Baidu exports need --offset gcj02 or --offset bd09",
        )


# -- writing ------------------------------------------------------------------


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
        raise _error(
            f"layer '{lay.name}' has no geometry and cannot be written as GeoJSON",
            file=str(path),
            hint="write it as csv or gpkg",
        )
    if not target.parent.is_dir():
        raise _error("the folder does not exist", file=str(path), hint="create the folder first")
    out = _conform(frame, lay)
    token = uuid.uuid4().hex[:8]
    tmp = target.with_name(f".{target.stem}.{token}.tmp{target.suffix or '.' + fmt}")
    sidecars: list[tuple[Path, Path]] = []
    try:
        if fmt == "gpkg":
            if target.exists():
                _pick_layer_names(target, str(path))
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
            csvt = tmp.with_name(tmp.name + "t.part")
            csvt.write_text(_csvt_line(lay), encoding="utf-8")
            sidecars.append((csvt, target.with_suffix(".csvt")))
            if lay.geometry is not None:
                prj = tmp.with_name(tmp.name + ".prj.part")
                prj.write_text(CRS.from_epsg(4326).to_wkt("WKT1_ESRI"), encoding="utf-8")
                sidecars.append((prj, target.with_suffix(".prj")))
        for part, final in sidecars:
            os.replace(part, final)
        os.replace(tmp, target)
    except _PYOGRIO_ERRORS as exc:
        raise _error(
            f"cannot write the file ({_first_line(exc)})",
            file=str(path),
            hint="check the folder is writable and, for a GeoPackage, that it is one",
        ) from None
    finally:
        for leftover in [tmp] + [part for part, _ in sidecars]:
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
    return target


def _write_format(path: Path, fmt: str | None) -> str:
    name = (fmt or path.suffix.lstrip(".")).lower()
    name = {"json": "geojson"}.get(name, name)
    if name not in WRITE_FORMATS:
        raise _error(
            f"cannot write the format '{fmt or path.suffix or 'none'}'",
            file=str(path),
            hint=f"use one of: {', '.join(WRITE_FORMATS)} (by file ending or --format)",
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
    elif not _same_crs(geoseries.crs, CRS.from_epsg(4326)):
        geoseries = geoseries.to_crs(STORAGE_CRS)
    geoms = geoseries.to_numpy()
    if lay.geometry == "MultiPolygon":
        # One geometry type per layer: GeoPackage readers expect it.
        geoms = np.array(
            [g if g is None else _as_multi(g) if g.geom_type == "Polygon" else g for g in geoms],
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
    if _is_missing(value):
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


# -- problems -----------------------------------------------------------------


@dataclass
class _Problem:
    row: int | None
    field: str | None
    what: str
    hint: str | None


@dataclass
class _Problems:
    """Problems found in a file, raised together as one InputError."""

    file: str
    items: list[_Problem] = field(default_factory=list)

    def add(self, row: int | None, field: str | None, what: str, hint: str | None = None) -> None:
        self.items.append(_Problem(row, field, what, hint))

    def raise_if_any(self) -> None:
        if not self.items:
            return
        # Stable sort: by row, and within a row in the order the checks ran.
        items = sorted(self.items, key=lambda p: p.row or 0)
        errors = [
            InputError(p.what, file=self.file, row=p.row, field=p.field, hint=p.hint) for p in items
        ]
        listed = [str(e) for e in errors[:MAX_PROBLEMS]]
        if len(errors) > MAX_PROBLEMS:
            listed.append(f"… and {len(errors) - MAX_PROBLEMS} more problems")
        first = errors[0]
        if len(errors) > 1:
            first.what += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
        first.problems = listed  # type: ignore[attr-defined]
        raise first


def _error(what: str, *, file: str, hint: str | None = None) -> InputError:
    """A file-level InputError, with ``problems`` listing just itself."""
    error = InputError(what, file=file, hint=hint)
    error.problems = [str(error)]  # type: ignore[attr-defined]
    return error


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _shorten(value: Any, width: int = 40) -> str:
    text = str(value)
    return text if len(text) <= width else text[: width - 1] + "…"

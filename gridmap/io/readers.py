"""Reading a user's file as a layer: the file's table, then every check.

:func:`read_layer_file` turns a GeoPackage, GeoJSON, Shapefile (plain or
zipped) or CSV file into a frame shaped exactly like a layer of
:mod:`gridmap.schema`, after checking every row; the caller stores only a
frame that passed every check. :func:`read_table` is its first step, the
file's contents before any check, which the incident import
(:mod:`gridmap.ingest`) shares.

Rows in messages are 1-based data rows: the header of a CSV file is not
counted, and in GIS files row *n* is the *n*-th feature.
"""

from __future__ import annotations

import io as _stdio
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyogrio.errors
import shapely
from pyproj import CRS

from gridmap.errors import option
from gridmap.io.checks import check_codes, check_keys
from gridmap.io.columns import check_columns, map_columns
from gridmap.io.geometry import check_offset, csv_geometries, prepare_geometries, resolve_crs
from gridmap.io.parse import as_series, parse_column
from gridmap.io.problems import Problems, file_error, first_line
from gridmap.schema import CRS as STORAGE_CRS
from gridmap.schema import Layer
from gridmap.schema import layer as schema_layer

__all__ = [
    "READ_FORMATS",
    "GDAL_ERRORS",
    "Table",
    "read_layer_file",
    "read_table",
    "layer_names",
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
#: What pyogrio (GDAL) raises for a file it cannot read or write: the user's
#: file, not a bug, so it becomes an InputError.
GDAL_ERRORS: tuple[type[Exception], ...] = (
    pyogrio.errors.DataSourceError,
    pyogrio.errors.DataLayerError,
    pyogrio.errors.FieldError,
    pyogrio.errors.GeometryError,
    pyogrio.errors.CRSError,
    OSError,
    RuntimeError,
    ValueError,
)


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
        Renames the file's columns to the layer's (``{"source": "schema"}``).
        For a CSV file a column may also be mapped to ``geometry``, ``lon`` or
        ``lat``.
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
        :data:`~gridmap.io.problems.MAX_PROBLEMS`, one string each. Messages
        name the options above with :func:`gridmap.errors.option`.

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
    check_offset(offset, file)

    table = read_table(path, lay, source_layer=source_layer, notes=notes)
    spatial = lay.geometry is not None
    csv_geometry = table.kind == "CSV" and spatial
    frame, sources = map_columns(
        table.frame, mapping, lay, file=file, csv_geometry=csv_geometry, notes=notes
    )

    problems = Problems(file)
    geoms: np.ndarray | None = None
    geom_field = "geometry"
    # The CRS first: without it no coordinate can be checked.
    source_crs = resolve_crs(table.crs, crs, file) if spatial else None
    if csv_geometry:
        frame, geoms, geom_field = csv_geometries(frame, file, problems)
    elif spatial:
        geoms = table.geometry
        if geoms is None:
            raise file_error(
                f"the file has no geometry, but layer '{lay.name}' needs {lay.geometry} geometries",
                file=file,
                hint="export the layer with its geometry",
            )
    elif table.geometry is not None:
        notes.append(f"ignored the file's geometry: layer '{lay.name}' has none")

    check_columns(frame, lay, file, notes)
    if len(frame) == 0:
        raise file_error(
            "the file has no rows", file=file, hint="check you exported the right layer"
        )

    values = {
        col.name: parse_column(frame, col, sources.get(col.name, col.name), problems)
        for col in lay.columns
    }
    check_codes(values, lay, sources, problems)

    if geoms is not None and source_crs is not None:
        geoms = prepare_geometries(
            geoms,
            lay,
            source_crs,
            offset=offset,
            repair=repair,
            district=district,
            tolerance_m=tolerance_m,
            keys=values.get(lay.key) if lay.key else None,
            field_name=geom_field,
            problems=problems,
            notes=notes,
        )
    if lay.key:
        check_keys(values[lay.key], sources.get(lay.key, lay.key), existing_keys, problems)

    problems.raise_if_any()

    data = {col.name: as_series(values[col.name], col.type) for col in lay.columns}
    result = pd.DataFrame(data, index=pd.RangeIndex(len(frame)))
    if spatial:
        result = gpd.GeoDataFrame(result, geometry=gpd.GeoSeries(geoms, crs=STORAGE_CRS))
    return result, notes


# -- the file's table ---------------------------------------------------------------


@dataclass
class Table:
    """A file's contents before any check.

    Attributes
    ----------
    frame
        The attributes, one row per feature (a CSV file's every column, as text).
    geometry
        One geometry per row, or ``None`` for a file without (a CSV file: its
        geometry is still in ``frame``).
    crs
        The CRS the file declares, if any.
    kind
        The format's name (:data:`READ_FORMATS`), e.g. ``"CSV"``.
    """

    frame: pd.DataFrame
    geometry: np.ndarray | None
    crs: CRS | None
    kind: str


def read_table(
    path: str | os.PathLike,
    lay: Layer,
    *,
    source_layer: str | None = None,
    notes: list[str],
) -> Table:
    """Read a file's contents as they are, refusing only what cannot be read at all.

    Parameters
    ----------
    path
        The file (:data:`READ_FORMATS` by its ending).
    lay
        The layer the file holds: a GeoPackage's layer of that name is read
        unless ``source_layer`` names another.
    source_layer
        The GeoPackage layer, or the shapefile inside a zip archive, to read.
    notes
        Where an encoding guessed is noted.

    Returns
    -------
    Table
        The attributes, geometries and CRS, unchecked.

    Raises
    ------
    gridmap.errors.InputError
        For a missing, empty or unknown kind of file, one its format's reader
        refuses, a CSV file in neither UTF-8 nor GB18030, or a GeoPackage or
        zip archive where the layer to read is not clear.
    """
    return _read_table(Path(path), os.fspath(path), lay, source_layer, notes)


def _read_table(
    path: Path, file: str, lay: Layer, source_layer: str | None, notes: list[str]
) -> Table:
    suffix = path.suffix.lower()
    if suffix not in READ_FORMATS:
        raise file_error(
            f"cannot import '{suffix or 'extensionless'}' files",
            file=file,
            hint="use one of: "
            + ", ".join(f"{v} ({k})" for k, v in READ_FORMATS.items())
            + "; save spreadsheets as CSV",
        )
    if not path.exists():
        raise file_error("no such file", file=file, hint="check the path and the file name")
    if not path.is_file():
        raise file_error("not a file", file=file, hint="name the file itself, not its folder")
    if path.stat().st_size == 0:
        raise file_error("the file is empty", file=file, hint="export the layer again")
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
    return Table(frame.reset_index(drop=True), geometry, crs, kind)


def _pyogrio_read(
    target: str, layer_name: str | None, file: str, kind: str, encoding: str | None = None
) -> pd.DataFrame:
    try:
        return pyogrio.read_dataframe(target, layer=layer_name, encoding=encoding)
    except GDAL_ERRORS as exc:
        raise file_error(
            f"cannot read it as a {kind} file ({first_line(exc)})",
            file=file,
            hint=f"check that it is a complete {kind} file (export it again), "
            "or give it the ending of its real format",
        ) from None


def layer_names(target: str | os.PathLike, file: str) -> list[str]:
    """The layers of a GeoPackage.

    Parameters
    ----------
    target
        The GeoPackage (or what GDAL reads as one).
    file
        The file, as the user named it (for the error).

    Raises
    ------
    gridmap.errors.InputError
        If GDAL cannot read it as one.
    """
    try:
        return [str(n) for n in pyogrio.list_layers(target)[:, 0]]
    except GDAL_ERRORS as exc:
        raise file_error(
            f"cannot read it as a GeoPackage ({first_line(exc)})",
            file=file,
            hint="check that it is a complete GeoPackage, or choose another file name",
        ) from None


def _pick_layer(target: str, file: str, wanted: str, source_layer: str | None) -> str:
    """The layer to read in a GeoPackage: the one asked for, the same-named one, or the only one."""
    names = layer_names(target, file)
    if source_layer is not None:
        if source_layer not in names:
            raise file_error(
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
        raise file_error("the GeoPackage has no layers", file=file, hint="export the layer again")
    raise file_error(
        f"the GeoPackage has {len(names)} layers and none is called '{wanted}'",
        file=file,
        hint=f"choose one with {option('source_layer')}: {', '.join(names)}",
    )


def _zip_target(path: Path, file: str, source_layer: str | None) -> tuple[str, bool]:
    """The /vsizip/ path of the shapefile inside a zip archive, and whether it has a .cpg."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise file_error(
            f"not a readable zip archive ({first_line(exc)})",
            file=file,
            hint="zip the shapefile's .shp, .shx, .dbf and .prj files together again",
        ) from None
    # macOS's Finder adds resource forks under __MACOSX/: never data.
    shps = [n for n in names if n.lower().endswith(".shp") and not n.startswith("__MACOSX/")]
    if not shps:
        raise file_error(
            "the zip archive holds no shapefile (.shp)",
            file=file,
            hint="zip the shapefile's .shp, .shx, .dbf and .prj files together",
        )
    if len(shps) > 1:
        stems = {Path(n).stem: n for n in shps}
        if source_layer is None or source_layer not in stems:
            raise file_error(
                f"the zip archive holds {len(shps)} shapefiles",
                file=file,
                hint=f"choose one with {option('source_layer')}: {', '.join(stems)}",
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


def _read_csv(path: Path, file: str, notes: list[str]) -> Table:
    raw = path.read_bytes()
    if b"\x00" in raw[:65536]:
        raise file_error(
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
        raise file_error(
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
        raise file_error(
            "the CSV file has no header row", file=file, hint="export it again"
        ) from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise file_error(
            f"not a well-formed CSV file ({first_line(exc)})",
            file=file,
            hint="check the quoting and that every row has as many fields as the header",
        ) from None
    return Table(frame, None, None, "CSV")

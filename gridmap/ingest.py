"""Importing incidents from users' files, row by row.

Hotline (12345) and platform exports are long tables in which a few rows are
always wrong: a missing coordinate, a category nobody mapped, a duplicate.
:func:`read_layer_file <gridmap.io.read_layer_file>` takes a layer whole or not
at all; :func:`read_incident_file` instead keeps every good row and reports
each bad one (1-based data row, id, field, reason), so the good cases go in
today and the report goes back to whoever exported the file.
:func:`write_reject_report` writes that report as a CSV file spreadsheets open
directly.

The reading and the per-value checks are :mod:`gridmap.io`'s (same formats,
encodings, column mapping, CRS and offset handling, same messages); what this
module adds is the incident-specific part: local times, the grid and building
of each location (:func:`gridmap.incidents.locate`), time order, the fields
the store manages, and the split into good rows and rejects.

Times
-----
A time with a zone (``2025-05-01T08:30:00+08:00``, ``…Z``) is converted to
UTC. A time **without** a zone is taken as local time in ``tz``, by default
``Asia/Shanghai`` (Beijing time, UTC+8, no daylight saving since 1991): that is
how hotline and platform systems export them. (:func:`gridmap.io.read_layer_file`
takes naive times as UTC instead: its files are gridmap's own exports, which
always carry the zone.)
"""

from __future__ import annotations

import csv
import os
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridmap.codes import ancestor, is_valid
from gridmap.errors import InputError, option, render_options
from gridmap.incidents import DEADLINE_HOURS, locate
from gridmap.io.atomic import atomic_path
from gridmap.io.checks import check_codes, check_keys
from gridmap.io.columns import check_columns, map_columns
from gridmap.io.geometry import check_offset, csv_geometries, prepare_geometries, resolve_crs
from gridmap.io.parse import as_series, is_missing, parse_column, parse_timestamp
from gridmap.io.problems import Problems, file_error
from gridmap.io.readers import read_table
from gridmap.schema import CRS as STORAGE_CRS
from gridmap.schema import Layer
from gridmap.schema import layer as schema_layer

__all__ = [
    "DEFAULT_TZ",
    "REJECT_COLUMNS",
    "IngestResult",
    "read_incident_file",
    "write_reject_report",
]

#: The zone of times written without one.
DEFAULT_TZ = "Asia/Shanghai"
#: Columns of the reject report.
REJECT_COLUMNS: tuple[str, ...] = ("row", "id", "field", "reason")

# Columns the store manages: a file's values would contradict the event log.
_MANAGED = ("version", "updated_at")
# Where the import puts the location's unit: from the location, not the file.
_LOCATED = ("grid_code", "building_code")


@dataclass
class IngestResult:
    """What :func:`read_incident_file` found.

    Attributes
    ----------
    good
        The rows that passed every check, as an ``incidents`` layer frame
        (schema columns and dtypes, geometry in EPSG:4326), ready for the
        store in one transaction.
    events
        One ``incident_events`` row per good incident: ``from_step`` empty,
        ``to_step`` the row's step, note ``imported from FILE``.
    rejects
        One row per problem: ``row`` (1-based data row), ``id`` (as in the file,
        if readable), ``field`` (the file's column) and ``reason``. A row with
        several problems appears once per problem. A reason names options with
        :func:`gridmap.errors.option` tokens (:func:`write_reject_report`
        renders them).
    notes
        What was done on the way that the user should know (columns ignored,
        encoding, reprojection, offset, time zone).
    """

    good: gpd.GeoDataFrame
    events: pd.DataFrame
    rejects: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def read_incident_file(
    path: str | os.PathLike,
    *,
    grids: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame | None,
    district: shapely.Geometry | None,
    existing_ids: Iterable[str] | None,
    crs: str | None = None,
    offset: str | None = None,
    mapping: Mapping[str, str] | None = None,
    strict: bool = False,
    tz: str = DEFAULT_TZ,
    deadline_hours: Mapping[str, float] | None = None,
    actor: str = "import",
    at: datetime | None = None,
) -> IngestResult:
    """Read a file of incidents, keeping the good rows and reporting the bad ones.

    Parameters
    ----------
    path
        A CSV file (location as ``lon``/``lat`` columns — also ``lng``,
        ``longitude``/``latitude``, ``x``/``y``, ``经度``/``纬度`` — or a WKT
        column ``geometry``/``wkt``; UTF-8 with or without BOM, or GB18030) or
        a GeoJSON file (also GeoPackage or Shapefile), with at least the
        required columns of the ``incidents`` layer: ``id``, ``category``,
        ``source``, ``step``, ``reported_at``.
    grids, buildings
        The store's ``grids`` and ``buildings`` layers: each location gets its
        grid and building from them (:func:`gridmap.incidents.locate`).
    district
        The district's outline (EPSG:4326): locations more than the
        ``containment_tolerance_m`` setting outside it are refused.
    existing_ids
        Incident ids already in the store: rows repeating one are refused.
    crs
        The CRS of the coordinates. A CSV file has none: default EPSG:4326
        (WGS 84 longitude/latitude).
    offset
        ``gcj02`` or ``bd09`` for coordinates from AMap/Tencent or Baidu.
    mapping
        Renames the file's columns (``{"file column": "schema column"}``); a
        CSV column may also be mapped to ``lon``, ``lat`` or ``geometry``.
    strict
        Refuse the whole file if any row is bad (nothing is imported).
    tz
        The zone of times written without one (IANA name).
    deadline_hours
        Hours from dispatch to the deadline per category, overriding
        :data:`gridmap.incidents.DEADLINE_HOURS`: a row with ``dispatched_at``
        and no ``deadline`` gets one.
    actor, at
        Recorded on the import events (``at`` default: now, UTC); ``at`` is
        also the rows' ``updated_at``.

    Returns
    -------
    IngestResult
        The good rows, their events, the rejects and notes.

    Raises
    ------
    gridmap.errors.InputError
        For a file that cannot be read at all (missing, unknown format, no
        location columns, a required column missing, no rows, an unknown
        offset, CRS or time zone), and with ``strict=True`` for any bad row:
        the error names the first problem and its ``problems`` lists them all
        (up to :data:`gridmap.io.MAX_PROBLEMS`).

    Notes
    -----
    Row checks, every one reported: required values present; ``category``,
    ``source``, ``step``, ``closed_level``, ``satisfaction`` among the schema's
    identifiers; numbers, yes/no values and times parse; codes well formed;
    the location present, a point, in longitude/latitude range, inside the
    district and inside a grid; a ``grid_code`` or ``building_code`` given in
    the file agrees with the location; ``dispatched_at`` and ``closed_at`` not
    before ``reported_at``; a closed or evaluated case has ``closed_at`` and
    an open one has none; ids unique in the file and new to the store.

    The grid and building come from the location (a building within 30 m, of
    the same grid); ``version`` is 1 and ``updated_at`` is ``at``: columns
    ``version`` and ``updated_at`` in the file are ignored (with a note).
    Empty ``rework_count``/``transfer_count`` mean 0, an empty ``whistled`` no.
    """
    lay = schema_layer("incidents")
    file = os.fspath(path)
    notes: list[str] = []
    zone = _zone(tz, file)
    check_offset(offset, file)
    when = pd.Timestamp.now("UTC") if at is None else _aware(at)

    # 1. The file as a table, columns renamed as the user mapped them.
    table = read_table(path, lay, notes=notes)
    is_csv = table.kind == "CSV"
    frame, sources = map_columns(
        table.frame, mapping, lay, file=file, csv_geometry=is_csv, notes=notes
    )
    if is_csv and crs is None:
        # Hotline exports are longitude/latitude; a wrong guess is caught by the
        # range check (metres are not degrees) and the district check.
        crs = "EPSG:4326"
        notes.append("took the coordinates as WGS 84 longitude/latitude (EPSG:4326)")
    source_crs = resolve_crs(table.crs, crs, file)

    problems = Problems(file)
    if is_csv:
        frame, geoms, geom_field = csv_geometries(frame, file, problems)
    else:
        geoms, geom_field = table.geometry, "geometry"
        if geoms is None:
            raise file_error(
                "the file has no geometry: incidents need their location",
                file=file,
                hint="export the incidents with their points, or as CSV with lon and lat",
            )
    check_columns(frame, lay, file, notes)
    ignored = [c for c in _MANAGED if c in frame.columns]
    if ignored:
        notes.append(f"ignored columns {', '.join(ignored)}: the store sets them")
    n = len(frame)
    if n == 0:
        raise file_error("the file has no rows", file=file, hint="check you exported the incidents")

    # 2. Every value, parsed and checked on its own (problems are noted, not raised).
    def src(name: str) -> str:
        return sources.get(name, name)

    values: dict[str, list] = {}
    local_times = False
    for col in lay.columns:
        if col.name in _MANAGED:
            continue
        if col.type == "datetime":
            values[col.name], naive = _parse_times(frame, col.name, src(col.name), zone, problems)
            local_times |= naive
        else:
            values[col.name] = parse_column(frame, col, src(col.name), problems)
    if local_times:
        notes.append(f"took times without a zone as local time in {tz}")
    check_codes(values, lay, sources, problems)
    check_keys(values["id"], src("id"), set(existing_ids or ()), problems)

    # 3. Locations: to WGS 84, inside the district, then in a grid.
    geom_fields = {geom_field, *geom_field.split("/")}
    unreadable = {p.row for p in problems.items if p.field in geom_fields}
    before = len(problems.items)
    geoms = prepare_geometries(
        np.asarray(geoms, dtype=object),
        lay,
        source_crs,
        offset=offset,
        repair=False,
        district=district,
        tolerance_m=None,
        keys=values["id"],
        field_name=geom_field,
        problems=problems,
        notes=notes,
    )
    # A coordinate that did not parse already says why the row has no location.
    problems.items[before:] = [p for p in problems.items[before:] if p.row not in unreadable]
    placed = np.array([g is not None for g in geoms], dtype=bool)
    for p in problems.items:
        if p.field in geom_fields and p.row is not None:
            placed[p.row - 1] = False
    grid_code = np.full(n, None, dtype=object)
    building_code = np.full(n, None, dtype=object)
    if placed.any():
        where = locate(gpd.GeoSeries(geoms[placed], crs=STORAGE_CRS), grids, buildings)
        grid_code[placed] = where["grid_code"].to_numpy(dtype=object, na_value=None)
        building_code[placed] = where["building_code"].to_numpy(dtype=object, na_value=None)
        for i, reason in zip(np.flatnonzero(placed), where["reason"], strict=True):
            if isinstance(reason, str):
                problems.add(
                    int(i) + 1,
                    geom_field,
                    reason,
                    "is the location right? AMap/Baidu exports need "
                    f"{option('offset', 'gcj02')} or bd09",
                )
    building_code = _check_located(values, grid_code, building_code, buildings, sources, problems)

    # 4. What depends on several fields: time order, step and closing time.
    _check_times(values, sources, problems)

    # 5. The split.
    bad_rows = {p.row for p in problems.items if p.row is not None}
    if strict:
        problems.raise_if_any()
    good = np.array([i + 1 not in bad_rows for i in range(n)], dtype=bool)
    values["grid_code"] = list(grid_code)
    values["building_code"] = list(building_code)
    rows = _good_frame(values, geoms, good, lay, when, deadline_hours)
    events = pd.DataFrame(
        {
            "incident_id": rows["id"].to_numpy(dtype=object),
            "at": pd.Series([when] * len(rows), dtype="datetime64[ms, UTC]"),
            "actor": actor,
            "from_step": pd.Series([None] * len(rows), dtype="str"),
            "to_step": rows["step"].to_numpy(dtype=object),
            "note": f"imported from {Path(file).name}",
        }
    ).astype({"incident_id": "str", "actor": "str", "to_step": "str", "note": "str"})
    return IngestResult(rows, events, _rejects(problems, values["id"]), notes)


def write_reject_report(
    rejects: pd.DataFrame, path: str | os.PathLike, *, flags: Mapping[str, str] | None = None
) -> Path:
    """Write the rejected rows as a CSV report.

    Parameters
    ----------
    rejects
        :attr:`IngestResult.rejects` (columns ``row``, ``id``, ``field``, ``reason``).
    path
        The file to write; replaced if it exists.
    flags
        How the options named in the reasons are written
        (:func:`gridmap.errors.render_options`): the CLI gives its flags;
        by default they read as Python keywords (``offset=gcj02``).

    Returns
    -------
    pathlib.Path
        The file written: UTF-8 with a BOM (spreadsheets then read the Chinese
        text right), a header ``row,id,field,reason``, one line per problem.
        It is written to a temporary file and renamed, so a failure leaves no
        half-written report.

    Raises
    ------
    gridmap.errors.InputError
        If the folder does not exist or the file cannot be written.
    """
    target = Path(path)
    if not target.parent.is_dir():
        raise InputError("the folder does not exist", file=str(path), hint="create it first")
    reason = REJECT_COLUMNS.index("reason")
    try:
        with atomic_path(target) as tmp, open(tmp, "w", encoding="utf-8-sig", newline="") as f:
            out = csv.writer(f)
            out.writerow(REJECT_COLUMNS)
            for row in rejects.itertuples(index=False):
                cells = ["" if is_missing(v) else v for v in row]
                if cells[reason]:
                    cells[reason] = render_options(str(cells[reason]), flags)
                out.writerow(cells)
    except OSError as exc:
        raise InputError(
            f"cannot write the report ({exc.strerror or exc})",
            file=str(path),
            hint="check the folder is writable",
        ) from None
    return target


# -- helpers --------------------------------------------------------------------


def _zone(tz: str, file: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise file_error(
            f"unknown time zone '{tz}'",
            file=file,
            hint="give an IANA zone name, e.g. Asia/Shanghai or UTC",
        ) from None


def _aware(at: datetime) -> pd.Timestamp:
    stamp = pd.Timestamp(at)
    if stamp.tzinfo is None:
        raise ValueError(f"the time {at!r} has no time zone: give an aware datetime (UTC)")
    return stamp.tz_convert("UTC")


def _parse_times(
    frame: pd.DataFrame, name: str, source: str, zone: zoneinfo.ZoneInfo, problems: Problems
) -> tuple[list[pd.Timestamp | None], bool]:
    """Parse a time column to UTC, naive values in ``zone``; whether any was naive."""
    if name not in frame.columns:
        return [None] * len(frame), False
    required = schema_layer("incidents").column(name).required
    out: list[pd.Timestamp | None] = []
    naive = False
    for i, raw in enumerate(frame[name].tolist()):
        try:
            stamp = parse_timestamp(raw)
        except ValueError as exc:
            problems.add(
                i + 1,
                source,
                str(exc),
                "write a date and time, e.g. 2025-05-01 08:30 (local time) or "
                "2025-05-01T00:30:00Z (UTC)",
            )
            out.append(None)
            continue
        if stamp is None:
            if required:
                problems.add(i + 1, source, "the value is empty", "the column is required")
            out.append(None)
            continue
        if stamp.tzinfo is None:
            naive = True
            stamp = stamp.tz_localize(zone, ambiguous="raise", nonexistent="raise")
        out.append(stamp.tz_convert("UTC"))
    return out, naive


def _check_located(
    values: dict[str, list],
    grid_code: np.ndarray,
    building_code: np.ndarray,
    buildings: gpd.GeoDataFrame | None,
    sources: Mapping[str, str],
    problems: Problems,
) -> np.ndarray:
    """Check the file's own grid and building codes against the location; the codes to keep.

    The location decides the grid. A grid code in the file that disagrees
    usually means coordinates in another system (an unshifted GCJ-02 point is
    some 500 m off) or a wrong row, so it is refused, not silently replaced.
    A building code in the file is kept when it is a known building of the
    location's grid (the reporter may know better than the 30 m rule).
    """
    known = set() if buildings is None else set(buildings["code"].astype("str").dropna())
    out = building_code.copy()
    for i, (given_grid, given_bld) in enumerate(
        zip(values["grid_code"], values["building_code"], strict=True)
    ):
        located = grid_code[i]
        if located is None:
            continue
        # A malformed code was reported by the code check: one problem is enough.
        if given_grid and is_valid(given_grid, "grid") and given_grid != located:
            problems.add(
                i + 1,
                sources.get("grid_code", "grid_code"),
                f"the location lies in grid {located}, not in grid {given_grid}",
                f"check the coordinates (and {option('offset')}), or leave grid_code empty",
            )
        if given_bld and is_valid(given_bld, "building"):
            if known and given_bld not in known:
                problems.add(
                    i + 1,
                    sources.get("building_code", "building_code"),
                    f"no building has the code {given_bld}",
                    "check the code, or leave building_code empty to take the nearest building",
                )
            elif ancestor(given_bld, "grid") != located:
                problems.add(
                    i + 1,
                    sources.get("building_code", "building_code"),
                    f"building {given_bld} is not in grid {located}, where the location lies",
                    "check the coordinates, or leave building_code empty",
                )
            else:
                out[i] = given_bld
    return out


def _check_times(values: dict[str, list], sources: Mapping[str, str], problems: Problems) -> None:
    """Time order, and the closing time against the step."""
    reported = values["reported_at"]
    for name in ("dispatched_at", "closed_at"):
        for i, (t0, t) in enumerate(zip(reported, values[name], strict=True)):
            if t0 is not None and t is not None and t < t0:
                problems.add(
                    i + 1,
                    sources.get(name, name),
                    f"{name} {_utc_text(t)} is before reported_at {_utc_text(t0)}",
                    "check both times (and their time zone)",
                )
    for i, (step, closed_at) in enumerate(zip(values["step"], values["closed_at"], strict=True)):
        if step in ("closed", "evaluated") and closed_at is None:
            problems.add(
                i + 1,
                sources.get("closed_at", "closed_at"),
                f"a {step} case needs closed_at",
                "give the time it was closed",
            )
        elif step is not None and step not in ("closed", "evaluated") and closed_at is not None:
            problems.add(
                i + 1,
                sources.get("closed_at", "closed_at"),
                f"the case is at step '{step}' but has closed_at",
                "set step to closed (or evaluated), or leave closed_at empty",
            )


def _utc_text(stamp: pd.Timestamp) -> str:
    return stamp.strftime("%Y-%m-%d %H:%M UTC")


def _good_frame(
    values: dict[str, list],
    geoms: np.ndarray,
    good: np.ndarray,
    lay: Layer,
    when: pd.Timestamp,
    deadline_hours: Mapping[str, float] | None,
) -> gpd.GeoDataFrame:
    """The good rows as an ``incidents`` frame: schema columns and dtypes, store fields set."""
    keep = np.flatnonzero(good)
    picked = {name: [column[i] for i in keep] for name, column in values.items()}
    k = len(keep)
    picked["version"] = [1] * k  # the import event is the first version
    picked["updated_at"] = [when] * k
    for name in ("rework_count", "transfer_count"):
        picked[name] = [0 if v is None else v for v in picked[name]]
    # The clock runs from dispatch: a dispatched case without a deadline gets
    # the configured one (a deadline in the file is the system's own, kept).
    hours = {**DEADLINE_HOURS, **(deadline_hours or {})}
    picked["deadline"] = [
        d
        if d is not None or t is None or c not in hours
        else t + pd.Timedelta(hours=float(hours[c]))
        for d, t, c in zip(
            picked["deadline"], picked["dispatched_at"], picked["category"], strict=True
        )
    ]
    data = {col.name: as_series(picked[col.name], col.type) for col in lay.columns}
    frame = pd.DataFrame(data, index=pd.RangeIndex(k))
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms[keep], crs=STORAGE_CRS))


def _rejects(problems: Problems, ids: list) -> pd.DataFrame:
    """The problems as report rows, by row (checks in the order they ran within a row)."""
    items = problems.in_order()
    return pd.DataFrame(
        {
            "row": pd.array([p.row for p in items], dtype="Int64"),
            "id": pd.array([ids[p.row - 1] if p.row else None for p in items], dtype="str"),
            "field": pd.array([p.field for p in items], dtype="str"),
            "reason": pd.array([p.message for p in items], dtype="str"),
        },
        columns=list(REJECT_COLUMNS),
    )

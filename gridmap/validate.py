"""Check a store's layers against the rules of the hierarchy (docs/domain.md#hierarchy-and-codes).

:func:`validate` takes the layers as GeoDataFrames (named as in
:data:`gridmap.schema.LAYERS`, in EPSG:4326) and returns a :class:`Report` of
findings. It reads no file and no database: the CLI and the store call it.

Checks (the ``check`` id of each finding):

======================================  =======  ==============================================
check                                   level    what
======================================  =======  ==============================================
``no_district``                         error    other layers hold data but ``districts`` is empty
``bad_value``                           error    a required value is missing, a value is not
                                                 among its column's choices, a count is negative,
                                                 a party organisation names a unit of the wrong
                                                 level
``duplicate_code`` / ``duplicate_id``   error    a unit code (an id) used by more than one row
``code_width``                          error    a code of the wrong width, level or characters
``code_serial``                         error    an all-zero serial, a district code ending 00
``code_prefix``                         error    a code that does not extend its parent's code
``orphan``                              error    a parent code (or referenced unit) that no row has
``empty_geometry``                      error    a null or empty geometry
``invalid_geometry``                    error    an invalid geometry, with GEOS's reason
``geometry_type``                       error    e.g. a point in a polygon layer
``outside_parent``                      error    a unit not inside its parent (within the
                                                 containment tolerance); a warning for an
                                                 incident outside its grid
``<level>_gap``                         error    a piece of a parent not covered by its children
                                                 (``grid_gap``, ``community_gap``,
                                                 ``subdistrict_gap``)
``<level>_overlap``                     error    a piece shared by two siblings (``grid_overlap`` …)
``undivided_with_siblings``             error    a ``00`` grid in a community with other grids
``community_without_grid``              error    a community with no grid (likewise
                                                 ``subdistrict_without_community``,
                                                 ``district_without_subdistrict``)
======================================  =======  ==============================================

Spatial checks skip rows whose geometry is null, empty, invalid or of the
wrong type (those rows get their own finding), so one broken row yields one
finding rather than a cascade. Layers that are missing or empty are skipped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer

from gridmap.codes import (
    UNDIVIDED_GRID,
    WIDTHS,
    ancestors_at,
    check_code,
    parent_level,
    serials_at,
)
from gridmap.crs import STORAGE_CRS, to_metric, utm_crs
from gridmap.errors import CodeError
from gridmap.i18n import t
from gridmap.schema import LAYERS, LEVEL_LAYERS, LEVELS, Layer

__all__ = ["Finding", "Report", "validate", "CHECKS"]

#: Every check id, in the order reports list them.
CHECKS: tuple[str, ...] = (
    "no_district",
    "bad_value",
    "duplicate_code",
    "duplicate_id",
    "code_width",
    "code_serial",
    "code_prefix",
    "orphan",
    "empty_geometry",
    "invalid_geometry",
    "geometry_type",
    "outside_parent",
    "subdistrict_gap",
    "subdistrict_overlap",
    "community_gap",
    "community_overlap",
    "grid_gap",
    "grid_overlap",
    "undivided_with_siblings",
    "district_without_subdistrict",
    "subdistrict_without_community",
    "community_without_grid",
)

# shapely type ids allowed in each schema geometry type: a single Polygon is
# accepted where the schema says MultiPolygon (files often mix the two).
_TYPE_IDS = {"MultiPolygon": (3, 6), "Point": (0,), "LineString": (1, 5)}
# Where each party organisation kind hangs in the hierarchy.
_PARTY_LEVELS = {
    "grid_branch": ("grid",),
    "building_group": ("building",),
    "central_household": ("grid", "building"),
}
# Longest edge (degrees, ~50 m) kept when projecting: see _Context.project.
_DENSIFY_DEG = 0.0005
_REASON_AT = re.compile(r"\[\s*(-?[\d.eE+-]+)\s+(-?[\d.eE+-]+)")


@dataclass(frozen=True)
class Finding:
    """One problem found in the data.

    Parameters
    ----------
    severity
        ``error`` (the data breaks a rule) or ``warning`` (suspicious).
    check
        The check's short id, one of :data:`CHECKS`.
    layer
        The layer the problem is in.
    code
        The unit code (or row id) concerned; for a gap, the parent unit's code.
    row
        0-based position of the row in its layer, if the problem is one row's.
    message
        What is wrong and what to do, in English.
    lon, lat
        A location of the problem in EPSG:4326, if it has one.
    area_m2
        The problem's area in m² (gaps, overlaps, parts outside a parent).
    """

    severity: str
    check: str
    layer: str
    code: str | None
    row: int | None
    message: str
    lon: float | None = None
    lat: float | None = None
    area_m2: float | None = None


@dataclass
class Report:
    """The findings of :func:`validate` and the feature counts they refer to.

    Parameters
    ----------
    findings
        Every finding, errors and warnings.
    counts
        Number of rows of each layer that was given.
    """

    findings: list[Finding] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def errors(self) -> list[Finding]:
        """The findings of severity ``error``."""
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        """The findings of severity ``warning``."""
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def ok(self) -> bool:
        """Whether there is no error (warnings allowed)."""
        return not self.errors

    def by_check(self, check: str) -> list[Finding]:
        """The findings of one check."""
        return [f for f in self.findings if f.check == check]

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-able data.

        Returns
        -------
        dict
            ``ok``, ``errors`` and ``warnings`` (numbers), ``counts`` and
            ``findings`` (a list of dicts with the fields of :class:`Finding`).
        """
        return {
            "ok": self.ok,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "counts": {k: int(v) for k, v in self.counts.items()},
            "findings": [asdict(f) for f in self.findings],
        }

    def to_text(self, lang: str = "zh", *, max_per_check: int | None = None) -> str:
        """The report as text for people.

        A header with the number of features per layer and of errors and
        warnings, then the findings grouped by severity and check, one line
        each: layer, code (and 1-based row), message, area and location.

        Parameters
        ----------
        lang
            ``zh`` (default) for Chinese labels, ``en`` for English. Messages
            are in English either way.
        max_per_check
            List at most this many findings per check (all by default).
        """
        lines = [t("report.title", lang)]
        counts = [f"{t('layer.' + k, lang)} {v:,}" for k, v in self.counts.items()]
        sep = "，" if lang == "zh" else ", "
        colon = "：" if lang == "zh" else ": "
        lines.append(t("report.counts", lang) + colon + (sep.join(counts) or "-"))
        summary = t("report.summary", lang).format(
            errors=len(self.errors), warnings=len(self.warnings)
        )
        lines.append(summary if self.findings else t("report.ok", lang))
        order = {c: i for i, c in enumerate(CHECKS)}
        groups: dict[tuple[str, str], list[Finding]] = {}
        for f in self.findings:
            groups.setdefault((f.severity, f.check), []).append(f)
        keys = sorted(groups, key=lambda k: (k[0] != "error", order.get(k[1], len(order)), k[1]))
        for severity, check in keys:
            items = groups[(severity, check)]
            lines.append("")
            lines.append(
                f"[{t('severity.' + severity, lang)}] {t('check.' + check, lang)} "
                f"({check}): {len(items)}"
            )
            shown = items if max_per_check is None else items[:max_per_check]
            lines.extend("  " + _line(f, lang) for f in shown)
            if len(shown) < len(items):
                lines.append("  " + t("report.more", lang).format(n=len(items) - len(shown)))
        return "\n".join(lines)


def _line(f: Finding, lang: str) -> str:
    parts = [t("layer." + f.layer, lang)]
    where = f.code or ""
    if f.row is not None:
        # People count rows from 1, as in a spreadsheet below its header.
        where = f"{where} ({t('report.row', lang)} {f.row + 1})".strip()
    if where:
        parts.append(where)
    parts.append(f.message)
    if f.area_m2 is not None:
        parts.append(f"{t('report.area', lang)} {f.area_m2:,.1f} m²")
    if f.lon is not None and f.lat is not None:
        parts.append(f"{t('report.location', lang)} {f.lon:.6f}, {f.lat:.6f}")
    return " | ".join(parts)


def validate(
    layers: Mapping[str, pd.DataFrame],
    *,
    containment_tolerance_m: float = 1.0,
    sliver_area_m2: float = 1.0,
) -> Report:
    """Check layers against the schema and the rules of the hierarchy.

    Parameters
    ----------
    layers
        Layers by name (as in :data:`gridmap.schema.LAYERS`), GeoDataFrames in
        EPSG:4326 (tables without geometry as DataFrames). Missing or empty
        layers are skipped; names outside the schema are ignored.
    containment_tolerance_m
        A unit counts as inside its parent if it lies within the parent
        buffered by this many metres (boundaries drawn separately never match
        exactly).
    sliver_area_m2
        Gaps and overlaps smaller than this are rounding noise, not findings.

    Returns
    -------
    Report
        The findings; ``report.ok`` is true when there is no error.
    """
    ctx = _Context(layers, containment_tolerance_m, sliver_area_m2)
    out = ctx.findings

    # A hierarchy needs its root: without a district, stats and codes dangle.
    others = [n for n in ctx.present if n not in ("districts", "metadata")]
    if "districts" not in ctx.present and others:
        out.append(
            Finding(
                "error",
                "no_district",
                "districts",
                None,
                None,
                f"the districts layer is empty but {', '.join(others)} hold data: "
                "import the district boundary (code and name) first",
            )
        )

    for name in ctx.present:
        _check_values(ctx, name)
        _check_keys(ctx, name)
        _check_geometry(ctx, name)
    for level in LEVELS:
        name = LEVEL_LAYERS[level]
        if name in ctx.present:
            _check_codes(ctx, name)
            if level != "district":
                _check_orphans(ctx, name)
                _check_containment(ctx, name, LAYERS[name].parent, parent_level(level))
    for level in ("subdistrict", "community", "grid"):
        _check_tiling(ctx, LEVEL_LAYERS[level])
        _check_childless(ctx, LEVEL_LAYERS[level])
    _check_undivided(ctx)
    _check_party(ctx)
    _check_incidents(ctx)
    return Report(out, {n: len(f) for n, f in ctx.given.items()})


class _Context:
    """The layers prepared once for every check: values, geometries, projections."""

    def __init__(self, layers: Mapping[str, pd.DataFrame], tolerance: float, sliver: float) -> None:
        self.tolerance = tolerance
        self.sliver = sliver
        self.findings: list[Finding] = []
        # Schema order, so reports list layers the same way every time.
        self.given = {n: layers[n] for n in LAYERS if n in layers and layers[n] is not None}
        self.present = {n: f for n, f in self.given.items() if len(f)}
        self._keys: dict[str, np.ndarray] = {}
        self._geoms: dict[str, np.ndarray | None] = {}
        self._metric: dict[str, np.ndarray] = {}
        self._usable: dict[str, np.ndarray] = {}
        self._crs: CRS | None = None
        self._back: Transformer | None = None

    # -- values --------------------------------------------------------------

    def keys(self, name: str) -> np.ndarray:
        """The key (code or id) of every row, None where missing."""
        if name not in self._keys:
            frame = self.present[name]
            key = LAYERS[name].key
            self._keys[name] = (
                _texts(frame[key])
                if key is not None and key in frame
                else np.full(len(frame), None, dtype=object)
            )
        return self._keys[name]

    # -- geometry ------------------------------------------------------------

    def geoms(self, name: str) -> np.ndarray | None:
        """The layer's geometries in EPSG:4326 (an object array), or None."""
        if name not in self._geoms:
            frame = self.present[name]
            geoms = None
            if isinstance(frame, gpd.GeoDataFrame) and frame.active_geometry_name in frame:
                gs = frame.geometry
                # 4326 or CGCS2000 (within a metre of it) are used as they are.
                if gs.crs is not None and gs.crs.to_epsg() not in (4326, 4490):
                    gs = gs.to_crs(STORAGE_CRS)
                geoms = np.asarray(gs.array, dtype=object)
            self._geoms[name] = geoms
        return self._geoms[name]

    def usable(self, name: str) -> np.ndarray:
        """Rows whose geometry is present, non-empty, valid and of the layer's type."""
        if name not in self._usable:
            g = self.geoms(name)
            self._usable[name] = (
                np.zeros(len(self.present[name]), bool) if g is None else _usable_mask(g, name)
            )
        return self._usable[name]

    @property
    def crs(self) -> CRS:
        """One metric CRS for every layer: the UTM zone of the data's centre."""
        if self._crs is None:
            # The highest level present spans the data; any layer will do otherwise.
            names = [n for n in (*LEVEL_LAYERS.values(), *self.present) if n in self.present]
            with_geometry = [n for n in names if self.usable(n).any()]
            if with_geometry:
                g = self.geoms(with_geometry[0])[self.usable(with_geometry[0])]
                minx, miny, maxx, maxy = shapely.total_bounds(g)
                self._crs = utm_crs((minx + maxx) / 2, (miny + maxy) / 2)
            else:
                self._crs = utm_crs(0.0, 0.0)  # nothing to measure: any zone will do
        return self._crs

    def project(self, geoms: np.ndarray) -> np.ndarray:
        """Geometries (EPSG:4326) in the metric CRS, their edges densified first.

        An edge straight in degrees is a curve in UTM: projecting only its
        ends moves its middle by up to a metre over 10 km, which would turn
        shared boundaries into false gaps and a parent's edge into a false
        "outside". Densifying to ~50 m first keeps that error to micrometres.
        """
        if len(geoms) == 0:
            return np.asarray(geoms, dtype=object)
        dense = shapely.segmentize(np.asarray(geoms, dtype=object), _DENSIFY_DEG)
        gs = to_metric(gpd.GeoSeries(list(dense), crs=STORAGE_CRS), self.crs)
        return np.asarray(gs.array, dtype=object)

    def metric(self, name: str) -> np.ndarray:
        """The layer's geometries in the metric CRS (unusable rows as None)."""
        if name not in self._metric:
            g = self.geoms(name).copy()
            g[~self.usable(name)] = None
            self._metric[name] = self.project(g)
        return self._metric[name]

    def lonlat(self, metric_geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A point on the surface of each metric geometry, as lon/lat arrays."""
        if self._back is None:
            self._back = Transformer.from_crs(self.crs, STORAGE_CRS, always_xy=True)
        pts = shapely.point_on_surface(metric_geoms)
        lon, lat = self._back.transform(shapely.get_x(pts), shapely.get_y(pts))
        return np.asarray(lon), np.asarray(lat)

    def where(self, name: str, row: int) -> tuple[float | None, float | None]:
        """A location of one row (a point on its geometry), if it has a usable one."""
        g = self.geoms(name)
        if g is None or not self.usable(name)[row]:
            return None, None
        p = shapely.point_on_surface(g[row])
        return float(p.x), float(p.y)

    def add(
        self,
        check: str,
        name: str,
        row: int | None,
        message: str,
        *,
        code: str | None = None,
        severity: str = "error",
        lon: float | None = None,
        lat: float | None = None,
        area_m2: float | None = None,
        locate: bool = True,
    ) -> None:
        """Record a finding about a row (its key and location filled in)."""
        if row is not None:
            row = int(row)
            if code is None:
                code = self.keys(name)[row]
            if lon is None and locate:
                lon, lat = self.where(name, row)
        self.findings.append(
            Finding(
                severity,
                check,
                name,
                None if code is None else str(code),
                row,
                message,
                None if lon is None else round(float(lon), 9),
                None if lat is None else round(float(lat), 9),
                None if area_m2 is None else float(area_m2),
            )
        )


def _texts(s: pd.Series) -> np.ndarray:
    """A column as an object array: text kept, missing values as None."""
    return s.to_numpy(dtype=object, na_value=None)


def _str_series(s: pd.Series) -> pd.Series:
    """A column as text for vectorised string tests; non-text values become NA."""
    if isinstance(s.dtype, pd.StringDtype):
        return s
    arr = _texts(s)
    is_text = np.fromiter((isinstance(v, str) for v in arr), bool, len(arr))
    return pd.Series(np.where(is_text, arr, None), index=s.index, dtype="str")


def _usable_mask(g: np.ndarray, name: str) -> np.ndarray:
    ok = ~shapely.is_missing(g) & ~shapely.is_empty(g) & shapely.is_valid(g)
    allowed = _TYPE_IDS.get(LAYERS[name].geometry or "", ())
    if allowed:
        ok &= np.isin(shapely.get_type_id(g), allowed)
    return ok


_SINGULAR = {
    "facilities": "facility",
    "party_orgs": "party organisation",
    "roads": "road",
    "incidents": "incident",
    "incident_events": "incident event",
    "metadata": "metadata row",
}


def _layer_label(lay: Layer) -> str:
    """What one row of the layer is called in messages."""
    return lay.level or _SINGULAR.get(lay.name, lay.name)


# -- attribute checks ---------------------------------------------------------


def _check_values(ctx: _Context, name: str) -> None:
    """Required values present, values among their column's choices, counts >= 0."""
    frame = ctx.present[name]
    lay = LAYERS[name]
    what = _layer_label(lay)
    for col in lay.columns:
        if col.name not in frame:
            if col.required:
                ctx.add(
                    "bad_value",
                    name,
                    None,
                    f"the {name} layer has no '{col.name}' column, which is required: "
                    f"add it with a value on every row",
                )
            continue
        s = frame[col.name]
        missing = s.isna().to_numpy(dtype=bool, copy=True)
        if col.type == "text":
            # An empty or blank string is as missing as a null to the people reading it.
            blank = _str_series(s).str.strip().eq("").to_numpy(dtype=bool, na_value=False)
            missing |= blank
        if col.required:
            for row in np.flatnonzero(missing):
                ctx.add(
                    "bad_value",
                    name,
                    row,
                    f"{what} has no value in the required column '{col.name}': fill it in",
                )
        if col.choices:
            bad = ~missing & ~s.isin(col.choices).to_numpy(dtype=bool)
            for row in np.flatnonzero(bad):
                ctx.add(
                    "bad_value",
                    name,
                    row,
                    f"{what} has '{s.iloc[row]}' in '{col.name}', which is not one of: "
                    f"{', '.join(col.choices)}: use one of these",
                )
        if col.type == "int":
            num = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            for row in np.flatnonzero(~missing & np.isnan(num)):
                ctx.add(
                    "bad_value",
                    name,
                    row,
                    f"{what} has '{s.iloc[row]}' in '{col.name}', which is not a whole number",
                )
            for row in np.flatnonzero(num < 0):
                ctx.add(
                    "bad_value",
                    name,
                    row,
                    f"{what} has {s.iloc[row]} in '{col.name}': a count cannot be negative",
                )


def _check_keys(ctx: _Context, name: str) -> None:
    """Every key (unit code or id) is used by one row only."""
    lay = LAYERS[name]
    frame = ctx.present[name]
    if lay.key is None or lay.key not in frame:
        return
    s = pd.Series(ctx.keys(name), dtype=object)
    dup = s.notna() & s.duplicated(keep="first")
    if not dup.any():
        return
    first = {v: i for i, v in reversed(list(enumerate(s))) if v is not None}
    check = "duplicate_code" if lay.level else "duplicate_id"
    for row in np.flatnonzero(dup.to_numpy()):
        key = s.iloc[row]
        ctx.add(
            check,
            name,
            row,
            f"{_layer_label(lay)} {lay.key} '{key}' is also used by row {first[key] + 1}: "
            f"give each {_layer_label(lay)} its own {lay.key}",
        )


def _check_geometry(ctx: _Context, name: str) -> None:
    """Geometries present, non-empty, valid and of the layer's type."""
    lay = LAYERS[name]
    g = ctx.geoms(name)
    if lay.geometry is None:
        return
    what = _layer_label(lay)
    if g is None:
        ctx.add(
            "empty_geometry",
            name,
            None,
            f"the {name} layer has no geometry column: give every {what} its "
            f"{lay.geometry} in EPSG:4326",
        )
        return
    missing = shapely.is_missing(g) | shapely.is_empty(g)
    for row in np.flatnonzero(missing):
        ctx.add(
            "empty_geometry",
            name,
            row,
            f"{what} has no geometry (null or empty): draw its {lay.geometry} or remove the row",
            locate=False,
        )
    invalid = ~missing & ~shapely.is_valid(g)
    rows = np.flatnonzero(invalid)
    for row, reason in zip(rows, shapely.is_valid_reason(g[rows]), strict=True):
        # GEOS names the offending vertex: use it as the finding's location.
        m = _REASON_AT.search(reason or "")
        lon, lat = (float(m.group(1)), float(m.group(2))) if m else (None, None)
        ctx.add(
            "invalid_geometry",
            name,
            row,
            f"{what} has an invalid geometry ({reason}): fix it, e.g. with "
            "shapely.make_valid or QGIS's Fix Geometries",
            lon=lon,
            lat=lat,
            locate=False,
        )
    allowed = _TYPE_IDS.get(lay.geometry, ())
    wrong = ~missing & ~invalid & ~np.isin(shapely.get_type_id(g), allowed)
    for row in np.flatnonzero(wrong):
        ctx.add(
            "geometry_type",
            name,
            row,
            f"{what} is a {g[row].geom_type}, but the {name} "
            f"layer holds {lay.geometry}s: convert or remove it",
            locate=False,
        )


# -- codes and parents --------------------------------------------------------


def _check_codes(ctx: _Context, name: str) -> None:
    """Width, digits and serial of each unit code, and its parent's prefix."""
    lay = LAYERS[name]
    frame = ctx.present[name]
    if "code" not in frame:
        return
    level = lay.level
    width = WIDTHS[level]
    codes = _str_series(frame["code"])
    raw = _texts(frame["code"])
    ok = codes.str.fullmatch(rf"\d{{{width}}}").to_numpy(dtype=bool, na_value=False)
    parents = np.full(len(frame), None, dtype=object)
    if level == "district":
        ok = ok & (~codes.str.endswith("00").to_numpy(dtype=bool, na_value=True))
    else:
        serials = pd.Series(serials_at(codes, level), dtype="string")
        serial_zero = serials.str.fullmatch("0+").to_numpy(dtype=bool, na_value=False)
        if level != "grid":  # "00" is the undivided grid, a valid serial
            ok = ok & (~serial_zero)
        if lay.parent in frame:
            parents = _texts(frame[lay.parent])
            pcodes = _str_series(frame[lay.parent])
            cut = pd.Series(ancestors_at(codes, parent_level(level)), dtype="string")
            parent_codes = pd.Series(pcodes.to_numpy(), dtype="string")
            same = cut.eq(parent_codes).fillna(False).to_numpy(dtype=bool)
            ok = ok & (same | pcodes.isna().to_numpy())
    # Missing codes are bad_value findings already; explain each other failure.
    for row in np.flatnonzero(~ok & ~pd.isna(raw)):
        code, parent = raw[row], parents[row]
        try:
            check_code(code, level)
        except CodeError as e:
            well_formed = isinstance(code, str) and code.isdigit() and len(code) == width
            check = "code_serial" if well_formed else "code_width"
            ctx.add(check, name, row, str(e), code=str(code))
            continue
        if isinstance(parent, str):
            try:
                check_code(code, level, parent)
            except CodeError as e:
                ctx.add(
                    "code_prefix",
                    name,
                    row,
                    f"{e} (its {lay.parent} is '{parent}'): correct the code or the parent",
                    code=code,
                )


def _parent_index(ctx: _Context, parent_name: str) -> dict[str, int]:
    """Code → row of the first usable-or-not row with that code in the parent layer."""
    codes = ctx.keys(parent_name)
    out: dict[str, int] = {}
    for i, c in enumerate(codes):
        if c is not None and c not in out:
            out[c] = i
    return out


def _check_orphans(ctx: _Context, name: str) -> None:
    """Every parent code names a unit of the parent layer."""
    lay = LAYERS[name]
    plevel = parent_level(lay.level)
    pname = LEVEL_LAYERS[plevel]
    frame = ctx.present[name]
    if pname not in ctx.present or lay.parent not in frame:
        return
    known = set(_parent_index(ctx, pname))
    parents = pd.Series(_texts(frame[lay.parent]), dtype=object)
    bad = parents.notna() & ~parents.isin(known)
    for row in np.flatnonzero(bad.to_numpy()):
        ctx.add(
            "orphan",
            name,
            row,
            f"{lay.level} names {lay.parent} '{parents.iloc[row]}', but no {plevel} has "
            f"that code: add the {plevel} or correct the {lay.parent}",
        )


def _pairs_with_parent(
    ctx: _Context, name: str, column: str, parent_name: str
) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``name`` and the rows of their parents, both with usable geometry."""
    frame = ctx.present[name]
    index = _parent_index(ctx, parent_name)
    pos = pd.Index(list(index), dtype=object).get_indexer(_texts(frame[column]))
    prow = np.full(len(pos), -1, dtype=np.int64)
    hit = pos >= 0
    prow[hit] = np.fromiter(index.values(), np.int64, len(index))[pos[hit]]
    ok = ctx.usable(name) & (prow >= 0)
    ok[ok] &= ctx.usable(parent_name)[prow[ok]]
    rows = np.flatnonzero(ok)
    return rows, prow[rows]


def _check_containment(
    ctx: _Context, name: str, column: str | None, plevel: str, severity: str = "error"
) -> None:
    """Each row lies inside its parent unit, within the containment tolerance."""
    pname = LEVEL_LAYERS[plevel]
    if column is None or pname not in ctx.present or column not in ctx.present[name]:
        return
    if ctx.geoms(name) is None or ctx.geoms(pname) is None:
        return
    rows, prows = _pairs_with_parent(ctx, name, column, pname)
    if not len(rows):
        return
    # Cheap first pass in degrees with prepared parents: nearly everything
    # passes it, so only the few failures are projected and buffered.
    child, parent = ctx.geoms(name)[rows], ctx.geoms(pname)[prows]
    shapely.prepare(ctx.geoms(pname)[np.unique(prows)])
    suspect = ~shapely.covers(parent, child)
    if not suspect.any():
        return
    rows, prows = rows[suspect], prows[suspect]
    child_m = ctx.project(ctx.geoms(name)[rows])
    parent_m = ctx.metric(pname)[prows]
    inside = shapely.covers(shapely.buffer(parent_m, ctx.tolerance), child_m)
    out = ~inside
    rows, prows, child_m, parent_m = rows[out], prows[out], child_m[out], parent_m[out]
    if not len(rows):
        return
    outside = shapely.difference(child_m, parent_m)
    area = shapely.area(outside)
    # A point (or a sliver) has no area outside: locate it by the child itself.
    spot = np.where(area > 0, outside, child_m)
    lon, lat = ctx.lonlat(spot)
    what = _layer_label(LAYERS[name])
    pcodes = ctx.keys(pname)
    if LAYERS[name].geometry == "Point":
        todo = f"correct its {column} or its location"
    else:
        todo = f"redraw it along the {plevel} boundary or assign it to the {plevel} it lies in"
    for k, row in enumerate(rows):
        extent = f"{area[k]:,.1f} m² of it lie" if area[k] > 0 else "it lies"
        ctx.add(
            "outside_parent",
            name,
            row,
            f"{what} is not inside its {plevel} {pcodes[prows[k]]}: {extent} outside by more "
            f"than {ctx.tolerance:g} m; {todo}",
            severity=severity,
            lon=lon[k],
            lat=lat[k],
            area_m2=area[k] if area[k] > 0 else None,
        )


# -- tiling -------------------------------------------------------------------


def _check_tiling(ctx: _Context, name: str) -> None:
    """Siblings cover their parent with no gap and no overlap (无缝拼接, 不重叠)."""
    lay = LAYERS[name]
    level, plevel = lay.level, parent_level(lay.level)
    pname = LEVEL_LAYERS[plevel]
    if name not in ctx.present or pname not in ctx.present or lay.parent not in ctx.present[name]:
        return
    if ctx.geoms(name) is None or ctx.geoms(pname) is None:
        return
    rows, prows = _pairs_with_parent(ctx, name, lay.parent, pname)
    if not len(rows):
        return
    # Topology is decided in the storage CRS, where the edges are straight:
    # projected, a long edge and the same edge split by a neighbour's vertex
    # part by centimetres, which over kilometres adds up to false gaps of tens
    # of m². Only the pieces found are projected, to measure them.
    geoms = ctx.geoms(name)
    pgeoms = ctx.geoms(pname)
    pcodes = ctx.keys(pname)
    codes = ctx.keys(name)

    # Gaps: each parent minus the union of its children, one finding per piece.
    groups = pd.Series(rows).groupby(prows).indices
    parent_rows = np.fromiter(groups, np.int64, len(groups))
    unions = np.array([shapely.union_all(geoms[rows[groups[p]]]) for p in parent_rows], object)
    gaps = shapely.difference(pgeoms[parent_rows], unions)
    parts, which, area = _pieces(ctx, gaps)
    spots = shapely.point_on_surface(parts)
    for k in range(len(parts)):
        pcode = pcodes[parent_rows[which[k]]]
        ctx.add(
            f"{level}_gap",
            name,
            None,
            f"{area[k]:,.1f} m² of {plevel} {pcode} lie in none of its {name}: extend a "
            f"neighbouring {level} over the gap or draw a {level} for it",
            code=pcode,
            lon=shapely.get_x(spots[k]),
            lat=shapely.get_y(spots[k]),
            area_m2=area[k],
        )

    # Overlaps: candidate pairs from an R-tree, siblings only (a child crossing
    # into another parent is an outside_parent finding already).
    tree = shapely.STRtree(geoms[rows])
    i, j = tree.query(geoms[rows], predicate="intersects")
    sel = (i < j) & (prows[i] == prows[j])
    i, j = rows[i[sel]], rows[j[sel]]
    if not len(i):
        return
    parts, which, area = _pieces(ctx, shapely.intersection(geoms[i], geoms[j]))
    spots = shapely.point_on_surface(parts)
    for k in range(len(parts)):
        a, b = i[which[k]], j[which[k]]
        ctx.add(
            f"{level}_overlap",
            name,
            a,
            f"{level} {codes[a]} and {level} {codes[b]} (row {b + 1}) overlap by "
            f"{area[k]:,.1f} m²: move their shared boundary so that each place lies in "
            f"one {level} only",
            lon=shapely.get_x(spots[k]),
            lat=shapely.get_y(spots[k]),
            area_m2=area[k],
        )


def _pieces(ctx: _Context, geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The polygon parts of lon/lat geometries at least a sliver large.

    Returns the parts, the index of the geometry each came from and their
    areas in m² (measured in the metric CRS).
    """
    parts, which = shapely.get_parts(geoms, return_index=True)
    # Lines and points of a GeometryCollection have no area: never a finding.
    poly = np.isin(shapely.get_type_id(parts), (3, 6))
    parts, which = parts[poly], which[poly]
    area = shapely.area(ctx.project(parts)) if len(parts) else np.zeros(0)
    keep = area >= ctx.sliver
    return parts[keep], which[keep], area[keep]


def _check_childless(ctx: _Context, name: str) -> None:
    """Every parent has at least one child (a community at least its 00 grid)."""
    lay = LAYERS[name]
    level, plevel = lay.level, parent_level(lay.level)
    pname = LEVEL_LAYERS[plevel]
    if name not in ctx.present or pname not in ctx.present or lay.parent not in ctx.present[name]:
        return
    used = set(_texts(ctx.present[name][lay.parent]))
    pcodes = ctx.keys(pname)
    extra = (
        f" (its {UNDIVIDED_GRID} grid if it is not subdivided); every place must lie in "
        "exactly one grid"
        if level == "grid"
        else ""
    )
    for row in np.flatnonzero([c is not None and c not in used for c in pcodes]):
        ctx.add(
            f"{plevel}_without_{level}",
            pname,
            row,
            f"{plevel} {pcodes[row]} has no {level}: draw its {name}{extra}",
        )


def _check_undivided(ctx: _Context) -> None:
    """A grid numbered 00 is its community's only grid."""
    if "grids" not in ctx.present or "community_code" not in ctx.present["grids"]:
        return
    codes = ctx.keys("grids")
    comm = pd.Series(_texts(ctx.present["grids"]["community_code"]), dtype=object)
    sizes = comm.map(comm.value_counts()).to_numpy()
    for row in range(len(codes)):
        code = codes[row]
        if (
            isinstance(code, str)
            and len(code) == WIDTHS["grid"]
            and code.endswith(UNDIVIDED_GRID)
            and sizes[row] > 1
        ):
            ctx.add(
                "undivided_with_siblings",
                "grids",
                row,
                f"grid {code} is numbered {UNDIVIDED_GRID} (community not subdivided) but "
                f"community {comm.iloc[row]} has {int(sizes[row]) - 1} other grid(s): number "
                "its grids 01, 02, … west→east, north→south",
            )


# -- party organisations and incidents ----------------------------------------


def _check_party(ctx: _Context) -> None:
    """Each party organisation names an existing unit of its kind's level."""
    if "party_orgs" not in ctx.present:
        return
    frame = ctx.present["party_orgs"]
    if "unit_code" not in frame or "kind" not in frame:
        return
    units = _texts(frame["unit_code"])
    kinds = _texts(frame["kind"])
    by_width = {w: lvl for lvl, w in WIDTHS.items()}
    known = {
        lvl: set(ctx.keys(LEVEL_LAYERS[lvl])) for lvl in LEVELS if LEVEL_LAYERS[lvl] in ctx.present
    }
    for row, (unit, kind) in enumerate(zip(units, kinds, strict=True)):
        allowed = _PARTY_LEVELS.get(kind)
        if unit is None or allowed is None:
            continue  # reported as bad_value already
        lvl = by_width.get(len(unit)) if isinstance(unit, str) and unit.isdigit() else None
        if lvl not in allowed:
            ctx.add(
                "bad_value",
                "party_orgs",
                row,
                f"{kind} names unit '{unit}', which is not a {' or '.join(allowed)} code: a "
                f"{kind} belongs to a {' or '.join(allowed)}",
            )
        elif lvl in known and unit not in known[lvl]:
            ctx.add(
                "orphan",
                "party_orgs",
                row,
                f"{kind} names {lvl} '{unit}', but no {lvl} has that code: "
                f"correct its unit_code or add the {lvl}",
            )


def _check_incidents(ctx: _Context) -> None:
    """Incidents name existing grids and buildings and lie in their grid."""
    if "incidents" not in ctx.present:
        return
    frame = ctx.present["incidents"]
    for column, lvl in (("grid_code", "grid"), ("building_code", "building")):
        pname = LEVEL_LAYERS[lvl]
        if column not in frame or pname not in ctx.present:
            continue
        vals = pd.Series(_texts(frame[column]), dtype=object)
        bad = vals.notna() & ~vals.isin(set(ctx.keys(pname)))
        for row in np.flatnonzero(bad.to_numpy()):
            ctx.add(
                "orphan",
                "incidents",
                row,
                f"incident names {column} '{vals.iloc[row]}', but no {lvl} has that code: "
                "correct it or leave it empty to assign the incident by its location",
            )
    # A tap on a tablet can land a few metres off: a warning, not an error.
    _check_containment(ctx, "incidents", "grid_code", "grid", severity="warning")

"""Incidents (事件) and the closed loop: the state machine, locating, and the KPIs.

Three families of pure functions, on dicts and DataFrames (no file or database
here; :mod:`gridmap.ingest` reads files, the store saves what these return):

- **Moves.** :func:`move`, :func:`whistle` and :func:`transfer` take one
  incident row (a mapping with the columns of the ``incidents`` layer) and
  return the updated row and the ``incident_events`` rows to append; the
  caller saves both at once with ``Store.move_incident(row, events,
  expected_version=incident["version"])``. The input is never mutated. A move
  the state machine of DOMAIN.md section 5 does not allow raises
  :class:`TransitionError` naming the moves that are allowed.
- **Locating.** :func:`locate` gives each reported point its grid (the grid
  containing it, by :func:`gridmap.assign.assign_points`) and its building
  (the nearest building of that grid within 30 m), or the reason it has none.
- **Metrics.** :func:`unit_metrics` computes the closed-loop KPIs of every unit
  of one level (district, subdistrict, community, grid) in one vectorised pass;
  :func:`unit_metrics_one` gives one unit's figures as a flat dict for
  ``gridmap stats``.

The state machine (DOMAIN.md section 5), :data:`MOVES`::

    collected     -> registered | voided
    registered    -> dispatched                  (the deadline clock starts)
    dispatched    -> handling | dispatched       (transfer: transfer_count + 1)
    handling      -> reported_back | dispatched  (transfer)
    reported_back -> closed | handling           (rework: rework_count + 1)
    closed        -> evaluated

"Whistled" (街乡吹哨、部门报到) is a flag, not a step: it is set at registered,
dispatched or handling with the department called in and its response
deadline, and automatically by the third rework.

Times are UTC throughout. The deadline clock starts at the first dispatch and
runs in calendar hours (DOMAIN.md section 5).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from gridmap.codes import WIDTHS, level_of
from gridmap.crs import STORAGE_CRS, utm_crs
from gridmap.errors import CodeError, GridmapError
from gridmap.schema import (
    CLOSING_LEVELS,
    INCIDENT_CATEGORIES,
    INCIDENT_STEPS,
    SATISFACTION,
)

__all__ = [
    "STEPS",
    "OPEN_STEPS",
    "MOVES",
    "WHISTLE_STEPS",
    "DEADLINE_HOURS",
    "WHISTLE_HOURS",
    "REWORKS_BEFORE_WHISTLE",
    "ESCALATION_DEPARTMENT",
    "METRIC_LEVELS",
    "TransitionError",
    "move",
    "whistle",
    "transfer",
    "locate",
    "unit_metrics",
    "unit_metrics_one",
]

#: The steps of the closed loop, in order, then ``voided`` (registration refused).
STEPS: tuple[str, ...] = INCIDENT_STEPS

#: Steps at which a case is still open (not closed, evaluated or voided).
OPEN_STEPS: tuple[str, ...] = ("collected", "registered", "dispatched", "handling", "reported_back")

#: The allowed moves: from each step, the steps it may go to. ``dispatched``
#: from ``dispatched`` or ``handling`` is a transfer to another department;
#: ``handling`` from ``reported_back`` is a rework (sent back by the on-site check).
MOVES: dict[str, tuple[str, ...]] = {
    "collected": ("registered", "voided"),
    "registered": ("dispatched",),
    "dispatched": ("handling", "dispatched"),
    "handling": ("reported_back", "dispatched"),
    "reported_back": ("closed", "handling"),
    "closed": ("evaluated",),
    "evaluated": (),
    "voided": (),
}

#: Steps at which the subdistrict may blow the whistle (吹哨).
WHISTLE_STEPS: tuple[str, ...] = ("registered", "dispatched", "handling")

#: Hours from dispatch to an incident's deadline, per category (calendar hours).
#: Configuration defaults (the demo builds its incidents with them too):
#: the real values are set locally (CJ/T 315-2009; Shenzhen SZDB/Z 300.4 appendix A),
#: so every function using them takes a ``deadline_hours`` mapping overriding them.
DEADLINE_HOURS: dict[str, float] = {
    "emergency": 2,
    "safety_hazard": 24,
    "street_order": 24,
    "city_appearance": 48,
    "advertising": 72,
    "construction": 72,
    "dispute": 72,
    "facility": 96,
    "resident_request": 120,
    "other": 120,
}

#: Default response deadline (hours) of a department called in by a whistle.
WHISTLE_HOURS: float = 24.0

#: The rework that escalates a case automatically (DOMAIN.md: "the third rework").
REWORKS_BEFORE_WHISTLE: int = 3

#: Who is called in by an automatic whistle when the caller names no escalation
#: department and the case has no department of its own.
ESCALATION_DEPARTMENT: str = "街道综合指挥中心"

#: Levels :func:`unit_metrics` groups by (through the prefix of ``grid_code``).
METRIC_LEVELS: tuple[str, ...] = ("district", "subdistrict", "community", "grid")

_CLOSED = ("closed", "evaluated")
# Moves that have a name of their own, for messages.
_MOVE_NAMES = {
    ("dispatched", "dispatched"): "transfer",
    ("handling", "dispatched"): "transfer",
    ("reported_back", "handling"): "rework",
}
_GOOD_ANSWERS = ("satisfied", "basically_satisfied")
_HOUR_MS = 3_600_000.0


class TransitionError(GridmapError):
    """A move the closed loop does not allow, or one missing what it needs.

    Parameters
    ----------
    what
        What was refused.
    hint
        What is allowed instead.
    from_step, to_step
        The incident's step and the step asked for.
    allowed
        The steps the incident may move to from ``from_step``.
    """

    def __init__(
        self,
        what: str,
        hint: str | None = None,
        *,
        from_step: str | None = None,
        to_step: str | None = None,
        allowed: tuple[str, ...] = (),
    ) -> None:
        self.from_step = from_step
        self.to_step = to_step
        self.allowed = allowed
        super().__init__(what, hint)


# -- moves ----------------------------------------------------------------------


def move(
    incident: Mapping[str, Any],
    to_step: str,
    *,
    actor: str,
    at: datetime,
    note: str | None = None,
    department: str | None = None,
    closed_level: str | None = None,
    satisfaction: str | None = None,
    deadline_hours: Mapping[str, float] | None = None,
    escalation_department: str | None = None,
    whistle_hours: float | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Move an incident to its next step.

    Parameters
    ----------
    incident
        The incident's row (columns of the ``incidents`` layer; missing values
        may be ``None``, NaN, ``pd.NA`` or ``NaT``). Not modified.
    to_step
        The step to move to; one of ``MOVES[incident["step"]]``.
    actor
        Who moves it (a person or a role), recorded on the event.
    at
        When, timezone-aware (converted to UTC). Not before the incident's
        last change: the event log stays in order.
    note
        Free text recorded on the event (a reason to void, a rework's finding …).
    department
        The department dispatched to: required when dispatching and when
        transferring (``dispatched`` from ``dispatched`` or ``handling``),
        refused otherwise.
    closed_level
        Required when closing: the level that solved the case
        (:data:`gridmap.schema.CLOSING_LEVELS`); "小事不出网格" counts ``grid``.
    satisfaction
        Required when evaluating: the resident's answer
        (:data:`gridmap.schema.SATISFACTION`).
    deadline_hours
        Hours from dispatch to the deadline per category, overriding
        :data:`DEADLINE_HOURS` (local rules).
    escalation_department
        Who the third rework calls in (the subdistrict's escalation
        department); default the case's own department, else
        :data:`ESCALATION_DEPARTMENT`.
    whistle_hours
        Response deadline of that automatic whistle; default :data:`WHISTLE_HOURS`.

    Returns
    -------
    row : dict
        The incident after the move: ``step``, ``updated_at`` (``at``) and
        ``version`` (+ 1, as the store will save it), and by move:
        dispatch sets ``department``, ``dispatched_at`` and ``deadline``
        (``dispatched_at`` + the category's hours); a transfer sets
        ``department`` and ``transfer_count`` + 1 (the clock keeps running from
        the first dispatch); a rework sets ``rework_count`` + 1 (and the third
        one the whistle); closing sets ``closed_at`` and ``closed_level``;
        evaluating sets ``satisfaction``.
    events : list of dict
        The ``incident_events`` rows to append (``incident_id``, ``at``,
        ``actor``, ``from_step``, ``to_step``, ``note``): one per move, plus a
        second one (step unchanged) when the third rework blows the whistle.

    Raises
    ------
    TransitionError
        If the move is not allowed from the incident's step, a required
        argument is missing or one is given that the move does not take, or
        ``at`` is before the incident's last change.
    """
    row = dict(incident)
    from_step = _step_of(row, to_step)
    when = _utc(at)
    if to_step not in STEPS:
        raise TransitionError(
            f"'{to_step}' is not an incident step",
            f"use one of: {', '.join(STEPS)}",
            from_step=from_step,
            to_step=to_step,
            allowed=MOVES[from_step],
        )
    allowed = MOVES[from_step]
    if to_step not in allowed:
        raise _forbidden(row, from_step, to_step)
    if to_step == "dispatched" and from_step in ("dispatched", "handling"):
        if closed_level is not None or satisfaction is not None:
            raise _unexpected(row, from_step, to_step, "closed_level or satisfaction")
        return transfer(incident, department=department, actor=actor, at=when, note=note)
    _check_time(row, when, from_step, to_step)
    # Each argument belongs to one move: refusing it elsewhere catches a
    # caller who meant another move instead of silently dropping the value.
    if department is not None and to_step != "dispatched":
        raise _unexpected(row, from_step, to_step, "department")
    if closed_level is not None and to_step != "closed":
        raise _unexpected(row, from_step, to_step, "closed_level")
    if satisfaction is not None and to_step != "evaluated":
        raise _unexpected(row, from_step, to_step, "satisfaction")

    extra: list[dict[str, Any]] = []
    if to_step == "dispatched":
        if not _text(department):
            raise TransitionError(
                f"dispatching incident {row.get('id')} needs the department it goes to",
                "name the department",
                from_step=from_step,
                to_step=to_step,
                allowed=allowed,
            )
        hours = _deadline_hours(row.get("category"), deadline_hours)
        row["department"] = department
        # The clock starts at dispatch (DOMAIN.md section 5).
        row["dispatched_at"] = when
        row["deadline"] = when + pd.Timedelta(hours=hours)
        note = _join(f"派遣至{department}", note)
    elif from_step == "reported_back" and to_step == "handling":
        row["rework_count"] = _count(row.get("rework_count")) + 1
        if row["rework_count"] >= REWORKS_BEFORE_WHISTLE and not _flag(row.get("whistled")):
            # The third rework escalates: the subdistrict blows the whistle.
            called = escalation_department or _text(row.get("department")) or ESCALATION_DEPARTMENT
            hours = WHISTLE_HOURS if whistle_hours is None else whistle_hours
            _set_whistle(row, called, hours, when)
            extra.append(
                _event(
                    row,
                    when,
                    actor,
                    to_step,
                    to_step,
                    f"第{row['rework_count']}次发回重办，自动吹哨：{called}报到（{_hours(hours)}小时内）",
                )
            )
    elif to_step == "closed":
        if closed_level not in CLOSING_LEVELS:
            raise TransitionError(
                f"closing incident {row.get('id')} needs the level that solved it"
                + ("" if closed_level is None else f", not '{closed_level}'"),
                f"give closed_level, one of: {', '.join(CLOSING_LEVELS)}",
                from_step=from_step,
                to_step=to_step,
                allowed=allowed,
            )
        row["closed_at"] = when
        row["closed_level"] = closed_level
    elif to_step == "evaluated":
        if satisfaction not in SATISFACTION:
            raise TransitionError(
                f"evaluating incident {row.get('id')} needs the resident's answer"
                + ("" if satisfaction is None else f", not '{satisfaction}'"),
                f"give satisfaction, one of: {', '.join(SATISFACTION)}",
                from_step=from_step,
                to_step=to_step,
                allowed=allowed,
            )
        row["satisfaction"] = satisfaction

    row["step"] = to_step
    _touch(row, when)
    return row, [_event(row, when, actor, from_step, to_step, note), *extra]


def transfer(
    incident: Mapping[str, Any],
    *,
    department: str | None,
    actor: str,
    at: datetime,
    note: str | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Re-dispatch an incident to another department (转派).

    Parameters
    ----------
    incident
        The incident's row, at ``dispatched`` or ``handling``. Not modified.
    department
        The new department; it must differ from the current one.
    actor, at, note
        As for :func:`move`.

    Returns
    -------
    row, events
        The row at ``dispatched`` with the new ``department`` and
        ``transfer_count`` + 1, and one event. ``dispatched_at`` and
        ``deadline`` do not change: the clock runs from the first dispatch, so
        passing a case on (属地管理 ping-pong) does not buy time.

    Raises
    ------
    TransitionError
        From another step, without a department, or to the same department.
    """
    row = dict(incident)
    from_step = _step_of(row, "dispatched")
    when = _utc(at)
    if from_step not in ("dispatched", "handling"):
        raise TransitionError(
            f"cannot transfer incident {row.get('id')} at '{from_step}'",
            "only a dispatched case (dispatched or handling) can be transferred; "
            + _allowed_text(from_step),
            from_step=from_step,
            to_step="dispatched",
            allowed=MOVES[from_step],
        )
    _check_time(row, when, from_step, "dispatched")
    current = _text(row.get("department"))
    if not _text(department) or department == current:
        raise TransitionError(
            f"transferring incident {row.get('id')} needs another department"
            + (f" than '{current}'" if current else ""),
            "name the department it goes to",
            from_step=from_step,
            to_step="dispatched",
            allowed=MOVES[from_step],
        )
    row["department"] = department
    row["transfer_count"] = _count(row.get("transfer_count")) + 1
    row["step"] = "dispatched"
    _touch(row, when)
    event = _event(row, when, actor, from_step, "dispatched", _join(f"转派至{department}", note))
    return row, [event]


def whistle(
    incident: Mapping[str, Any],
    *,
    department: str,
    hours: float = WHISTLE_HOURS,
    actor: str,
    at: datetime,
    note: str | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Blow the whistle on an incident: call a department in with a response deadline.

    Parameters
    ----------
    incident
        The incident's row, at ``registered``, ``dispatched`` or ``handling``.
        Not modified.
    department
        The functional department called in (部门报到).
    hours
        Its response deadline, in calendar hours from ``at``.
    actor, at, note
        As for :func:`move`.

    Returns
    -------
    row, events
        The row with ``whistled`` set, ``whistle_department`` and
        ``whistle_deadline``; its step does not change. One event, from and to
        the current step (the whistle is a flag, not a step). Whistling a case
        again calls in another department: the latest one and its deadline
        are kept, the events keep them all.

    Raises
    ------
    TransitionError
        At another step, without a department, or with hours not above zero.
    """
    row = dict(incident)
    step = _step_of(row, step_asked=None)
    when = _utc(at)
    if step not in WHISTLE_STEPS:
        raise TransitionError(
            f"cannot blow the whistle on incident {row.get('id')} at '{step}'",
            f"the whistle is blown at {', '.join(WHISTLE_STEPS)}",
            from_step=step,
            allowed=MOVES[step],
        )
    if not _text(department):
        raise TransitionError(
            f"blowing the whistle on incident {row.get('id')} needs the department called in",
            "name the department",
            from_step=step,
            allowed=MOVES[step],
        )
    if not hours > 0:
        raise TransitionError(
            f"the whistle's response deadline must be some hours ahead, not {hours}",
            f"give hours above zero (default {_hours(WHISTLE_HOURS)})",
            from_step=step,
            allowed=MOVES[step],
        )
    _check_time(row, when, step, step)
    _set_whistle(row, department, hours, when)
    _touch(row, when)
    text = _join(f"街道吹哨：{department}报到（{_hours(hours)}小时内）", note)
    return row, [_event(row, when, actor, step, step, text)]


def _set_whistle(row: dict[str, Any], department: str, hours: float, when: pd.Timestamp) -> None:
    row["whistled"] = True
    row["whistle_department"] = department
    row["whistle_deadline"] = when + pd.Timedelta(hours=hours)


def _touch(row: dict[str, Any], when: pd.Timestamp) -> None:
    """Stamp the change: ``updated_at``, and the version the store will give the row."""
    row["updated_at"] = when
    row["version"] = _count(row.get("version")) + 1


def _event(
    row: Mapping[str, Any],
    when: pd.Timestamp,
    actor: str,
    from_step: str | None,
    to_step: str,
    note: str | None,
) -> dict[str, Any]:
    return {
        "incident_id": row.get("id"),
        "at": when,
        "actor": actor,
        "from_step": from_step,
        "to_step": to_step,
        "note": note,
    }


def _step_of(row: Mapping[str, Any], step_asked: str | None) -> str:
    step = _text(row.get("step"))
    if step not in MOVES:
        raise TransitionError(
            f"incident {row.get('id')} has no known step ({row.get('step')!r})",
            f"its step must be one of: {', '.join(STEPS)}",
            from_step=step,
            to_step=step_asked,
        )
    return step


def _forbidden(row: Mapping[str, Any], from_step: str, to_step: str) -> TransitionError:
    return TransitionError(
        f"cannot move incident {row.get('id')} from '{from_step}' to '{to_step}'",
        _allowed_text(from_step),
        from_step=from_step,
        to_step=to_step,
        allowed=MOVES[from_step],
    )


def _allowed_text(from_step: str) -> str:
    allowed = MOVES[from_step]
    if not allowed:
        return f"'{from_step}' is final: no move leads on from it"
    names = [
        f"{s} ({_MOVE_NAMES[from_step, s]})" if (from_step, s) in _MOVE_NAMES else s
        for s in allowed
    ]
    return f"from '{from_step}' it can move to: {', '.join(names)}"


def _unexpected(row: Mapping[str, Any], from_step: str, to_step: str, what: str) -> TransitionError:
    return TransitionError(
        f"moving incident {row.get('id')} from '{from_step}' to '{to_step}' takes no {what}",
        "a department is given when dispatching or transferring, closed_level when closing, "
        "satisfaction when evaluating",
        from_step=from_step,
        to_step=to_step,
        allowed=MOVES[from_step],
    )


def _check_time(row: Mapping[str, Any], when: pd.Timestamp, from_step: str, to_step: str) -> None:
    """Refuse a move dated before the incident's last change (the log must stay in order)."""
    last = _stamp(row.get("updated_at"))
    if last is None:
        last = _stamp(row.get("reported_at"))
    if last is not None and when < last:
        raise TransitionError(
            f"cannot move incident {row.get('id')} at {when.isoformat()}: "
            f"its last change was at {last.isoformat()}",
            "give the time of the move (UTC), not an earlier one",
            from_step=from_step,
            to_step=to_step,
            allowed=MOVES[from_step],
        )


def _deadline_hours(category: Any, overrides: Mapping[str, float] | None) -> float:
    table = {**DEADLINE_HOURS, **(overrides or {})}
    cat = _text(category)
    if cat not in table:
        raise GridmapError(
            f"no deadline is configured for category {category!r}",
            f"categories are: {', '.join(INCIDENT_CATEGORIES)}",
        )
    return float(table[cat])


def _utc(at: datetime) -> pd.Timestamp:
    """``at`` as a UTC timestamp; a naive one is refused (its zone would be a guess)."""
    stamp = pd.Timestamp(at)
    if stamp.tzinfo is None:
        raise ValueError(f"the time {at!r} has no time zone: give an aware datetime (UTC)")
    return stamp.tz_convert("UTC")


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # containers are never "missing"
        return False


def _text(value: Any) -> str | None:
    return None if _missing(value) or str(value) == "" else str(value)


def _count(value: Any) -> int:
    return 0 if _missing(value) else int(value)


def _flag(value: Any) -> bool:
    return False if _missing(value) else bool(value)


def _stamp(value: Any) -> pd.Timestamp | None:
    if _missing(value):
        return None
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _join(text: str, note: str | None) -> str:
    return f"{text}；{note}" if note else text


def _hours(hours: float) -> str:
    return f"{hours:g}"


# -- locating -------------------------------------------------------------------


def locate(
    points_gdf: gpd.GeoDataFrame | gpd.GeoSeries,
    grids: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame | None,
    *,
    building_radius_m: float = 30.0,
) -> pd.DataFrame:
    """The grid and the building of each reported location.

    Parameters
    ----------
    points_gdf
        The locations (points, any CRS; without one taken as EPSG:4326). Empty
        or missing geometries are refused with a reason.
    grids
        The ``grids`` layer (``code`` and polygons).
    buildings
        The ``buildings`` layer (``code``, ``grid_code`` and footprints), or
        ``None``/empty for a store without buildings.
    building_radius_m
        How near (m) a location must be to a building's footprint to be
        attributed to it.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``points_gdf``: ``grid_code`` (the grid containing the
        point, by :func:`gridmap.assign.assign_points` and its rule for points
        on shared edges; NA when the point lies in none), ``building_code``
        (the nearest building *of that grid* within ``building_radius_m`` of
        the point, measured in the UTM zone of the grids, ties to the lower
        code; NA when none) and ``reason`` (why the point has no grid; NA when
        it has one).

    Notes
    -----
    The building is taken from the point's own grid only, so an incident's
    building always lies in its grid (the code hierarchy holds) even on a
    street between two grids.
    """
    from gridmap.assign import assign_points  # another module of the core, imported late

    geoms = points_gdf.geometry if isinstance(points_gdf, gpd.GeoDataFrame) else points_gdf
    index = geoms.index
    geoms = gpd.GeoSeries(geoms).reset_index(drop=True)
    if geoms.crs is None:
        geoms = geoms.set_crs(STORAGE_CRS)
    n = len(geoms)
    grid_code = np.full(n, None, dtype=object)
    building_code = np.full(n, None, dtype=object)
    reason = np.full(n, None, dtype=object)

    raw = geoms.to_numpy()
    present = ~pd.isna(raw)
    present[present] = ~shapely.is_empty(raw[present].astype(object))
    reason[~present] = "the incident has no location"
    point = present.copy()
    point[present] = shapely.get_type_id(raw[present].astype(object)) == 0
    reason[present & ~point] = "the location is not a point"

    # Everything in metres, in the UTM zone of the grids: the containment test
    # then agrees with how grids are drawn and checked (straight edges in a
    # projected CRS; a long edge straight in degrees bows by centimetres), and
    # the 30 m to a building is a true distance.
    grids_crs = grids.crs or STORAGE_CRS
    metric = _metric_crs(gpd.GeoSeries(grids.geometry, crs=grids_crs), geoms[point])
    points = _project(geoms, metric)
    grid_geoms = _project(gpd.GeoSeries(grids.geometry, crs=grids_crs), metric)
    codes = grids["code"].to_numpy(dtype=object)

    x = np.full(n, np.nan)
    y = np.full(n, np.nan)
    x[point] = shapely.get_x(points[point].astype(object))
    y[point] = shapely.get_y(points[point].astype(object))
    which = np.full(n, -1, dtype=np.int64)
    if point.any() and len(grid_geoms):
        which[point] = assign_points(x[point], y[point], grid_geoms)
    inside = which >= 0
    grid_code[inside] = codes[which[inside]]

    outside = np.flatnonzero(point & ~inside)
    if len(outside):
        reason[outside] = _outside_reasons(points[outside], grid_geoms, codes)

    if buildings is not None and len(buildings) and inside.any():
        hit = np.flatnonzero(inside)
        building_code[hit] = _nearest_building(
            points[hit], grid_code[hit], buildings, metric, building_radius_m
        )
    return pd.DataFrame(
        {
            "grid_code": pd.array(grid_code, dtype="str"),
            "building_code": pd.array(building_code, dtype="str"),
            "reason": pd.array(reason, dtype="str"),
        },
        index=index,
    )


def _metric_crs(grids: gpd.GeoSeries, points: gpd.GeoSeries) -> CRS | None:
    """The UTM zone of the grids (of the points for a store without grids)."""
    frame = grids if len(grids) else points
    if not len(frame):
        return None
    minx, miny, maxx, maxy = frame.to_crs(STORAGE_CRS).total_bounds
    return utm_crs((minx + maxx) / 2, (miny + maxy) / 2)


def _project(series: gpd.GeoSeries, metric: CRS | None) -> np.ndarray:
    """The geometries in ``metric`` (as they are when there is nothing to measure)."""
    return (series if metric is None else series.to_crs(metric)).to_numpy()


def _outside_reasons(points: np.ndarray, grid_geoms: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Why each point (in metres) has no grid: how far the nearest grid is."""
    if not len(grid_geoms):
        return np.full(len(points), "the store has no grids to place the location in", dtype=object)
    nearest = shapely.STRtree(grid_geoms).nearest(points)
    dist = shapely.distance(points, grid_geoms[nearest])
    return np.array(
        [
            f"the location lies outside every grid ({d:,.0f} m from grid {c})"
            if d >= 0.5
            else f"the location lies outside every grid (on the edge of grid {c})"
            for d, c in zip(dist, codes[nearest], strict=True)
        ],
        dtype=object,
    )


def _nearest_building(
    points: np.ndarray,
    grid_code: np.ndarray,
    buildings: gpd.GeoDataFrame,
    metric: CRS | None,
    radius_m: float,
) -> np.ndarray:
    """Code of the nearest building of each point's grid within ``radius_m`` (metres), else None."""
    out = np.full(len(points), None, dtype=object)
    b_geoms = _project(gpd.GeoSeries(buildings.geometry, crs=buildings.crs or STORAGE_CRS), metric)
    b_codes = buildings["code"].to_numpy(dtype=object)
    if "grid_code" in buildings:
        b_grid = buildings["grid_code"].to_numpy(dtype=object)
    else:
        b_grid = np.array([str(c)[: WIDTHS["grid"]] for c in b_codes], dtype=object)
    pi, bi = shapely.STRtree(b_geoms).query(points, predicate="dwithin", distance=radius_m)
    # Only the point's own grid: its building must lie in its grid (codes nest).
    same = b_grid[bi] == grid_code[pi]
    pi, bi = pi[same], bi[same]
    if not len(pi):
        return out
    d = shapely.distance(points[pi], b_geoms[bi])
    # Nearest first; equal distances go to the lower code (stable, reproducible).
    order = np.lexsort((b_codes[bi].astype(str), d, pi))
    pi, bi = pi[order], bi[order]
    first = np.r_[True, pi[1:] != pi[:-1]]
    out[pi[first]] = b_codes[bi[first]]
    return out


# -- metrics --------------------------------------------------------------------


def unit_metrics(
    incidents: pd.DataFrame,
    level: str,
    *,
    start: datetime | str | None = None,
    end: datetime | str | None = None,
    now: datetime | str | None = None,
    deadline_hours: Mapping[str, float] | None = None,
    grids: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The closed-loop KPIs of every unit of one level.

    Parameters
    ----------
    incidents
        The ``incidents`` layer (or its columns ``grid_code``, ``step``,
        ``category``, ``reported_at``, ``dispatched_at``, ``deadline``,
        ``closed_at``, ``closed_level``, ``satisfaction``, ``rework_count``,
        ``transfer_count``, ``whistled``; missing optional columns count as
        empty). Text columns may be ``str``, ``object`` or ``category``.
    level
        ``district``, ``subdistrict``, ``community`` or ``grid``: a case
        belongs to the unit whose code starts its ``grid_code``. Cases without
        a ``grid_code`` belong to no unit and are not counted (:func:`locate`
        them first).
    start, end
        The window ``[start, end)`` on ``reported_at`` (UTC; either may be
        ``None`` for an open end).
    now
        The moment open cases are judged overdue at (default: the current time;
        for the demo, :data:`gridmap.demo.DATA_NOW`). Steps are the cases'
        current steps, whatever ``end`` is.
    deadline_hours
        Hours per category overriding :data:`DEADLINE_HOURS`, used only for a
        dispatched case without a stored ``deadline`` (``dispatched_at`` +
        hours); a stored deadline is never recomputed.
    grids
        The ``grids`` layer (its ``code``): units without incidents are listed
        too, with zero counts and missing rates.

    Returns
    -------
    pandas.DataFrame
        One row per unit, indexed by its ``code`` (sorted), with columns:

        - ``count``: cases reported in the window;
        - ``step_<step>`` (all eight steps) and ``category_<category>`` (all
          ten): cases by current step and by category;
        - ``open``: cases not closed, evaluated or voided;
        - ``overdue``: open cases past their deadline at ``now``, plus closed
          cases closed after their deadline (cases never dispatched have no
          deadline and are never overdue);
        - ``closed``: cases closed (``closed`` or ``evaluated``);
        - ``on_time``, ``on_time_closure_rate`` (按时办结率): closed cases not
          closed after their deadline, over ``closed``;
        - ``median_hours_to_close``, ``p90_hours_to_close``: hours from
          ``reported_at`` to ``closed_at`` of the closed cases (the resident's
          wait; linear interpolation between order statistics, as numpy);
        - ``grid_level``, ``grid_level_share`` ("小事不出网格"): closed cases
          with ``closed_level`` ``grid``, over closed cases whose closing level
          is known;
        - ``transferred_twice``: cases transferred two or more times
          (ping-pong between departments);
        - ``reworked``, ``rework_rate`` (发回重办率): closed cases sent back at
          least once, over ``closed``;
        - ``answered``, ``satisfied``, ``satisfaction_rate`` (满意率):
          evaluated cases with an answer; those answering satisfied or
          basically satisfied; their share (12345 practice counts 基本满意 as
          satisfied);
        - ``whistled``: cases with the whistle flag.

        Counts are ``int64``; rates, shares and hours ``float64``, NaN when
        their denominator is zero.

    Raises
    ------
    gridmap.errors.CodeError
        For an unknown level.

    Notes
    -----
    One pass of integer arithmetic: every text column is factorised once,
    counts are ``np.bincount`` over ``unit * k + value``, quantiles come from
    one sort; about 0.2 s for a million cases (``bench/incidents.py``).
    """
    if level not in METRIC_LEVELS:
        raise CodeError(
            f"cannot group incidents by '{level}'",
            f"use one of: {', '.join(METRIC_LEVELS)}",
        )
    width = WIDTHS[level]
    lo = _instant(start, "start")
    hi = _instant(end, "end")
    now_ms = _instant(now, "now")
    if now_ms is None:
        now_ms = float(pd.Timestamp.now("UTC").value // 1_000_000)

    frame = incidents
    n = len(frame)
    reported = _ms(frame, "reported_at")
    keep = np.ones(n, dtype=bool)
    if lo is not None:
        keep &= reported >= lo
    if hi is not None:
        keep &= reported < hi

    # Units: factorise the grid codes once, cut the few distinct codes to the
    # level's width (much cheaper than slicing a million strings).
    grid_idx, grid_uniques = _factorize(frame, "grid_code")
    prefixes = np.array([str(c)[:width] for c in grid_uniques], dtype=object)
    extra = []
    if grids is not None and len(grids):
        extra = [str(c)[:width] for c in pd.unique(grids["code"].astype("str").dropna())]
    units = np.array(sorted(set(prefixes.tolist()) | set(extra)), dtype=object)
    n_units = len(units)
    lut = np.searchsorted(units, prefixes) if len(prefixes) else np.zeros(0, np.int64)
    unit = np.where(grid_idx >= 0, lut[np.maximum(grid_idx, 0)] if len(lut) else -1, -1)
    keep &= unit >= 0
    unit = unit[keep]

    step = _encode(frame, "step", STEPS)[keep]
    category = _encode(frame, "category", INCIDENT_CATEGORIES)[keep]
    level_code = _encode(frame, "closed_level", CLOSING_LEVELS)[keep]
    answer = _encode(frame, "satisfaction", SATISFACTION)[keep]
    reported = reported[keep]
    closed_at = _ms(frame, "closed_at")[keep]
    deadline = _deadlines(frame, keep, category, deadline_hours)
    reworks = _ints(frame, "rework_count")[keep]
    transfers = _ints(frame, "transfer_count")[keep]
    whistled = _bools(frame, "whistled")[keep]

    def count(mask: np.ndarray) -> np.ndarray:
        return np.bincount(unit[mask], minlength=n_units).astype(np.int64)

    def by(values: np.ndarray, k: int) -> np.ndarray:
        ok = values >= 0
        flat = np.bincount(unit[ok] * k + values[ok], minlength=n_units * k)
        return flat.reshape(n_units, k).astype(np.int64)

    is_open = (step >= 0) & (step < len(OPEN_STEPS))  # the first five of STEPS
    is_closed = (step == STEPS.index("closed")) | (step == STEPS.index("evaluated"))
    with np.errstate(invalid="ignore"):
        late_closed = is_closed & (closed_at > deadline)
        late_open = is_open & (deadline < now_ms)
    cols: dict[str, np.ndarray] = {"count": np.bincount(unit, minlength=n_units).astype(np.int64)}
    steps = by(step, len(STEPS))
    for i, s in enumerate(STEPS):
        cols[f"step_{s}"] = steps[:, i]
    cats = by(category, len(INCIDENT_CATEGORIES))
    for i, c in enumerate(INCIDENT_CATEGORIES):
        cols[f"category_{c}"] = cats[:, i]
    closed = count(is_closed)
    cols["open"] = count(is_open)
    cols["overdue"] = count(late_open | late_closed)
    cols["closed"] = closed
    cols["on_time"] = count(is_closed & ~late_closed)
    cols["on_time_closure_rate"] = _rate(cols["on_time"], closed)
    waited = closed_at - reported
    timed = is_closed & np.isfinite(waited)
    quantiles = _group_quantiles(unit[timed], waited[timed].astype(np.int64), n_units, (0.5, 0.9))
    cols["median_hours_to_close"] = quantiles[:, 0]
    cols["p90_hours_to_close"] = quantiles[:, 1]
    cols["grid_level"] = count(is_closed & (level_code == CLOSING_LEVELS.index("grid")))
    cols["grid_level_share"] = _rate(cols["grid_level"], count(is_closed & (level_code >= 0)))
    cols["transferred_twice"] = count(transfers >= 2)
    cols["reworked"] = count(is_closed & (reworks >= 1))
    cols["rework_rate"] = _rate(cols["reworked"], closed)
    answered = (step == STEPS.index("evaluated")) & (answer >= 0)
    good = answered & np.isin(answer, [SATISFACTION.index(a) for a in _GOOD_ANSWERS])
    cols["answered"] = count(answered)
    cols["satisfied"] = count(good)
    cols["satisfaction_rate"] = _rate(cols["satisfied"], cols["answered"])
    cols["whistled"] = count(whistled)
    out = pd.DataFrame(cols, index=pd.Index(units.astype(str), name="code", dtype="str"))
    return out


def unit_metrics_one(
    incidents: pd.DataFrame,
    code: str,
    *,
    start: datetime | str | None = None,
    end: datetime | str | None = None,
    now: datetime | str | None = None,
    deadline_hours: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """The KPIs of one unit, as a flat dict for ``gridmap stats``.

    Parameters
    ----------
    incidents
        As for :func:`unit_metrics`.
    code
        The unit's code: a district, subdistrict, community or grid.
    start, end, now, deadline_hours
        As for :func:`unit_metrics`.

    Returns
    -------
    dict
        The columns of :func:`unit_metrics` for the unit, as plain Python
        values (zeros and ``None`` rates for a unit without incidents). Keys
        of shares end in ``_rate`` or ``_share``, so
        :func:`gridmap.stats.format_stats` shows them as percentages.

    Raises
    ------
    gridmap.errors.CodeError
        If the code is malformed or of the building level.
    """
    level = level_of(code)
    if level not in METRIC_LEVELS:
        raise CodeError(
            f"incident figures are kept per {', '.join(METRIC_LEVELS)}, not per {level}",
            f"give the code of its grid, {code[: WIDTHS['grid']]}",
        )
    if "grid_code" in incidents and len(incidents):
        mine = (
            incidents["grid_code"]
            .astype("str")
            .str.startswith(code)
            .fillna(False)
            .to_numpy(dtype=bool)
        )
        incidents = incidents[mine]
    table = unit_metrics(
        incidents, level, start=start, end=end, now=now, deadline_hours=deadline_hours
    )
    if code not in table.index:
        table = unit_metrics(incidents.iloc[:0], level, grids=pd.DataFrame({"code": [code]}))
    i = table.index.get_loc(code)
    # Column by column: a row of mixed counts and rates would come out as floats.
    return {name: _plain(table[name].iloc[i]) for name in table.columns}


def _plain(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return None if np.isnan(value) else float(value)
    return value


def _instant(value: Any, name: str) -> float | None:
    """A time as UTC epoch milliseconds (naive means UTC), or None."""
    if value is None:
        return None
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise GridmapError(
            f"{name} {value!r} is not a date and time", "write ISO 8601, e.g. 2025-01-01"
        ) from None
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return float(stamp.value // 1_000_000)


def _ms(frame: pd.DataFrame, column: str) -> np.ndarray:
    """A datetime column as float UTC epoch milliseconds (NaN where missing or absent)."""
    if column not in frame:
        return np.full(len(frame), np.nan)
    s = frame[column]
    if not isinstance(s.dtype, pd.DatetimeTZDtype):
        s = pd.to_datetime(s, utc=True)
    # Dropping the zone of a UTC column is free and gives a plain datetime64 array.
    raw = s.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
    out = raw.astype("datetime64[ms]").view(np.int64).astype(np.float64)
    out[np.isnat(raw)] = np.nan
    return out


def _factorize(frame: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray]:
    if column not in frame:
        return np.full(len(frame), -1, dtype=np.int64), np.zeros(0, dtype=object)
    codes, uniques = pd.factorize(frame[column])
    return codes.astype(np.int64), np.asarray(uniques, dtype=object)


def _encode(frame: pd.DataFrame, column: str, choices: tuple[str, ...]) -> np.ndarray:
    """Index of each value in ``choices`` (-1 for missing or unknown values)."""
    codes, uniques = _factorize(frame, column)
    lut = np.array([choices.index(u) if u in choices else -1 for u in uniques] + [-1])
    return lut[codes]  # code -1 (missing) picks the trailing -1


def _ints(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame:
        return np.zeros(len(frame), dtype=np.int64)
    return pd.to_numeric(frame[column]).to_numpy(dtype="float64", na_value=0).astype(np.int64)


def _bools(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame:
        return np.zeros(len(frame), dtype=bool)
    s = frame[column]
    if s.dtype == bool:
        return s.to_numpy()
    return s.fillna(False).astype(bool).to_numpy()


def _deadlines(
    frame: pd.DataFrame,
    keep: np.ndarray,
    category: np.ndarray,
    overrides: Mapping[str, float] | None,
) -> np.ndarray:
    """Stored deadlines; a dispatched case without one gets dispatched_at + the category's hours."""
    deadline = _ms(frame, "deadline")[keep]
    missing = np.isnan(deadline)
    if missing.any() and "dispatched_at" in frame:
        dispatched = _ms(frame, "dispatched_at")[keep]
        table = {**DEADLINE_HOURS, **(overrides or {})}
        hours = np.array([float(table.get(c, np.nan)) for c in INCIDENT_CATEGORIES] + [np.nan])
        fill = dispatched + hours[category] * _HOUR_MS
        deadline = np.where(missing, fill, deadline)
    return deadline


def _rate(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / np.maximum(denominator, 1), np.nan)


def _group_quantiles(
    group: np.ndarray, values_ms: np.ndarray, n_groups: int, qs: tuple[float, ...]
) -> np.ndarray:
    """Quantiles (hours) of durations in whole ms per group (numpy's linear method), NaN if none."""
    out = np.full((n_groups, len(qs)), np.nan)
    if not len(values_ms):
        return out
    # One plain sort of a packed int64 key (group in the high bits, the
    # duration's offset in the low 40 bits, ~35 years of ms) orders by group,
    # then value: about three times faster than a lexicographic argsort.
    low = values_ms.min()
    offset = values_ms - low
    if offset.max() >= 1 << 40 or n_groups >= 1 << 22:  # absurd data: the exact slow way
        order = np.lexsort((values_ms, group))
        ordered = values_ms[order].astype(np.float64)
    else:
        packed = np.sort((group.astype(np.int64) << 40) | offset)
        ordered = (packed & ((1 << 40) - 1)).astype(np.float64) + low
    sizes = np.bincount(group, minlength=n_groups)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    has = sizes > 0
    for j, q in enumerate(qs):
        pos = (sizes[has] - 1) * q
        below = np.floor(pos).astype(np.int64)
        frac = pos - below
        above = np.minimum(below + 1, sizes[has] - 1)
        a = ordered[starts[has] + below]
        b = ordered[starts[has] + above]
        out[has, j] = (a + (b - a) * frac) / _HOUR_MS
    return out

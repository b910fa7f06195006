"""The field mode's work on a store: a user's cases, a report, a move — checked and audited.

What ``/field`` (gridmap/app/field.py) does for a grid supervisor on a tablet,
and a dispatcher or a department at a desk, as functions of a store and an
:class:`~gridmap.services.accounts.Actor`:

- :func:`case_list`: the open cases of the actor's area, overdue first, then by
  deadline; each with the moves *this* actor may make on it now;
- :func:`case_detail`: one case, its events and photos (personal data masked
  unless the actor handles the case; an unmasked view writes a ``pii_view`` row);
- :func:`report`: a new case where the reporter stands or tapped, located in
  its grid (refused outside the actor's grids) and building (within 30 m);
- :func:`make_move`: one move of the closed loop (:data:`~gridmap.incidents.workflow.MOVE_TABLE`),
  refused with what changed when the case moved since the actor read it.

Every write carries the client's idempotency key: the key, the rows, the
photos and the audit row land in one transaction, and a retry of a request
already saved gets the first answer back (``"duplicate": true``) — a report
sent twice over a flaky link is one case.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import pandas as pd
import shapely

from gridmap.accounts import CREATE_ROLES, authorize_move, in_scope, may_move, sees_pii
from gridmap.errors import AccessError, ConflictError, GridmapError, InputError
from gridmap.incidents import workflow
from gridmap.incidents.locating import locate
from gridmap.incidents.report import case_id, new_case
from gridmap.incidents.values import as_stamp, as_text
from gridmap.photos import MAX_PHOTOS, Photo, prepare
from gridmap.privacy import mask_record, mask_text
from gridmap.schema import CLOSING_LEVELS, INCIDENT_CATEGORIES, SATISFACTION
from gridmap.store import field as sql_field

if TYPE_CHECKING:
    from gridmap.services.accounts import Actor
    from gridmap.services.source import Source

__all__ = [
    "FIELD_ROLES",
    "KEY_PATTERN",
    "ReportRequest",
    "MoveRequest",
    "case_list",
    "case_detail",
    "check_case",
    "require_field",
    "CaseChangedError",
    "FieldRefusedError",
    "CaseNotFoundError",
    "report",
    "make_move",
    "move_options",
    "departments",
]

#: Roles that work cases, and so open ``/field`` (planners and viewers have the dashboard).
FIELD_ROLES: frozenset[str] = frozenset(
    {"admin", "commander", "dispatcher", "department", "supervisor"}
)
#: An idempotency key: what the browser makes (``crypto.randomUUID()``), 8–64 URL-safe characters.
KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
#: What each move needs besides a note (the field the form asks for).
MOVE_NEEDS: dict[str, tuple[str, ...]] = {
    "dispatch": ("department",),
    "transfer": ("department",),
    "close": ("closed_level",),
    "evaluate": ("satisfaction",),
    "whistle": ("department", "hours"),
}
#: Half the side of the box around a reported point whose grids and buildings are read
#: (degrees, about 110 m: more than the 30 m a building is found within).
_NEAR_DEG = 0.001
#: Longest note on a move.
MAX_NOTE = 1000
_CASE_COLUMNS = (
    "id",
    "category",
    "subcategory",
    "source",
    "description",
    "step",
    "grid_code",
    "building_code",
    "department",
    "whistled",
    "whistle_department",
    "deadline",
    "reported_at",
    "updated_at",
    "version",
    "rework_count",
    "transfer_count",
    "reporter_name",
    "reporter_phone",
)


class CaseNotFoundError(InputError):
    """A case id that names no case (HTTP 404)."""


class FieldRefusedError(AccessError):
    """A refusal the field page shows in the user's language: ``reason`` names its text.

    The text is ``field.reason.<reason>`` in the catalogue (:mod:`gridmap.i18n`),
    filled from ``values``; ``what`` is the English message (logs, the CLI).
    """

    def __init__(self, what: str, hint: str | None = None, *, reason: str, **values: Any):
        super().__init__(what, hint)
        self.reason = reason
        self.values = values


# -- requests ------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportRequest:
    """A report as the browser sends it.

    Attributes
    ----------
    key
        The idempotency key (:data:`KEY_PATTERN`), made when the report was written.
    lon, lat
        Where, in degrees.
    frame
        ``gps`` (the tablet's position: WGS 84) or ``map`` (a tap on the map:
        the basemap's datum, GCJ-02 on AMap).
    category, subcategory, description
        What it is.
    accuracy
        The position's accuracy in metres, when from the GPS (kept in the audit row).
    photos
        ``(file name, bytes)`` of up to :data:`gridmap.photos.MAX_PHOTOS` pictures.
    """

    key: str
    lon: float
    lat: float
    frame: str
    category: str
    description: str
    subcategory: str | None = None
    accuracy: float | None = None
    photos: Sequence[tuple[str, bytes]] = field(default_factory=tuple)


@dataclass(frozen=True)
class MoveRequest:
    """A move as the browser sends it.

    Attributes
    ----------
    key
        The idempotency key.
    incident_id
        The case.
    move
        The move's name (:class:`~gridmap.incidents.workflow.Move` ``name``).
    to_step
        The step it leads to (tells a move apart where a name has two rows).
    version
        The case's version the user saw: a case changed since is refused.
    note, department, closed_level, satisfaction, hours
        What the move takes (:data:`MOVE_NEEDS`).
    photos
        Pictures of the move (a verification on site).
    """

    key: str
    incident_id: str
    move: str
    to_step: str
    version: int
    note: str | None = None
    department: str | None = None
    closed_level: str | None = None
    satisfaction: str | None = None
    hours: float | None = None
    photos: Sequence[tuple[str, bytes]] = field(default_factory=tuple)


# -- reading -------------------------------------------------------------------------


def require_field(actor: Actor) -> None:
    """Refuse an actor whose role does not work cases."""
    if actor.account.role not in FIELD_ROLES:
        raise FieldRefusedError(
            f"the role '{actor.account.role}' does not work cases",
            "the dashboard (/) shows this area's figures",
            reason="role_field",
        )


def _open_cases(src: Source, actor: Actor) -> pd.DataFrame:
    """The open cases of the actor's area, read from the store (fresh, in SQL by code prefix)."""
    scope = actor.account.scope
    prefixes = {"grid_code": list(scope)} if scope else None
    frame = src.store.read(
        "incidents", where={"step": list(workflow.OPEN_STEPS)}, prefixes=prefixes
    )
    if actor.account.role == "department":
        # A department works the cases dispatched to it (and sees them back until closed).
        frame = frame[frame["department"].astype("string") == (actor.account.department or "")]
    return frame


def move_options(actor: Actor, row: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The moves ``actor`` may make on the case now: ``name``, ``to_step``, ``needs``.

    From :data:`~gridmap.incidents.workflow.MOVE_TABLE`, kept when the role may
    make the move and :func:`gridmap.accounts.authorize_move` lets it (area,
    department); in the table's order.
    """
    step = as_text(row.get("step"))
    out = []
    for m in workflow.MOVE_TABLE:
        if m.from_step != step or not may_move(actor.account.role, m.name):
            continue
        try:
            authorize_move(actor.account, row, m.name)
        except AccessError:
            continue
        out.append(
            {"name": m.name, "to_step": m.to_step, "needs": list(MOVE_NEEDS.get(m.name, ()))}
        )
    return out


def _point(src: Source, geom: Any) -> tuple[float, float] | None:
    """A case's point in the map's datum, rounded to ~0.1 m (None without a location)."""
    if geom is None or shapely.is_empty(geom):
        return None
    if src.offset is not None:
        from gridmap.offsets import shift_geometries

        geom = shift_geometries([geom], src.offset)[0]
    return round(geom.x, 6), round(geom.y, 6)


def _case(src: Source, actor: Actor, row: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """A case as the page lists it (personal data masked unless the actor handles it)."""
    rec = {c: row.get(c) for c in _CASE_COLUMNS}
    unmasked = sees_pii(actor.account, rec)
    rec = mask_record(rec, unmasked=unmasked)
    deadline = as_stamp(rec.get("deadline"))
    point = _point(src, row.get("geometry"))
    seconds = None if deadline is None else (deadline - pd.Timestamp(now)).total_seconds()
    return {
        "id": str(rec["id"]),
        "category": as_text(rec["category"]),
        "subcategory": as_text(rec["subcategory"]),
        "source": as_text(rec["source"]),
        "description": as_text(rec["description"]) or "",
        "step": as_text(rec["step"]),
        "grid_code": as_text(rec["grid_code"]),
        "building_code": as_text(rec["building_code"]),
        "department": as_text(rec["department"]),
        "whistled": bool(rec["whistled"]) if rec["whistled"] is not None else False,
        "deadline": None if deadline is None else deadline.isoformat(),
        "seconds_left": None if seconds is None else int(seconds),
        "overdue": seconds is not None and seconds < 0,
        "reported_at": _iso(rec["reported_at"]),
        "updated_at": _iso(rec["updated_at"]),
        "version": int(rec["version"]) if rec["version"] is not None else 1,
        "lon": None if point is None else point[0],
        "lat": None if point is None else point[1],
        "reporter_name": as_text(rec.get("reporter_name")),
        "reporter_phone": as_text(rec.get("reporter_phone")),
        "moves": move_options(actor, row),
        "_unmasked": unmasked,
    }


def _iso(value: Any) -> str | None:
    stamp = as_stamp(value)
    return None if stamp is None else stamp.isoformat()


def _sort_key(case: Mapping[str, Any]) -> tuple:
    # Overdue first (most overdue first), then by deadline; cases without a
    # deadline (not dispatched yet) after, newest report first.
    left = case["seconds_left"]
    if left is None:
        return (2, -(pd.Timestamp(case["reported_at"]).timestamp() if case["reported_at"] else 0))
    return (0 if left < 0 else 1, left)


def case_list(
    src: Source,
    actor: Actor,
    *,
    now: datetime,
    steps: Sequence[str] = (),
    categories: Sequence[str] = (),
    queue: bool = False,
) -> list[dict[str, Any]]:
    """The open cases of the actor's area, overdue first, then by deadline.

    Parameters
    ----------
    src
        The store, as the app reads it.
    actor
        Who asks (their role and scope).
    now
        The time deadlines count from.
    steps, categories
        Only cases at these steps / of these categories (default: all).
    queue
        Only the cases awaiting a move this actor may make.

    Returns
    -------
    list of dict
        One per case (see :func:`_case`): id, category, step, deadline,
        ``seconds_left``, ``overdue``, its point in the map's datum, ``moves`` …
        without personal data (the list is not a place to read reporters).
    """
    require_field(actor)
    frame = _open_cases(src, actor)
    if steps:
        frame = frame[frame["step"].isin(list(steps))]
    if categories:
        frame = frame[frame["category"].isin(list(categories))]
    out = []
    for row in frame.to_dict("records"):
        case = _case(src, actor, row, now)
        if queue and not case["moves"]:
            continue
        for k in ("reporter_name", "reporter_phone", "_unmasked"):
            case.pop(k)
        # The list shows descriptions masked whatever the role: it is read over shoulders.
        case["description"] = mask_text(case["description"]) or ""
        out.append(case)
    out.sort(key=_sort_key)
    return out


def _read_case(src: Source, incident_id: str) -> dict[str, Any]:
    found = src.store.read("incidents", where={"id": incident_id})
    if found.empty:
        raise CaseNotFoundError(f"no case has the id '{incident_id}'", field="id")
    return found.iloc[0].to_dict()


def _check_readable(actor: Actor, row: Mapping[str, Any]) -> None:
    """Refuse a case outside the actor's area (a department: not dispatched to it)."""
    grid = as_text(row.get("grid_code"))
    scope = actor.account.scope
    if scope and (grid is None or not in_scope(grid, scope)):
        raise FieldRefusedError(
            f"case {row.get('id')} is not in your area", reason="case_area", id=row.get("id")
        )
    if actor.account.role == "department" and as_text(row.get("department")) != (
        actor.account.department
    ):
        raise FieldRefusedError(
            f"case {row.get('id')} is not dispatched to your department",
            reason="case_department",
            id=row.get("id"),
        )


def check_case(src: Source, actor: Actor, incident_id: str) -> None:
    """Refuse a case the actor may not read (outside their area; no such case)."""
    _check_readable(actor, _read_case(src, incident_id))


def case_detail(src: Source, actor: Actor, incident_id: str, *, now: datetime) -> dict[str, Any]:
    """One case with its events (oldest first) and photos, as the actor may see it.

    A view that shows a reporter's name or phone unmasked writes a ``pii_view``
    audit row (PIPL: access to personal data is recorded).

    Raises
    ------
    gridmap.errors.InputError
        If there is no such case.
    gridmap.errors.AccessError
        If it is not in the actor's area.
    """
    require_field(actor)
    row = _read_case(src, incident_id)
    _check_readable(actor, row)
    case = _case(src, actor, row, now)
    unmasked = case.pop("_unmasked")
    events = src.store.read("incident_events", where={"incident_id": incident_id})
    events = events.sort_values("at", kind="stable")
    case["events"] = [
        {
            "at": _iso(e["at"]),
            "actor": as_text(e["actor"]),
            "from_step": as_text(e["from_step"]),
            "to_step": as_text(e["to_step"]),
            "note": (as_text(e["note"]) if unmasked else mask_text(as_text(e["note"]))),
        }
        for e in events.to_dict("records")
    ]
    case["photos"] = src.store.case_photos(incident_id)
    if unmasked and (case["reporter_name"] or case["reporter_phone"]):
        src.store.audit(
            actor.entry("pii_view", incident_id, fields=["reporter_name", "reporter_phone"])
        )
    if not unmasked:
        case["description"] = mask_text(case["description"]) or ""
    return case


def departments(src: Source) -> list[str]:
    """The departments a case can be dispatched to: those of the store's cases and accounts."""
    names = set(src.store.distinct("incidents", "department"))
    names |= {u.department for u in src.store.users() if u.department}
    return sorted(n for n in names if n.strip())


# -- writing -------------------------------------------------------------------------


def _check_key(key: str) -> None:
    if not isinstance(key, str) or not KEY_PATTERN.match(key):
        raise InputError(
            "the request has no valid key",
            hint="send 8–64 letters, digits, - or _ (the page makes one per report)",
            field="key",
        )


def _replay(src: Source, actor: Actor, key: str, kind: str) -> dict[str, Any] | None:
    """The first answer to a request already saved (its retry), or None."""
    found = src.store.request(key)
    if found is None:
        return None
    if found["user"] != actor.name or found["kind"] != kind:
        raise InputError("this request key was used by another request", field="key")
    return {**found["answer"], "duplicate": True}


def _photos(files: Sequence[tuple[str, bytes]]) -> list[Photo]:
    if len(files) > MAX_PHOTOS:
        raise InputError(
            f"{len(files)} photos were sent; a report takes at most {MAX_PHOTOS}",
            field="photo",
        )
    out = []
    for name, data in files:
        try:
            out.append(prepare(data, name=name))
        except InputError as error:
            # prepare() knows the file, not the form: the refusal names the form's field.
            error.field = error.field or "photo"
            raise
    return out


def _wgs84(src: Source, lon: float, lat: float, frame: str) -> tuple[float, float]:
    if frame not in ("gps", "map"):
        raise InputError(f"'{frame}' is not a place's frame (gps or map)", field="frame")
    for name, value, limit in (("lon", lon, 180), ("lat", lat, 90)):
        # The field named is the one that is wrong (a latitude of 95 is not the longitude's fault).
        if not (math.isfinite(value) and -limit <= value <= limit):
            raise InputError(f"({lon}, {lat}) is not a place in degrees", field=name)
    if frame == "map" and src.offset is not None:
        from gridmap.offsets import unshift_geometries

        p = unshift_geometries([shapely.Point(lon, lat)], src.offset)[0]
        return p.x, p.y
    return lon, lat


def report(src: Source, actor: Actor, req: ReportRequest, *, now: datetime) -> dict[str, Any]:
    """Create a case from a report: located, checked against the actor's grids, audited.

    Returns
    -------
    dict
        ``id``, ``grid_code``, ``building_code``, ``step`` (``collected``) and
        ``duplicate`` (True when the key was saved already: the first answer).

    Raises
    ------
    gridmap.errors.AccessError
        If the role may not report, or the place is outside the actor's grids
        (the message names the grid it is in, or says it is in none).
    gridmap.errors.InputError
        For a bad key, place, category, description or photo.
    """
    require_field(actor)
    _check_key(req.key)
    again = _replay(src, actor, req.key, "report")
    if again is not None:
        return again
    if actor.account.role not in CREATE_ROLES:
        raise FieldRefusedError(
            f"the role '{actor.account.role}' may not report cases",
            "supervisors report from the field, dispatchers from the hotline",
            reason="role_report",
        )
    if req.category not in INCIDENT_CATEGORIES:
        raise InputError(f"'{req.category}' is not an incident category", field="category")
    lon, lat = _wgs84(src, float(req.lon), float(req.lat), req.frame)
    point = gpd.GeoSeries([shapely.Point(lon, lat)], crs="EPSG:4326")
    # The grids and buildings around the point, read through the store's spatial index:
    # fresh, a few rows, and not the app's cached frames (which every write makes stale).
    box = (lon - _NEAR_DEG, lat - _NEAR_DEG, lon + _NEAR_DEG, lat + _NEAR_DEG)
    grids = src.store.read("grids", bbox=box, columns=["code"])
    buildings = src.store.read("buildings", bbox=box, columns=["code", "grid_code"])
    found = locate(point, grids[["code", "geometry"]], buildings)
    grid = found["grid_code"].iloc[0]
    if pd.isna(grid):
        raise FieldRefusedError(
            "this place is outside every grid of the district",
            "report from inside your grid, or tap the map inside it",
            reason="outside",
        )
    if actor.account.scope and not in_scope(str(grid), actor.account.scope):
        raise FieldRefusedError(
            f"this place is in grid {grid}, not in your area",
            "report cases of your own grids; that grid's supervisor reports this one",
            reason="other_grid",
            grid=str(grid),
        )
    building = found["building_code"].iloc[0]
    building = None if pd.isna(building) else str(building)
    photos = _photos(req.photos)
    incident_id = case_id(now, req.key)
    row, event = new_case(
        incident_id=incident_id,
        lon=lon,
        lat=lat,
        category=req.category,
        subcategory=req.subcategory,
        description=req.description,
        grid_code=str(grid),
        building_code=building,
        actor=actor.name,
        at=now,
    )
    answer = {
        "id": incident_id,
        "grid_code": str(grid),
        "building_code": building,
        "step": "collected",
        "version": 1,
    }
    entry = actor.entry(
        "incident_create",
        incident_id,
        source="patrol",
        grid=str(grid),
        building=building,
        photos=[p.digest for p in photos],
        accuracy_m=None if req.accuracy is None else round(float(req.accuracy), 1),
        key=req.key,
    )

    def also(cur: sql_field.Cursor) -> None:
        sql_field.save_photos(cur, incident_id, "collected", photos)
        sql_field.save_request(cur, req.key, actor.name, "report", incident_id, answer)

    frames = {
        "incidents": gpd.GeoDataFrame([row], geometry="geometry", crs="EPSG:4326"),
        "incident_events": pd.DataFrame([event]),
    }
    try:
        src.store.write(frames, mode="append", audit=entry, also=also)
    except GridmapError:
        # The same report sent twice at once: the other one was saved.
        again = _replay(src, actor, req.key, "report")
        if again is not None:
            return again
        raise
    return {**answer, "duplicate": False}


def make_move(src: Source, actor: Actor, req: MoveRequest, *, now: datetime) -> dict[str, Any]:
    """Make one move of the closed loop on a case, as ``actor``, from the version they saw.

    Returns
    -------
    dict
        ``id``, ``step`` (after the move), ``version`` (after), ``duplicate``.

    Raises
    ------
    gridmap.errors.ConflictError
        If the case changed since version ``req.version``; ``current`` on the
        error is the case now and ``changed`` the events since (what changed).
    gridmap.errors.AccessError
        If the role, the area or the department forbid the move.
    gridmap.incidents.workflow.TransitionError
        If the loop does not allow it from the case's step, or a needed value is missing.
    """
    require_field(actor)
    _check_key(req.key)
    again = _replay(src, actor, req.key, "move")
    if again is not None:
        return again
    row = _read_case(src, req.incident_id)
    _check_readable(actor, row)
    current = int(row["version"])
    if current != int(req.version):
        raise _conflict(src, actor, row, req, now)
    if req.note is not None and len(req.note) > MAX_NOTE:
        raise InputError(f"the note has more than {MAX_NOTE} characters", field="note")
    step = as_text(row["step"])
    chosen = [m for m in workflow.MOVE_TABLE if m.name == req.move and m.from_step == step]
    if not chosen or chosen[0].to_step != req.to_step:
        raise workflow.TransitionError(
            f"case {req.incident_id} is at '{step}': the move '{req.move}' to '{req.to_step}' "
            "does not lead on from there",
            "reload the case",
            from_step=step,
            to_step=req.to_step,
            allowed=workflow.MOVES.get(step, ()),
        )
    authorize_move(actor.account, row, req.move)
    attrs = {k: v for k, v in row.items() if k != "geometry"}
    note = (req.note or "").strip() or None
    if req.move == "whistle":
        kwargs = {} if req.hours is None else {"hours": float(req.hours)}
        new, events = workflow.whistle(
            attrs, department=req.department or "", actor=actor.name, at=now, note=note, **kwargs
        )
    elif req.move == "transfer":
        new, events = workflow.transfer(
            attrs, department=req.department, actor=actor.name, at=now, note=note
        )
    else:
        closed_level = req.closed_level
        if req.move == "close" and closed_level is None:
            closed_level = "grid"  # verified and closed on site: settled in the grid
        if closed_level is not None and closed_level not in CLOSING_LEVELS:
            raise InputError(f"'{closed_level}' is not a closing level", field="closed_level")
        if req.satisfaction is not None and req.satisfaction not in SATISFACTION:
            raise InputError(f"'{req.satisfaction}' is not an answer", field="satisfaction")
        new, events = workflow.move(
            attrs,
            req.to_step,
            actor=actor.name,
            at=now,
            note=note,
            department=req.department if req.move == "dispatch" else None,
            closed_level=closed_level if req.move == "close" else None,
            satisfaction=req.satisfaction if req.move == "evaluate" else None,
        )
    photos = _photos(req.photos)
    answer = {"id": req.incident_id, "step": new["step"], "version": current + 1}
    entry = actor.entry(
        "incident_move",
        req.incident_id,
        move=req.move,
        steps=[[e["from_step"], e["to_step"]] for e in events],
        version=current + 1,
        photos=[p.digest for p in photos],
        key=req.key,
    )

    def also(cur: sql_field.Cursor) -> None:
        sql_field.save_photos(cur, req.incident_id, str(new["step"]), photos)
        sql_field.save_request(cur, req.key, actor.name, "move", req.incident_id, answer)

    try:
        src.store.move_incident(new, events, expected_version=current, audit=entry, also=also)
    except ConflictError:
        again = _replay(src, actor, req.key, "move")
        if again is not None:
            return again
        raise _conflict(src, actor, _read_case(src, req.incident_id), req, now) from None
    return {**answer, "duplicate": False}


class CaseChangedError(ConflictError):
    """A move made on a version of a case that is no longer the current one.

    Attributes
    ----------
    current
        The case as it is now (as :func:`case_detail` gives it).
    changed
        The events since the version the user saw (who moved it, when, to what).
    """

    def __init__(self, what: str, hint: str, current: dict, changed: list[dict]) -> None:
        super().__init__(what, current_version=current["version"], hint=hint)
        self.current = current
        self.changed = changed


def _conflict(
    src: Source, actor: Actor, row: Mapping[str, Any], req: MoveRequest, now: datetime
) -> CaseChangedError:
    current = case_detail(src, actor, str(row["id"]), now=now)
    # The events after the last one the user could have seen: those of the
    # versions past theirs (one event per version, a whistle-by-rework two).
    newer = int(current["version"]) - int(req.version)
    changed = current["events"][-newer:] if newer > 0 else []
    return CaseChangedError(
        f"case {row['id']} changed since you opened it (version {req.version}, now "
        f"{current['version']})",
        "look at what changed, then choose again",
        current,
        changed,
    )

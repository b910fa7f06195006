"""A demo that moves: the next synthetic action on a store's cases, decided purely.

``gridmap simulate`` (and ``gridmap demo --live``) keep a store's incidents
moving so a dashboard or a wall shows cases coming in and going through the
closed loop. Each action is one of:

- a **new case**, reported now at a building of a grid (grids weighted by
  their residents), its category drawn as the demo's year draws them
  (:data:`gridmap.demo.CATEGORY_WEIGHTS`, emergencies raised to
  :data:`EMERGENCY_SHARE` so a wall's alerts come up now and then), its
  source and subcategory too; built by
  :func:`gridmap.incidents.report.new_case`;
- **one move** of an open case along the state machine
  (:mod:`gridmap.incidents.workflow`): register or void, dispatch to a
  department with its deadline, accept, report back, close or send back for
  rework, now and then a transfer or a whistle (:data:`MOVE_SHARES`). Recent
  cases are picked far more often than old ones, so a case reported a minute
  ago is seen moving on.

Everything the simulator writes is labelled synthetic where a user sees it:
the description begins with :data:`LABEL`, every event's note carries it and
the events' actor is :data:`SIMULATOR`. It sets no reporter name or phone.

This module decides; it opens no store. :mod:`gridmap.services.simulate`
reads the open cases, calls :func:`next_action` and writes what it returns
(``Store.write`` for a new case, ``Store.move_incident`` for a move), each
with its audit row.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import shapely

from gridmap.demo.incidents import (
    CATEGORY_WEIGHTS,
    COMMUNITY_OFFICE,
    DEPARTMENTS,
    GRID_OFFICE,
    LEVEL_SHARES,
    SOURCE_SHARES,
    SUBCATEGORIES,
    SUBDISTRICT_OFFICES,
)
from gridmap.errors import GridmapError, InputError, option
from gridmap.incidents import workflow
from gridmap.incidents.report import new_case
from gridmap.incidents.values import as_flag, as_text, as_utc, with_note
from gridmap.schema import CLOSING_LEVELS, INCIDENT_CATEGORIES, INCIDENT_SOURCES

__all__ = [
    "SIMULATOR",
    "LABEL",
    "NEW_SHARE",
    "EMERGENCY_SHARE",
    "MOVE_SHARES",
    "DEFAULT_EVERY",
    "Sites",
    "Action",
    "sites_of",
    "movable",
    "next_action",
    "check_every",
    "check_count",
]

#: Who the simulator acts as: the actor of its events and the user of its audit rows.
SIMULATOR = "simulate"

#: What every synthetic description begins with (合成 = synthetic).
LABEL = "【合成】"
#: The note of a new case's first event, and what every move's note ends with.
_REPORT_NOTE = f"{LABEL}模拟上报"
_MOVE_NOTE = f"{LABEL}模拟流转"

#: Seconds between two actions unless told otherwise.
DEFAULT_EVERY = 5.0

#: Share of actions that report a new case (the rest move an open one). A case
#: takes five moves or a little more to close (register, dispatch, accept,
#: report back, close; now and then a rework or a transfer), so at this share
#: about as many cases close as open: a live wall's open count neither runs
#: away nor dries up.
NEW_SHARE = 0.15

#: Share of new cases that are emergencies: the demo's year has 1 %, which at
#: one new case every half minute would raise an alert about once an hour; this
#: is one every ten minutes or so.
EMERGENCY_SHARE = 0.05

#: What happens to an open case at each step, and how often. A whistle is
#: blown only on a case not yet whistled (its share then goes to the others).
#: Every pair is a move of :data:`gridmap.incidents.workflow.MOVE_TABLE`.
MOVE_SHARES: dict[str, dict[str, float]] = {
    "collected": {"register": 0.94, "void": 0.06},
    "registered": {"dispatch": 0.95, "whistle": 0.05},
    "dispatched": {"accept": 0.86, "transfer": 0.08, "whistle": 0.06},
    "handling": {"report_back": 0.90, "transfer": 0.04, "whistle": 0.06},
    "reported_back": {"close": 0.80, "rework": 0.20},
}

#: The step each move leads to (a whistle stays where it is).
_TARGET = {
    "register": "registered",
    "void": "voided",
    "dispatch": "dispatched",
    "accept": "handling",
    "report_back": "reported_back",
    "close": "closed",
    "rework": "handling",
}

_VOID_NOTES = ("不予立案：重复上报", "不予立案：不属于受理范围", "不予立案：信息不全无法核实")

#: How a case's age (hours since it was reported) lowers the chance it is the
#: one moved: weight 1 / (1 + age / this). A case an hour old is picked about
#: as often as 24 cases a day old, so fresh cases visibly move on.
_AGE_HOURS = 1.0


@dataclass(frozen=True)
class Sites:
    """Where new cases are reported: the grids and their buildings (WGS 84).

    Attributes
    ----------
    grid_code, grid_name
        Each grid's code and name.
    grid_weight
        How likely a new case is in each grid (residents, with a floor so an
        empty grid gets one now and then); sums to 1.
    grid_lon, grid_lat
        A point inside each grid, for a grid without buildings.
    first
        Index of each grid's first building in the building arrays (which are
        sorted by grid); ``first[i]:first[i + 1]`` are grid ``i``'s buildings.
    bld_code, bld_lon, bld_lat
        Each building's code and a point inside it.
    """

    grid_code: np.ndarray
    grid_name: np.ndarray
    grid_weight: np.ndarray
    grid_lon: np.ndarray
    grid_lat: np.ndarray
    first: np.ndarray
    bld_code: np.ndarray
    bld_lon: np.ndarray
    bld_lat: np.ndarray

    def __len__(self) -> int:
        return len(self.grid_code)


@dataclass(frozen=True)
class Action:
    """One synthetic write: a new case, or one move of an open case.

    Attributes
    ----------
    move
        ``report`` for a new case, else the move's name in
        :data:`gridmap.incidents.workflow.MOVE_TABLE` (``register``,
        ``dispatch``, ``whistle`` …).
    incident
        The case's row after the action (every column of the ``incidents``
        layer; a new case's ``geometry`` is a shapely point, a move's row has
        none: the store keeps the place).
    events
        The ``incident_events`` rows it adds (a third rework adds two).
    expected_version
        The version the move was made on (``Store.move_incident``'s
        ``expected_version``); ``None`` for a new case.
    """

    move: str
    incident: dict[str, Any]
    events: list[dict[str, Any]]
    expected_version: int | None = None

    @property
    def new(self) -> bool:
        """Whether the action reports a new case."""
        return self.expected_version is None

    @property
    def incident_id(self) -> str:
        return str(self.incident["id"])


def sites_of(grids: pd.DataFrame, buildings: pd.DataFrame) -> Sites:
    """The places new cases are reported at, from a store's ``grids`` and ``buildings``.

    Parameters
    ----------
    grids
        The ``grids`` layer (``code``, ``name``, ``population`` if there, geometry; EPSG:4326).
    buildings
        The ``buildings`` layer (``code``, ``grid_code``, geometry); buildings
        of a grid not in ``grids`` are left out.

    Raises
    ------
    gridmap.errors.InputError
        If there are no grids.
    """
    if grids is None or len(grids) == 0:
        raise InputError(
            "the store has no grids, so there is nowhere to report a case",
            hint="build a demo store first (gridmap demo)",
        )
    codes = grids["code"].astype(str).to_numpy(dtype=object)
    names = grids["name"].astype(str).to_numpy(dtype=object) if "name" in grids else codes
    if "population" in grids:
        pop = pd.to_numeric(grids["population"], errors="coerce").fillna(0).to_numpy(float)
    else:
        pop = np.zeros(len(codes))
    # As the demo's year does: by residents, with a floor so an empty grid
    # (a park, an industrial estate) gets a case now and then.
    weight = pop + 0.15 * pop.mean() + 1.0
    inside = shapely.point_on_surface(np.asarray(grids.geometry.to_numpy()))
    index = {code: i for i, code in enumerate(codes)}
    if buildings is not None and len(buildings):
        grid_of = buildings["grid_code"].astype(str).map(index)
        keep = grid_of.notna().to_numpy()
        b_grid = grid_of.to_numpy()[keep].astype(np.int64)
        b_code = buildings["code"].astype(str).to_numpy(dtype=object)[keep]
        b_geom = np.asarray(buildings.geometry.to_numpy())[keep]
        order = np.argsort(b_grid, kind="stable")
        b_grid, b_code = b_grid[order], b_code[order]
        b_point = shapely.point_on_surface(b_geom[order])
    else:
        b_grid = np.zeros(0, np.int64)
        b_code = np.zeros(0, dtype=object)
        b_point = np.zeros(0, dtype=object)
    return Sites(
        grid_code=codes,
        grid_name=names,
        grid_weight=weight / weight.sum(),
        grid_lon=shapely.get_x(inside),
        grid_lat=shapely.get_y(inside),
        first=np.searchsorted(b_grid, np.arange(len(codes) + 1)),
        bld_code=b_code,
        bld_lon=shapely.get_x(b_point) if len(b_point) else np.zeros(0),
        bld_lat=shapely.get_y(b_point) if len(b_point) else np.zeros(0),
    )


def movable(cases: pd.DataFrame, now: datetime) -> pd.DataFrame:
    """The cases a move can be made on now.

    Open (:data:`~gridmap.incidents.OPEN_STEPS`), with a version (the store
    saves a move only on the version it was made on), and last changed no
    later than ``now`` (a move never goes before the case's last one).
    """
    if cases is None or len(cases) == 0 or "version" not in cases:
        return pd.DataFrame(columns=["id", "step", "version"])
    ok = cases["step"].astype(str).isin(workflow.OPEN_STEPS) & cases["version"].notna()
    if "updated_at" in cases:
        updated = pd.to_datetime(cases["updated_at"], utc=True)
        ok = ok & (updated.isna() | (updated <= as_utc(now)))
    return cases[ok.to_numpy()]


def next_action(
    cases: pd.DataFrame,
    sites: Sites,
    now: datetime,
    rng: np.random.Generator,
    *,
    new_share: float = NEW_SHARE,
    emergency_share: float = EMERGENCY_SHARE,
    actor: str = SIMULATOR,
    deadline_hours: Mapping[str, float] | None = None,
) -> Action:
    """The next synthetic action: a new case, or one move of an open case.

    Parameters
    ----------
    cases
        The store's open cases (rows of the ``incidents`` layer with every
        attribute column; others are left alone, see :func:`movable`).
    sites
        Where new cases go (:func:`sites_of`).
    now
        When the action happens, timezone-aware.
    rng
        The random generator (the same seed, cases and times: the same actions).
    new_share
        Share of actions that report a new case; with no case to move, every
        action does, and with no grid none does.
    emergency_share
        Share of new cases that are emergencies.
    actor
        Who the events name.
    deadline_hours
        Hours from dispatch to the deadline per category (local rules),
        overriding :data:`gridmap.incidents.DEADLINE_HOURS`.

    Returns
    -------
    Action
        The row and events to write; for a move, the version it was made on.

    Raises
    ------
    gridmap.errors.GridmapError
        If there is neither a grid to report in nor a case to move.
    """
    open_cases = movable(cases, now)
    can_move = len(open_cases) > 0
    can_report = len(sites) > 0
    if not (can_move or can_report):
        raise GridmapError(
            "there is no grid to report a case in and no open case to move",
            "build a demo store first (gridmap demo)",
        )
    if can_report and (not can_move or rng.random() < new_share):
        return _report(sites, now, rng, actor=actor, emergency_share=emergency_share)
    return _move(_pick_case(open_cases, now, rng), now, rng, actor, deadline_hours)


# -- a new case ----------------------------------------------------------------------


def _category_weights(emergency_share: float) -> np.ndarray:
    """The demo's category weights with emergencies making up ``emergency_share``."""
    w = np.array([CATEGORY_WEIGHTS[c] for c in INCIDENT_CATEGORIES], float)
    e = INCIDENT_CATEGORIES.index("emergency")
    others = w.sum() - w[e]
    share = min(max(float(emergency_share), 0.0), 0.99)
    w[e] = others * share / (1.0 - share)
    return w / w.sum()


def _choice(rng: np.random.Generator, options: tuple | list, p: np.ndarray | None = None) -> Any:
    """One of ``options`` (weights ``p``, summing to 1 or not)."""
    if p is not None:
        p = np.asarray(p, float)
        p = p / p.sum()
    return options[int(rng.choice(len(options), p=p))]


def _case_id(at: datetime, rng: np.random.Generator) -> str:
    """A simulated case's id: ``S`` (synthetic), the UTC second, 6 random hex digits."""
    stamp = as_utc(at).strftime("%Y%m%d%H%M%S")
    return f"S{stamp}{int(rng.integers(0, 16**6)):06X}"


def _report(
    sites: Sites, now: datetime, rng: np.random.Generator, *, actor: str, emergency_share: float
) -> Action:
    category = _choice(rng, INCIDENT_CATEGORIES, _category_weights(emergency_share))
    source = _choice(rng, INCIDENT_SOURCES, np.array(SOURCE_SHARES[category]))
    subcategory = _choice(rng, SUBCATEGORIES[category])
    g = int(rng.choice(len(sites), p=sites.grid_weight))
    lo, hi = int(sites.first[g]), int(sites.first[g + 1])
    if hi > lo:
        b = int(rng.integers(lo, hi))
        lon, lat, building = sites.bld_lon[b], sites.bld_lat[b], str(sites.bld_code[b])
    else:
        lon, lat, building = sites.grid_lon[g], sites.grid_lat[g], None
    row, event = new_case(
        incident_id=_case_id(now, rng),
        lon=float(lon),
        lat=float(lat),
        category=category,
        subcategory=subcategory,
        description=f"{LABEL}{sites.grid_name[g]}：{subcategory}",
        grid_code=str(sites.grid_code[g]),
        building_code=building,
        actor=actor,
        at=now,
        source=source,
    )
    # new_case's note is a grid supervisor's ("巡查上报"); this one is labelled synthetic.
    event["note"] = _REPORT_NOTE
    return Action("report", row, [event])


# -- a move --------------------------------------------------------------------------


def _pick_case(cases: pd.DataFrame, now: datetime, rng: np.random.Generator) -> dict[str, Any]:
    """One open case, recent ones far more likely (see :data:`_AGE_HOURS`)."""
    reported = pd.to_datetime(cases["reported_at"], utc=True)
    age = ((as_utc(now) - reported).dt.total_seconds() / 3600.0).clip(lower=0)
    weight = 1.0 / (1.0 + age.fillna(24.0 * 365).to_numpy(float) / _AGE_HOURS)
    i = int(rng.choice(len(cases), p=weight / weight.sum()))
    row = cases.iloc[i].to_dict()
    row.pop("geometry", None)
    return row


def _handler(category: str, rng: np.random.Generator) -> str:
    """Who a dispatched case goes to: a level drawn as the demo draws it, then its office."""
    level = _choice(rng, CLOSING_LEVELS, np.array(LEVEL_SHARES[category]))
    if level == "grid":
        return GRID_OFFICE
    if level == "community":
        return COMMUNITY_OFFICE
    if level == "subdistrict":
        return SUBDISTRICT_OFFICES[category]
    return _choice(rng, DEPARTMENTS[category])


def _closing_level(department: str | None) -> str:
    """The level that settled a case, from who handled it (a department's: ``department``)."""
    if department in (None, GRID_OFFICE):
        return "grid"
    if department == COMMUNITY_OFFICE:
        return "community"
    if department in SUBDISTRICT_OFFICES.values():
        return "subdistrict"
    return "department"


def _category(row: Mapping[str, Any]) -> str:
    category = as_text(row.get("category"))
    return category if category in INCIDENT_CATEGORIES else "other"


def _move(
    row: dict[str, Any],
    now: datetime,
    rng: np.random.Generator,
    actor: str,
    deadline_hours: Mapping[str, float] | None,
) -> Action:
    step = as_text(row.get("step"))
    shares = dict(MOVE_SHARES[step])
    if as_flag(row.get("whistled")):
        shares.pop("whistle", None)
    name = _choice(rng, list(shares), np.array(list(shares.values())))
    category = _category(row)
    department = as_text(row.get("department"))
    version = int(row["version"])
    if name == "whistle":
        new, events = workflow.whistle(
            row,
            department=_choice(rng, DEPARTMENTS[category]),
            hours=float(_choice(rng, (24, 48))),
            actor=actor,
            at=now,
            note=_MOVE_NOTE,
        )
    elif name == "transfer":
        # Another department than the one holding it: a functional one, or the
        # subdistrict's office of its category.
        others = [
            d for d in (*DEPARTMENTS[category], SUBDISTRICT_OFFICES[category]) if d != department
        ]
        new, events = workflow.transfer(
            row, department=_choice(rng, others), actor=actor, at=now, note=_MOVE_NOTE
        )
    else:
        kwargs: dict[str, Any] = {}
        note = _MOVE_NOTE
        if name == "dispatch":
            kwargs["department"] = _handler(category, rng)
        elif name == "void":
            note = with_note(_choice(rng, _VOID_NOTES), _MOVE_NOTE)
        elif name == "close":
            kwargs["closed_level"] = _closing_level(department)
            note = with_note("现场核查通过，结案", _MOVE_NOTE)
        elif name == "rework":
            note = with_note("核查未通过，发回重办", _MOVE_NOTE)
        new, events = workflow.move(
            row,
            _TARGET[name],
            actor=actor,
            at=now,
            note=note,
            deadline_hours=deadline_hours,
            **kwargs,
        )
    for event in events:
        # The third rework's automatic whistle is an event the workflow adds: labelled too.
        if LABEL not in (event["note"] or ""):
            event["note"] = with_note(event["note"], _MOVE_NOTE) if event["note"] else _MOVE_NOTE
    return Action(name, new, events, expected_version=version)


# -- options -------------------------------------------------------------------------


def check_every(value: object) -> float:
    """Seconds between actions: a finite number above zero.

    Raises
    ------
    gridmap.errors.InputError
        For anything else (zero, negative, ``nan``, ``inf``, not a number),
        naming the option.
    """
    try:
        seconds = float(str(value).strip())
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise InputError(
            f"{option('every', value)} is not a number of seconds above zero",
            hint=f"give e.g. {option('every', 5)}",
        )
    return seconds


def check_count(value: object) -> int | None:
    """How many actions to make: a whole number from 1 (``None``: no limit).

    Raises
    ------
    gridmap.errors.InputError
        For anything else, naming the option.
    """
    if value is None:
        return None
    try:
        count = int(str(value).strip())
    except ValueError:
        count = 0
    if count < 1:
        raise InputError(
            f"{option('count', value)} is not a number of actions from 1 on",
            hint=f"give e.g. {option('count', 10)}, or leave it out to run until Ctrl+C",
        )
    return count

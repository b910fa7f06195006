"""The command centre's figures at a moment: today, this week, this month, open now, alerts.

:func:`cockpit` answers what a wall display (指挥中心大屏) shows of one unit at
one instant, from the ``incidents`` layer alone: the figures of the day, the
rankings, the latest changes, the 7- and 30-day trends, the open cases for the
map and the alerts. Days, weeks (Monday first) and months are those of the
wall's time zone (Asia/Shanghai by default), so "today" begins at local
midnight whatever the server's zone. Every panel is plain JSON-ready data:
the page draws it, the service caches it per store version and minute.

The figures are :func:`gridmap.incidents.unit_metrics`'s, cut differently:

- *open* and *overdue now* count open cases only (``overdue_open``); cases
  closed late this month are a separate figure (``late_closed_month``), never
  mixed in;
- the rates of the month (on-time closure, 小事不出网格, satisfaction) count
  the cases *closed* this month (``closed_at`` in the month), not those
  reported in it: a wall judges the work done in the month;
- a whistle is *awaiting its department* while the case is open and the
  department called in has not taken it up (the case is not at ``handling``
  or ``reported_back`` with that department); one awaiting past its response
  deadline is an alert, as is an open ``emergency`` case past its deadline.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from gridmap.classes import class_breaks
from gridmap.codes import ancestors_at, below, level_of, under
from gridmap.errors import CodeError
from gridmap.incidents.metrics import case_deadlines, stamps_ms, unit_metrics
from gridmap.incidents.workflow import OPEN_STEPS
from gridmap.schema import INCIDENT_CATEGORIES

__all__ = ["WALL_TZ", "WALL_LEVELS", "ALERT_KINDS", "PANELS", "periods", "cockpit"]

#: The zone a wall's days, weeks and months are counted in.
WALL_TZ = "Asia/Shanghai"
#: The units a wall shows: a district, a subdistrict or a community (below, the
#: rankings would rank buildings).
WALL_LEVELS: tuple[str, ...] = ("district", "subdistrict", "community")
#: What raises an alert (its id is ``<kind>:<incident id>``).
ALERT_KINDS: tuple[str, ...] = ("emergency_overdue", "whistle_late")
#: The panels :func:`cockpit` returns, each sent and dated on its own by the wall.
PANELS: tuple[str, ...] = (
    "clock",
    "kpis",
    "rank_units",
    "rank_departments",
    "categories",
    "feed",
    "trend",
    "alerts",
    "map",
)
#: Days in the long trend (the short one is its last 7).
TREND_DAYS = 30
_DAY_MS = 86_400_000.0
_HANDLED = ("handling", "reported_back")


def periods(now: pd.Timestamp, tz: str = WALL_TZ) -> dict[str, pd.Timestamp]:
    """The starts of the wall's periods around ``now`` (as UTC timestamps).

    Parameters
    ----------
    now
        The instant (zoned; a naive one is taken as UTC).
    tz
        The zone days are counted in.

    Returns
    -------
    dict
        ``today`` (local midnight), ``tomorrow``, ``week`` (Monday's midnight),
        ``month`` (the 1st's midnight) and ``trend`` (midnight of the first of
        the :data:`TREND_DAYS` trend days), each a UTC :class:`pandas.Timestamp`.
    """
    now = _utc(now)
    local = now.tz_convert(tz)
    today = local.normalize()
    # normalize() keeps the zone; tz_localize would be needed only for naive days.
    tomorrow = (today + pd.Timedelta(days=1)).normalize()
    week = (today - pd.Timedelta(days=today.weekday())).normalize()
    month = today.replace(day=1).normalize()
    trend = (today - pd.Timedelta(days=TREND_DAYS - 1)).normalize()
    return {
        "today": today.tz_convert("UTC"),
        "tomorrow": tomorrow.tz_convert("UTC"),
        "week": week.tz_convert("UTC"),
        "month": month.tz_convert("UTC"),
        "trend": trend.tz_convert("UTC"),
    }


def cockpit(
    incidents: pd.DataFrame,
    code: str,
    children: pd.DataFrame,
    *,
    now: pd.Timestamp,
    grid_names: Mapping[str, str] | None = None,
    acknowledged: Iterable[str] = (),
    tz: str = WALL_TZ,
    feed_size: int = 12,
    deadline_hours: Mapping[str, float] | None = None,
    only: Iterable[str] | None = None,
) -> dict[str, Any]:
    """Every panel of the wall of unit ``code`` at ``now``.

    Parameters
    ----------
    incidents
        The ``incidents`` layer (all of it, or already cut to the unit); its
        geometry, when present, gives the map's markers.
    code
        A district, subdistrict or community (:data:`WALL_LEVELS`).
    children
        The units one level below ``code`` (``code``, ``name``): the ranking and
        the map's colours are theirs.
    now
        The instant the figures are for (zoned, or naive UTC).
    grid_names
        Grid code → name, to say where a case in the feed or an alert is.
    acknowledged
        Alert ids acknowledged from a desk: no longer listed.
    tz
        The zone of days, weeks and months.
    feed_size
        How many latest changes the feed lists.
    deadline_hours
        As for :func:`gridmap.incidents.unit_metrics`.
    only
        ``("alerts",)`` (or with ``"clock"``): those panels only, without the
        month's figures, the rankings and the map (a touring wall's home).

    Returns
    -------
    dict
        One entry per name of :data:`PANELS`:

        - ``clock``: ``day`` (local ``YYYY-MM-DD``), ``week`` (its Monday), ``month`` (``YYYY-MM``);
        - ``kpis``: ``today_new``, ``open``, ``overdue_open``, ``closed_month``,
          ``late_closed_month``, ``ontime_rate``, ``grid_level_share``,
          ``satisfaction_rate``, ``whistle_waiting`` (rates in 0–1 or None);
        - ``rank_units``: the children by on-time closure this month, best first
          (units without a closed case last): ``code``, ``name``, ``rate``, ``closed``, ``open``;
        - ``rank_departments``: departments by overdue open cases, most first
          (only those with one): ``name``, ``overdue``, ``open``;
        - ``categories``: this week's cases per category, most first, with last
          week's count to the same moment (``week``, ``last_week``);
        - ``feed``: the latest changes (a report or a move), newest first:
          ``id``, ``at`` (ISO), ``step``, ``category``, ``grid``, ``new``
          (reported and not moved since), ``whistled``;
        - ``trend``: ``days`` (local dates, :data:`TREND_DAYS` of them, today
          last), ``new`` and ``closed`` per day;
        - ``alerts``: ``items`` (``id``, ``kind``, ``case``, ``category``,
          ``grid``, ``since``: the deadline passed, ISO; the newest first, at
          most 50) and ``total``;
        - ``map``: ``open`` per child code, ``breaks`` (the upper bounds of its
          classes, :func:`gridmap.classes.class_breaks`) and ``markers``, one per open case
          with a location: ``[lon, lat, id, category, overdue (0/1), reported
          (epoch ms)]``.

    Raises
    ------
    gridmap.errors.CodeError
        If ``code`` is not of a level in :data:`WALL_LEVELS`.
    """
    level = level_of(code)
    if level not in WALL_LEVELS:
        raise CodeError(
            f"a wall shows a district, a subdistrict or a community, not a {level}",
            "give the code of its community or above",
        )
    child_level = below(level)
    now = _utc(now)
    now_ms = float(now.value // 1_000_000)
    starts = periods(now, tz)
    names = dict(grid_names or {})
    done = set(acknowledged)

    frame = incidents
    if len(frame) and "grid_code" in frame:
        frame = frame[under(frame["grid_code"], code)]
    frame = frame.reset_index(drop=True)
    steps = _text(frame, "step")
    is_open = np.isin(steps, OPEN_STEPS)
    is_closed = np.isin(steps, ("closed", "evaluated"))
    reported = stamps_ms(frame, "reported_at")
    closed_at = stamps_ms(frame, "closed_at")
    deadline = case_deadlines(frame, deadline_hours)
    with np.errstate(invalid="ignore"):
        overdue = is_open & (deadline < now_ms)
        month_closed = is_closed & (closed_at >= _ms(starts["month"]))

    categories = _text(frame, "category")
    department = _text(frame, "department")
    whistle_dept = _text(frame, "whistle_department")
    whistled = _flags(frame, "whistled")
    waiting = is_open & whistled & ~(np.isin(steps, _HANDLED) & (department == whistle_dept))
    if only is not None and set(only) <= {"alerts", "clock"}:
        # A touring wall asks its home's alerts on every stop: without the rest.
        cheap = {
            "clock": lambda: _clock(starts, tz),
            "alerts": lambda: _alerts(
                frame, overdue, categories, deadline, waiting, names, done, now_ms
            ),
        }
        return {name: cheap[name]() for name in only}

    # The month's rates, and the open cases' figures, through unit_metrics: one
    # definition of on-time, 小事不出网格 and satisfaction for every screen.
    closed_frame = frame[month_closed]
    month = unit_metrics(closed_frame, level, now=now, deadline_hours=deadline_hours)
    row = month.loc[code] if code in month.index else None
    kpis = {
        "today_new": int(((reported >= _ms(starts["today"])) & (reported <= now_ms)).sum()),
        "open": int(is_open.sum()),
        "overdue_open": int(overdue.sum()),
        "closed_month": int(month_closed.sum()),
        "late_closed_month": 0 if row is None else int(row["closed"] - row["on_time"]),
        "ontime_rate": None if row is None else _rate(row["on_time_closure_rate"]),
        "grid_level_share": None if row is None else _rate(row["grid_level_share"]),
        "satisfaction_rate": None if row is None else _rate(row["satisfaction_rate"]),
        "whistle_waiting": int(waiting.sum()),
    }

    child_codes = children["code"].astype("str").tolist() if len(children) else []
    child_names = (
        dict(zip(child_codes, children["name"].astype("string").fillna(""), strict=True))
        if child_codes
        else {}
    )
    by_child = unit_metrics(
        closed_frame,
        child_level,
        now=now,
        deadline_hours=deadline_hours,
        grids=pd.DataFrame({"code": child_codes}) if child_codes else None,
    )
    open_by_child = _count_by_prefix(frame[is_open], child_codes, child_level)
    rank_units = [
        {
            "code": c,
            "name": str(child_names.get(c, c)),
            "rate": _rate(by_child["on_time_closure_rate"].get(c, np.nan)),
            "closed": int(by_child["closed"].get(c, 0)),
            "open": open_by_child.get(c, 0),
        }
        for c in child_codes
    ]
    rank_units.sort(key=lambda r: (r["rate"] is None, -(r["rate"] or 0), -r["closed"], r["code"]))

    dept_open = pd.Series(department[is_open]).value_counts()
    dept_late = pd.Series(department[overdue]).value_counts()
    rank_departments = [
        {"name": str(name), "overdue": int(n), "open": int(dept_open.get(name, 0))}
        for name, n in dept_late.items()
        if name
    ]
    rank_departments.sort(key=lambda r: (-r["overdue"], -r["open"], r["name"]))

    week_ms, week_ago = _ms(starts["week"]), 7 * _DAY_MS
    this_week = (reported >= week_ms) & (reported <= now_ms)
    last_week = (reported >= week_ms - week_ago) & (reported <= now_ms - week_ago)
    cats = []
    for cat in INCIDENT_CATEGORIES:
        here = categories == cat
        n, m = int((here & this_week).sum()), int((here & last_week).sum())
        if n or m:
            cats.append({"id": cat, "week": n, "last_week": m})
    cats.sort(key=lambda r: (-r["week"], -r["last_week"], r["id"]))

    out = {
        "clock": _clock(starts, tz),
        "kpis": kpis,
        "rank_units": rank_units,
        "rank_departments": rank_departments,
        "categories": cats,
        "feed": _feed(frame, reported, steps, names, now_ms, feed_size),
        "trend": _trend(reported, closed_at, is_closed, starts, tz),
        "alerts": _alerts(frame, overdue, categories, deadline, waiting, names, done, now_ms),
        "map": {
            "open": open_by_child,
            "breaks": _breaks(list(open_by_child.values())),
            "markers": _markers(frame, is_open, overdue, reported),
        },
    }
    return out


# -- panels ---------------------------------------------------------------------------


def _clock(starts: Mapping[str, pd.Timestamp], tz: str) -> dict[str, str]:
    today = starts["today"].tz_convert(tz)
    return {
        "day": today.strftime("%Y-%m-%d"),
        "week": starts["week"].tz_convert(tz).strftime("%Y-%m-%d"),
        "month": today.strftime("%Y-%m"),
        "tz": tz,
    }


def _feed(
    frame: pd.DataFrame,
    reported: np.ndarray,
    steps: np.ndarray,
    names: Mapping[str, str],
    now_ms: float,
    size: int,
) -> list[dict[str, Any]]:
    """The latest changes: each case once, at its last change (``updated_at``, else its report)."""
    if not len(frame):
        return []
    changed = stamps_ms(frame, "updated_at")
    changed = np.where(np.isnan(changed), reported, changed)
    # A change stamped in the future (a clock ahead) is not "latest" yet.
    with np.errstate(invalid="ignore"):
        changed = np.where(changed > now_ms, np.nan, changed)
    order = np.argsort(-np.nan_to_num(changed, nan=-np.inf), kind="stable")[:size]
    grids = _text(frame, "grid_code")
    cats = _text(frame, "category")
    ids = frame["id"].astype("str").to_numpy() if "id" in frame else np.array([""] * len(frame))
    whistled = _flags(frame, "whistled")
    out = []
    for i in order:
        if np.isnan(changed[i]):
            continue
        out.append(
            {
                "id": str(ids[i]),
                "at": _iso(changed[i]),
                "step": str(steps[i]),
                "category": str(cats[i]),
                "grid": str(names.get(grids[i], grids[i])),
                "new": bool(changed[i] - reported[i] < 1000 and steps[i] in OPEN_STEPS[:2]),
                "whistled": bool(whistled[i]),
            }
        )
    return out


def _trend(
    reported: np.ndarray,
    closed_at: np.ndarray,
    is_closed: np.ndarray,
    starts: Mapping[str, pd.Timestamp],
    tz: str,
) -> dict[str, list]:
    first = starts["trend"]
    # Day boundaries as instants (a zone with a DST change has a 23- or 25-hour day).
    local_first = first.tz_convert(tz)
    edges = [
        _ms((local_first + pd.Timedelta(days=k)).normalize().tz_convert("UTC"))
        for k in range(TREND_DAYS + 1)
    ]
    # (normalize() after adding days lands on local midnight whatever the offset did.)
    edges_arr = np.asarray(edges)

    def per_day(stamps: np.ndarray) -> list[int]:
        ok = ~np.isnan(stamps) & (stamps >= edges_arr[0]) & (stamps < edges_arr[-1])
        day = np.searchsorted(edges_arr, stamps[ok], side="right") - 1
        return np.bincount(day, minlength=TREND_DAYS)[:TREND_DAYS].astype(int).tolist()

    days = [
        (local_first + pd.Timedelta(days=k)).normalize().strftime("%Y-%m-%d")
        for k in range(TREND_DAYS)
    ]
    return {"days": days, "new": per_day(reported), "closed": per_day(closed_at[is_closed])}


def _alerts(
    frame: pd.DataFrame,
    overdue: np.ndarray,
    categories: np.ndarray,
    deadline: np.ndarray,
    waiting: np.ndarray,
    names: Mapping[str, str],
    done: set[str],
    now_ms: float,
) -> dict[str, Any]:
    ids = frame["id"].astype("str").to_numpy() if "id" in frame else np.array([""] * len(frame))
    grids = _text(frame, "grid_code")
    whistle_deadline = stamps_ms(frame, "whistle_deadline")
    items: list[tuple[float, dict[str, Any]]] = []
    with np.errstate(invalid="ignore"):
        late_whistle = waiting & (whistle_deadline < now_ms)
    for kind, mask, since in (
        ("emergency_overdue", overdue & (categories == "emergency"), deadline),
        ("whistle_late", late_whistle, whistle_deadline),
    ):
        for i in np.flatnonzero(mask):
            alert = f"{kind}:{ids[i]}"
            if alert in done:
                continue
            items.append(
                (
                    float(since[i]),
                    {
                        "id": alert,
                        "kind": kind,
                        "case": str(ids[i]),
                        "category": str(categories[i]),
                        "grid": str(names.get(grids[i], grids[i])),
                        "since": _iso(since[i]),
                    },
                )
            )
    # The newest first: the alert that just arose is the one the room must see.
    items.sort(key=lambda pair: (-pair[0], pair[1]["id"]))
    return {"items": [item for _, item in items[:50]], "total": len(items)}


def _markers(
    frame: pd.DataFrame, is_open: np.ndarray, overdue: np.ndarray, reported: np.ndarray
) -> list[list]:
    if "geometry" not in frame or not len(frame):
        return []
    import shapely

    geoms = np.asarray(frame.geometry, dtype=object)[is_open]
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    xs = np.full(len(geoms), np.nan)
    ys = np.full(len(geoms), np.nan)
    xs[ok] = shapely.get_x(geoms[ok])
    ys[ok] = shapely.get_y(geoms[ok])
    ids = frame["id"].astype("str").to_numpy()[is_open]
    cats = _text(frame, "category")[is_open]
    late = overdue[is_open]
    when = reported[is_open]
    out = []
    for i in range(len(geoms)):
        if not (np.isfinite(xs[i]) and np.isfinite(ys[i])):
            continue
        stamp = int(when[i]) if np.isfinite(when[i]) else 0
        out.append([round(float(xs[i]), 6), round(float(ys[i]), 6), str(ids[i]), str(cats[i]),
                    int(late[i]), stamp])  # fmt: skip
    return out


# -- helpers --------------------------------------------------------------------------


def _breaks(values: list[int]) -> list[float]:
    """Upper bounds of the map's classes of open cases (quantiles; fewer when values repeat)."""
    if not values:
        return []
    breaks = class_breaks([float(v) for v in values], k=5, method="quantile")
    return sorted({float(b) for b in breaks})


def _utc(stamp: Any) -> pd.Timestamp:
    stamp = pd.Timestamp(stamp)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _ms(stamp: pd.Timestamp) -> float:
    return float(stamp.value // 1_000_000)


def _iso(ms: float) -> str:
    return pd.Timestamp(int(ms), unit="ms", tz="UTC").isoformat()


def _rate(value: Any) -> float | None:
    value = float(value)
    return None if np.isnan(value) else round(value, 4)


def _text(frame: pd.DataFrame, column: str) -> np.ndarray:
    """A text column as an object array of str ('' where missing or absent)."""
    if column not in frame or not len(frame):
        return np.full(len(frame), "", dtype=object)
    return frame[column].astype("string").fillna("").to_numpy(dtype=object)


def _flags(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame or not len(frame):
        return np.zeros(len(frame), dtype=bool)
    return frame[column].astype("boolean").fillna(False).to_numpy(dtype=bool)


def _count_by_prefix(frame: pd.DataFrame, codes: list[str], level: str) -> dict[str, int]:
    """Cases per unit of ``codes`` (all of ``level``), by the unit their grid code is under."""
    out = dict.fromkeys(codes, 0)
    if not codes or not len(frame) or "grid_code" not in frame:
        return out
    grid_idx, uniques = pd.factorize(frame["grid_code"].astype("string"))
    units = ancestors_at(np.asarray(uniques, dtype=object), level)
    counts = np.bincount(grid_idx[grid_idx >= 0], minlength=len(uniques))
    for unit, n in zip(units, counts, strict=True):
        if unit in out:
            out[unit] += int(n)
    return out

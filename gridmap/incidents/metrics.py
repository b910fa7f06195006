"""The closed loop's KPIs per unit: counts, on-time closure, hours to close, satisfaction.

:func:`unit_metrics` computes the KPIs of every unit of one level (district,
subdistrict, community, grid) in one vectorised pass; :func:`unit_metrics_one`
gives one unit's figures as a flat dict for ``gridmap stats``. The helpers
below turn the columns of the ``incidents`` layer into plain numpy arrays
(epoch milliseconds, category indexes, counts) that the KPIs are counted on.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from gridmap.codes import ancestor, ancestors_at, level_of, under
from gridmap.errors import CodeError, GridmapError, option
from gridmap.incidents.values import as_stamp
from gridmap.incidents.workflow import DEADLINE_HOURS, OPEN_STEPS, STEPS
from gridmap.schema import CLOSING_LEVELS, INCIDENT_CATEGORIES, SATISFACTION

__all__ = ["METRIC_LEVELS", "unit_metrics", "unit_metrics_one", "case_deadlines", "stamps_ms"]

#: Levels :func:`unit_metrics` groups by (through the ancestor of ``grid_code``).
METRIC_LEVELS: tuple[str, ...] = ("district", "subdistrict", "community", "grid")

# 12345 practice counts 基本满意 as satisfied.
_GOOD_ANSWERS = ("satisfied", "basically_satisfied")
_HOUR_MS = 3_600_000.0


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
        for the demo, its as-of: :func:`gridmap.demo.data_as_of`). Steps are the cases'
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
    # level (much cheaper than cutting a million strings).
    grid_idx, grid_uniques = _factorize(frame, "grid_code")
    prefixes = ancestors_at(grid_uniques, level)
    extra: list[str] = []
    if grids is not None and len(grids):
        extra = ancestors_at(pd.unique(grids["code"].astype("str").dropna()), level).tolist()
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
            f"give the code of its grid, {ancestor(code, 'grid')}",
        )
    if "grid_code" in incidents and len(incidents):
        incidents = incidents[under(incidents["grid_code"], code)]
    table = unit_metrics(
        incidents, level, start=start, end=end, now=now, deadline_hours=deadline_hours
    )
    if code not in table.index:
        table = unit_metrics(incidents.iloc[:0], level, grids=pd.DataFrame({"code": [code]}))
    i = table.index.get_loc(code)
    # Column by column: a row of mixed counts and rates would come out as floats.
    return {name: _plain(table[name].iloc[i]) for name in table.columns}


def stamps_ms(frame: pd.DataFrame, column: str) -> np.ndarray:
    """A datetime column as float UTC epoch milliseconds (NaN where missing or absent).

    Parameters
    ----------
    frame
        Incidents (or any frame).
    column
        A datetime column, zoned or naive UTC; a missing column gives all NaN.

    Returns
    -------
    numpy.ndarray
        float64 milliseconds since the epoch, one per row.
    """
    return _ms(frame, column)


def case_deadlines(
    frame: pd.DataFrame, deadline_hours: Mapping[str, float] | None = None
) -> np.ndarray:
    """Each case's deadline as UTC epoch milliseconds, as :func:`unit_metrics` judges it.

    Parameters
    ----------
    frame
        Incidents with ``deadline`` (and ``dispatched_at``, ``category`` for
        dispatched cases without a stored deadline).
    deadline_hours
        As for :func:`unit_metrics`.

    Returns
    -------
    numpy.ndarray
        float64 milliseconds; NaN for a case without a deadline (never dispatched).
    """
    category = _encode(frame, "category", INCIDENT_CATEGORIES)
    return _deadlines(frame, np.ones(len(frame), dtype=bool), category, deadline_hours)


def _plain(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return None if np.isnan(value) else float(value)
    return value


def _instant(value: Any, name: str) -> float | None:
    """A time as UTC epoch milliseconds (naive means UTC), or None (an open end) when missing."""
    try:
        stamp = as_stamp(value)
    except (TypeError, ValueError):
        raise GridmapError(
            f"{option(name, repr(value))} is not a date and time",
            "write ISO 8601, e.g. 2025-01-01",
        ) from None
    return None if stamp is None else float(stamp.value // 1_000_000)


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

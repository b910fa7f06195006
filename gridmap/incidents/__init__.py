"""Incidents (事件) and the closed loop: the state machine, locating, and the KPIs.

Pure functions on dicts and DataFrames (no file or database here:
:mod:`gridmap.ingest` reads files, the store saves what these return). The
package holds:

=====================================  ===========================================
module                                 what it holds
=====================================  ===========================================
:mod:`gridmap.incidents.workflow`      the state machine: :data:`STEPS`,
                                       :data:`MOVE_TABLE` (every allowed move, one
                                       row each) and :data:`MOVES` drawn from it,
                                       :func:`move`, :func:`transfer`,
                                       :func:`whistle`, :class:`TransitionError`,
                                       the deadline table :data:`DEADLINE_HOURS`
:mod:`gridmap.incidents.locating`      :func:`locate`: the grid and the nearest
                                       building of each reported location, or why
                                       it has none
:mod:`gridmap.incidents.metrics`       :func:`unit_metrics` (the closed-loop KPIs
                                       of every unit of a level, vectorised) and
                                       :func:`unit_metrics_one` (one unit, for
                                       ``gridmap stats``)
:mod:`gridmap.incidents.values`        small helpers reading one value of a stored
                                       row (missing values, text, counts, UTC
                                       times) the same way in every module
=====================================  ===========================================

Import from the package (``from gridmap.incidents import move``): the names
below are its public API, whichever module holds them.
"""

from __future__ import annotations

from gridmap.incidents.locating import locate
from gridmap.incidents.metrics import METRIC_LEVELS, unit_metrics, unit_metrics_one
from gridmap.incidents.workflow import (
    DEADLINE_HOURS,
    ESCALATION_DEPARTMENT,
    MOVE_TABLE,
    MOVES,
    OPEN_STEPS,
    REWORKS_BEFORE_WHISTLE,
    STEPS,
    WHISTLE_HOURS,
    WHISTLE_STEPS,
    Move,
    TransitionError,
    move,
    move_of,
    transfer,
    whistle,
)

__all__ = [
    "STEPS",
    "OPEN_STEPS",
    "Move",
    "MOVE_TABLE",
    "MOVES",
    "move_of",
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

"""A new case reported in the field (巡查上报): its row and its first event.

:func:`new_case` makes the ``incidents`` row of a case a grid supervisor
reports where they stand (or where they tapped the map) and the event that
opens its history; the caller has located it (:func:`gridmap.incidents.locating.locate`)
and checked that the grid is the reporter's. The case starts at ``collected``
(the first step of the loop, docs/domain.md#incident-loop) from source
``patrol``, version 1, as an imported case does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import shapely

from gridmap.errors import InputError
from gridmap.incidents.values import as_utc
from gridmap.schema import INCIDENT_CATEGORIES, INCIDENT_SOURCES

__all__ = ["MAX_DESCRIPTION", "MAX_SUBCATEGORY", "new_case", "case_id"]

#: The longest description a report takes, in characters.
MAX_DESCRIPTION = 2000
#: The longest subcategory (free text; the categories themselves are a fixed list).
MAX_SUBCATEGORY = 100


def case_id(at: datetime, key: str) -> str:
    """The id of a reported case: ``F``, the UTC time to the second, and 6 characters of its key.

    The key is the report's idempotency key (random, from the browser): two
    reports in the same second get different ids, and a retry of one report
    gets the same id.
    """
    import hashlib

    stamp = as_utc(at).strftime("%Y%m%d%H%M%S")
    return f"F{stamp}{hashlib.sha256(key.encode()).hexdigest()[:6].upper()}"


def new_case(
    *,
    incident_id: str,
    lon: float,
    lat: float,
    category: str,
    description: str,
    grid_code: str,
    building_code: str | None,
    actor: str,
    at: datetime,
    subcategory: str | None = None,
    source: str = "patrol",
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The row of a newly reported case and its first event.

    Parameters
    ----------
    incident_id
        Its id (:func:`case_id`).
    lon, lat
        Where it is, WGS 84 degrees.
    category, subcategory
        What it is (:data:`gridmap.schema.INCIDENT_CATEGORIES`); the
        subcategory is free text, optional.
    description
        What the reporter saw (at most :data:`MAX_DESCRIPTION` characters).
    grid_code, building_code
        Where it was located: its grid, and its building when within 30 m.
    actor
        Who reported it (an account name), recorded on the event.
    at
        When, timezone-aware.
    source
        :data:`gridmap.schema.INCIDENT_SOURCES`; ``patrol`` for a supervisor's report.

    Returns
    -------
    row, event
        The ``incidents`` row (every column; ``geometry`` a shapely point) at
        step ``collected``, version 1; the ``incident_events`` row (no
        ``from_step``: the case begins here).

    Raises
    ------
    gridmap.errors.InputError
        For an unknown category or source, an empty or over-long description.
    """
    if category not in INCIDENT_CATEGORIES:
        raise InputError(
            f"'{category}' is not an incident category",
            hint=f"choose one of: {', '.join(INCIDENT_CATEGORIES)}",
            field="category",
        )
    if source not in INCIDENT_SOURCES:
        raise InputError(f"'{source}' is not an incident source", field="source")
    text = (description or "").strip()
    if not text:
        raise InputError(
            "the report has no description", hint="say what you see", field="description"
        )
    if len(text) > MAX_DESCRIPTION:
        raise InputError(
            f"the description has {len(text)} characters, more than {MAX_DESCRIPTION}",
            hint="shorten it",
            field="description",
        )
    sub = (subcategory or "").strip() or None
    if sub is not None and len(sub) > MAX_SUBCATEGORY:
        raise InputError(
            f"the subcategory has {len(sub)} characters, more than {MAX_SUBCATEGORY}",
            hint="shorten it",
            field="subcategory",
        )
    when = as_utc(at)
    row: dict[str, Any] = {
        "id": incident_id,
        "category": category,
        "subcategory": sub,
        "source": source,
        "description": text,
        "step": "collected",
        "grid_code": grid_code,
        "building_code": building_code,
        "department": None,
        "closed_level": None,
        "whistled": False,
        "deadline": None,
        "reported_at": when,
        "closed_at": None,
        "satisfaction": None,
        "rework_count": 0,
        "transfer_count": 0,
        "version": 1,
        "dispatched_at": None,
        "whistle_department": None,
        "whistle_deadline": None,
        "updated_at": when,
        "reporter_name": None,
        "reporter_phone": None,
        "geometry": shapely.Point(float(lon), float(lat)),
    }
    event = {
        "incident_id": incident_id,
        "at": when,
        "actor": actor,
        "from_step": None,
        "to_step": "collected",
        "note": "巡查上报",
    }
    return row, event

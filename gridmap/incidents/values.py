"""Small value helpers shared by the incidents modules.

A stored incident row comes back from the store with its missing values as
``None``, NaN, ``pd.NA`` or ``NaT`` depending on the column and the backend;
these helpers read one value of such a row the same way everywhere.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd

__all__ = [
    "is_missing",
    "as_text",
    "as_count",
    "as_flag",
    "as_utc",
    "as_stamp",
    "with_note",
    "hours_text",
]


def is_missing(value: Any) -> bool:
    """Whether ``value`` is a missing value (``None``, NaN, ``pd.NA``, ``NaT``).

    Parameters
    ----------
    value
        One value of a row.

    Returns
    -------
    bool
        ``True`` for the missing markers; containers are never missing.
    """
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # containers (pd.isna gives an array) are never "missing"
        return False


def as_text(value: Any) -> str | None:
    """``value`` as text, or ``None`` when it is missing or empty."""
    return None if is_missing(value) or str(value) == "" else str(value)


def as_count(value: Any) -> int:
    """``value`` as an int, ``0`` when missing (a new row's counters are empty)."""
    return 0 if is_missing(value) else int(value)


def as_flag(value: Any) -> bool:
    """``value`` as a bool, ``False`` when missing."""
    return False if is_missing(value) else bool(value)


def as_utc(at: datetime) -> pd.Timestamp:
    """The moment of a move as a UTC timestamp.

    Parameters
    ----------
    at
        A timezone-aware datetime (or anything :class:`pandas.Timestamp` takes).

    Returns
    -------
    pandas.Timestamp
        ``at`` converted to UTC.

    Raises
    ------
    ValueError
        If ``at`` has no time zone: its zone would be a guess, and a move
        logged hours off breaks the event log's order.
    """
    stamp = pd.Timestamp(at)
    if stamp.tzinfo is None:
        raise ValueError(f"the time {at!r} has no time zone: give an aware datetime (UTC)")
    return stamp.tz_convert("UTC")


def as_stamp(value: Any) -> pd.Timestamp | None:
    """A stored or given time as a UTC timestamp (naive means UTC), ``None`` when missing.

    Parameters
    ----------
    value
        A datetime, a :class:`pandas.Timestamp`, an ISO 8601 string or a missing value.

    Returns
    -------
    pandas.Timestamp or None
        The time in UTC. Stored times are UTC, so a naive one is read as UTC
        (unlike :func:`as_utc`, which refuses a naive moment given by a caller).

    Raises
    ------
    ValueError, TypeError
        If ``value`` is not a time (the caller says which argument it was).
    """
    if is_missing(value):
        return None
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def with_note(text: str, note: str | None) -> str:
    """An event's text followed by the caller's note, if any (Chinese punctuation)."""
    return f"{text}；{note}" if note else text


def hours_text(hours: float) -> str:
    """Hours for a message: ``24``, not ``24.0``; ``1.5`` stays ``1.5``."""
    return f"{hours:g}"

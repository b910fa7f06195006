"""Values of a user's file parsed into the store's types, one cell at a time.

Each parser takes one cell as a file gives it (text from a CSV file, a
number or text from GDAL) and returns the Python value, ``None`` for an empty
cell, or raises ``ValueError`` with a message for the user.
:func:`parse_column` runs a schema column's parser down a column, noting
problems; :func:`as_series` turns the parsed values into a column with the
store's dtype.

:func:`parse_timestamp` is the project's one parser of times (the incident
import uses it with its own time zone rule).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from gridmap.io.problems import Problems, shorten
from gridmap.schema import Column

__all__ = [
    "is_missing",
    "parse_text",
    "parse_int",
    "parse_float",
    "parse_bool",
    "parse_timestamp",
    "parse_datetime",
    "parse_coordinates",
    "parse_column",
    "as_series",
]

_TRUE = {"true", "t", "yes", "y", "1", "是"}
_FALSE = {"false", "f", "no", "n", "0", "否"}
# Floats hold integers exactly only up to 2**53: a 17-digit code stored as a
# number in a spreadsheet or DBF has lost its last digits.
_EXACT_FLOAT_INT = 2**53


def is_missing(value: Any) -> bool:
    """Whether a cell is empty: ``None``, NA, NaT, NaN or blank text."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip() == ""


def parse_text(value: Any) -> str | None:
    """A text cell, stripped; a number as its digits (a code stored as a number).

    Raises
    ------
    ValueError
        For a whole number too large for a float to hold exactly: a long code
        a spreadsheet stored as a number has lost its last digits.
    """
    if is_missing(value):
        return None
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if float(value).is_integer():
            if abs(value) >= _EXACT_FLOAT_INT:
                raise ValueError(
                    f"the value {value:.17g} was stored as a number too large to be exact"
                )
            return str(int(value))
        return repr(float(value))
    return str(value)


def parse_int(value: Any) -> int | None:
    """A whole number (``12``, ``"12"``, ``12.0``); ``ValueError`` for anything else."""
    if is_missing(value):
        return None
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"'{value}' is not a whole number")
    if isinstance(value, (int, np.integer)):
        return int(value)
    number = value if isinstance(value, (float, np.floating)) else None
    if number is None:
        text = str(value).strip()
        try:
            return int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                raise ValueError(f"'{shorten(text)}' is not a whole number") from None
    if not math.isfinite(number) or not float(number).is_integer():
        raise ValueError(f"'{shorten(value)}' is not a whole number")
    return int(number)


def parse_float(value: Any) -> float | None:
    """A number; ``ValueError`` for text that is not one (or a yes/no value)."""
    if is_missing(value):
        return None
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"'{value}' is not a number")
    try:
        return float(str(value).strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        raise ValueError(f"'{shorten(value)}' is not a number") from None


def parse_bool(value: Any) -> bool | None:
    """A yes/no value: true/false, yes/no, t/f, y/n, 1/0, 是/否 (any case)."""
    if is_missing(value):
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer, float, np.floating)) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"'{shorten(value)}' is not a yes/no value")


def parse_timestamp(value: Any) -> pd.Timestamp | None:
    """One time as a Timestamp (naive if written without a zone), or None if empty.

    Parameters
    ----------
    value
        A cell: text such as ``2025-05-01T08:30:00+08:00`` or ``2025/05/01 08:30``,
        or a datetime GDAL read.

    Returns
    -------
    pandas.Timestamp or None
        Aware if the value named its zone, naive otherwise: what a naive time
        means is the caller's rule (UTC for layer files, local time for
        incident feeds).

    Raises
    ------
    ValueError
        For a bare number (seconds? a spreadsheet's days since 1900?) or text
        that is not a date and time.
    """
    if is_missing(value):
        return None
    if isinstance(value, (int, float, np.integer, np.floating, bool)):
        # A bare number is ambiguous (seconds? days since 1900 in a spreadsheet?).
        raise ValueError(f"'{value}' is a number, not a date and time")
    try:
        stamp = pd.Timestamp(value.strip() if isinstance(value, str) else value)
    except (ValueError, TypeError, OverflowError):
        raise ValueError(f"'{shorten(value)}' is not a date and time") from None
    return None if pd.isna(stamp) else stamp


def parse_datetime(value: Any) -> pd.Timestamp | None:
    """A time in UTC: :func:`parse_timestamp`, with a naive time taken as UTC."""
    stamp = parse_timestamp(value)
    if stamp is None:
        return None
    # Naive datetimes are taken as UTC, as the store keeps them.
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "text": parse_text,
    "int": parse_int,
    "float": parse_float,
    "bool": parse_bool,
    "datetime": parse_datetime,
}
_TYPE_HINTS = {
    "text": "store codes and ids as text (format the spreadsheet column as Text)",
    "int": "write a whole number, e.g. 12",
    "float": "write a number with a decimal point, e.g. 12.5",
    "bool": "write true or false (also yes/no, 1/0, 是/否)",
    "datetime": "write ISO 8601, e.g. 2024-05-01T08:30:00Z (without a zone it is taken as UTC)",
}


def parse_coordinates(column: pd.Series, name: str, problems: Problems) -> np.ndarray:
    """A column of coordinates as floats, NaN where empty or unreadable (which is noted).

    Parameters
    ----------
    column
        The file's column of longitudes (or latitudes, or x, or y).
    name
        The column's name in the file, for the problems.
    problems
        Where a value that is not a number is noted (an empty one is not: the
        geometry check reports the row as having no geometry).
    """
    text = column.to_numpy(dtype=object)
    out = np.full(len(text), np.nan)
    for i, value in enumerate(text):
        value = "" if value is None else str(value).strip()
        if not value:
            continue  # reported as a missing geometry
        try:
            out[i] = float(value)
        except ValueError:
            problems.add(i + 1, name, f"'{shorten(value)}' is not a number")
    return out


def parse_column(frame: pd.DataFrame, col: Column, source: str, problems: Problems) -> list:
    """Parse one schema column into Python values (``None`` where empty), noting problems.

    Parameters
    ----------
    frame
        The file's table, columns already named as the schema's.
    col
        The schema column; a column the file lacks reads as all empty.
    source
        The column's name in the file, for the problems.
    problems
        Where unparseable values, empty required values and values outside the
        column's choices are noted.

    Returns
    -------
    list
        One value per row (``None`` where empty or unparseable).
    """
    if col.name not in frame.columns:
        return [None] * len(frame)
    parse = _PARSERS[col.type]
    out = []
    for i, raw in enumerate(frame[col.name].tolist()):
        row = i + 1
        try:
            value = parse(raw)
        except ValueError as exc:
            problems.add(row, source, str(exc), _TYPE_HINTS[col.type])
            out.append(None)
            continue
        if value is None and col.required:
            problems.add(row, source, "the value is empty", "the column is required")
        elif col.choices is not None and value is not None and value not in col.choices:
            near = value.strip().lower().replace(" ", "_")
            hint = f"did you mean '{near}'? " if near in col.choices else ""
            problems.add(
                row,
                source,
                f"'{shorten(value)}' is not one of the allowed values",
                f"{hint}use one of: {', '.join(col.choices)}",
            )
        out.append(value)
    return out


def as_series(values: list, kind: str) -> pd.Series:
    """A column of parsed values with the store's dtype for the column type ``kind``.

    Parameters
    ----------
    values
        Parsed values (``None`` where empty), e.g. from :func:`parse_column`.
    kind
        The schema column type: ``text``, ``int``, ``float``, ``bool`` or ``datetime``.

    Returns
    -------
    pandas.Series
        ``str``, ``Int64``, ``float64``, ``bool`` (empty is false) or
        ``datetime64[ms, UTC]``.
    """
    if kind == "text":
        return pd.Series(values, dtype="str")
    if kind == "int":
        return pd.Series(pd.array(values, dtype="Int64"))
    if kind == "float":
        return pd.Series([np.nan if v is None else v for v in values], dtype="float64")
    if kind == "bool":
        # bool columns are not nullable: an empty optional yes/no means no.
        return pd.Series([bool(v) for v in values], dtype="bool")
    if kind == "datetime":
        return pd.Series(pd.to_datetime(values, utc=True)).astype("datetime64[ms, UTC]")
    raise ValueError(f"unknown column type {kind!r}")

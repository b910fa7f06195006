"""Unit codes of the five-level hierarchy.

=============  =====  ==============================  =====================
level          width  rule                            example
=============  =====  ==============================  =====================
district       6      GB/T 2260 adcode                431002
subdistrict    9      district + 3 (NBS 2023)         431002001
community      12     subdistrict + 3 (NBS 2023)      431002001001
grid           14     community + 2 ("00": whole)     43100200100101
building       17     grid + 3 (001-999)              43100200100101007
=============  =====  ==============================  =====================

Codes are always text: 17 digits exceed a float's exact integers and a
spreadsheet's 15 digits. A grid suffix ``00`` means the community is not
subdivided: that grid covers the whole community and is its only grid.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from gridmap.errors import CodeError
from gridmap.schema import LEVELS

__all__ = [
    "WIDTHS",
    "level_of",
    "check_code",
    "is_valid",
    "parent_of",
    "ancestors",
    "children_of",
    "child_level",
    "parent_level",
    "make_code",
    "UNDIVIDED_GRID",
    "width_of",
    "ancestor",
    "ancestors_at",
    "serial_of",
    "is_under",
    "under",
    "drawn_parent",
    "below",
    "serials_at",
]

#: Width of each level's code.
WIDTHS: dict[str, int] = {
    "district": 6,
    "subdistrict": 9,
    "community": 12,
    "grid": 14,
    "building": 17,
}
_LEVEL_BY_WIDTH = {w: lvl for lvl, w in WIDTHS.items()}

#: The grid suffix of a community that is not subdivided.
UNDIVIDED_GRID = "00"


def level_of(code: str) -> str:
    """The level a code belongs to, from its width.

    Parameters
    ----------
    code
        A unit code (text).

    Returns
    -------
    str
        One of ``district``, ``subdistrict``, ``community``, ``grid``, ``building``.

    Raises
    ------
    CodeError
        If the code is not text of digits with one of the five widths.
    """
    if not isinstance(code, str):
        raise CodeError(
            f"code {code!r} is a {type(code).__name__}, not text",
            "store codes as text so leading zeros and all 17 digits survive",
        )
    if not code.isascii() or not code.isdigit():
        raise CodeError(f"code '{code}' has characters other than digits", "codes are digits only")
    level = _LEVEL_BY_WIDTH.get(len(code))
    if level is None:
        raise CodeError(
            f"code '{code}' has {len(code)} digits",
            "district 6, subdistrict 9, community 12, grid 14, building 17",
        )
    return level


def check_code(code: str, level: str | None = None, parent: str | None = None) -> str:
    """Check a code, optionally against its expected level and parent.

    Parameters
    ----------
    code
        The code to check.
    level
        The level the code must have, if known.
    parent
        The parent unit's code, which the code must extend.

    Returns
    -------
    str
        The code's level.

    Raises
    ------
    CodeError
        Saying what is wrong: width, digits, level, an all-zero serial, or a
        prefix that is not the parent's code.
    """
    found = level_of(code)
    if level is not None and found != level:
        raise CodeError(
            f"code '{code}' is a {found} code ({len(code)} digits), expected a {level} code",
            f"a {level} code has {WIDTHS[level]} digits",
        )
    if found != "district":
        serial = code[WIDTHS[parent_level(found)] :]
        # "00" is a valid grid serial (the undivided community); every other
        # level numbers its units from 1.
        if found != "grid" and set(serial) == {"0"}:
            raise CodeError(
                f"code '{code}' has the serial {serial}",
                f"a {found} serial starts at {'1'.zfill(len(serial))}",
            )
    elif code.endswith("00"):
        # Adcodes ending in 00 name cities and provinces, not districts.
        raise CodeError(
            f"code '{code}' ends in 00, which names a city or province, not a district",
            "use the district's GB/T 2260 adcode",
        )
    if parent is not None:
        expected = parent_of(code)
        if expected != parent:
            raise CodeError(
                f"code '{code}' does not extend its parent's code '{parent}'",
                f"a child's code starts with its parent's; this one belongs under '{expected}'",
            )
    return found


def is_valid(code: object, level: str | None = None) -> bool:
    """Whether ``code`` is a well-formed code (of ``level``, if given)."""
    try:
        check_code(code, level)  # type: ignore[arg-type]
    except CodeError:
        return False
    return True


def parent_level(level: str) -> str:
    """The level above ``level``; a district has none."""
    i = LEVELS.index(level)
    if i == 0:
        raise CodeError("a district has no parent level")
    return LEVELS[i - 1]


def child_level(level: str) -> str:
    """The level below ``level``; a building has none."""
    i = LEVELS.index(level)
    if i == len(LEVELS) - 1:
        raise CodeError("a building has no child level")
    return LEVELS[i + 1]


def parent_of(code: str) -> str | None:
    """The parent unit's code, or ``None`` for a district."""
    level = level_of(code)
    if level == "district":
        return None
    return code[: WIDTHS[parent_level(level)]]


def ancestors(code: str) -> list[str]:
    """The codes above ``code``, district first."""
    level = level_of(code)
    return [code[: WIDTHS[lvl]] for lvl in LEVELS[: LEVELS.index(level)]]


def children_of(code: str, codes: Iterable[str]) -> list[str]:
    """The direct children of ``code`` among ``codes``, sorted.

    Parameters
    ----------
    code
        The parent unit's code.
    codes
        Candidate codes, of any levels.
    """
    width = WIDTHS[child_level(level_of(code))]
    return sorted(c for c in codes if len(c) == width and c.startswith(code))


def make_code(parent: str, serial: int) -> str:
    """The code of a parent's child with the given serial number.

    Parameters
    ----------
    parent
        The parent unit's code.
    serial
        The child's number: 1-999 (0-99 for grids, where 0 is the undivided grid).
    """
    level = child_level(level_of(parent))
    width = WIDTHS[level] - len(parent)
    low = 0 if level == "grid" else 1
    if not low <= serial < 10**width:
        raise CodeError(
            f"serial {serial} does not fit a {level} code",
            f"a {level} serial runs from {low} to {10**width - 1}",
        )
    return parent + str(serial).zfill(width)


# -- "the units under a unit": the one place codes are cut -------------------------


def width_of(level: str) -> int:
    """The number of digits of a ``level`` code (``KeyError`` for an unknown level)."""
    return WIDTHS[level]


def ancestor(code: str, level: str) -> str:
    """The code of the unit of ``level`` that holds ``code`` (``code`` itself at its level).

    Parameters
    ----------
    code
        A unit code of ``level`` or below.
    level
        The level of the ancestor wanted.

    Raises
    ------
    CodeError
        If ``code`` is above ``level`` (a subdistrict has no grid).
    """
    width = WIDTHS[level]
    if len(code) < width:
        raise CodeError(
            f"code '{code}' is above the {level} level", f"give a {level} code or one below it"
        )
    return code[:width]


def ancestors_at(codes: Any, level: str) -> np.ndarray:
    """Vectorised :func:`ancestor`: each code cut to ``level`` (missing codes stay ``None``).

    Parameters
    ----------
    codes
        A sequence, array or Series of codes (text; ``None``/NaN allowed).
    level
        The level to cut to.

    Returns
    -------
    numpy.ndarray
        Object array of codes of ``level`` (shorter codes are returned as they are).
    """
    series = pd.Series(np.asarray(codes, dtype=object), dtype="string")
    cut = series.str.slice(0, WIDTHS[level])
    return cut.astype(object).where(cut.notna(), None).to_numpy(dtype=object)


def serial_of(code: str) -> str:
    """The digits a code adds to its parent's (a district's code is its own serial)."""
    level = level_of(code)
    if level == "district":
        return code
    return code[WIDTHS[parent_level(level)] :]


def is_under(code: str, unit: str | None) -> bool:
    """Whether ``code`` is ``unit`` or lies under it (everything is under ``None`` or ``""``)."""
    return not unit or str(code).startswith(unit)


def under(codes: Any, unit: str | None) -> np.ndarray:
    """Mask of the codes that are ``unit`` or lie under it (missing codes: ``False``).

    Parameters
    ----------
    codes
        A sequence, array or Series of codes (text; ``None``/NaN allowed).
    unit
        A unit code; ``None`` or ``""``: every present code.

    Returns
    -------
    numpy.ndarray
        Boolean array, one per code.
    """
    series = pd.Series(np.asarray(codes, dtype=object), dtype="string")
    if not unit:
        return series.notna().to_numpy(dtype=bool)
    return series.str.startswith(unit).fillna(False).to_numpy(dtype=bool)


def drawn_parent(code: str) -> str:
    """The unit whose children a map draws for ``code``: a building is drawn among its grid's."""
    return ancestor(code, "grid") if level_of(code) == "building" else code


def below(level: str) -> str | None:
    """The level below ``level``, or ``None`` below a building (never raises)."""
    i = LEVELS.index(level)
    return LEVELS[i + 1] if i + 1 < len(LEVELS) else None


def serials_at(codes: Any, level: str) -> np.ndarray:
    """Vectorised :func:`serial_of` for codes of ``level``: the digits after the parent's.

    Parameters
    ----------
    codes
        Codes of ``level`` (text; malformed or missing ones give what their
        digits past the parent's width are, or ``None``).
    level
        Their level (not ``district``).
    """
    series = pd.Series(np.asarray(codes, dtype=object), dtype="string")
    cut = series.str.slice(WIDTHS[parent_level(level)])
    return cut.astype(object).where(cut.notna(), None).to_numpy(dtype=object)

"""Checks of parsed values that go beyond one cell: unit codes and keys.

Codes must be well formed, of the level their column names, and extend the
parent's code; keys must be unique in the file and new to the store. Each
check notes its problems on a :class:`~gridmap.io.problems.Problems` and goes
on, so one pass reports every bad row.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from gridmap.codes import ancestors_at, check_code, parent_level, parent_of, width_of
from gridmap.errors import CodeError
from gridmap.io.problems import Problems
from gridmap.schema import LEVELS, Layer

__all__ = ["check_codes", "check_keys"]

# Columns naming a unit of a known level; other layers' codes are checked against it.
_CODE_LEVELS = {f"{level}_code": level for level in LEVELS}
# Party organisations sit on the unit they organise.
_PARTY_UNIT_LEVELS = {
    "grid_branch": ("grid",),
    "building_group": ("building",),
    "central_household": ("grid", "building"),
}
# What a spreadsheet writes for a long code it took as a number (4.31002E+16).
_SCIENTIFIC = re.compile(r"[0-9.]+[eE][+-]?[0-9]+")


def check_codes(
    values: dict[str, list], lay: Layer, sources: Mapping[str, str], problems: Problems
) -> None:
    """Check unit codes: the layer's own level and parent, and other layers' codes named here.

    Parameters
    ----------
    values
        The parsed columns (schema name -> values, ``None`` where empty).
    lay
        The layer the values belong to.
    sources
        Schema name -> the file's column name, for columns the file names otherwise.
    problems
        Where each bad code is noted.

    Notes
    -----
    A level layer's ``code`` must be of its level and start with its parent
    column's code. Elsewhere each ``<level>_code`` column must hold codes of
    that level, a party organisation's ``unit_code`` a grid or building code
    by its kind, and a ``building_code`` must lie in the row's ``grid_code``.
    """

    def check(column: str, levels_of_row: Callable[[int], tuple[str, ...] | None]) -> list[bool]:
        ok = []
        for i, code in enumerate(values[column]):
            problem = None if code is None else _code_problem(code, levels_of_row(i))
            if problem is not None:
                problems.add(i + 1, sources.get(column, column), *problem)
            ok.append(code is not None and problem is None)
        return ok

    if lay.level is not None:
        own = check("code", lambda i: (lay.level,))
        if lay.parent is None:
            return
        level = parent_level(lay.level)
        parents = check(lay.parent, lambda i: (level,))
        for i, (code, parent) in enumerate(zip(values["code"], values[lay.parent], strict=True)):
            # Both codes passed their checks, so the code has a parent of that level.
            if own[i] and parents[i] and parent_of(code) != parent:
                problems.add(
                    i + 1,
                    sources.get(lay.parent, lay.parent),
                    f"'{parent}' is not the {level} of code '{code}'",
                    f"a code starts with its parent's code: '{code}' belongs under "
                    f"'{parent_of(code)}'",
                )
        return

    for column in lay.column_names:
        if column in _CODE_LEVELS:
            check(column, lambda i, column=column: (_CODE_LEVELS[column],))
    if "unit_code" in values:
        # A party organisation's unit is a grid or a building, by its kind.
        kinds = values.get("kind", [None] * len(values["unit_code"]))
        check("unit_code", lambda i: _PARTY_UNIT_LEVELS.get(kinds[i] or ""))
    if "grid_code" in values and "building_code" in values:
        # Cut without raising: a malformed building code (already reported)
        # is compared as it is, as the grid check has always done.
        building_grids = ancestors_at(values["building_code"], "grid")
        for i, (grid, building) in enumerate(
            zip(values["grid_code"], values["building_code"], strict=True)
        ):
            if grid and building and building_grids[i] != grid:
                problems.add(
                    i + 1,
                    sources.get("building_code", "building_code"),
                    f"building '{building}' is not in grid '{grid}'",
                    "a building's code starts with its grid's code",
                )


def _code_problem(code: str, levels: tuple[str, ...] | None) -> tuple[str, str | None] | None:
    """What is wrong with a code (of one of ``levels``, if given), or ``None``."""
    try:
        found = check_code(code)
    except CodeError as exc:
        if _SCIENTIFIC.fullmatch(code):
            return exc.what, "a spreadsheet made the code a number: format the column as Text"
        return exc.what, exc.hint
    if levels and found not in levels:
        return (
            f"code '{code}' is a {found} code ({len(code)} digits), "
            f"expected a {' or '.join(levels)} code",
            ", ".join(f"a {lv} code has {width_of(lv)} digits" for lv in levels),
        )
    return None


def check_keys(keys: list, source: str, existing: set[str] | None, problems: Problems) -> None:
    """Note keys that repeat an earlier row of the file or one already in the store.

    Parameters
    ----------
    keys
        The layer's key column, parsed (``None`` where empty: reported elsewhere).
    source
        The key column's name in the file.
    existing
        Keys already in the store, if rows are added to it.
    problems
        Where each repeated key is noted.
    """
    first: dict[str, int] = {}
    for i, key in enumerate(keys):
        if key is None:
            continue
        if key in first:
            problems.add(
                i + 1,
                source,
                f"{source} '{key}' repeats row {first[key]}",
                "each row needs its own key",
            )
            continue
        first[key] = i + 1
        if existing is not None and key in existing:
            problems.add(
                i + 1,
                source,
                f"{source} '{key}' is already in the store",
                "give it a new key, or replace the layer instead of adding to it",
            )

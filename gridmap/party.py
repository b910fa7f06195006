"""Party-organisation coverage (党建引领, docs/domain.md#party-organisations).

The party network mirrors the hierarchy: a grid party branch (网格党支部) per
grid, a building party group (楼栋党小组) per residential building and
party-member central households (党员中心户). Coverage is measured per unit:

=================================  =====================================================
measure                            meaning
=================================  =====================================================
``grids``                          grids under the unit
``grids_with_branch``              of them, grids with a ``grid_branch`` whose
                                   ``unit_code`` is the grid
``branch_share``                   ``grids_with_branch / grids`` (0–1)
``branches``                       ``grid_branch`` organisations under the unit
``residential_buildings``          buildings under the unit whose use is residential
``buildings_with_group``           of them, buildings with a ``building_group``
``group_share``                    ``buildings_with_group / residential_buildings``
``building_groups``                ``building_group`` organisations under the unit
``central_households``             ``central_household`` organisations under the unit
``central_households_per_grid``    ``central_households / grids``
``members``                        party members of the grid branches under the unit
                                   (a grid branch's members are its grid's members)
``households``                     households of the buildings under the unit (of the
                                   grids when the store has no buildings)
``members_per_100_households``     ``100 * members / households``
``subdistricts``                   subdistricts (district and whole store only)
``branches_per_subdistrict``       ``branches / subdistricts`` (likewise)
=================================  =====================================================

A row belongs to a unit by code prefix: a grid, building or party organisation
is under unit ``431002001`` if its (unit) code starts with ``431002001``.
Ratios are ``None`` (NaN in tables) when their denominator is 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from gridmap.codes import ancestors_at, level_of, under, width_of
from gridmap.errors import CodeError
from gridmap.schema import LEVEL_LAYERS

__all__ = [
    "coverage_from_counts",
    "RESIDENTIAL_USES",
    "MEASURES",
    "party_coverage",
    "party_coverage_table",
    "check_unit",
]

#: Building uses counted as residential for building-group coverage. Mixed
#: (商住) buildings are left out: docs/domain.md#party-organisations counts residential buildings.
RESIDENTIAL_USES: tuple[str, ...] = ("residential",)

#: The measures, in the order of dicts and table columns.
MEASURES: tuple[str, ...] = (
    "grids",
    "grids_with_branch",
    "branch_share",
    "branches",
    "residential_buildings",
    "buildings_with_group",
    "group_share",
    "building_groups",
    "central_households",
    "central_households_per_grid",
    "members",
    "households",
    "members_per_100_households",
)
_DISTRICT_MEASURES = ("subdistricts", "branches_per_subdistrict")
_RATIOS = {
    "branch_share",
    "group_share",
    "central_households_per_grid",
    "members_per_100_households",
    "branches_per_subdistrict",
}


def party_coverage(layers: Mapping[str, pd.DataFrame], code: str | None = None) -> dict[str, Any]:
    """Party-organisation coverage of one unit.

    Parameters
    ----------
    layers
        Layers by name; uses ``grids``, ``buildings``, ``party_orgs`` and
        ``subdistricts`` where present (a missing layer counts as empty).
    code
        The unit's code, of any level; ``None`` for the whole store.

    Returns
    -------
    dict
        The measures of the module docstring, as Python numbers; ratios are
        ``None`` when their denominator is 0. ``subdistricts`` and
        ``branches_per_subdistrict`` are included for a district and for the
        whole store.

    Raises
    ------
    gridmap.errors.CodeError
        If the code is malformed or no unit has it.
    """
    if code is not None:
        check_unit(layers, code)
    prefix = code or ""
    with_district = code is None or level_of(code) == "district"
    # Cutting every code to the unit's own level groups everything under it
    # into one row: the same counting as the per-level table.
    table = _ratios(_coverage(layers, level_of(code) if code else None, prefix), with_district)
    names = MEASURES + (_DISTRICT_MEASURES if with_district else ())
    # Column by column: a row of a mixed table would turn the counts into floats.
    return {name: _py(table[name].iloc[0]) for name in names}


def coverage_from_counts(counts: pd.DataFrame, *, with_district: bool) -> dict[str, Any]:
    """The coverage measures of one unit from its counts (one row, e.g. a store's unit totals).

    Parameters
    ----------
    counts
        One row with the count columns (``grids``, ``grids_with_branch``,
        ``branches``, ``residential_buildings``, ``buildings_with_group``,
        ``building_groups``, ``central_households``, ``members``,
        ``households``, ``subdistricts``).
    with_district
        Include the district measures.
    """
    columns = [c for c in (*MEASURES, *_DISTRICT_MEASURES) if c not in _RATIOS]
    table = _ratios(counts[columns].astype({"members": float}), with_district)
    names = MEASURES + (_DISTRICT_MEASURES if with_district else ())
    return {name: _py(table[name].iloc[0]) for name in names}


def party_coverage_table(layers: Mapping[str, pd.DataFrame], level: str) -> pd.DataFrame:
    """Party-organisation coverage of every unit of a level.

    Parameters
    ----------
    layers
        Layers by name; must hold the layer of ``level``.
    level
        ``district``, ``subdistrict``, ``community`` or ``grid``.

    Returns
    -------
    pandas.DataFrame
        One row per unit of ``level`` (units without any grid or party
        organisation included, with zero counts), indexed by ``code``, with
        ``name`` and the measures as columns. Ratios are NaN when their
        denominator is 0.
    """
    if level not in ("district", "subdistrict", "community", "grid"):
        raise ValueError(
            f"party coverage is by district, subdistrict, community or grid, not {level!r}"
        )
    units = layers.get(LEVEL_LAYERS[level])
    if units is None:
        raise CodeError(f"the store has no {LEVEL_LAYERS[level]} layer", "import it first")
    codes = pd.Index(units["code"].astype("str"), name="code")
    counts = _coverage(layers, level, "").reindex(codes, fill_value=0)
    with_district = level == "district"
    table = _ratios(counts, with_district)
    table.insert(0, "name", units["name"].to_numpy() if "name" in units else None)
    return table[["name", *MEASURES, *(_DISTRICT_MEASURES if with_district else ())]]


def check_unit(layers: Mapping[str, pd.DataFrame], code: str) -> pd.Series:
    """The row of unit ``code``, or a :class:`~gridmap.errors.CodeError`.

    Parameters
    ----------
    layers
        Layers by name.
    code
        A unit code of any level.

    Raises
    ------
    gridmap.errors.CodeError
        If the code is malformed, its level's layer is missing or no unit has it.
    """
    from gridmap.hierarchy import unit_row

    level = level_of(code)
    if LEVEL_LAYERS[level] not in layers:
        raise CodeError(
            f"no {level} has the code '{code}': the store has no {LEVEL_LAYERS[level]} layer",
            f"import the {LEVEL_LAYERS[level]} first",
        )
    return unit_row(layers, code)  # type: ignore[arg-type]


# -- the counting --------------------------------------------------------------


def _under(layers: Mapping[str, pd.DataFrame], name: str, column: str, prefix: str) -> pd.DataFrame:
    """Rows of a layer whose ``column`` starts with ``prefix`` (empty if the layer is missing)."""
    frame = layers.get(name)
    if frame is None or column not in frame or not len(frame):
        return pd.DataFrame({column: pd.Series(dtype="str")})
    return frame[under(frame[column], prefix)]


def _key(codes: pd.Series, level: str | None) -> pd.Series:
    """The code of the unit of ``level`` each row counts for (``""``: one unit, everything)."""
    if level is None:
        return pd.Series("", index=codes.index)
    return pd.Series(ancestors_at(codes, level), index=codes.index)


def _num(frame: pd.DataFrame, column: str) -> pd.Series:
    """A count column as floats, missing values as 0 (a blank is no one)."""
    if column not in frame:
        return pd.Series(0.0, index=frame.index)
    return pd.to_numeric(frame[column], errors="coerce").fillna(0.0).astype(float)


def _coverage(layers: Mapping[str, pd.DataFrame], level: str | None, prefix: str) -> pd.DataFrame:
    """Counts per unit of ``level`` (``None``: all as one) of everything under ``prefix``."""
    grids = _under(layers, "grids", "code", prefix)
    buildings = _under(layers, "buildings", "code", prefix)
    orgs = _under(layers, "party_orgs", "unit_code", prefix)
    # A unit code shorter than the key (a grid branch, in a table by building)
    # does not count for any unit of that width.
    width = 0 if level is None else width_of(level)
    orgs = orgs[orgs["unit_code"].astype("str").str.len().to_numpy() >= width]
    kind = orgs["kind"].astype("str") if "kind" in orgs else pd.Series("", index=orgs.index)
    branches = orgs[(kind == "grid_branch").to_numpy()]
    groups = orgs[(kind == "building_group").to_numpy()]
    central = orgs[(kind == "central_household").to_numpy()]

    parts: dict[str, pd.Series] = {}
    gcodes = grids["code"].astype("str")
    gkey = _key(gcodes, level)
    parts["grids"] = gkey.value_counts()
    has_branch = gcodes.isin(set(branches["unit_code"].astype("str")))
    parts["grids_with_branch"] = has_branch.groupby(gkey).sum()
    parts["branches"] = _key(branches["unit_code"], level).value_counts()

    bcodes = buildings["code"].astype("str")
    bkey = _key(bcodes, level)
    if "use" in buildings:
        residential = buildings["use"].astype("str").isin(RESIDENTIAL_USES)
    else:
        residential = pd.Series(False, index=bcodes.index)
    has_group = bcodes.isin(set(groups["unit_code"].astype("str"))) & residential
    parts["residential_buildings"] = residential.groupby(bkey).sum()
    parts["buildings_with_group"] = has_group.groupby(bkey).sum()
    parts["building_groups"] = _key(groups["unit_code"], level).value_counts()
    parts["central_households"] = _key(central["unit_code"], level).value_counts()
    parts["members"] = _num(branches, "members").groupby(_key(branches["unit_code"], level)).sum()
    # Households are counted in buildings; a store without buildings falls
    # back on the grids' own figures.
    if len(bcodes):
        parts["households"] = _num(buildings, "households").groupby(bkey).sum()
    else:
        parts["households"] = _num(grids, "households").groupby(gkey).sum()
    subs = _under(layers, "subdistricts", "code", prefix)
    parts["subdistricts"] = _key(subs["code"], level).value_counts()

    table = pd.DataFrame(parts).fillna(0)
    table.index = table.index.astype("str")
    if not len(table) and width == len(prefix):
        # A unit with nothing under it still gets its row of zeros.
        table = pd.DataFrame(0, index=pd.Index([prefix], dtype="str"), columns=list(parts))
    return table.astype({c: "int64" for c in table.columns if c != "members"})


def _ratios(counts: pd.DataFrame, with_district: bool) -> pd.DataFrame:
    """Add the ratio measures to a table of counts (NaN where a denominator is 0)."""
    out = counts.copy()

    def div(a: str, b: str, scale: float = 1.0) -> pd.Series:
        den = out[b].astype(float)
        return (scale * out[a].astype(float) / den.where(den > 0)).astype(float)

    out["branch_share"] = div("grids_with_branch", "grids")
    out["group_share"] = div("buildings_with_group", "residential_buildings")
    out["central_households_per_grid"] = div("central_households", "grids")
    out["members_per_100_households"] = div("members", "households", 100.0)
    if with_district:
        out["branches_per_subdistrict"] = div("branches", "subdistricts")
    # Members are whole people even though they were summed as floats.
    out["members"] = out["members"].round().astype("int64")
    return out


def _py(value: Any) -> Any:
    """A numpy/pandas scalar as a plain Python number (NaN as None)."""
    if value is None or (isinstance(value, float | np.floating) and np.isnan(value)):
        return None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value

"""The demo's party organisations: grid branches, building groups, central households.

Branches are founded in the most populous grids, groups in the largest
residential blocks, and a few party-member central households in each grid
with a branch (docs/domain.md#party-organisations).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from gridmap.codes import serial_of
from gridmap.demo.buildings import Buildings
from gridmap.demo.layout import Layout

__all__ = ["party_table"]


def party_table(
    lay: Layout,
    bld: Buildings,
    grid_pop: np.ndarray,
    *,
    branches: int,
    groups: int,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Grid party branches, building party groups and party-member central households.

    Parameters
    ----------
    lay
        The unit layout.
    bld
        The buildings.
    grid_pop
        Residents of each grid.
    branches, groups
        How many grid branches and building groups to found (at most one per
        grid with residents and per residential building).
    rng
        The random generator.

    Returns
    -------
    pandas.DataFrame
        ``id`` (``P000001`` …), ``kind``, ``unit_code`` (the grid of a branch,
        the building of a group or a central household), ``name``, ``members``
        and the point (metres).
    """
    grids = lay.grids
    gcode = grids["code"].to_numpy(dtype=object)
    gname = grids["name"].to_numpy(dtype=object)
    n_grids = len(grids)
    rows: list[tuple[str, str, str, int, float, float]] = []

    # Grid branches: in the grids with most people first (Gumbel top-k draws
    # a weighted sample without replacement).
    has_people = np.flatnonzero(grid_pop > 0)
    key = np.log(grid_pop[has_people] + 1.0) + rng.gumbel(size=len(has_people))
    branch_grids = np.sort(has_people[np.argsort(-key)[: min(branches, len(has_people))]])
    geoms = grids["geometry"].to_numpy()
    bpoint = shapely.get_coordinates(shapely.point_on_surface(geoms[branch_grids]))
    members = np.clip(
        np.round(grid_pop[branch_grids] * rng.uniform(0.03, 0.07, len(branch_grids))), 10, 60
    )
    for g, (x, y), m in zip(branch_grids, bpoint, members, strict=True):
        rows.append(("grid_branch", gcode[g], f"{gname[g]}党支部", int(m), x, y))

    # Building groups: in the big residential blocks.
    res = np.flatnonzero(bld.households > 0)
    key = np.log(bld.households[res].astype(float)) * 1.5 + rng.gumbel(size=len(res))
    group_b = np.sort(res[np.argsort(-key)[: min(groups, len(res))]])
    cen = shapely.get_coordinates(shapely.centroid(bld.geometry))
    gm = np.clip(np.round(bld.households[group_b] * rng.uniform(0.04, 0.1, len(group_b))), 3, 15)
    for i, m in zip(group_b, gm, strict=True):
        serial = int(serial_of(bld.code[i]))
        rows.append(
            (
                "building_group",
                bld.code[i],
                f"{gname[bld.grid[i]]}{serial}栋党小组",
                int(m),
                *cen[i],
            )
        )

    # Central households: a few per grid with a branch, inside a residential building.
    first = np.searchsorted(bld.grid, np.arange(n_grids + 1))
    corners = shapely.get_coordinates(bld.geometry).reshape(-1, 5, 2)
    for g in branch_grids:
        mine = np.arange(first[g], first[g + 1])
        mine = mine[bld.households[mine] > 0]
        if len(mine) == 0:
            continue
        k = min(int(rng.integers(1, 5)), len(mine))
        for n, i in enumerate(rng.choice(mine, k, replace=False), start=1):
            # Halfway from the centroid to a corner: inside the footprint.
            x, y = (cen[i] + corners[i, rng.integers(0, 4)]) / 2
            rows.append(
                (
                    "central_household",
                    bld.code[i],
                    f"{gname[g]}党员中心户{n}号",
                    int(rng.integers(1, 4)),
                    x,
                    y,
                )
            )

    frame = pd.DataFrame(rows, columns=["kind", "unit_code", "name", "members", "x", "y"])
    frame.insert(0, "id", [f"P{i + 1:06d}" for i in range(len(frame))])
    frame["geometry"] = shapely.points(frame["x"].to_numpy(), frame["y"].to_numpy())
    return frame.drop(columns=["x", "y"])

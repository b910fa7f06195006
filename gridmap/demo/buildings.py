"""Synthetic buildings for the demo: footprints along the streets, and who lives there.

Footprints are rectangles set back from a street segment on the inside of an
atom's face, so each lies inside one grid and within a few tens of metres of
the network. Urban grids get apartment blocks sized to reach the grid's
household target (:func:`household_targets`); villages get one- to
three-storey houses in a few hamlets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from gridmap.codes import make_code
from gridmap.demo.layout import Layout

__all__ = [
    "MAX_BLOCK_HOUSEHOLDS",
    "MAX_PER_GRID",
    "URBAN_HOUSEHOLD_SIZE",
    "RURAL_HOUSEHOLD_SIZE",
    "Buildings",
    "household_targets",
    "build_buildings",
]

#: Largest number of households one urban block can hold (33 floors x 8).
MAX_BLOCK_HOUSEHOLDS = 264
#: Most buildings a grid can number (building serials are three digits).
MAX_PER_GRID = 999
#: Mean residents per household in town and in villages.
URBAN_HOUSEHOLD_SIZE = 2.65
RURAL_HOUSEHOLD_SIZE = 3.1


@dataclass
class Buildings:
    """The buildings (all arrays aligned; geometry in metres)."""

    geometry: np.ndarray  # Polygon
    grid: np.ndarray  # grid index
    use: np.ndarray  # str
    floors: np.ndarray
    households: np.ndarray
    population: np.ndarray
    elderly: np.ndarray
    children: np.ndarray
    code: np.ndarray  # str, 17 digits


def household_targets(
    urban: np.ndarray, *, population: int, village_population: int, rng: np.random.Generator
) -> np.ndarray:
    """Households each grid should hold: villages by size, urban grids the rest (200–500).

    Parameters
    ----------
    urban
        Whether each grid is urban (``Layout.grids`` order).
    population
        Residents of the whole district.
    village_population
        Mean residents of a village.
    rng
        The random generator.

    Returns
    -------
    numpy.ndarray
        The household target of each grid.
    """
    n = len(urban)
    village = village_population * rng.lognormal(-0.045, 0.3, n) / RURAL_HOUSEHOLD_SIZE
    village = np.clip(np.round(village), 40, 1_100)
    rural_pop = village[~urban].sum() * RURAL_HOUSEHOLD_SIZE
    n_urban = max(int(urban.sum()), 1)
    # Urban grids share what the villages leave, within the 200-500 of practice.
    mean = (population - rural_pop) / URBAN_HOUSEHOLD_SIZE / n_urban
    mean = float(np.clip(mean, 240, 440))
    # A normal spread truncated to 210-490 by redrawing (clipping would pile
    # grids up at the limits).
    town = rng.normal(mean, 0.17 * mean, n)
    for _ in range(20):
        bad = (town < 210) | (town > 490)
        if not bad.any():
            break
        town[bad] = rng.normal(mean, 0.17 * mean, int(bad.sum()))
    town = np.clip(np.round(town), 210, 490)
    return np.where(urban, town, village).astype(int)


def _slots(lay: Layout, urban_grid: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Candidate footprints along every street segment of the kept network."""
    at = lay.atoms
    on_net = at.seg_road >= 0
    on_net[on_net] = at.road_network[at.seg_road[on_net]]
    seg = at.seg_xy[on_net]
    face = at.seg_face[on_net]
    grid = lay.atom_grid[at.face_atom[face]]
    urban = urban_grid[grid]
    p, q = seg[:, :2], seg[:, 2:]
    length = np.hypot(*(q - p).T)
    u = (q - p) / length[:, None]
    normal = np.column_stack([-u[:, 1], u[:, 0]])  # the face's inside (rings are oriented)
    pitch = np.where(urban, 42.0, 24.0)
    margin = np.where(urban, 10.0, 10.0)
    n = np.floor((length - 2 * margin) / pitch).clip(0).astype(int)
    s = np.repeat(np.arange(len(seg)), n)
    k = np.arange(len(s)) - np.repeat(np.cumsum(n) - n, n)
    t = margin[s] + (length[s] - 2 * margin[s] - n[s] * pitch[s]) / 2 + (k + 0.5) * pitch[s]
    ub = urban[s]
    m = len(s)
    width = np.where(ub, rng.uniform(18, 34, m), rng.uniform(8, 14, m))
    depth = np.where(ub, rng.uniform(12, 22, m), rng.uniform(8, 12, m))
    setback = np.where(ub, rng.uniform(10, 24, m), rng.uniform(8, 18, m))
    centre = p[s] + u[s] * t[:, None] + normal[s] * (setback + depth / 2)[:, None]
    du = u[s] * (width / 2)[:, None]
    dn = normal[s] * (depth / 2)[:, None]
    ring = np.stack([centre - du - dn, centre + du - dn, centre + du + dn, centre - du + dn], 1)
    return {
        "geometry": shapely.polygons(np.concatenate([ring, ring[:, :1]], axis=1)),
        "face": face[s],
        "grid": grid[s],
        "urban": ub,
        "x": centre[:, 0],
        "y": centre[:, 1],
    }


def _priority(slots: dict[str, np.ndarray], n_grids: int, rng: np.random.Generator) -> np.ndarray:
    """Order of preference of the slots (lower first).

    Urban slots are taken at random; village houses gather round a few hamlet
    centres (自然村) instead of spreading thinly along every lane.
    """
    prio = rng.random(len(slots["x"]))
    rural = np.flatnonzero(~slots["urban"])
    if len(rural) == 0:
        return prio
    grid = slots["grid"][rural]
    hamlets = 4
    # Hamlet centres: the first few slots of each grid in a random order.
    order = np.lexsort((rng.random(len(rural)), grid))
    rank = np.arange(len(order)) - np.searchsorted(grid[order], grid[order])
    chosen = order[rank < hamlets]
    cx = np.full((n_grids, hamlets), np.nan)
    cy = np.full((n_grids, hamlets), np.nan)
    cx[grid[chosen], rank[rank < hamlets]] = slots["x"][rural][chosen]
    cy[grid[chosen], rank[rank < hamlets]] = slots["y"][rural][chosen]
    d = np.hypot(slots["x"][rural][:, None] - cx[grid], slots["y"][rural][:, None] - cy[grid])
    prio[rural] = np.nanmin(d, axis=1) * rng.uniform(0.8, 1.2, len(rural))
    return prio


def _valid(slots: dict[str, np.ndarray], faces: np.ndarray, pick: np.ndarray) -> np.ndarray:
    """Which picked slots (in priority order) lie inside their face, overlapping no earlier one."""
    geoms = slots["geometry"][pick]
    shapely.prepare(faces)
    inside = shapely.contains_properly(faces[slots["face"][pick]], geoms)
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="intersects")
    later = a > b  # a overlaps an earlier pick: drop a
    bad = np.zeros(len(pick), bool)
    bad[a[later]] = True
    return inside & ~bad


def build_buildings(
    lay: Layout,
    households: np.ndarray,
    rng: np.random.Generator,
) -> Buildings:
    """Buildings for every grid, holding about ``households`` households per grid.

    Parameters
    ----------
    lay
        The unit layout (metres).
    households
        Household target of each grid (``lay.grids`` order), e.g. from
        :func:`household_targets`.
    rng
        The random generator.

    Returns
    -------
    Buildings
        Sorted by code: within a grid, numbered north to south in 80 m rows,
        west to east in a row.
    """
    grids = lay.grids
    n_grids = len(grids)
    urban_grid = grids["urban"].to_numpy(bool)
    slots = _slots(lay, urban_grid, rng)
    prio = _priority(slots, n_grids, rng)

    # Keep, per grid, only the best slots it could use (urban grids: at most
    # one block per 12 households; villages: a house per 1.2 households and a
    # few more), with room for the ones the check below drops; check those.
    order = np.lexsort((prio, slots["grid"]))
    g_sorted = slots["grid"][order]
    rank = np.arange(len(order)) - np.searchsorted(g_sorted, g_sorted)
    need = np.where(urban_grid, households / 12 + 10, households / 1.2 + 30)
    need = np.minimum(np.ceil(need * 2), MAX_PER_GRID * 2).astype(int)
    pick = order[rank < need[g_sorted]]
    ok = _valid(slots, lay.atoms.faces, pick)
    pick = pick[ok]
    g_pick = slots["grid"][pick]
    first = np.searchsorted(g_pick, np.arange(n_grids + 1))

    chosen: list[np.ndarray] = []
    uses: list[np.ndarray] = []
    hh_parts: list[np.ndarray] = []
    floor_parts: list[np.ndarray] = []
    for g in range(n_grids):
        avail = pick[first[g] : first[g + 1]]
        if urban_grid[g]:
            idx, use, hh, fl = _urban_grid(len(avail), int(households[g]), rng)
        else:
            idx, use, hh, fl = _village_grid(len(avail), int(households[g]), rng)
        chosen.append(avail[idx])
        uses.append(use)
        hh_parts.append(hh)
        floor_parts.append(fl)
    sel = np.concatenate(chosen)
    use = np.concatenate(uses)
    hh = np.concatenate(hh_parts)
    floors = np.concatenate(floor_parts)
    grid = slots["grid"][sel]
    urban = urban_grid[grid]

    n = len(sel)
    size = np.where(urban, rng.uniform(2.35, 2.95, n), rng.uniform(2.7, 3.5, n))
    pop = np.where(hh > 0, np.maximum(hh, np.round(hh * size)), 0).astype(np.int64)
    elderly = rng.binomial(pop, np.where(urban, 0.165, 0.26))
    children = rng.binomial(pop - elderly, 0.06 / (1 - np.where(urban, 0.165, 0.26)))

    # Number the buildings of each grid north to south in 80 m rows, west to east.
    geoms = slots["geometry"][sel]
    x, y = slots["x"][sel], slots["y"][sel]
    north = shapely.bounds(grids["geometry"].to_numpy())[:, 3]
    row = np.floor((north[grid] - y) / 80.0)
    order = np.lexsort((x, row, grid))
    serial = np.empty(n, int)
    serial[order] = np.arange(n) - np.searchsorted(grid[order], grid[order]) + 1
    grid_codes = grids["code"].to_numpy(dtype=object)
    codes = np.array(
        [make_code(grid_codes[g], int(k)) for g, k in zip(grid, serial, strict=True)], dtype=object
    )
    return Buildings(
        geometry=geoms[order],
        grid=grid[order],
        use=use[order],
        floors=floors[order],
        households=hh[order],
        population=pop[order],
        elderly=elderly[order],
        children=children[order],
        code=codes[order],
    )


def _urban_grid(
    n_avail: int, target: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pick slots and size blocks so an urban grid holds ``target`` households.

    Most of the grid's frontage is built up (blocks look full); the target is
    split unevenly over the blocks, so small ones are walk-ups of 6-7 floors
    and big ones towers of up to 33.

    Returns
    -------
    idx, use, households, floors
        Positions into the grid's available slots (in preference order) and
        each building's attributes.
    """
    if n_avail == 0:
        return (np.zeros(0, int), np.zeros(0, object), np.zeros(0, int), np.zeros(0, int))
    n_nonres = min(int(rng.poisson(1.5)), max(n_avail - 2, 0))
    room = n_avail - n_nonres
    # At least enough blocks to hold the target, at most one per 12 households
    # (a 6-floor walk-up of one stairwell, 2 flats a landing).
    least = -(-target // MAX_BLOCK_HOUSEHOLDS)
    n_res = int(np.rint(room * rng.uniform(0.55, 1.0)))
    n_res = max(min(n_res, target // 12, room), min(least, room), 1)
    # Every block gets a base of 10 flats (less only if the target is tiny),
    # the rest is shared unevenly.
    base = min(10, target // n_res)
    share = rng.gamma(1.5, size=n_res)
    hh = base + np.floor((target - base * n_res) * share / share.sum()).astype(int)
    hh[np.argmax(share)] += target - hh.sum()
    for _ in range(10):  # move any excess over the tallest block to the others
        over = np.maximum(hh - MAX_BLOCK_HOUSEHOLDS, 0).sum()
        if over == 0:
            break
        hh = np.minimum(hh, MAX_BLOCK_HOUSEHOLDS)
        low = np.argsort(hh, kind="stable")[: max(1, n_res // 2)]
        hh[low] += over // len(low)
        hh[low[: over % len(low)]] += 1
    hh = np.maximum(np.minimum(hh, MAX_BLOCK_HOUSEHOLDS), 1)
    # Flats per floor (2-4 a landing, 1-2 stairwells or lifts), chosen so the
    # floor count falls within 6-33 where it can.
    per = np.array([2, 4, 6, 8])
    fits = (hh[:, None] <= per[None] * 33) & (hh[:, None] >= per[None] * 6)
    fits[~fits.any(axis=1), 0] = True
    pick = np.argmax(fits * rng.random(fits.shape), axis=1)
    res_floors = np.clip(np.ceil(hh / per[pick]), 6, 33).astype(int)
    kinds = rng.choice(["commercial", "public", "industrial"], n_nonres, p=[0.55, 0.35, 0.10])
    non_floors = np.where(
        kinds == "industrial", rng.integers(1, 4, n_nonres), rng.integers(2, 7, n_nonres)
    )
    res_use = np.where(rng.random(n_res) < 0.1, "mixed", "residential")
    # Non-residential buildings take random places among the grid's slots.
    spots = rng.permutation(n_res + n_nonres)
    idx = np.concatenate([np.sort(spots[:n_res]), np.sort(spots[n_res:])])
    use = np.concatenate([res_use, kinds]).astype(object)
    hh_all = np.concatenate([hh, np.zeros(n_nonres, int)])
    fl = np.concatenate([res_floors, non_floors])
    return idx, use, hh_all, fl


def _village_grid(
    n_avail: int, target: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pick slots for a village's houses (1-2 households each) and a few other buildings."""
    n_nonres = min(int(rng.poisson(2.0)) + 1, max(n_avail // 10, 0))
    room = min(n_avail - n_nonres, MAX_PER_GRID - n_nonres)
    houses = min(max(int(np.rint(target / 1.25)), 1), room)
    if houses <= 0:
        return (np.zeros(0, int), np.zeros(0, object), np.zeros(0, int), np.zeros(0, int))
    twos = int(np.clip(target - houses, 0, houses))
    hh = np.ones(houses, int)
    hh[rng.permutation(houses)[:twos]] = 2
    floors = rng.choice([1, 2, 3], houses, p=[0.25, 0.5, 0.25])
    kinds = rng.choice(["public", "commercial", "industrial"], n_nonres, p=[0.4, 0.35, 0.25])
    kinds[:1] = "public"  # the village committee (村委会)
    idx = np.arange(houses + n_nonres)
    use = np.concatenate([np.full(houses, "residential"), kinds]).astype(object)
    hh_all = np.concatenate([hh, np.zeros(n_nonres, int)])
    fl = np.concatenate([floors, rng.integers(1, 3, n_nonres)])
    return idx, use, hh_all, fl

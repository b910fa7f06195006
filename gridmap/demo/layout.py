"""The demo's unit partition: subdistricts, communities and grids made of atoms.

Two passes. The first places seeds by distance from the city centre only and
clusters them into subdistricts with a capacity per subdistrict (its urban
communities need many small atoms, its villages fewer large ones); a
subdistrict away from the centre (a town) gets its own seat. The second pass
places the final seeds with the seats as extra dense centres, builds the
atoms and gives every atom its subdistrict (from the first pass's power
diagram), community and grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridmap.codes import make_code, serial_of
from gridmap.demo.atoms import (
    QUADTREE_LEVELS,
    Atoms,
    Peaks,
    build_atoms,
    quadtree_seeds,
    union_faces,
)
from gridmap.demo.clustering import balanced_kmeans, farthest_points, fill_empty, fix_contiguity
from gridmap.hierarchy import grid_serials

__all__ = [
    "ATOMS_PER_GRID",
    "S_MIN",
    "SEAT_DECAY",
    "Layout",
    "short_name",
    "is_urban",
    "build_layout",
]

#: Atoms per urban grid the seed spacing is tuned for.
ATOMS_PER_GRID = 2.5
#: Seed spacing in the urban core, metres.
S_MIN = 160.0
#: How fast a town seat thins out (metres for a factor e² in spacing).
SEAT_DECAY = 500.0


@dataclass
class Layout:
    """Atoms with their units, and the unit tables (all in metres)."""

    atoms: Atoms
    peaks: Peaks
    atom_sub: np.ndarray  # index into subdistricts
    atom_comm: np.ndarray  # index into communities
    atom_grid: np.ndarray  # index into grids
    rural_atom: np.ndarray  # bool: a sparse (rural-size) atom
    subdistricts: pd.DataFrame  # code, name, geometry, seat_x, seat_y
    communities: pd.DataFrame  # code, name, short, sub, urban, geometry
    grids: pd.DataFrame  # code, name, comm, sub, urban, geometry (atom_grid order)


def short_name(name: str) -> str:
    """A community's everyday name: 中区社区居委会 → 中区社区, 新农村委会 → 新农村."""
    for long, short in (
        ("社区居民委员会", "社区"),
        ("社区居委会", "社区"),
        ("村民委员会", "村"),
        ("村委会", "村"),
        ("居委会", "社区"),
    ):
        if name.endswith(long):
            return name[: -len(long)] + short
    return name


def is_urban(community_code: str) -> bool:
    """Whether a community is urban (a 居委会), by its NBS code.

    The NBS codes number a subdistrict's 居委会 001-199 and its villages
    (村委会) from 200, so the serial alone tells town from country.

    Parameters
    ----------
    community_code
        A 12-digit community code.
    """
    return int(serial_of(community_code)) < 200


def build_layout(
    boundary: shapely.Geometry,
    centre: tuple[float, float],
    streets: pd.DataFrame,
    communities: pd.DataFrame,
    *,
    urban_grids: int,
    decay: float,
    rng: np.random.Generator,
) -> Layout:
    """Partition ``boundary`` into the real subdistricts and communities, and grids.

    Parameters
    ----------
    boundary
        The district, in metres.
    centre
        The urban centre, in metres.
    streets, communities
        The real subdistricts (``code``, ``name``) and communities (``code``,
        ``name``, ``street_code``), sorted by code.
    urban_grids
        How many grids the urban communities get in all.
    decay
        The distance (metres) over which seed spacing grows by a factor e²
        outside the city's dense core.
    rng
        The random generator.

    Returns
    -------
    Layout
        The atoms, the unit of each atom at every level, and the unit tables;
        grids are coded and named by the numbering rule of
        :func:`gridmap.hierarchy.grid_serials`.

    Raises
    ------
    RuntimeError
        If a subdistrict gets fewer atoms than it has communities (the seed
        spacing does not suit the district).
    """
    sub_codes = streets["code"].to_numpy(dtype=object)
    comm_sub = np.searchsorted(sub_codes, communities["street_code"].to_numpy(dtype=object))
    comm_urban = np.array([is_urban(c) for c in communities["code"]])
    n_u = np.bincount(comm_sub, comm_urban, len(sub_codes))
    n_v = np.bincount(comm_sub, ~comm_urban, len(sub_codes))
    alpha = ATOMS_PER_GRID * urban_grids / max(int(n_u.sum()), 1)
    core = n_u >= 2 * n_v
    # The city's dense core is sized to hold the core subdistricts' urban atoms.
    radius = _core_radius(boundary, centre, alpha * n_u[core].sum() * S_MIN**2)
    peaks = Peaks(
        np.array([centre[0]]),
        np.array([centre[1]]),
        np.array([S_MIN]),
        np.array([radius]),
        np.array([decay]),
    )

    # Pass 1: subdistricts on seeds spaced by the main centre only. A "core"
    # subdistrict (mostly urban communities) shares the city's dense atoms;
    # an outer one (a town, or a 街道 of villages) gets land and, if it has
    # urban communities, a seat of its own in pass 2. Each atom is worth its
    # share of the dense atoms plus its share of the land, and each
    # subdistrict asks for its share of both.
    seeds1, cell1 = quadtree_seeds(boundary, peaks, S_MIN, rng)
    urban_need = np.where(core, n_u, 0.0)
    land_need = n_v + np.where(core, 0.1, 0.5) * n_u
    score1 = peaks.score(seeds1[:, 0], seeds1[:, 1])
    order = np.argsort(score1, kind="stable")
    n_dense = min(int(np.rint(alpha * urban_need.sum())), len(seeds1) // 2)
    dense = order[:n_dense]
    weight = cell1**2 / (cell1**2).sum()
    weight[dense] += 1.0 / max(n_dense, 1)
    target = land_need / land_need.sum() + (
        urban_need / urban_need.sum() if urban_need.sum() else 0.0
    )
    init = np.zeros((len(sub_codes), 2))
    init[core] = seeds1[dense][farthest_points(seeds1[dense], int(core.sum()))]
    rest = order[n_dense:]
    init[~core] = seeds1[rest][farthest_points(seeds1[rest], int((~core).sum()), init[core])]
    lab1, c, b = balanced_kmeans(seeds1, weight, target, init)

    # Seats: an outer subdistrict's urban communities cluster around the seed
    # nearest its centre, made an extra dense centre sized for them.
    seats = np.zeros((len(sub_codes), 2))
    for j in range(len(sub_codes)):
        mine = np.flatnonzero(lab1 == j)
        if core[j]:
            seats[j] = seeds1[mine[np.argmin(score1[mine])]]
            continue
        d = np.hypot(*(seeds1[mine] - c[j]).T)
        seats[j] = seeds1[mine[np.argmin(d)]]
        if n_u[j] > 0:
            s = 1.25 * S_MIN
            r = s * np.sqrt(n_u[j] * alpha / np.pi)
            peaks = peaks.add(seats[j, 0], seats[j, 1], s, r, SEAT_DECAY)

    # Pass 2: the atoms.
    atoms = build_atoms(boundary, quadtree_seeds(boundary, peaks, S_MIN, rng)[0])
    seeds = atoms.seeds
    score = peaks.score(seeds[:, 0], seeds[:, 1])
    ml = np.flatnonzero(atoms.mainland)
    # Neighbour pairs among mainland atoms, in mainland indices.
    pos = np.full(atoms.n, -1)
    pos[ml] = np.arange(len(ml))
    ea, eb = atoms.adjacency()
    keep = (pos[ea] >= 0) & (pos[eb] >= 0)
    edges = (pos[ea[keep]], pos[eb[keep]])
    xy = seeds[ml]

    d2 = ((xy[:, None, :] - c[None]) ** 2).sum(axis=2)
    sub = np.argmin(d2 - b[None], axis=1)
    sub = fill_empty(sub, xy, c, len(sub_codes))
    sub = fix_contiguity(sub, edges)

    # Communities: in each subdistrict the densest atoms make its urban
    # communities, the rest its villages.
    comm = np.full(len(ml), -1)
    comm_index = np.arange(len(communities))
    for j in range(len(sub_codes)):
        mine = np.flatnonzero(sub == j)
        mine = mine[np.argsort(score[ml][mine], kind="stable")]
        urban_ids = comm_index[(comm_sub == j) & comm_urban]
        village_ids = comm_index[(comm_sub == j) & ~comm_urban]
        if len(mine) < len(urban_ids) + len(village_ids):
            raise RuntimeError(f"subdistrict {sub_codes[j]} got too few atoms ({len(mine)})")
        if len(village_ids) == 0:
            n_urban = len(mine)
        elif len(urban_ids) == 0:
            n_urban = 0
        else:
            n_urban = int(np.clip(round(len(urban_ids) * alpha), 3 * len(urban_ids), len(mine)))
            n_urban = min(n_urban, len(mine) - 2 * len(village_ids))
            n_urban = max(n_urban, len(urban_ids))
        for ids, part in ((urban_ids, mine[:n_urban]), (village_ids, mine[n_urban:])):
            if len(ids) == 0:
                continue
            init = xy[part][farthest_points(xy[part], len(ids))]
            lab, _, _ = balanced_kmeans(xy[part], np.ones(len(part)), np.ones(len(ids)), init)
            comm[part] = rng.permutation(ids)[lab]
    comm = fix_contiguity(comm, edges, parent=sub)

    # Grids: urban communities are split into grids of a few atoms each, by
    # people, not land: an atom's weight falls off as the seed spacing grows
    # past the dense core's (large atoms are sparsely settled).
    spacing = np.exp(score[ml])
    people = np.clip((1.25 * S_MIN / spacing) ** 2, 0.2, 1.0)
    size = np.bincount(comm, minlength=len(communities))
    weight = np.bincount(comm, people, len(communities))
    n_grids = _share(urban_grids, np.where(comm_urban, weight, 0), cap=np.minimum(size, 99))
    n_grids = np.where(comm_urban, np.maximum(n_grids, 1), 1)
    grid_first = np.concatenate([[0], np.cumsum(n_grids)])
    grid = np.full(len(ml), -1)
    for k in range(len(communities)):
        mine = np.flatnonzero(comm == k)
        g = n_grids[k]
        if g == 1:
            grid[mine] = grid_first[k]
            continue
        init = xy[mine][farthest_points(xy[mine], g)]
        lab, _, _ = balanced_kmeans(xy[mine], people[mine], np.ones(g), init)
        grid[mine] = grid_first[k] + lab
    grid = fix_contiguity(grid, edges, parent=comm)

    # Atoms off the network (a sliver past a narrow neck of the boundary, an
    # exclave) join the unit of a mainland neighbour, else of the nearest one.
    # Chains of such atoms take the anchor of the neighbour nearest the mainland.
    anchor = np.full(atoms.n, -1)
    anchor[ml] = np.arange(len(ml))
    while True:
        reach = (anchor[ea] < 0) & (anchor[eb] >= 0)
        if not reach.any():
            break
        anchor[ea[reach]] = anchor[eb[reach]]
    lost = anchor < 0
    if lost.any():
        tree = shapely.STRtree(shapely.points(xy))
        anchor[lost] = tree.query_nearest(shapely.points(seeds[lost]), all_matches=False)[1]
    atom_sub, atom_comm, atom_grid = sub[anchor], comm[anchor], grid[anchor]

    spacing = np.clip(np.exp(score), S_MIN, S_MIN * 2 ** (QUADTREE_LEVELS - 1))
    rural_atom = spacing >= 4 * S_MIN

    face_atom = atoms.face_atom
    sub_geom = union_faces(atoms.faces, atom_sub[face_atom], len(sub_codes))
    comm_geom = union_faces(atoms.faces, atom_comm[face_atom], len(communities))
    grid_geom = union_faces(atoms.faces, atom_grid[face_atom], int(grid_first[-1]))

    subs = pd.DataFrame(
        {
            "code": sub_codes,
            "name": streets["name"].to_numpy(dtype=object),
            "geometry": sub_geom,
            "seat_x": seats[:, 0],
            "seat_y": seats[:, 1],
        }
    )
    comms = pd.DataFrame(
        {
            "code": communities["code"].to_numpy(dtype=object),
            "name": communities["name"].to_numpy(dtype=object),
            "short": [short_name(n) for n in communities["name"]],
            "sub": comm_sub,
            "urban": comm_urban,
            "geometry": comm_geom,
        }
    )
    grids = _grid_table(comms, n_grids, grid_geom, sub_of_comm=comm_sub)
    return Layout(atoms, peaks, atom_sub, atom_comm, atom_grid, rural_atom, subs, comms, grids)


def _core_radius(boundary: shapely.Geometry, centre: tuple[float, float], area: float) -> float:
    """The radius of the disc round ``centre`` whose part inside ``boundary`` has ``area``."""
    lo, hi = 0.0, 50_000.0
    point = shapely.Point(centre)
    for _ in range(25):
        mid = (lo + hi) / 2
        inside = shapely.intersection(boundary, shapely.buffer(point, mid, quad_segs=16)).area
        lo, hi = (mid, hi) if inside < area else (lo, mid)
    return (lo + hi) / 2


def _share(total: int, weight: np.ndarray, cap: np.ndarray) -> np.ndarray:
    """Split ``total`` into integers proportional to ``weight``, each at most ``cap``."""
    out = np.zeros(len(weight), int)
    weight = weight.astype(float)
    for _ in range(20):
        left = total - out.sum()
        room = (cap - out) > 0
        if left <= 0 or not room.any():
            break
        w = np.where(room, weight, 0.0)
        if w.sum() == 0:
            break
        raw = left * w / w.sum()
        add = np.minimum(np.floor(raw).astype(int), cap - out)
        rem = left - add.sum()
        if rem > 0:
            frac = np.where(room & (out + add < cap), raw - np.floor(raw), -1.0)
            best = np.argsort(-frac, kind="stable")[:rem]
            add[best[frac[best] >= 0]] += 1
        out += add
    return out


def _grid_table(
    comms: pd.DataFrame, n_grids: np.ndarray, grid_geom: np.ndarray, sub_of_comm: np.ndarray
) -> pd.DataFrame:
    """Codes and names of the grids, numbered by :func:`gridmap.hierarchy.grid_serials`."""
    rows = []
    start = 0
    for k, comm in enumerate(comms.itertuples()):
        geoms = grid_geom[start : start + n_grids[k]]
        cgeom = comm.geometry
        serials = grid_serials(gpd.GeoSeries(geoms), cgeom.area, cgeom.bounds[3])
        for geom, serial in zip(geoms, serials, strict=True):
            n = int(serial)
            name = f"{comm.short}网格" if n == 0 else f"{comm.short}第{n}网格"
            rows.append((make_code(comm.code, n), name, k, sub_of_comm[k], comm.urban, geom))
        start += n_grids[k]
    return pd.DataFrame(rows, columns=["code", "name", "comm", "sub", "urban", "geometry"])

"""The demo's streets: the atoms' shared edges as one named, classified network.

A street segment's kind follows the units it separates (subdistricts:
primary, communities: secondary, grids: tertiary, inside a grid: residential
and smaller ways), so the map reads like a town whose main roads bound its
units, as real grid boundaries follow streets.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from gridmap.demo.layout import Layout

__all__ = ["road_table"]

#: Name roots for streets (common, place-neutral words of Chinese street names).
#: (Every root is two characters: the string is cut in pairs.)
_ROAD_ROOTS_TEXT = (
    "人民解放建设和平友谊东风新华中山健康同心龙泉香雪飞虹锦绣幸福长春春晓朝阳"
    "园丁学府迎宾滨江桃源环城育才丹阳文化青年兴隆振兴国庆五一胜利光明团结前进"
    "新风富民安康永安民生南湖北山东园西苑翠竹梧桐玉兰桂花丁香枫林松柏荷塘柳湾"
    "梅溪石桥双桥长乐广场工业科技创业金桥银杏嘉禾瑞丰丰收和顺新村"
)
_ROAD_ROOTS: tuple[str, ...] = tuple(
    _ROAD_ROOTS_TEXT[i : i + 2] for i in range(0, len(_ROAD_ROOTS_TEXT), 2)
)


def road_table(lay: Layout, rng: np.random.Generator) -> pd.DataFrame:
    """The street network: one straight segment per row, noded at every junction.

    A segment's kind follows what it separates: subdistricts → primary,
    communities → secondary, grids → tertiary, within a grid → residential
    (or a lane, footway …); in the sparse countryside unclassified roads,
    tracks and paths.

    Parameters
    ----------
    lay
        The unit layout (metres); its atoms' kept network is the street network.
    rng
        The random generator.

    Returns
    -------
    pandas.DataFrame
        ``id`` (``R000001`` …), ``kind``, ``name`` (``None`` for the small ways)
        and the segment (metres), in the network's order.
    """
    at = lay.atoms
    keep = np.flatnonzero(at.road_network)
    xy = at.road_xy[keep]
    a, b = at.road_atoms[keep, 0], at.road_atoms[keep, 1]
    sub_a, sub_b = lay.atom_sub[a], lay.atom_sub[b]
    comm_a, comm_b = lay.atom_comm[a], lay.atom_comm[b]
    grid_a, grid_b = lay.atom_grid[a], lay.atom_grid[b]
    rural = lay.rural_atom[a] & lay.rural_atom[b]
    n = len(keep)
    kind = np.full(n, "residential", dtype=object)
    lane = rng.choice(
        ["residential", "service", "footway", "living_street", "pedestrian", "steps"],
        n,
        p=[0.72, 0.12, 0.08, 0.04, 0.03, 0.01],
    )
    kind[:] = lane
    kind[grid_a != grid_b] = "tertiary"
    kind[comm_a != comm_b] = "secondary"
    kind[sub_a != sub_b] = "primary"
    country = rural & (kind != "primary")
    kind[country & (kind == "secondary")] = "unclassified"
    small = country & (kind != "unclassified")
    kind[small] = rng.choice(["track", "path"], int(small.sum()), p=[0.7, 0.3])

    # Name a street after the pair of units it runs between, so a boundary
    # street keeps one name along its length.
    name = np.full(n, None, dtype=object)
    for k, lo, hi, suffixes in (
        ("primary", np.minimum(sub_a, sub_b), np.maximum(sub_a, sub_b), ("大道", "路")),
        ("secondary", np.minimum(comm_a, comm_b), np.maximum(comm_a, comm_b), ("路", "街")),
        ("unclassified", np.minimum(comm_a, comm_b), np.maximum(comm_a, comm_b), ("线",)),
        ("tertiary", np.minimum(grid_a, grid_b), np.maximum(grid_a, grid_b), ("巷", "街")),
    ):
        m = np.flatnonzero(kind == k)
        if len(m) == 0:
            continue
        pairs, inv = np.unique(np.column_stack([lo[m], hi[m]]), axis=0, return_inverse=True)
        roots = rng.choice(len(_ROAD_ROOTS), len(pairs))
        sfx = rng.choice(len(suffixes), len(pairs))
        labels = np.array(
            [_ROAD_ROOTS[r] + suffixes[s] for r, s in zip(roots, sfx, strict=True)], dtype=object
        )
        name[m] = labels[inv.ravel()]
    return pd.DataFrame(
        {
            "id": [f"R{i + 1:06d}" for i in range(n)],
            "kind": kind,
            "name": name,
            "geometry": shapely.linestrings(xy.reshape(-1, 2, 2)),
        }
    )

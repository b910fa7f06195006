"""Streets, service facilities and party organisations of the synthetic demo."""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from gridmap._demo_buildings import Buildings
from gridmap._demo_geometry import farthest_points
from gridmap._demo_layout import Layout
from gridmap.schema import FACILITY_TYPES

__all__: list[str] = []

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


def _root(name: str) -> str:
    """A unit's name without its kind: 北湖路社区 → 北湖路, 华塘镇 → 华塘."""
    for suffix in ("瑶族乡", "瑶族村", "街道", "社区", "村", "镇", "乡"):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def road_table(lay: Layout, rng: np.random.Generator) -> pd.DataFrame:
    """The street network: one straight segment per row, noded at every junction.

    A segment's kind follows what it separates: subdistricts → primary,
    communities → secondary, grids → tertiary, within a grid → residential
    (or a lane, footway …); in the sparse countryside unclassified roads,
    tracks and paths.
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


def facility_table(
    lay: Layout,
    bld: Buildings,
    roads: pd.DataFrame,
    comm_pop: np.ndarray,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Service facilities of every type, denser in the centre than at the edges.

    Parameters
    ----------
    lay
        The unit layout.
    bld
        The buildings; facilities sit at building centroids.
    roads
        The street network; bus stops sit beside it.
    comm_pop
        Residents of each community.
    rng
        The random generator.
    """
    comms = lay.communities
    subs = lay.subdistricts
    urban = comms["urban"].to_numpy(bool)
    short = comms["short"].to_numpy(dtype=object)
    roots = np.array([_root(s) for s in short], dtype=object)
    comm_of_bld = lay.grids["comm"].to_numpy()[bld.grid]
    centroid = shapely.get_coordinates(shapely.centroid(bld.geometry))
    nonres = np.isin(bld.use, ["public", "commercial", "mixed"])
    used = np.zeros(len(bld.code), bool)

    def spot(comm: int, near: np.ndarray | None = None) -> np.ndarray:
        """A building of the community for a facility: public ones first, one each."""
        mine = np.flatnonzero(comm_of_bld == comm)
        if len(mine) == 0:
            inside = shapely.point_on_surface(comms["geometry"].iloc[comm])
            return shapely.get_coordinates(inside)[0]
        free = mine[~used[mine]]
        pool = free if len(free) else mine
        if near is not None:
            d = np.hypot(*(centroid[pool] - near).T) - 400.0 * nonres[pool]
            i = pool[np.argmin(d)]
        else:
            pref = pool[nonres[pool]]
            i = rng.choice(pref if len(pref) else pool)
        used[i] = True
        return centroid[i]

    rows: list[tuple[str, str, float, float]] = []
    seen: dict[str, int] = {}

    def add(kind: str, name: str, at: np.ndarray, root: str = "") -> None:
        """Add a facility; a second one of a name gets 第二 etc. after its root."""
        n = seen.get(name, 0)
        seen[name] = n + 1
        if n:
            name = f"{root}第{'二三四五六七八九十'[min(n, 9) - 1]}{name[len(root) :]}"
        rows.append((kind, name, float(at[0]), float(at[1])))

    def spread(comm: int, n: int) -> list[np.ndarray]:
        """``n`` spots of a community spread apart (farthest points of its buildings).

        A 5-minute facility reaches only ~300 m: several in one community
        cover it only if they stand apart, as planners would place them.
        """
        mine = np.flatnonzero(comm_of_bld == comm)
        if n <= 0:
            return []
        if len(mine) <= n:
            return [spot(comm) for _ in range(n)]
        pts = centroid[mine]
        targets = pts[farthest_points(pts, n)]
        # A few Lloyd steps pull the spots from the edges to the centres of
        # the parts of the community they serve.
        for _ in range(6):
            nearest = np.argmin(((pts[:, None, :] - targets[None]) ** 2).sum(-1), axis=1)
            for j in range(n):
                if (nearest == j).any():
                    targets[j] = pts[nearest == j].mean(axis=0)
        return [spot(comm, near=t) for t in targets]

    # 5-minute facilities: in urban communities one per few thousand residents
    # (good coverage in the centre), in villages at most one and often none
    # (the gaps at the edges planners look for).
    for k in range(len(comms)):
        u = urban[k]
        pop = float(comm_pop[k])
        n = max(1, int(rng.poisson(pop / 3500))) if u else int(rng.random() < 0.7)
        for at in spread(k, n):
            add("service_station", f"{short[k]}党群服务站", at, short[k])
        n = max(1, int(rng.poisson(pop / 3000))) if u else int(rng.random() < 0.55)
        for at in spread(k, n):
            add("clinic", f"{roots[k]}社区卫生服务站" if u else f"{short[k]}卫生室", at, roots[k])
        n = int(rng.poisson(pop / 3000)) if u else int(rng.random() < 0.25)
        for at in spread(k, n):
            add("kindergarten", f"{roots[k]}幼儿园", at, roots[k])
        n = max(1, int(rng.poisson(pop / 3500))) if u else int(rng.random() < 0.2)
        for at in spread(k, n):
            add("elderly_daycare", f"{short[k]}老年人日间照料中心", at, short[k])

    # Per subdistrict: schools and markets by population, one of each
    # subdistrict-level service near the seat.
    comm_sub = comms["sub"].to_numpy()
    for j, sub in enumerate(subs.itertuples()):
        mine = np.flatnonzero(comm_sub == j)
        pop = comm_pop[mine].astype(float)
        weight = (pop + 1.0) * np.where(urban[mine], 3.0, 1.0)
        town = not sub.name.endswith("街道")
        sroot = _root(sub.name)
        for kind, per, label in (
            ("primary_school", 8_000, "小学"),
            ("fresh_market", 7_000, "菜市场"),
            ("middle_school", 30_000, "中学"),
        ):
            count = max(1, int(np.rint(pop.sum() / per)))
            for k in rng.choice(mine, count, p=weight / weight.sum()):
                add(kind, f"{roots[k]}{label}", spot(k), roots[k])
        seat = np.array([sub.seat_x, sub.seat_y])
        seat_comm = _nearest_comm(mine, comm_of_bld, centroid, seat)
        add(
            "health_centre",
            f"{sub.name}卫生院" if town else f"{sub.name}社区卫生服务中心",
            spot(seat_comm, seat),
        )
        add(
            "subdistrict_centre",
            f"{sub.name}便民服务中心" if town else f"{sub.name}社区服务中心",
            spot(seat_comm, seat),
        )
        add("police_station", f"{sroot}派出所", spot(seat_comm, seat))
        add("judicial_office", f"{sub.name}司法所", spot(seat_comm, seat))
        if rng.random() < 0.85:
            k = rng.choice(mine)
            add("nursing_home", f"{sub.name}敬老院" if town else f"{sroot}养老院", spot(k))

    # Regional party-mass service centres: spread over the urban communities.
    urban_ids = np.flatnonzero(urban)
    n_centres = max(1, int(np.rint(len(urban_ids) / 3.5)))
    if len(urban_ids):
        pts = shapely.get_coordinates(
            shapely.point_on_surface(comms["geometry"].to_numpy()[urban_ids])
        )
        for i in farthest_points(pts, min(n_centres, len(urban_ids))):
            k = urban_ids[i]
            add("party_service_centre", f"{roots[k]}片区党群服务中心", spot(k))

    stops = _bus_stops(lay, roads, rng)
    frame = pd.DataFrame(rows, columns=["type", "name", "x", "y"])
    frame = pd.concat([frame, stops], ignore_index=True)
    order = {t: i for i, t in enumerate(FACILITY_TYPES)}
    frame = frame.iloc[np.lexsort((np.arange(len(frame)), frame["type"].map(order).to_numpy()))]
    frame = frame.reset_index(drop=True)
    frame.insert(0, "id", [f"F{i + 1:06d}" for i in range(len(frame))])
    frame["geometry"] = shapely.points(frame["x"].to_numpy(), frame["y"].to_numpy())
    return frame.drop(columns=["x", "y"])


def _nearest_comm(
    mine: np.ndarray, comm_of_bld: np.ndarray, centroid: np.ndarray, seat: np.ndarray
) -> int:
    """The community (of ``mine``) whose building is nearest the seat."""
    cand = np.flatnonzero(np.isin(comm_of_bld, mine))
    if len(cand) == 0:
        return int(mine[0])
    i = cand[np.argmin(np.hypot(*(centroid[cand] - seat).T))]
    return int(comm_of_bld[i])


def _bus_stops(lay: Layout, roads: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Bus stops beside main roads: every few hundred metres in town, rarer outside."""
    kind = roads["kind"].to_numpy(dtype=object)
    main = np.isin(kind, ["primary", "secondary", "unclassified"])
    geoms = roads["geometry"].to_numpy()
    length = shapely.length(geoms)
    xy = shapely.get_coordinates(geoms).reshape(-1, 2, 2)
    rural = kind == "unclassified"
    at = lay.atoms
    net = np.flatnonzero(at.road_network)
    rural |= lay.rural_atom[at.road_atoms[net, 0]] & lay.rural_atom[at.road_atoms[net, 1]]
    p = np.where(rural, length / 3000.0, length / 450.0) * main
    pick = np.flatnonzero(rng.random(len(p)) < np.clip(p, 0, 1))
    mid = xy[pick].mean(axis=1)
    d = xy[pick, 1] - xy[pick, 0]
    normal = np.column_stack([-d[:, 1], d[:, 0]]) / np.hypot(*d.T)[:, None]
    side = rng.choice([-1.0, 1.0], len(pick))
    at_xy = mid + normal * (8.0 * side)[:, None]
    names = roads["name"].to_numpy(dtype=object)[pick]
    seg_comm = lay.atom_comm[at.road_atoms[net[pick], 0]]
    fallback = lay.communities["short"].to_numpy(dtype=object)[seg_comm]
    label = np.where(pd.isna(names), fallback, names)
    # A stop is named after its street (or community); later stops of the
    # same name get 东/西/南/北/中, then numbers.
    seen: dict[str, int] = {}
    out = []
    for lab in label.tolist():
        c = seen.get(lab, 0)
        seen[lab] = c + 1
        tail = "" if c == 0 else "东西南北中"[c - 1] if c <= 5 else f"{c - 4}号"
        out.append(f"{lab}{tail}站")
    return pd.DataFrame({"type": "bus_stop", "name": out, "x": at_xy[:, 0], "y": at_xy[:, 1]})


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
        How many grid branches and building groups to found.
    rng
        The random generator.
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
        serial = int(bld.code[i][-3:])
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

"""The demo's service facilities: every facility type, denser in the centre than at the edges.

Five-minute facilities are spread over each community by its population
(villages get at most one, often none: the gaps planners look for),
subdistrict-level services stand near the subdistrict's seat, and bus stops
line the main roads.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from gridmap.demo.buildings import Buildings
from gridmap.demo.clustering import farthest_points
from gridmap.demo.layout import Layout
from gridmap.schema import FACILITY_TYPES

__all__ = ["facility_table"]


def _root(name: str) -> str:
    """A unit's name without its kind: 北湖路社区 → 北湖路, 华塘镇 → 华塘."""
    for suffix in ("瑶族乡", "瑶族村", "街道", "社区", "村", "镇", "乡"):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


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

    Returns
    -------
    pandas.DataFrame
        ``id`` (``F000001`` …, numbered in the schema's order of types),
        ``type``, ``name`` and the point (metres).
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

"""A year of synthetic incidents and their closed-loop event history (vectorised).

Every incident follows the state machine of docs/domain.md#incident-loop as far as the
clock allows: its full path (collect, register or void, dispatch, transfers,
handle, report back, rework loops, close, evaluate) is laid out first with
random step durations, then cut at the end of the data year, so recent and
stalled cases are open at every step.

The year ends at the demo's *as-of* (:func:`data_window`): by default the
moment the demo is built, so a demo built today has cases reported in the last
hours; a given as-of (:data:`REFERENCE_AS_OF` for the tests) rebuilds the same
tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

from gridmap.errors import InputError, option
from gridmap.incidents import DEADLINE_HOURS
from gridmap.schema import CLOSING_LEVELS, INCIDENT_CATEGORIES, INCIDENT_SOURCES, SATISFACTION

__all__ = [
    "DEFAULT_DEADLINE_HOURS",
    "DATA_SPAN",
    "REFERENCE_AS_OF",
    "FRESH_CASES",
    "CATEGORY_WEIGHTS",
    "SOURCE_SHARES",
    "SUBCATEGORIES",
    "DEPARTMENTS",
    "SUBDISTRICT_OFFICES",
    "GRID_OFFICE",
    "COMMUNITY_OFFICE",
    "LEVEL_SHARES",
    "Places",
    "data_window",
    "epoch_ms",
    "build_incidents",
]

#: Hours from dispatch to an incident's deadline, per category: the defaults of
#: :data:`gridmap.incidents.DEADLINE_HOURS` (local rules set the real values).
DEFAULT_DEADLINE_HOURS: dict[str, float] = DEADLINE_HOURS

#: How far back the demo's incidents go from its as-of: one year.
DATA_SPAN = pd.Timedelta(days=365)

#: A fixed as-of for builds that must not depend on the day they run (the
#: tests' session demo, their figures): 2026-01-01 00:00 Beijing time, so the
#: data year is calendar 2025 in Beijing. Used only where a caller passes it;
#: without one the demo ends at the moment it is built.
REFERENCE_AS_OF = pd.Timestamp("2025-12-31T16:00:00Z")

#: The earliest as-of taken: the tables keep times as milliseconds since 1970
#: with negative values for "none", and no demo needs a year before 2000.
_EARLIEST_AS_OF = pd.Timestamp("2000-01-01T00:00:00Z")

#: Cases reported in the last hours before the as-of, on top of the year's
#: rhythm: a demo built at night (when few cases come in) still shows a wall
#: cases "new today", open at their first steps. One falls in each band of
#: minutes before the as-of: the newest at most five minutes old.
_FRESH_MINUTES = (5, 15, 30, 60, 120, 180)
FRESH_CASES = len(_FRESH_MINUTES)
#: The bands shrink to fit after Beijing midnight (a case reported "today")
#: when that was at least this many minutes before the as-of.
_FRESH_MIN_MINUTES = 10

_HOUR = 3_600_000  # ms
_DAY = 24 * _HOUR
#: Beijing time (UTC+8, no daylight saving), in ms: the demo's days are Beijing's.
_BEIJING = 8 * _HOUR


def epoch_ms(ts: pd.Timestamp) -> int:
    """Milliseconds since the epoch: the clock the incident tables are built on."""
    return int(ts.value // 1_000_000)


def data_window(as_of: object = None) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The demo's incident year: ``(start, end)``, UTC, ``end`` the data's "now".

    Parameters
    ----------
    as_of
        The instant the data end at (a timezone-aware datetime, a
        :class:`pandas.Timestamp` or an ISO 8601 text with its offset);
        ``None``: the current time. Floored to the second, so a build and
        the as-of it reports agree exactly.

    Returns
    -------
    start, end
        ``end`` is ``as_of``; ``start`` is :data:`DATA_SPAN` (365 days) before.

    Raises
    ------
    gridmap.errors.InputError
        If ``as_of`` is not an instant with a time zone, or is before 2000.
    """
    if as_of is None:
        end = pd.Timestamp.now(tz="UTC")
    else:
        try:
            end = pd.Timestamp(as_of)
        except (TypeError, ValueError):
            raise InputError(
                f"{option('as_of', as_of)} is not an instant",
                hint="give an ISO 8601 time, e.g. 2026-06-01T08:00+08:00",
            ) from None
        if end is pd.NaT or end.tzinfo is None:
            raise InputError(
                f"{option('as_of', as_of)} has no time zone",
                hint="give it with its offset, e.g. 2026-06-01T08:00+08:00",
            )
        end = end.tz_convert("UTC")
    end = end.floor("s")
    if end < _EARLIEST_AS_OF:
        raise InputError(
            f"{option('as_of', end.isoformat())} is before 2000",
            hint="the demo's data end at a time from 2000 on",
        )
    return end - DATA_SPAN, end


#: Share of incidents per category: city appearance, street order and
#: resident requests dominate, as in grid-management statistics.
CATEGORY_WEIGHTS: dict[str, float] = {
    "city_appearance": 0.24,
    "advertising": 0.05,
    "construction": 0.05,
    "street_order": 0.17,
    "emergency": 0.01,
    "facility": 0.10,
    "dispute": 0.07,
    "safety_hazard": 0.07,
    "resident_request": 0.20,
    "other": 0.04,
}

#: P(source | category), sources in schema order: patrol, resident, hotline, camera, higher level.
SOURCE_SHARES: dict[str, tuple[float, ...]] = {
    "city_appearance": (0.50, 0.10, 0.10, 0.27, 0.03),
    "advertising": (0.60, 0.05, 0.05, 0.27, 0.03),
    "construction": (0.45, 0.15, 0.25, 0.10, 0.05),
    "street_order": (0.45, 0.08, 0.12, 0.32, 0.03),
    "emergency": (0.25, 0.30, 0.30, 0.10, 0.05),
    "facility": (0.55, 0.15, 0.15, 0.12, 0.03),
    "dispute": (0.35, 0.35, 0.25, 0.00, 0.05),
    "safety_hazard": (0.55, 0.15, 0.15, 0.10, 0.05),
    "resident_request": (0.05, 0.25, 0.62, 0.00, 0.08),
    "other": (0.35, 0.20, 0.30, 0.10, 0.05),
}

#: What was seen, per category (the cases' subcategory).
SUBCATEGORIES: dict[str, tuple[str, ...]] = {
    "city_appearance": ("暴露垃圾", "积存垃圾渣土", "道路不洁", "乱涂乱画", "绿地脏乱", "水域不洁"),
    "advertising": ("非法小广告", "违规户外广告", "占道广告牌", "横幅破损"),
    "construction": ("施工扰民", "无证施工", "施工废弃料", "施工占道", "工地扬尘"),
    "street_order": (
        "占道经营",
        "店外经营",
        "乱堆物料",
        "机动车乱停放",
        "非机动车乱停放",
        "流动摊贩",
    ),
    "emergency": ("路面塌陷", "火情", "水管爆裂", "燃气泄漏", "树木倒伏"),
    "facility": ("井盖破损", "路灯不亮", "护栏损坏", "健身器材损坏", "公交站亭损坏", "消防栓损坏"),
    "dispute": ("邻里纠纷", "物业纠纷", "劳资纠纷", "婚姻家庭纠纷", "土地山林纠纷"),
    "safety_hazard": ("消防通道堵塞", "电动车楼道充电", "危房隐患", "燃气隐患", "高空坠物隐患"),
    "resident_request": (
        "噪音扰民",
        "供水问题",
        "停车难",
        "物业服务",
        "养老服务咨询",
        "低保救助咨询",
    ),
    "other": ("其他事项",),
}

#: Functional departments a category goes to when a department handles it.
DEPARTMENTS: dict[str, tuple[str, ...]] = {
    "city_appearance": ("城管局", "环卫所"),
    "advertising": ("城管局",),
    "construction": ("住建局", "城管局", "自然资源局"),
    "street_order": ("城管局", "交警大队", "市场监管局"),
    "emergency": ("应急管理局", "消防救援大队", "住建局"),
    "facility": ("市政设施管理中心", "供电公司", "交通运输局", "园林绿化中心"),
    "dispute": ("司法局", "人社局", "派出所"),
    "safety_hazard": ("应急管理局", "住建局", "消防救援大队", "燃气公司"),
    "resident_request": ("住建局", "自来水公司", "生态环境局", "民政局", "卫健局", "教育局"),
    "other": ("政务服务中心",),
}

#: Who handles a case settled in the grid, and in the community.
GRID_OFFICE = "网格工作站"
COMMUNITY_OFFICE = "社区居委会"

#: The subdistrict's office a case of each category goes to when the
#: subdistrict settles it.
SUBDISTRICT_OFFICES: dict[str, str] = {
    "city_appearance": "街道综合执法队",
    "advertising": "街道综合执法队",
    "construction": "街道综合执法队",
    "street_order": "街道综合执法队",
    "emergency": "街道应急办",
    "facility": "街道城建办",
    "dispute": "街道综治中心",
    "safety_hazard": "街道应急办",
    "resident_request": "街道便民服务中心",
    "other": "街道便民服务中心",
}

#: P(closing level | category), levels in schema order: grid, community,
#: subdistrict, district, department. Most cases stay in the grid (小事不出网格).
LEVEL_SHARES: dict[str, tuple[float, ...]] = {
    "city_appearance": (0.80, 0.09, 0.07, 0.02, 0.02),
    "advertising": (0.82, 0.08, 0.07, 0.01, 0.02),
    "construction": (0.45, 0.15, 0.22, 0.08, 0.10),
    "street_order": (0.78, 0.09, 0.09, 0.02, 0.02),
    "emergency": (0.10, 0.10, 0.20, 0.25, 0.35),
    "facility": (0.55, 0.12, 0.12, 0.08, 0.13),
    "dispute": (0.62, 0.22, 0.10, 0.03, 0.03),
    "safety_hazard": (0.60, 0.14, 0.12, 0.06, 0.08),
    "resident_request": (0.58, 0.17, 0.10, 0.05, 0.10),
    "other": (0.65, 0.17, 0.10, 0.04, 0.04),
}

_SOURCE_ACTOR = ("网格员", "居民", "12345热线", "视频监控平台", "上级交办")
_SATISFACTION_ZH = ("满意", "基本满意", "不满意")
_VOID_NOTES = np.array(
    ["不予立案：重复上报", "不予立案：不属于受理范围", "不予立案：信息不全无法核实"], dtype=object
)

# Event kinds: the moves of the state machine, each with its from and to step.
_KINDS = (
    # name, from_step, to_step
    ("collect", None, "collected"),
    ("register", "collected", "registered"),
    ("void", "collected", "voided"),
    ("dispatch", "registered", "dispatched"),
    ("transfer", "dispatched", "dispatched"),
    ("handle", "dispatched", "handling"),
    ("report", "handling", "reported_back"),
    ("rework", "reported_back", "handling"),
    ("rereport", "handling", "reported_back"),
    ("close", "reported_back", "closed"),
    ("evaluate", "closed", "evaluated"),
)
_K = {name: i for i, (name, _, _) in enumerate(_KINDS)}
_FROM = np.array([f for _, f, _ in _KINDS], dtype=object)
_TO = np.array([t for _, _, t in _KINDS], dtype=object)


@dataclass
class Places:
    """Where incidents can happen: the grids and buildings (metres).

    Parameters
    ----------
    grid_geom, grid_code, grid_name, grid_pop
        Each grid's polygon, code, name and residents.
    bld_geom, bld_grid, bld_code, bld_pop
        Each building's footprint, grid (index into the grids; sorted, so a
        grid's buildings are one run), code and residents.
    """

    grid_geom: np.ndarray
    grid_code: np.ndarray
    grid_name: np.ndarray
    grid_pop: np.ndarray
    bld_geom: np.ndarray
    bld_grid: np.ndarray
    bld_code: np.ndarray
    bld_pop: np.ndarray


def _pick(p: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One draw per row from the categorical distribution ``p[rows]``."""
    cum = np.cumsum(p, axis=1)
    u = rng.random(len(rows)) * cum[rows, -1]
    return (u[:, None] > cum[rows]).sum(axis=1)


def _locate(
    places: Places, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grid and point of each incident: mostly at buildings, the rest anywhere in the grid."""
    pop = places.grid_pop.astype(float)
    w = pop + 0.15 * pop.mean() + 1.0
    grid = rng.choice(len(w), n, p=w / w.sum())
    geoms = places.grid_geom
    shapely.prepare(geoms)
    x = np.full(n, np.nan)
    y = np.full(n, np.nan)

    n_grids = len(geoms)
    first = np.searchsorted(places.bld_grid, np.arange(n_grids + 1))
    has = first[grid + 1] > first[grid]
    near = has & (rng.random(n) < 0.6)
    idx = np.flatnonzero(near)
    bw = places.bld_pop.astype(float) + 3.0
    cum = np.concatenate([[0.0], np.cumsum(bw)])
    lo, hi = cum[first[grid[idx]]], cum[first[grid[idx] + 1]]
    b = np.searchsorted(cum, lo + rng.random(len(idx)) * (hi - lo), side="right") - 1
    b = np.clip(b, first[grid[idx]], first[grid[idx] + 1] - 1)
    c = shapely.get_coordinates(shapely.centroid(places.bld_geom[b]))
    r = 25.0 * np.sqrt(rng.random(len(idx)))
    a = rng.uniform(0, 2 * np.pi, len(idx))
    px, py = c[:, 0] + r * np.cos(a), c[:, 1] + r * np.sin(a)
    inside = shapely.contains_xy(geoms[grid[idx]], px, py)
    x[idx] = np.where(inside, px, c[:, 0])
    y[idx] = np.where(inside, py, c[:, 1])

    # Anywhere in the grid: rejection sampling in its bounding box.
    todo = np.flatnonzero(~near)
    bounds = shapely.bounds(geoms)
    for _ in range(60):
        if len(todo) == 0:
            break
        bb = bounds[grid[todo]]
        px = rng.uniform(bb[:, 0], bb[:, 2])
        py = rng.uniform(bb[:, 1], bb[:, 3])
        ok = shapely.contains_xy(geoms[grid[todo]], px, py)
        x[todo[ok]], y[todo[ok]] = px[ok], py[ok]
        todo = todo[~ok]
    if len(todo):
        rep = shapely.get_coordinates(shapely.point_on_surface(geoms[grid[todo]]))
        x[todo], y[todo] = rep[:, 0], rep[:, 1]
    return grid, x, y


def _nearest_building(places: Places, grid: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Code of the nearest building of the same grid within 30 m, else None."""
    out = np.full(len(pts), None, dtype=object)
    tree = shapely.STRtree(places.bld_geom)
    pi, bi = tree.query(pts, predicate="dwithin", distance=30.0)
    same = places.bld_grid[bi] == grid[pi]
    pi, bi = pi[same], bi[same]
    if len(pi) == 0:
        return out
    d = shapely.distance(pts[pi], places.bld_geom[bi])
    order = np.lexsort((bi, d, pi))
    pi, bi = pi[order], bi[order]
    first = np.r_[True, pi[1:] != pi[:-1]]
    out[pi[first]] = places.bld_code[bi[first]]
    return out


_SURNAMES = np.array(list("王李张刘陈杨黄赵周吴徐孙胡朱高林何郭马罗"), dtype=object)
_GIVEN = np.array(list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"), dtype=object)
_MOBILE_PREFIXES = np.array(["133", "138", "139", "150", "152", "158", "177", "186", "189", "199"])


def _reporters(source: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic reporters' names and mobile numbers for residents' and hotline cases.

    Made-up people (the demo is synthetic): a surname and one or two given
    characters, an 11-digit mobile number. Cases found on patrol, by camera or
    from a higher level have none. A generator of its own keeps the rest of the
    demo's random draws as they were.
    """
    n = len(source)
    rng = np.random.default_rng(20250301 + n)
    has = np.isin(source, ["resident", "hotline_12345"])
    given = _GIVEN[rng.integers(0, len(_GIVEN), n)]
    two = rng.random(n) < 0.6
    given[two] = given[two] + _GIVEN[rng.integers(0, len(_GIVEN), int(two.sum()))]
    names = _SURNAMES[rng.integers(0, len(_SURNAMES), n)] + given
    digits = rng.integers(0, 10**8, n)
    phones = _MOBILE_PREFIXES[rng.integers(0, len(_MOBILE_PREFIXES), n)].astype(object) + np.array(
        [f"{d:08d}" for d in digits], dtype=object
    )
    return np.where(has, names, None), np.where(has, phones, None)


def _lognormal_ms(median_h: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Durations in ms, log-normal around ``median_h`` hours, at least one minute."""
    h = median_h * np.exp(sigma * rng.standard_normal(len(median_h)))
    return np.maximum(np.round(h * _HOUR), 60_000).astype(np.int64)


def build_incidents(
    places: Places,
    n: int,
    deadline_hours: Mapping[str, float],
    start_ms: int,
    end_ms: int,
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``n`` incidents reported between ``start_ms`` and ``end_ms`` (UTC ms), and their events.

    Parameters
    ----------
    places
        Grids and buildings (metres).
    n
        Number of incidents.
    deadline_hours
        Hours from dispatch to the deadline, per category.
    start_ms, end_ms
        The data year (:func:`data_window`, in ms); nothing happens after
        ``end_ms`` (the data's "now", the as-of), and a few cases are reported
        in the hours just before it (:data:`FRESH_CASES`).
    rng
        The random generator.

    Returns
    -------
    incidents, events
        Incident rows (with x, y in metres and times in UTC ms) and event rows.
    """
    cats = np.array(INCIDENT_CATEGORIES, dtype=object)
    cat_w = np.array([CATEGORY_WEIGHTS[c] for c in INCIDENT_CATEGORIES])
    cat = rng.choice(len(cats), n, p=cat_w / cat_w.sum())
    src_p = np.array([SOURCE_SHARES[c] for c in INCIDENT_CATEGORIES])
    source = _pick(src_p, cat, rng)
    n_sub = np.array([len(SUBCATEGORIES[c]) for c in INCIDENT_CATEGORIES])
    sub_i = np.floor(rng.random(n) * n_sub[cat]).astype(int)
    sub_table = np.array(
        [
            [SUBCATEGORIES[c][i % len(SUBCATEGORIES[c])] for i in range(n_sub.max())]
            for c in INCIDENT_CATEGORIES
        ],
        dtype=object,
    )
    subcat = sub_table[cat, sub_i]

    grid, x, y = _locate(places, n, rng)
    pts = shapely.points(x, y)
    building = _nearest_building(places, grid, pts)

    # When: more in summer, mostly in the day (Beijing time, UTC+8). Days are
    # Beijing's calendar days from the one the window starts in, so the daily
    # and yearly rhythms hold whatever moment the window ends at (the as-of).
    days = (end_ms - start_ms) // _DAY
    base = (start_ms + _BEIJING) // _DAY * _DAY - _BEIJING  # Beijing midnight before start
    dates = (np.datetime64(int(base + _BEIJING), "ms").astype("datetime64[D]")) + np.arange(days)
    day_of_year = (dates - dates.astype("datetime64[Y]").astype("datetime64[D]")).astype(np.int64)
    dw = 1.0 + 0.25 * np.sin(2 * np.pi * (day_of_year - 100) / 365.0)
    day = rng.choice(days, n, p=dw / dw.sum())
    hw = np.array(
        [1, 1, 1, 1, 1, 2, 4, 8, 12, 12, 11, 10, 9, 10, 11, 11, 10, 9, 8, 6, 5, 3, 2, 1], float
    )
    hour = rng.choice(24, n, p=hw / hw.sum())
    local = hour * _HOUR + rng.integers(0, _HOUR, n)
    t0 = base + day * _DAY + local
    # The hours of the first day before the window's start wrap round to the
    # same hours of the day the window ends in: every hour of the window is
    # drawn from once, up to the as-of itself.
    t0 = np.where(t0 < start_ms, t0 + days * _DAY, t0)
    # And a few cases in the last hours, whatever the hour (see FRESH_CASES).
    fresh = min(FRESH_CASES, n)
    today = (end_ms + _BEIJING) // _DAY * _DAY - _BEIJING
    span = min(_FRESH_MINUTES[-1] * 60_000, max(end_ms - today, _FRESH_MIN_MINUTES * 60_000))
    edges = np.array((0, *_FRESH_MINUTES), float) / _FRESH_MINUTES[-1] * span
    age = edges[:-1] + rng.random(len(edges) - 1) * np.diff(edges)
    t0[n - fresh :] = end_ms - np.floor(age[:fresh]).astype(np.int64)

    # The path each case would take if nothing stopped it.
    voided = rng.random(n) < 0.04
    transfers = rng.choice(4, n, p=[0.87, 0.105, 0.02, 0.005])
    reworks = rng.choice(5, n, p=[0.90, 0.065, 0.022, 0.009, 0.004])
    transfers[voided] = 0
    reworks[voided] = 0
    n_ev = np.where(voided, 2, 7 + transfers + 2 * reworks)
    inc = np.repeat(np.arange(n), n_ev)
    first = np.cumsum(n_ev) - n_ev
    k = np.arange(len(inc)) - first[inc]
    tr, rw = transfers[inc], reworks[inc]
    kind = np.full(len(inc), _K["evaluate"])
    kind[k == 0] = _K["collect"]
    kind[k == 1] = np.where(voided[inc[k == 1]], _K["void"], _K["register"])
    kind[k == 2] = _K["dispatch"]
    kind[(k >= 3) & (k < 3 + tr)] = _K["transfer"]
    kind[k == 3 + tr] = _K["handle"]
    kind[k == 4 + tr] = _K["report"]
    loop = (k >= 5 + tr) & (k < 5 + tr + 2 * rw)
    kind[loop & ((k - 5 - tr) % 2 == 0)] = _K["rework"]
    kind[loop & ((k - 5 - tr) % 2 == 1)] = _K["rereport"]
    kind[(k == 5 + tr + 2 * rw) & ~voided[inc]] = _K["close"]
    kind[voided[inc] & (k == 1)] = _K["void"]

    # Step durations (hours before each event), scaled by the category's deadline.
    dl = np.array([deadline_hours[c] for c in INCIDENT_CATEGORIES], float)[cat]
    fast = np.where(cats[cat] == "emergency", 0.15, 1.0)
    med = np.zeros(len(inc))
    hours = dl[inc]
    f = fast[inc]
    for name, m in (
        ("register", 0.3 * f),
        ("void", 0.6 * f),
        ("dispatch", 0.5 * f),
        ("transfer", 6.0 * f),
        ("handle", 0.05 * hours),
        ("report", 0.3 * hours),
        ("rework", 4.0 * f),
        ("rereport", 0.2 * hours),
        ("close", 2.0 * f),
        ("evaluate", 24.0 * np.ones(len(inc))),
    ):
        sel = kind == _K[name]
        med[sel] = m[sel]
    dur = _lognormal_ms(np.maximum(med, 1e-3), 0.6, rng)
    dur[k == 0] = 0
    # A few cases stall at one step for days to months (backlog, waiting for
    # a department): with the year's end they are the long-open cases.
    stall_inc = np.flatnonzero(~voided & (rng.random(n) < 0.035))
    stall_at = rng.choice([1, 2, 3, 4, 5, 6], len(stall_inc), p=[0.08, 0.12, 0.2, 0.3, 0.18, 0.12])
    # stall_at numbers the moves register, dispatch, handle, report, close, evaluate.
    tr_s, rw_s = transfers[stall_inc], reworks[stall_inc]
    pos = np.select(
        [stall_at == 1, stall_at == 2, stall_at == 3, stall_at == 4, stall_at == 5],
        [1, 2, 3 + tr_s, 4 + tr_s, 5 + tr_s + 2 * rw_s],
        6 + tr_s + 2 * rw_s,
    )
    dur[first[stall_inc] + pos] += (rng.uniform(3, 150, len(stall_inc)) * _DAY).astype(np.int64)

    cs = np.cumsum(dur)
    t = t0[inc] + cs - (cs[first] - dur[first])[inc]
    keep = t <= end_ms
    kept = np.bincount(inc, keep, n).astype(int)
    last = first + kept - 1

    # Per incident, from the events that happened.
    step = _TO[kind[last]]
    dispatched = ~voided & (kept >= 3)
    dispatched_at = np.where(dispatched, t[np.minimum(first + 2, len(t) - 1)], -1)
    close_pos = 5 + transfers + 2 * reworks
    closed = ~voided & (kept > close_pos)
    closed_at = np.where(closed, t[np.minimum(first + close_pos, len(t) - 1)], -1)
    evaluated = closed & (kept > close_pos + 1)
    transfer_count = np.clip(kept - 3, 0, transfers)
    rework_count = np.clip(np.ceil((kept - 5 - transfers) / 2), 0, reworks).astype(int)
    deadline = np.where(dispatched, dispatched_at + (dl * _HOUR).astype(np.int64), -1)

    # Who handles it: the closing level, then a unit or department of that level.
    level = _pick(np.array([LEVEL_SHARES[c] for c in INCIDENT_CATEGORIES]), cat, rng)
    moved = transfers > 0
    level[moved] = rng.choice([2, 3, 4], int(moved.sum()), p=[0.3, 0.3, 0.4])
    dep_choice = np.floor(rng.random(n) * 6).astype(int)
    dept_table = np.array(
        [[DEPARTMENTS[c][i % len(DEPARTMENTS[c])] for i in range(6)] for c in INCIDENT_CATEGORIES],
        dtype=object,
    )
    functional = dept_table[cat, dep_choice]
    sub_office = np.array([SUBDISTRICT_OFFICES[c] for c in INCIDENT_CATEGORIES], dtype=object)[cat]
    dept = np.select(
        [level == 0, level == 1, level == 2],
        [
            np.full(n, GRID_OFFICE, dtype=object),
            np.full(n, COMMUNITY_OFFICE, dtype=object),
            sub_office,
        ],
        functional,
    ).astype(object)
    # Earlier departments of a transferred case: another functional department.
    prior = dept_table[cat, (dep_choice + 1 + np.floor(rng.random(n) * 5).astype(int)) % 6]

    # Whistles: a few cases at dispatch, and every case sent back a third time.
    whistle_rand = dispatched & (rng.random(n) < 0.015)
    third = first + 5 + transfers + 4  # the third rework event
    whistle_auto = ~whistle_rand & (rework_count >= 3)
    whistled = whistle_rand | whistle_auto
    whistle_at = np.full(n, -1, dtype=np.int64)
    whistle_at[whistle_rand] = dispatched_at[whistle_rand]
    whistle_at[whistle_auto] = t[np.minimum(third, len(t) - 1)][whistle_auto]
    whistle_dept = np.where(whistled, functional, None)
    whistle_deadline = np.where(whistled, whistle_at + rng.choice([24, 48], n) * _HOUR, -1)

    late = closed & (closed_at > deadline)
    sat_p = np.where(
        ((reworks > 0) | late)[:, None],
        np.array([[0.70, 0.18, 0.12]]),
        np.array([[0.87, 0.09, 0.04]]),
    )
    sat = _pick(sat_p, np.arange(n), rng)
    satisfaction = np.where(evaluated, np.array(SATISFACTION, dtype=object)[sat], None)

    # Event actors and notes.
    ev = np.flatnonzero(keep)
    ei, ek, kk = inc[ev], kind[ev], k[ev]
    actor = np.full(len(ev), "指挥中心", dtype=object)
    actor[ek == _K["collect"]] = np.array(_SOURCE_ACTOR, dtype=object)[
        source[ei[ek == _K["collect"]]]
    ]
    work = (ek == _K["handle"]) | (ek == _K["report"]) | (ek == _K["rereport"])
    actor[work] = dept[ei[work]]
    actor[ek == _K["close"]] = "网格员"
    note = np.full(len(ev), None, dtype=object)
    m = ek == _K["void"]
    note[m] = _VOID_NOTES[rng.integers(0, 3, int(m.sum()))]
    m = ek == _K["dispatch"]
    first_dept = np.where(transfers > 0, prior, dept)
    note[m] = "派遣至" + first_dept[ei[m]]
    m = ek == _K["transfer"]
    last_transfer = kk == 2 + transfers[ei]
    note[m] = "转派至" + np.where(last_transfer[m], dept[ei[m]], prior[ei[m]])
    note[ek == _K["rework"]] = "核查未通过，发回重办"
    note[ek == _K["close"]] = "现场核查通过，结案"
    m = ek == _K["evaluate"]
    note[m] = "回访：" + np.array(_SATISFACTION_ZH, dtype=object)[sat[ei[m]]]
    m = (ek == _K["dispatch"]) & whistle_rand[ei]
    note[m] = note[m] + "；街道吹哨，" + whistle_dept[ei[m]] + "报到"
    m = (ev == third[ei]) & whistle_auto[ei]
    note[m] = "核查未通过，第三次发回重办，自动吹哨：" + whistle_dept[ei[m]] + "报到"

    # Ids: E, the (Beijing) year the data start in, a serial.
    year = int(np.datetime64(int(start_ms + _BEIJING), "ms").astype("datetime64[Y]").astype(int))
    ids = np.array([f"E{year + 1970}{i + 1:06d}" for i in range(n)], dtype=object)
    source_ids = np.array(INCIDENT_SOURCES, dtype=object)[source]
    reporter_name, reporter_phone = _reporters(source_ids)
    description = places.grid_name[grid] + "：" + subcat
    # A hotline case's text carries the caller's number, as 12345 tickets do:
    # gridmap.privacy masks it for the roles that must not see it.
    hotline = source_ids == "hotline_12345"
    description[hotline] = description[hotline] + "（来电号码 " + reporter_phone[hotline] + "）"
    incidents = pd.DataFrame(
        {
            "id": ids,
            "category": cats[cat],
            "subcategory": subcat,
            "source": source_ids,
            "description": description,
            "step": step,
            "grid_code": places.grid_code[grid],
            "building_code": building,
            "department": np.where(dispatched, dept, None),
            "closed_level": np.where(closed, np.array(CLOSING_LEVELS, dtype=object)[level], None),
            "whistled": whistled,
            "deadline": deadline,
            "reported_at": t0,
            "closed_at": closed_at,
            "satisfaction": satisfaction,
            "rework_count": rework_count,
            "transfer_count": transfer_count,
            "version": kept,
            "dispatched_at": dispatched_at,
            "whistle_department": whistle_dept,
            "whistle_deadline": whistle_deadline,
            "updated_at": t[last],
            "reporter_name": reporter_name,
            "reporter_phone": reporter_phone,
            "x": x,
            "y": y,
        }
    )
    events = pd.DataFrame(
        {
            "incident_id": ids[ei],
            "at": t[ev],
            "actor": actor,
            "from_step": _FROM[ek],
            "to_step": _TO[ek],
            "note": note,
        }
    )
    return incidents, events

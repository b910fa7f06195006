"""gridmap.incidents: the closed-loop state machine, locating, and the KPIs."""

from __future__ import annotations

import copy
import itertools
import math
import shutil

import numpy as np
import pandas as pd
import pytest
import shapely

from gridmap import incidents as inc
from gridmap.errors import CodeError, GridmapError
from gridmap.incidents import (
    DEADLINE_HOURS,
    MOVES,
    STEPS,
    WHISTLE_HOURS,
    TransitionError,
    locate,
    move,
    transfer,
    unit_metrics,
    unit_metrics_one,
    whistle,
)
from gridmap.schema import LAYERS

import fixtures as fx

T0 = pd.Timestamp("2025-06-01 00:00", tz="UTC")


def _h(hours: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(hours=hours)


def _incident(step: str = "collected", **values: object) -> dict:
    """A stored incident row as the store returns it (missing values as NaN/NaT)."""
    row: dict = {c: None for c in LAYERS["incidents"].column_names}
    row.update(
        id="E1",
        category="city_appearance",
        source="patrol",
        step=step,
        grid_code=fx.G_NORTH,
        whistled=False,
        reported_at=T0,
        rework_count=0,
        transfer_count=0,
        version=1,
        updated_at=T0,
        deadline=pd.NaT,
        closed_at=pd.NaT,
        department=float("nan"),
    )
    row.update(values)
    return row


def _args_for(from_step: str, to_step: str) -> dict:
    """What each allowed move needs."""
    if to_step == "dispatched":
        return {"department": "城管局" if from_step == "registered" else "住建局"}
    if to_step == "closed":
        return {"closed_level": "grid"}
    if to_step == "evaluated":
        return {"satisfaction": "satisfied"}
    return {}


ALLOWED = [(a, b) for a, tos in MOVES.items() for b in tos]
FORBIDDEN = [(a, b) for a, b in itertools.product(STEPS, STEPS) if b not in MOVES[a]]


# -- the state machine ----------------------------------------------------------------


def test_the_state_machine_is_the_one_of_the_domain():
    assert set(MOVES) == set(STEPS)
    assert sorted(ALLOWED) == sorted(
        [
            ("collected", "registered"),
            ("collected", "voided"),
            ("registered", "dispatched"),
            ("dispatched", "handling"),
            ("dispatched", "dispatched"),  # transfer
            ("handling", "reported_back"),
            ("handling", "dispatched"),  # transfer
            ("reported_back", "closed"),
            ("reported_back", "handling"),  # rework
            ("closed", "evaluated"),
        ]
    )
    assert len(FORBIDDEN) == 64 - 10


def test_the_move_table_is_the_one_source():
    # MOVES, WHISTLE_STEPS and the named moves are all drawn from MOVE_TABLE.
    assert all(m.from_step in STEPS and m.to_step in STEPS for m in inc.MOVE_TABLE)
    steps = [(m.from_step, m.to_step) for m in inc.MOVE_TABLE if m.name != "whistle"]
    assert steps == ALLOWED and len(set(steps)) == len(steps)
    whistles = [m for m in inc.MOVE_TABLE if m.name == "whistle"]
    assert all(m.from_step == m.to_step for m in whistles)
    assert tuple(m.from_step for m in whistles) == ("registered", "dispatched", "handling")
    assert inc.WHISTLE_STEPS == ("registered", "dispatched", "handling")
    names = {(m.from_step, m.to_step): m.name for m in inc.MOVE_TABLE if m.name != "whistle"}
    assert names["dispatched", "dispatched"] == names["handling", "dispatched"] == "transfer"
    assert names["reported_back", "handling"] == "rework"


@pytest.mark.parametrize(("from_step", "to_step"), ALLOWED)
def test_every_allowed_move(from_step, to_step):
    before = _incident(from_step, department="网格工作站", dispatched_at=_h(1), deadline=_h(49))
    frozen = copy.deepcopy(before)
    row, events = move(before, to_step, actor="张三", at=_h(5), **_args_for(from_step, to_step))
    assert before == frozen or all(  # never mutated (NaN != NaN, so compare as text)
        str(before[k]) == str(frozen[k]) for k in frozen
    )
    assert row["step"] == to_step
    assert row["updated_at"] == _h(5) and row["version"] == 2
    assert events[0] == {
        "incident_id": "E1",
        "at": _h(5),
        "actor": "张三",
        "from_step": from_step,
        "to_step": to_step,
        "note": events[0]["note"],
    }
    assert set(row) == set(before)  # no new keys: the row fits the schema


@pytest.mark.parametrize(("from_step", "to_step"), FORBIDDEN)
def test_every_forbidden_move_is_refused(from_step, to_step):
    with pytest.raises(TransitionError) as caught:
        move(_incident(from_step), to_step, actor="x", at=_h(1), **_args_for("x", to_step))
    error = caught.value
    assert (error.from_step, error.to_step) == (from_step, to_step)
    assert error.allowed == MOVES[from_step]
    text = str(error)
    assert f"from '{from_step}' to '{to_step}'" in text
    for allowed in MOVES[from_step]:
        assert allowed in text
    if not MOVES[from_step]:
        assert "final" in text


def test_unknown_steps_are_refused():
    with pytest.raises(TransitionError, match="not an incident step"):
        move(_incident("collected"), "solved", actor="x", at=_h(1))
    with pytest.raises(TransitionError, match="no known step"):
        move(_incident("limbo"), "registered", actor="x", at=_h(1))


def test_dispatch_starts_the_clock():
    row, events = move(
        _incident("registered"), "dispatched", department="城管局", actor="指挥中心", at=_h(3)
    )
    assert row["dispatched_at"] == _h(3)
    assert row["deadline"] == _h(3 + DEADLINE_HOURS["city_appearance"]) == _h(51)
    assert row["department"] == "城管局"
    assert events[0]["note"] == "派遣至城管局"
    # Local rules override the defaults.
    row, _ = move(
        _incident("registered", category="emergency"),
        "dispatched",
        department="应急管理局",
        actor="x",
        at=_h(3),
        deadline_hours={"emergency": 0.5},
    )
    assert row["deadline"] == _h(3.5)
    with pytest.raises(TransitionError, match="needs the department"):
        move(_incident("registered"), "dispatched", actor="x", at=_h(3))


def test_transfers_count_and_keep_the_clock():
    row, _ = move(_incident("registered"), "dispatched", department="城管局", actor="x", at=_h(1))
    row, events = transfer(row, department="住建局", actor="x", at=_h(2), note="不属本部门")
    assert events[0]["from_step"] == "dispatched" and events[0]["to_step"] == "dispatched"
    assert events[0]["note"] == "转派至住建局；不属本部门"
    row, _ = move(row, "handling", actor="住建局", at=_h(3))
    # move() to dispatched from handling is the same transfer.
    row, events = move(row, "dispatched", department="自然资源局", actor="x", at=_h(4))
    assert events[0]["from_step"] == "handling"
    assert row["transfer_count"] == 2 and row["department"] == "自然资源局"
    assert row["dispatched_at"] == _h(1) and row["deadline"] == _h(49)  # ping-pong buys no time
    assert row["version"] == 5
    with pytest.raises(TransitionError, match="another department than '自然资源局'"):
        transfer(row, department="自然资源局", actor="x", at=_h(5))
    with pytest.raises(TransitionError, match="cannot transfer"):
        transfer(_incident("registered"), department="城管局", actor="x", at=_h(5))


def test_the_third_rework_blows_the_whistle():
    row = _incident("reported_back", department="城管局", dispatched_at=_h(1), deadline=_h(49))
    for i in range(1, 4):
        row, events = move(row, "handling", actor="网格员", at=_h(10 * i), note="未整改到位")
        assert row["rework_count"] == i
        if i < 3:
            assert not row["whistled"] and len(events) == 1
            row, _ = move(row, "reported_back", actor="城管局", at=_h(10 * i + 5))
    assert row["whistled"] is True
    assert row["whistle_department"] == "城管局"  # the case's department is called in
    assert row["whistle_deadline"] == _h(30 + WHISTLE_HOURS)
    assert [e["to_step"] for e in events] == ["handling", "handling"]
    assert events[1]["from_step"] == "handling" and "自动吹哨" in events[1]["note"]
    # With the subdistrict's escalation department and its own deadline.
    again = _incident("reported_back", rework_count=2, department="城管局")
    row, _ = move(
        again, "handling", actor="x", at=_h(1), escalation_department="街道办", whistle_hours=48
    )
    assert row["whistle_department"] == "街道办" and row["whistle_deadline"] == _h(49)
    # A case already whistled keeps its whistle; a fourth rework adds none.
    done = _incident("reported_back", rework_count=3, whistled=True, whistle_department="住建局")
    row, events = move(done, "handling", actor="x", at=_h(1))
    assert row["rework_count"] == 4 and row["whistle_department"] == "住建局" and len(events) == 1


@pytest.mark.parametrize("step", STEPS)
def test_whistle_at_registered_dispatched_or_handling_only(step):
    if step in ("registered", "dispatched", "handling"):
        row, events = whistle(
            _incident(step), department="住建局", hours=48, actor="街道", at=_h(2), note="多次投诉"
        )
        assert row["step"] == step and row["whistled"] is True
        assert row["whistle_department"] == "住建局" and row["whistle_deadline"] == _h(50)
        assert events == [
            {
                "incident_id": "E1",
                "at": _h(2),
                "actor": "街道",
                "from_step": step,
                "to_step": step,
                "note": "街道吹哨：住建局报到（48小时内）；多次投诉",
            }
        ]
    else:
        with pytest.raises(TransitionError, match="cannot blow the whistle"):
            whistle(_incident(step), department="住建局", actor="街道", at=_h(2))


def test_whistle_needs_a_department_and_hours():
    with pytest.raises(TransitionError, match="department"):
        whistle(_incident("handling"), department="", actor="x", at=_h(1))
    with pytest.raises(TransitionError, match="above zero"):
        whistle(_incident("handling"), department="住建局", hours=0, actor="x", at=_h(1))


def test_closing_and_evaluating_need_their_answers():
    with pytest.raises(TransitionError, match="closed_level= one of: grid") as caught:
        move(_incident("reported_back"), "closed", actor="x", at=_h(1))
    # The core names the option; the CLI shows it as its flag.
    flags = {"closed_level": "--closed-level"}
    assert "give --closed-level one of: grid" in caught.value.render(flags)
    with pytest.raises(TransitionError, match="not 'street'"):
        move(_incident("reported_back"), "closed", closed_level="street", actor="x", at=_h(1))
    row, _ = move(_incident("reported_back"), "closed", closed_level="grid", actor="x", at=_h(1))
    assert row["closed_at"] == _h(1) and row["closed_level"] == "grid"
    with pytest.raises(TransitionError, match="satisfaction= one of"):
        move(row, "evaluated", actor="x", at=_h(2))
    row, _ = move(row, "evaluated", satisfaction="basically_satisfied", actor="x", at=_h(2))
    assert row["satisfaction"] == "basically_satisfied" and row["closed_at"] == _h(1)


def test_arguments_of_other_moves_are_refused():
    with pytest.raises(TransitionError, match="takes no closed_level"):
        move(_incident("collected"), "registered", closed_level="grid", actor="x", at=_h(1))
    with pytest.raises(TransitionError, match="takes no department"):
        move(_incident("dispatched"), "handling", department="城管局", actor="x", at=_h(1))
    with pytest.raises(TransitionError, match="takes no satisfaction"):
        move(_incident("reported_back"), "closed", closed_level="grid", satisfaction="satisfied",
             actor="x", at=_h(1))  # fmt: skip


def test_time_runs_forward_and_is_utc():
    with pytest.raises(TransitionError, match="last change"):
        move(_incident("collected", updated_at=_h(5)), "registered", actor="x", at=_h(4))
    with pytest.raises(ValueError, match="no time zone"):
        move(_incident("collected"), "registered", actor="x", at=pd.Timestamp("2025-06-02"))
    beijing = pd.Timestamp("2025-06-01 10:00", tz="Asia/Shanghai")
    row, events = move(_incident("collected"), "registered", actor="x", at=beijing)
    assert row["updated_at"] == _h(2) and str(events[0]["at"].tz) == "UTC"


def test_a_whole_life():
    row, log = _incident(), []
    for to, kw in [
        ("registered", {}),
        ("dispatched", {"department": "城管局"}),
        ("handling", {}),
        ("reported_back", {}),
        ("handling", {}),  # rework
        ("reported_back", {}),
        ("closed", {"closed_level": "community"}),
        ("evaluated", {"satisfaction": "dissatisfied"}),
    ]:
        row, events = move(row, to, actor="x", at=_h(len(log) + 1), **kw)
        log += events
    assert [e["to_step"] for e in log][-1] == "evaluated"
    assert row["rework_count"] == 1 and row["version"] == 9
    assert all(a["to_step"] == b["from_step"] for a, b in itertools.pairwise(log))


# -- metrics on a hand-computed fixture --------------------------------------------------

G1, G2, G3, G4 = fx.G_NORTH, fx.G_SOUTH, fx.G_WEST, fx.G_EAST  # G1, G2 in WEST; G3, G4 in EAST
NOW = _h(216)
NAT = None
CA, RR = "city_appearance", "resident_request"


def _metrics_fixture() -> pd.DataFrame:
    """Fourteen incidents; times in hours after T0; the window is [0, 215) h."""
    rows = [
        # grid, category, step, reported, dispatched, deadline, closed, level, satisfaction,
        # reworks, transfers, whistled
        (G1, CA, "evaluated", 0, 1, 49, 10, "grid", "satisfied", 0, 0, False),
        (G1, CA, "evaluated", 0, 1, 49, 60, "community", "dissatisfied", 1, 0, False),
        (G1, "street_order", "closed", 10, 11, 35, 30, "grid", None, 0, 2, False),
        (G1, "dispute", "handling", 100, 101, 173, NAT, None, None, 0, 1, True),
        (G1, "other", "voided", 5, NAT, NAT, NAT, None, None, 0, 0, False),
        (G2, RR, "evaluated", 20, 21, 141, 50, "grid", "basically_satisfied", 3, 0, True),
        # A dispatched case without a stored deadline: dispatched_at + configured hours.
        (G2, RR, "reported_back", 200, 201, NAT, NAT, None, None, 0, 0, False),
        (G2, "emergency", "collected", 210, NAT, NAT, NAT, None, None, 0, 0, False),
        (G3, "facility", "evaluated", 0, 2, 98, 100, "department", "satisfied", 1, 3, False),
        (G3, "facility", "closed", 30, 31, 127, 70, None, None, 0, 0, False),  # level unknown
        (G3, "safety_hazard", "registered", 150, NAT, NAT, NAT, None, None, 0, 0, False),
        # Before the window; at its end (out: the window is half-open); without a grid.
        (G3, CA, "evaluated", -48, -47, 1, 0, "grid", "satisfied", 0, 0, False),
        (G3, "other", "collected", 215, NAT, NAT, NAT, None, None, 0, 0, False),
        (None, "other", "collected", 1, NAT, NAT, NAT, None, None, 0, 0, False),
    ]  # fmt: skip

    def t(h):
        return pd.NaT if h is None else _h(h)

    cols = list(zip(*rows, strict=True))
    return pd.DataFrame(
        {
            "id": [f"E{i}" for i in range(len(rows))],
            "grid_code": pd.array(cols[0], dtype="str"),
            "category": pd.array(cols[1], dtype="str"),
            "step": pd.array(cols[2], dtype="str"),
            "reported_at": [t(h) for h in cols[3]],
            "dispatched_at": pd.Series([t(h) for h in cols[4]], dtype="datetime64[ms, UTC]"),
            "deadline": pd.Series([t(h) for h in cols[5]], dtype="datetime64[ms, UTC]"),
            "closed_at": pd.Series([t(h) for h in cols[6]], dtype="datetime64[ms, UTC]"),
            "closed_level": pd.array(cols[7], dtype="str"),
            "satisfaction": pd.array(cols[8], dtype="str"),
            "rework_count": pd.array(cols[9], dtype="Int64"),
            "transfer_count": pd.array(cols[10], dtype="Int64"),
            "whistled": np.array(cols[11], dtype=bool),
        }
    )


# By hand. G1: #1 on time (10 h), #2 closed late (60 h), #3 on time (20 h), #4 open and past its
# deadline (173 < 216), #5 voided. G2: #6 on time (30 h), #7 open, deadline 201 + 120 = 321 not
# passed, #8 open without deadline. G3: #9 late (100 > 98; 100 h), #10 on time (40 h), #11 open
# without deadline; #12 and #13 lie outside the window, #14 has no grid.
EXPECTED_GRIDS = {
    G1: {
        "count": 5, "step_evaluated": 2, "step_closed": 1, "step_handling": 1, "step_voided": 1,
        "category_city_appearance": 2, "category_street_order": 1, "category_dispute": 1,
        "category_other": 1, "open": 1, "overdue": 2, "closed": 3, "on_time": 2,
        "on_time_closure_rate": 2 / 3,
        "median_hours_to_close": 20.0,  # of 10, 20, 60
        "p90_hours_to_close": 52.0,  # position 0.9 × 2 = 1.8: 20 + 0.8 × (60 − 20)
        "grid_level": 2, "grid_level_share": 2 / 3, "transferred_twice": 1, "reworked": 1,
        "rework_rate": 1 / 3, "answered": 2, "satisfied": 1, "satisfaction_rate": 0.5,
        "whistled": 1,
    },
    G2: {
        "count": 3, "step_evaluated": 1, "step_reported_back": 1, "step_collected": 1,
        "category_resident_request": 2, "category_emergency": 1, "open": 2, "overdue": 0,
        "closed": 1, "on_time": 1, "on_time_closure_rate": 1.0, "median_hours_to_close": 30.0,
        "p90_hours_to_close": 30.0, "grid_level": 1, "grid_level_share": 1.0,
        "transferred_twice": 0, "reworked": 1, "rework_rate": 1.0, "answered": 1, "satisfied": 1,
        "satisfaction_rate": 1.0,  # basically satisfied counts as satisfied
        "whistled": 1,
    },
    G3: {
        "count": 3, "step_evaluated": 1, "step_closed": 1, "step_registered": 1,
        "category_facility": 2, "category_safety_hazard": 1, "open": 1, "overdue": 1,
        "closed": 2, "on_time": 1, "on_time_closure_rate": 0.5,
        "median_hours_to_close": 70.0,  # of 40, 100
        "p90_hours_to_close": 94.0,  # 40 + 0.9 × 60
        "grid_level": 0, "grid_level_share": 0.0,  # of the one closed case with a known level
        "transferred_twice": 1, "reworked": 1, "rework_rate": 0.5, "answered": 1,
        "satisfied": 1, "satisfaction_rate": 1.0, "whistled": 0,
    },
}  # fmt: skip
# The west community: G1 + G2; hours to close 10, 20, 30, 60.
EXPECTED_WEST = {
    "count": 8, "open": 3, "overdue": 2, "closed": 4, "on_time": 3, "on_time_closure_rate": 0.75,
    "median_hours_to_close": 25.0, "p90_hours_to_close": 51.0,  # 30 + 0.7 × 30
    "grid_level": 3, "grid_level_share": 0.75, "transferred_twice": 1, "reworked": 2,
    "rework_rate": 0.5, "answered": 3, "satisfied": 2, "satisfaction_rate": 2 / 3, "whistled": 2,
}  # fmt: skip


def _window(**kw):
    return unit_metrics(_metrics_fixture(), start=T0, end=_h(215), now=NOW, **kw)


def _check(row: pd.Series | dict, expected: dict) -> None:
    for key, value in expected.items():
        assert row[key] == pytest.approx(value), key


def test_metrics_by_grid_by_hand():
    table = _window(level="grid")
    assert list(table.index) == [G1, G2, G3]
    for code, expected in EXPECTED_GRIDS.items():
        _check(table.loc[code], expected)
        zero = [c for c in table.columns if c.startswith(("step_", "category_"))]
        for c in zero:
            assert table.loc[code, c] == expected.get(c, 0), (code, c)
    assert table["count"].dtype == np.int64 and table["on_time_closure_rate"].dtype == np.float64


def test_metrics_by_community_subdistrict_district():
    _check(_window(level="community").loc[fx.WEST], EXPECTED_WEST)
    _check(_window(level="community").loc[fx.EAST], EXPECTED_GRIDS[G3])
    for level, code in (("subdistrict", fx.SUBDISTRICT), ("district", fx.DISTRICT)):
        table = _window(level=level)
        assert list(table.index) == [code]
        _check(
            table.loc[code],
            {"count": 11, "closed": 6, "open": 4, "overdue": 3, "on_time_closure_rate": 4 / 6},
        )


def test_metrics_window_now_and_configured_deadlines():
    everything = unit_metrics(_metrics_fixture(), "grid", now=NOW)
    assert everything.loc[G3, "count"] == 5  # #12 and #13 back in the window
    # With a 10 h deadline for resident requests, #7 (dispatched at 201 h) is overdue at 216 h;
    # #6 keeps its stored deadline.
    table = _window(level="grid", deadline_hours={"resident_request": 10})
    assert table.loc[G2, "overdue"] == 1 and table.loc[G2, "on_time"] == 1
    # Earlier, #4 is not yet overdue.
    assert unit_metrics(_metrics_fixture(), "grid", now=_h(150)).loc[G1, "overdue"] == 1


def test_metrics_list_units_without_incidents():
    table = _window(level="grid", grids=fx.valid_layers()["grids"])
    assert list(table.index) == [G1, G2, G3, G4]
    assert table.loc[G4, "count"] == 0 and math.isnan(table.loc[G4, "on_time_closure_rate"])
    empty = unit_metrics(_metrics_fixture().iloc[:0], "community")
    assert len(empty) == 0 and "satisfaction_rate" in empty.columns


def test_metrics_accept_object_and_category_columns():
    frame = _metrics_fixture()
    frame = frame.astype({"step": "category", "category": object, "grid_code": "category"})
    table = unit_metrics(frame, "grid", start=T0, end=_h(215), now=NOW)
    _check(table.loc[G1], EXPECTED_GRIDS[G1])


def test_metrics_of_one_unit_for_stats():
    one = unit_metrics_one(_metrics_fixture(), fx.WEST, start=T0, end=_h(215), now=NOW)
    _check(one, EXPECTED_WEST)
    assert type(one["count"]) is int and type(one["satisfaction_rate"]) is float
    assert list(one)[:2] == ["count", "step_collected"]
    from gridmap.stats import format_stats

    text = format_stats({"code": fx.WEST, "incidents": one}, lang="en")
    assert "75.0%" in text  # rates print as percentages
    quiet = unit_metrics_one(_metrics_fixture(), G4, now=NOW)
    assert quiet["count"] == 0 and quiet["on_time_closure_rate"] is None
    with pytest.raises(CodeError):
        unit_metrics_one(_metrics_fixture(), G1 + "001")
    with pytest.raises(CodeError):
        unit_metrics(_metrics_fixture(), "building")
    with pytest.raises(GridmapError, match="not a date"):
        unit_metrics(_metrics_fixture(), "grid", start="last year")


# -- locate on the hand-made hierarchy -----------------------------------------------


def test_locate_grid_building_and_reasons():
    layers = fx.valid_layers()
    points = pd.Series(
        [
            shapely.Point(113.0045, 25.7889),  # north grid, far from its buildings
            shapely.Point(113.0026, 25.7872),  # ~20 m east of building 001 of the north grid
            shapely.Point(113.0101, 25.7851),  # west grid, 10 m from the north grid's edge
            shapely.Point(113.0300, 25.7850),  # outside the district
            None,
            shapely.Point(113.010, 25.786),  # on the shared edge: the grid to its right
        ],
        index=[10, 11, 12, 13, 14, 15],
    )
    import geopandas as gpd

    gdf = gpd.GeoDataFrame(geometry=gpd.GeoSeries(points, crs="EPSG:4326"))
    out = locate(gdf, layers["grids"], layers["buildings"])
    assert list(out.index) == [10, 11, 12, 13, 14, 15]
    assert out["grid_code"].tolist()[:3] == [G1, G1, G3]
    assert out.loc[15, "grid_code"] == G3
    assert out.loc[11, "building_code"] == G1 + "001"
    assert pd.isna(out.loc[10, "building_code"])
    assert pd.isna(out.loc[12, "building_code"])  # building 001 of G3 is ~100 m away
    assert pd.isna(out.loc[13, "grid_code"])
    assert out.loc[13, "reason"].startswith("the location lies outside every grid (1,00")
    assert out.loc[14, "reason"] == "the incident has no location"
    assert out["reason"].isna().tolist() == [True, True, True, False, False, True]


def test_locate_takes_buildings_of_the_point_s_own_grid_only():
    layers = fx.valid_layers()
    import geopandas as gpd

    # 5 m south of the north grid's building 001 would be 5 m from it, but a point in
    # the south grid must not get a building of the north grid.
    b = layers["buildings"]
    b = b.assign(
        geometry=b.geometry.where(
            b["code"] != G1 + "001", shapely.box(113.002, 25.7851, 113.0024, 25.7855)
        )
    )
    pt = gpd.GeoSeries([shapely.Point(113.0022, 25.7849)], crs="EPSG:4326")
    out = locate(pt, layers["grids"], b)
    assert out.loc[0, "grid_code"] == G2 and pd.isna(out.loc[0, "building_code"])
    out = locate(pt, layers["grids"], b, building_radius_m=500)  # its own, 390 m off
    assert out.loc[0, "building_code"] == G2 + "001"


# -- on the demo --------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(demo_path):
    from gridmap.store import open_store

    st = open_store(demo_path)
    names = ("incidents", "incident_events", "grids", "buildings", "metadata")
    return {name: st.read(name) for name in names}


@pytest.mark.slow
def test_metrics_on_the_demo_add_up(demo):
    from gridmap.demo import data_as_of

    # The demo's "now": the as-of its incidents end at, as the store records it.
    now = data_as_of(demo["metadata"])
    assert now is not None and demo["incidents"]["updated_at"].max() <= now
    incidents = demo["incidents"]
    for level in inc.METRIC_LEVELS:
        table = unit_metrics(incidents, level, now=now, grids=demo["grids"])
        assert table["count"].sum() == len(incidents)
        steps = table[[f"step_{s}" for s in STEPS]].sum(axis=1)
        cats = table.filter(like="category_").sum(axis=1)
        assert (steps == table["count"]).all() and (cats == table["count"]).all()
        assert (table["open"] + table["closed"] + table["step_voided"] == table["count"]).all()
        for col in [c for c in table.columns if c.endswith(("_rate", "_share"))]:
            values = table[col].dropna()
            assert ((values >= 0) & (values <= 1)).all(), col
        assert (table["on_time"] + table["overdue"] >= table["closed"]).all()
        assert (table["median_hours_to_close"] <= table["p90_hours_to_close"]).all()
    # Against plain pandas, by subdistrict.
    table = unit_metrics(incidents, "subdistrict", now=now)
    closed = incidents[incidents["step"].isin(["closed", "evaluated"])]
    hours = (closed["closed_at"] - closed["reported_at"]).dt.total_seconds() / 3600
    by = hours.groupby(closed["grid_code"].str[:9])
    assert np.allclose(table["median_hours_to_close"], by.median().to_numpy())
    assert np.allclose(table["p90_hours_to_close"], by.quantile(0.9).to_numpy())
    late = closed["closed_at"] > closed["deadline"]
    assert np.allclose(
        table["on_time_closure_rate"], 1 - late.groupby(closed["grid_code"].str[:9]).mean()
    )
    district = unit_metrics(incidents, "district", now=now).iloc[0]
    assert 0.8 < district["on_time_closure_rate"] < 0.98
    assert district["whistled"] == incidents["whistled"].sum()
    assert district["open"] == (~incidents["step"].isin(["closed", "evaluated", "voided"])).sum()


# What a case has before its first move.
_UNBORN = {
    **dict.fromkeys(
        ("department", "dispatched_at", "deadline", "closed_at", "closed_level", "satisfaction",
         "whistle_department", "whistle_deadline")
    ),
    "step": "collected", "rework_count": 0, "transfer_count": 0, "whistled": False,
}  # fmt: skip


# What the replay must reproduce (the department only by name: see below).
_REPLAYED = (
    "step", "rework_count", "transfer_count", "whistled", "closed_level", "satisfaction",
    "dispatched_at", "deadline", "closed_at", "updated_at", "whistle_department",
    "whistle_deadline",
)  # fmt: skip


def _same(a: object, b: object) -> bool:
    if pd.isna(a) or pd.isna(b):
        return bool(pd.isna(a) and pd.isna(b))
    return bool(a == b)


def _note_department(note: str, prefix: str) -> str:
    return note.split("；")[0].removeprefix(prefix)


@pytest.mark.slow
def test_every_demo_incident_replays_through_the_state_machine(demo):
    incidents, events = demo["incidents"], demo["incident_events"]
    # Every event is an allowed move, and each incident ends where its last event leads.
    pairs = set(zip(events["from_step"].fillna("-"), events["to_step"], strict=True))
    allowed = {("-", "collected")} | set(ALLOWED)
    assert pairs <= allowed
    last = events.groupby("incident_id")["to_step"].last()
    assert (last.loc[incidents["id"]].to_numpy() == incidents["step"].to_numpy()).all()
    reworks = events[(events["from_step"] == "reported_back") & (events["to_step"] == "handling")]
    counts = reworks.groupby("incident_id").size().reindex(incidents["id"], fill_value=0)
    assert (counts.to_numpy() == incidents["rework_count"].to_numpy()).all()

    # Replay a sample (cases sent back, transferred or whistled, and others) with move().
    rng = np.random.default_rng(1)
    eventful = (
        incidents["rework_count"].gt(0) | incidents["transfer_count"].gt(0) | incidents["whistled"]
    )
    chosen = np.concatenate(
        [
            rng.permutation(np.flatnonzero(eventful.to_numpy()))[:800],
            rng.permutation(np.flatnonzero(~eventful.to_numpy()))[:400],
        ]
    )
    pick = incidents.iloc[np.sort(chosen)]
    assert pick["rework_count"].max() >= 3 and pick["transfer_count"].max() >= 2
    by_id = {k: g for k, g in events[events["incident_id"].isin(pick["id"])].groupby("incident_id")}
    for stored in pick.to_dict("records"):
        log = by_id[stored["id"]]
        row = {**stored, **_UNBORN, "updated_at": stored["reported_at"]}
        for i, ev in enumerate(log.iloc[1:].to_dict("records")):
            to, at = ev["to_step"], ev["at"]
            note = ev["note"] if isinstance(ev["note"], str) else ""
            kw: dict = {}
            if to == "dispatched":
                prefix = "派遣至" if ev["from_step"] == "registered" else "转派至"
                # Demo transfers may name the same department twice: keep them distinct.
                kw["department"] = f"{_note_department(note, prefix)}#{i}"
            elif to == "closed":
                kw["closed_level"] = stored["closed_level"]
            elif to == "evaluated":
                kw["satisfaction"] = stored["satisfaction"]
            elif to == "handling" and ev["from_step"] == "reported_back" and stored["whistled"]:
                whistle_hours = (stored["whistle_deadline"] - at) / pd.Timedelta(hours=1)
                kw["escalation_department"] = stored["whistle_department"]
                kw["whistle_hours"] = whistle_hours
            row, _ = move(row, to, actor=ev["actor"], at=at, **kw)
            if "吹哨" in note and to == "dispatched":
                h = (stored["whistle_deadline"] - at) / pd.Timedelta(hours=1)
                row, _ = whistle(
                    row, department=stored["whistle_department"], hours=h, actor="街道", at=at
                )
        for key in _REPLAYED:
            assert _same(row[key], stored[key]), (stored["id"], key, row[key], stored[key])


@pytest.mark.slow
def test_locate_agrees_with_the_demo(demo):
    incidents, grids, buildings = demo["incidents"], demo["grids"], demo["buildings"]
    out = locate(incidents, grids, buildings)
    assert out["reason"].isna().all()
    assert (out["grid_code"] == incidents["grid_code"]).all()
    same = out["building_code"].fillna("-") == incidents["building_code"].fillna("-")
    assert same.all()
    # And every building found is within 30 m, in its grid.
    at = out[out["building_code"].notna()]
    assert (at["building_code"].str[:14] == at["grid_code"]).all()
    from gridmap.crs import to_metric

    b = to_metric(buildings).set_index("code").geometry
    p = to_metric(incidents.loc[at.index]).geometry
    d = shapely.distance(p.to_numpy(), b.loc[at["building_code"]].to_numpy())
    assert d.max() <= 30.0 + 1e-6


@pytest.mark.slow
def test_a_move_is_saved_by_the_store(demo_path, tmp_path):
    from gridmap.errors import ConflictError
    from gridmap.store import open_store

    path = tmp_path / "store.gpkg"
    shutil.copy(demo_path, path)
    st = open_store(path)
    frame = st.read("incidents", where={"step": "handling"}).iloc[:1]
    stored = frame.drop(columns="geometry").iloc[0].to_dict()
    at = stored["updated_at"] + pd.Timedelta(hours=1)
    row, events = move(stored, "reported_back", actor="网格员", at=at, note="已处理")
    st.move_incident(row, events, expected_version=int(stored["version"]))
    back = st.read("incidents", where={"id": stored["id"]}).iloc[0]
    assert back["step"] == "reported_back" and back["version"] == stored["version"] + 1
    assert back["updated_at"] == at
    with pytest.raises(ConflictError):
        st.move_incident(row, events, expected_version=int(stored["version"]))

"""A demo that moves: the rolling demo year, `gridmap simulate` and its core decisions.

The core and the CLI run on a tiny store made from :mod:`fixtures` (a second or
two); the runs on the session's demo, on both backends, and the subprocess cases
are marked slow.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import demo_on

from gridmap.cli import main
from gridmap.demo import REFERENCE_AS_OF, data_as_of, data_window
from gridmap.demo.incidents import FRESH_CASES, Places, build_incidents, epoch_ms
from gridmap.errors import GridmapError, InputError
from gridmap.incidents import DEADLINE_HOURS, MOVE_TABLE, OPEN_STEPS
from gridmap.schema import CLOSING_LEVELS, INCIDENT_CATEGORIES
from gridmap.simulate import (
    LABEL,
    MOVE_SHARES,
    SIMULATOR,
    check_count,
    check_every,
    movable,
    next_action,
    sites_of,
)
from gridmap.store import open_store

import fixtures as fx

#: The moves of the state machine, as (from step, to step, name).
MOVES = {(m.from_step, m.to_step, m.name) for m in MOVE_TABLE}

NOW = pd.Timestamp("2026-03-02T02:30:00Z")


def run(capsys, *args) -> tuple[int, str, str]:
    rc = main([str(a) for a in args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def _tiny_layers() -> dict:
    """The fixtures' hierarchy with its four cases made movable (a version, a last change)."""
    layers = fx.valid_layers()
    inc = layers["incidents"]
    inc["version"] = 1
    inc["updated_at"] = inc["reported_at"]
    inc["description"] = "夹具事件"
    return layers


@pytest.fixture
def tiny(tmp_path) -> Path:
    """A small synthetic store: four grids, six buildings, four cases."""
    path = tmp_path / "tiny.gpkg"
    meta = [
        {"layer": name, "source": "tests", "licence": "CC0", "synthetic": True}
        for name in ("grids", "buildings", "incidents")
    ]
    with open_store(path, create=True) as st:
        st.write(_tiny_layers(), metadata=meta)
    return path


# -- the core: each action a move the state machine accepts -----------------------------


def _apply(cases: dict, action) -> None:
    """The open cases (by id) after an action, as the store would hold them."""
    row = {k: v for k, v in action.incident.items() if k != "geometry"}
    cases.pop(action.incident_id, None)
    if row["step"] in OPEN_STEPS:
        cases[action.incident_id] = row


def test_actions_are_moves_of_the_state_machine_and_labelled():
    layers = _tiny_layers()
    sites = sites_of(layers["grids"], layers["buildings"])
    start = layers["incidents"].drop(columns="geometry").to_dict("records")
    cases = {r["id"]: r for r in start}
    rng = np.random.default_rng(5)
    now = NOW
    seen: set[str] = set()
    categories: set[str] = set()
    for _ in range(600):
        now = now + pd.Timedelta(seconds=5)
        before = cases
        action = next_action(pd.DataFrame(list(cases.values())), sites, now.to_pydatetime(), rng)
        seen.add(action.move)
        row, events = action.incident, action.events
        assert events and all(e["incident_id"] == action.incident_id for e in events)
        assert all(e["actor"] == SIMULATOR and LABEL in e["note"] for e in events)
        assert events[-1]["to_step"] == row["step"] and row["updated_at"] == now
        if action.new:
            categories.add(row["category"])
            assert action.expected_version is None and row["version"] == 1
            assert row["step"] == "collected" and events[0]["from_step"] is None
            assert row["description"].startswith(LABEL)
            assert row["reporter_name"] is None and row["reporter_phone"] is None
            assert row["grid_code"] in set(sites.grid_code)
            grid = layers["grids"].set_index("code").geometry[row["grid_code"]]
            assert shapely.contains(grid, row["geometry"])
            if row["building_code"] is not None:
                assert row["building_code"][:14] == row["grid_code"]
        else:
            old = before[action.incident_id]
            assert old["step"] in MOVE_SHARES
            assert action.expected_version == old["version"]
            assert row["version"] == old["version"] + 1
            # The first event is the move itself; a third rework adds the automatic whistle.
            first = events[0]
            assert (first["from_step"], first["to_step"], action.move) in MOVES
            assert first["from_step"] == old["step"]
            for e in events[1:]:
                assert (e["from_step"], e["to_step"], "whistle") in MOVES
            if action.move == "dispatch":
                assert row["department"] and row["dispatched_at"] == now
                hours = DEADLINE_HOURS[row["category"]]
                assert row["deadline"] == now + pd.Timedelta(hours=hours)
            if action.move == "transfer":
                assert row["department"] != old["department"]
                assert row["transfer_count"] == (old["transfer_count"] or 0) + 1
            if action.move == "close":
                assert row["closed_level"] in CLOSING_LEVELS and row["closed_at"] == now
            if action.move == "whistle":
                assert row["whistled"] and row["whistle_deadline"] > now
        cases = dict(cases)
        _apply(cases, action)
    assert seen == {"report"} | {name for shares in MOVE_SHARES.values() for name in shares}
    assert "emergency" in categories and categories <= set(INCIDENT_CATEGORIES)


def test_the_same_seed_makes_the_same_actions():
    layers = _tiny_layers()
    sites = sites_of(layers["grids"], layers["buildings"])
    cases = pd.DataFrame(layers["incidents"].drop(columns="geometry"))

    def actions(seed):
        rng = np.random.default_rng(seed)
        return [next_action(cases, sites, NOW.to_pydatetime(), rng) for _ in range(30)]

    a, b, c = actions(1), actions(1), actions(2)
    assert [(x.move, x.incident_id, x.events) for x in a] == [
        (x.move, x.incident_id, x.events) for x in b
    ]
    assert [x.incident_id for x in a] != [x.incident_id for x in c]


def test_recent_cases_are_moved_far_more_often():
    layers = _tiny_layers()
    sites = sites_of(layers["grids"], layers["buildings"])
    cases = pd.DataFrame(layers["incidents"].drop(columns="geometry"))
    old, fresh = cases.iloc[[0]].copy(), cases.iloc[[0]].copy()
    old["id"], fresh["id"] = "OLD", "FRESH"
    old["reported_at"] = old["updated_at"] = NOW - pd.Timedelta(days=30)
    fresh["reported_at"] = fresh["updated_at"] = NOW - pd.Timedelta(minutes=5)
    both = pd.concat([old, fresh], ignore_index=True)
    rng = np.random.default_rng(0)
    picked = [next_action(both, sites, NOW, rng, new_share=0).incident_id for _ in range(200)]
    assert picked.count("FRESH") > 190


def test_cases_changed_after_now_or_without_a_version_are_not_moved():
    cases = pd.DataFrame(_tiny_layers()["incidents"].drop(columns="geometry"))
    later = cases.copy()
    later["updated_at"] = NOW + pd.Timedelta(seconds=1)
    assert movable(later, NOW).empty
    unversioned = cases.copy()
    unversioned["version"] = pd.array([None] * len(cases), dtype="Int64")
    assert movable(unversioned, NOW).empty
    assert set(movable(cases, NOW)["step"]) == {"handling", "registered"}  # not closed, voided
    # Nothing to move: every action reports; nowhere to report either: an error.
    layers = _tiny_layers()
    sites = sites_of(layers["grids"], layers["buildings"])
    rng = np.random.default_rng(0)
    assert all(next_action(later, sites, NOW, rng).new for _ in range(5))
    with pytest.raises(InputError, match="no grids"):
        sites_of(layers["grids"].iloc[0:0], layers["buildings"])


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "-inf", "abc", "", 0, float("nan")])
def test_every_must_be_seconds_above_zero(value):
    with pytest.raises(InputError, match="every"):
        check_every(value)


def test_every_and_count_taken():
    assert check_every("0.01") == 0.01 and check_every(5) == 5.0
    assert check_count(None) is None and check_count("3") == 3
    for bad in ("0", "-2", "1.5", "x"):
        with pytest.raises(InputError, match="count"):
            check_count(bad)


# -- the CLI on a small store ------------------------------------------------------------


def _state(address) -> dict:
    with open_store(address) as st:
        return {
            "version": st.version(),
            "ids": set(st.read("incidents", columns=["id"])["id"]),
            "events": st.count("incident_events"),
            "audit": st.audit_log(),
        }


def _check_five_writes(address, before: dict) -> None:
    """Exactly five actions written by the simulator, each audited, every new case labelled."""
    after = _state(address)
    new_audit = after["audit"][len(before["audit"]) :]
    assert len(new_audit) == 5
    assert {a["user"] for a in new_audit} == {SIMULATOR}
    assert {a["action"] for a in new_audit} <= {"incident_create", "incident_move"}
    created = {a["target"] for a in new_audit if a["action"] == "incident_create"}
    assert after["ids"] - before["ids"] == created
    targets = sorted({a["target"] for a in new_audit})
    with open_store(address) as st:
        events = st.read("incident_events", where={"incident_id": targets})
        if created:
            new = st.read("incidents", where={"id": sorted(created)})
            assert len(new) == len(created)
            assert new["description"].str.startswith(LABEL).all()
            assert new["reporter_name"].isna().all() and new["reporter_phone"].isna().all()
    added = after["events"] - before["events"]
    assert added >= 5  # one per action; a third rework adds its whistle
    mine = events[events["actor"] == SIMULATOR]
    assert len(mine) == added and mine["note"].str.contains(LABEL).all()
    assert after["version"] != before["version"]


def test_simulate_count_writes_exactly_that_many_actions(capsys, tiny):
    before = _state(tiny)
    rc, out, err = run(capsys, "simulate", tiny, "--count", 5, "--every", "0.01", "--seed", 1)
    assert rc == 0, err
    assert err == ""
    _check_five_writes(tiny, before)
    lines = out.strip().splitlines()
    assert lines[0].startswith(f"正在向 {tiny} 写入合成事件")
    assert len(lines) == 1 + 5 + 1
    summary = lines[-1]
    new = sum(line.startswith("新增 S") for line in lines)
    assert summary == f"合成事件：新增 {new} 件，流转 {5 - new} 次"


def test_simulate_quiet_and_in_english(capsys, tiny):
    rc, out, err = run(
        capsys, "--lang", "en", "simulate", tiny, "-q", "--count", 3, "--every", "0.01"
    )
    assert rc == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 2 and lines[-1].startswith("simulated: ")
    assert lines[-1].endswith(" moved")


@pytest.mark.parametrize(
    "args, flag",
    [
        (["--every", "0"], "--every"),
        (["--every", "-3"], "--every"),
        (["--every", "nan"], "--every"),
        (["--every", "inf"], "--every"),
        (["--every", "soon"], "--every"),
        (["--count", "0"], "--count"),
        (["--count", "many"], "--count"),
    ],
)
def test_simulate_bad_options_are_one_line(capsys, tiny, args, flag):
    before = _state(tiny)["version"]
    rc, out, err = run(capsys, "simulate", tiny, *args)
    assert rc == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("gridmap: error: ") and flag in err
    assert _state(tiny)["version"] == before


def test_simulate_refuses_a_store_of_real_cases(capsys, tiny):
    with open_store(tiny) as st:
        st.write(
            {},
            metadata=[
                {"layer": "incidents", "source": "hotline", "licence": "x", "synthetic": False}
            ],
        )
    before = _state(tiny)["version"]
    rc, _out, err = run(capsys, "simulate", tiny, "--count", 1, "--every", "0.01")
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "real data" in err
    assert _state(tiny)["version"] == before


def test_simulate_a_missing_store_is_one_line(capsys, tmp_path):
    rc, out, err = run(capsys, "simulate", tmp_path / "none.gpkg", "--count", 1)
    assert rc == 2 and out == "" and len(err.strip().splitlines()) == 1


def test_a_failed_write_is_skipped_with_a_warning(capsys, tiny, monkeypatch):
    """A move made on a version that changed meanwhile: warned about, skipped, never a traceback."""
    import dataclasses

    import gridmap.services.simulate as svc

    real = svc.next_action
    calls = {"n": 0}

    def stale(cases, sites, now, rng, **kw):
        action = real(cases, sites, now, rng, new_share=0, **kw)
        calls["n"] += 1
        if calls["n"] == 1:  # someone else moved the case first
            return dataclasses.replace(action, expected_version=action.expected_version - 1)
        return action

    monkeypatch.setattr(svc, "next_action", stale)
    before = _state(tiny)
    rc, out, err = run(capsys, "simulate", tiny, "--count", 2, "--every", "0.01")
    assert rc == 0, err
    assert "Traceback" not in err
    assert err.count("跳过一次写入") == 1 and "changed since you read it" in err
    assert out.strip().splitlines()[-1] == "合成事件：新增 0 件，流转 2 次，跳过 1 次"
    assert len(_state(tiny)["audit"]) == len(before["audit"]) + 2


def test_simulate_gives_up_after_many_failed_writes(tiny, monkeypatch):
    import gridmap.services.simulate as svc

    def broken(*args, **kw):
        raise GridmapError("the store refused")

    monkeypatch.setattr(svc, "next_action", broken)
    warnings = []
    sim = svc.Simulation(str(tiny), every=0.001, on_skip=warnings.append)
    with pytest.raises(GridmapError, match="writes in a row failed"):
        sim.run()
    assert len(warnings) == svc.MAX_FAILURES == sim.report.skipped


def test_a_background_simulation_stops_when_told(tiny):
    from gridmap.services.simulate import Simulation

    before = _state(tiny)["version"]
    sim = Simulation(str(tiny), every=0.01, seed=3)
    sim.start()
    deadline = time.monotonic() + 10
    while sim.report.written < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    report = sim.stop(timeout=10)
    assert not sim._thread.is_alive()
    assert report.written >= 3 and report.skipped == 0
    written = report.written
    time.sleep(0.1)
    assert sim.report.written == written  # nothing more once stopped
    assert len(_state(tiny)["audit"]) == written and _state(tiny)["version"] != before


# -- the rolling demo year ---------------------------------------------------------------


def _tiny_places() -> Places:
    from gridmap.crs import utm_crs

    layers = _tiny_layers()
    metric = utm_crs(113.01, 25.785)
    grids = layers["grids"].to_crs(metric)
    blds = layers["buildings"].to_crs(metric)
    index = {c: i for i, c in enumerate(grids["code"])}
    grid_of = blds["grid_code"].map(index).to_numpy()
    order = np.argsort(grid_of, kind="stable")
    return Places(
        grid_geom=grids.geometry.to_numpy(),
        grid_code=grids["code"].to_numpy(dtype=object),
        grid_name=grids["name"].to_numpy(dtype=object),
        grid_pop=grids["population"].to_numpy(np.int64),
        bld_geom=blds.geometry.to_numpy()[order],
        bld_grid=grid_of[order],
        bld_code=blds["code"].to_numpy(dtype=object)[order],
        bld_pop=blds["population"].to_numpy(np.int64)[order],
    )


def _incidents(as_of, n=3000, seed=0):
    start, end = data_window(as_of)
    return build_incidents(
        _tiny_places(),
        n,
        DEADLINE_HOURS,
        epoch_ms(start),
        epoch_ms(end),
        np.random.default_rng(seed),
    )


def test_the_demo_year_ends_now_by_default():
    before = pd.Timestamp.now(tz="UTC").floor("s")
    start, end = data_window()
    assert before <= end <= pd.Timestamp.now(tz="UTC")
    assert end == end.floor("s") and end - start == pd.Timedelta(days=365)
    inc, _ = _incidents(None)
    reported = pd.to_datetime(inc["reported_at"], unit="ms", utc=True)
    assert reported.min() >= start and reported.max() <= end
    # Cases came in during the last minutes and hours; the newest are still open.
    assert end - reported.max() < pd.Timedelta(minutes=10)
    recent = inc[reported > end - pd.Timedelta(hours=3)]
    assert len(recent) >= FRESH_CASES
    assert recent["step"].isin(["collected", "registered", "dispatched"]).any()
    # ... reported "today", Beijing time, unless it is not yet ten past midnight there.
    local = reported.dt.tz_convert("Asia/Shanghai")
    today = end.tz_convert("Asia/Shanghai").normalize()
    if end.tz_convert("Asia/Shanghai") - today >= pd.Timedelta(minutes=10):
        assert (local >= today).sum() >= FRESH_CASES


def test_a_given_as_of_rebuilds_the_same_year():
    a_inc, a_ev = _incidents("2026-07-15T10:20:30+08:00")
    b_inc, b_ev = _incidents(pd.Timestamp("2026-07-15T02:20:30Z"))
    pd.testing.assert_frame_equal(a_inc, b_inc)
    pd.testing.assert_frame_equal(a_ev, b_ev)
    c_inc, _ = _incidents("2026-07-16T10:20:30+08:00")
    assert not c_inc["reported_at"].equals(a_inc["reported_at"])
    end = epoch_ms(pd.Timestamp("2026-07-15T02:20:30Z"))
    assert a_inc["reported_at"].max() <= end and a_ev["at"].max() <= end
    assert a_inc["id"].iloc[0] == "E2025000001"  # the year the data start in


def test_the_daily_rhythm_does_not_depend_on_the_hour_of_the_as_of():
    shares = []
    for as_of in ("2026-05-01T03:00+08:00", "2026-05-01T15:30+08:00"):
        inc, _ = _incidents(as_of, n=20_000)
        hour = pd.to_datetime(inc["reported_at"], unit="ms", utc=True).dt.tz_convert(
            "Asia/Shanghai"
        )
        shares.append(hour.dt.hour.between(8, 17).mean())
    assert abs(shares[0] - shares[1]) < 0.02 and shares[0] > 0.6


@pytest.mark.parametrize(
    "as_of, match",
    [("2026-07-15T10:20:30", "time zone"), ("1999-12-31T00:00Z", "before 2000"), ("x", "instant")],
)
def test_a_bad_as_of_is_refused(as_of, match):
    with pytest.raises(InputError, match=match):
        data_window(as_of)


@pytest.mark.slow
def test_demo_cli_bad_as_of_is_one_line(capsys, tmp_path):
    rc, out, err = run(
        capsys, "demo", "--out", tmp_path / "d.gpkg", "--no-serve", "--as-of", "someday"
    )
    assert rc == 2 and out == "" and len(err.strip().splitlines()) == 1 and "--as-of" in err
    assert not (tmp_path / "d.gpkg").exists()
    rc, _out, err = run(capsys, "demo", "--out", tmp_path / "d.gpkg", "--no-serve", "--live")
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "--live" in err


# -- on the session's demo, both backends ------------------------------------------------


@pytest.fixture(scope="module", params=["gpkg", "postgis"])
def demo_store(request, demo_path, tmp_path_factory):
    """The session's demo, in a GeoPackage and in PostGIS."""
    yield from demo_on(request, demo_path, tmp_path_factory)


@pytest.mark.slow
def test_the_demo_records_its_as_of(demo_store):
    """The session's demo was built with `--as-of 2026-01-01T00:00` (Beijing time)."""
    with open_store(demo_store) as st:
        meta = st.read("metadata")
        last = st.read("incidents", columns=["reported_at"])["reported_at"].max()
    assert data_as_of(meta) == REFERENCE_AS_OF
    assert REFERENCE_AS_OF - pd.Timedelta(minutes=10) <= last <= REFERENCE_AS_OF


@pytest.mark.slow
def test_simulate_on_the_demo(capsys, demo_store):
    before = _state(demo_store)
    rc, _out, err = run(
        capsys, "simulate", demo_store, "--count", 5, "--every", "0.01", "--seed", 7, "-q"
    )
    assert rc == 0, err
    _check_five_writes(demo_store, before)
    # Its writes leave the demo's as-of as it was: its year of cases still ends there.
    with open_store(demo_store) as st:
        assert data_as_of(st.read("metadata")) == REFERENCE_AS_OF


# -- as a user runs it ---------------------------------------------------------------------


def _gridmap() -> str:
    return str(Path(sys.executable).with_name("gridmap"))


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_with_a_summary(tiny):
    proc = subprocess.Popen(
        [_gridmap(), "simulate", str(tiny), "--every", "0.05"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = []
        deadline = time.monotonic() + 60
        while len(lines) < 4 and time.monotonic() < deadline:
            lines.append(proc.stdout.readline())
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err and err == ""
    summary = out.strip().splitlines()[-1]
    assert summary.startswith("合成事件：新增 ") and "流转" in summary
    with open_store(tiny) as st:
        written = len(st.audit_log(user=SIMULATOR))
    reported, moved = (
        int(x) for x in re.fullmatch(r"合成事件：新增 (\d+) 件，流转 (\d+) 次", summary).groups()
    )
    assert reported + moved == written >= 3


@pytest.mark.slow
def test_demo_ends_at_its_build(tmp_path):
    """`gridmap demo` without --as-of: its data end at the moment it was built."""
    out = tmp_path / "now.gpkg"
    started = datetime.now(UTC)
    result = subprocess.run(
        [_gridmap(), "demo", "--out", str(out), "--no-serve", "--quiet"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ},
    )
    assert result.returncode == 0, result.stderr
    with open_store(out) as st:
        as_of = data_as_of(st.read("metadata"))
        inc = st.read("incidents", columns=["reported_at", "step"])
    assert pd.Timestamp(started).floor("s") <= as_of <= pd.Timestamp.now(tz="UTC")
    assert as_of - inc["reported_at"].max() < pd.Timedelta(minutes=30)
    # The line that says how to rebuild the same store names that as-of.
    shown = as_of.tz_convert("Asia/Shanghai").isoformat()
    assert f"--as-of {shown}" in result.stdout

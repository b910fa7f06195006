"""The wall display's figures (gridmap.incidents.cockpit), its shared feed and its routes.

The core is tried on a handful of cases whose every figure is known: local
midnight in Asia/Shanghai (16:00 UTC) divides today from yesterday, "overdue
now" counts open cases only, the month's rates count cases *closed* in the
month, a whistle waits until its department takes the case up, acknowledged
alerts are gone. The service and the routes are tried on the demo in a
GeoPackage and in PostGIS: a wall token opens a read-only wall, the data route
sends only what changed, a write shows within seconds, twenty walls cost one
version query a second, the store's outage is a 503 the page can show.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from conftest import demo_on

from gridmap.errors import CodeError
from gridmap.incidents.cockpit import cockpit, periods
from gridmap.store import open_store

DISTRICT = "431002"
SUB_A, SUB_B = "431002001", "431002002"
GRID_A = SUB_A + "001" + "01"  # a grid code of subdistrict A (14 digits)
GRID_B = SUB_B + "001" + "01"
# 2026-12-07 10:00 in Beijing (a Monday): today began at 2026-12-06T16:00Z.
NOW = pd.Timestamp("2026-12-07T02:00:00Z")


def _case(i, *, grid=GRID_A, step="handling", category="city_appearance", reported, **extra):
    row = {
        "id": f"E{i:04d}",
        "grid_code": grid,
        "step": step,
        "category": category,
        "reported_at": pd.Timestamp(reported, tz="UTC"),
        "deadline": None,
        "closed_at": None,
        "department": "城管局",
        "whistled": False,
        "whistle_department": None,
        "whistle_deadline": None,
        "closed_level": None,
        "satisfaction": None,
        "updated_at": None,
    }
    row.update(extra)
    for key in ("deadline", "closed_at", "whistle_deadline", "updated_at"):
        if row[key] is not None:
            row[key] = pd.Timestamp(row[key], tz="UTC")
    return row


def _frame(rows) -> gpd.GeoDataFrame:
    frame = pd.DataFrame(rows)
    for key in ("reported_at", "deadline", "closed_at", "whistle_deadline", "updated_at"):
        frame[key] = pd.to_datetime(frame[key], utc=True)
    points = [shapely.Point(113.0 + i * 0.001, 25.8) for i in range(len(frame))]
    return gpd.GeoDataFrame(frame, geometry=points, crs="EPSG:4326")


CHILDREN = pd.DataFrame({"code": [SUB_A, SUB_B], "name": ["甲街道", "乙街道"]})


@pytest.fixture
def cases() -> gpd.GeoDataFrame:
    return _frame(
        [
            # yesterday 23:59 Beijing, and today 00:01: only the second is "today"
            _case(1, reported="2026-12-06T15:59:00", step="collected"),
            _case(2, reported="2026-12-06T16:01:00", step="collected"),
            # open, past its deadline (overdue now), and an emergency: an alert
            _case(
                3,
                reported="2026-11-30T01:00:00",
                category="emergency",
                deadline="2026-12-01T00:00:00",
            ),
            # open, deadline ahead
            _case(4, reported="2026-12-05T01:00:00", deadline="2026-12-09T00:00:00"),
            # closed this month on time (grid level, satisfied), and late (community)
            _case(
                5,
                grid=GRID_B,
                step="evaluated",
                reported="2026-11-28T00:00:00",
                deadline="2026-12-03T00:00:00",
                closed_at="2026-12-02T00:00:00",
                closed_level="grid",
                satisfaction="satisfied",
            ),
            _case(
                6,
                grid=GRID_B,
                step="closed",
                reported="2026-11-28T00:00:00",
                deadline="2026-12-01T00:00:00",
                closed_at="2026-12-04T00:00:00",
                closed_level="community",
            ),
            # closed late last month: neither this month's rate nor "overdue now"
            _case(
                7,
                step="closed",
                reported="2026-10-01T00:00:00",
                deadline="2026-10-02T00:00:00",
                closed_at="2026-11-20T00:00:00",
                closed_level="grid",
            ),
            # whistled, the department not there yet, past the response deadline
            _case(
                8,
                step="dispatched",
                reported="2026-12-01T00:00:00",
                whistled=True,
                whistle_department="住建局",
                whistle_deadline="2026-12-02T00:00:00",
                deadline="2026-12-20T00:00:00",
            ),
            # whistled and taken up by its department: not waiting
            _case(
                9,
                step="handling",
                reported="2026-12-01T00:00:00",
                whistled=True,
                department="住建局",
                whistle_department="住建局",
                whistle_deadline="2026-12-02T00:00:00",
                deadline="2026-12-20T00:00:00",
            ),
        ]
    )


def test_periods_are_beijing_days_weeks_and_months():
    p = periods(NOW)
    assert p["today"] == pd.Timestamp("2026-12-06T16:00:00Z")
    assert p["tomorrow"] == pd.Timestamp("2026-12-07T16:00:00Z")
    assert p["week"] == pd.Timestamp("2026-12-06T16:00:00Z")  # Monday 7 December
    assert p["month"] == pd.Timestamp("2026-11-30T16:00:00Z")
    assert p["trend"] == pd.Timestamp("2026-11-07T16:00:00Z")  # 30 days, today last
    # a minute before midnight in Beijing it is still the 7th; a minute after, the 8th
    assert periods(pd.Timestamp("2026-12-07T15:59:00Z"))["today"] == p["today"]
    assert periods(pd.Timestamp("2026-12-07T16:01:00Z"))["today"] == p["tomorrow"]


def test_the_figures_of_the_day_and_the_month(cases):
    out = cockpit(cases, DISTRICT, CHILDREN, now=NOW)
    k = out["kpis"]
    assert k["today_new"] == 1  # E0002 only: E0001 was reported at 23:59 the day before
    assert k["open"] == 6  # 1, 2, 3, 4, 8, 9
    assert k["overdue_open"] == 1  # E0003; E0007's late closure is not "overdue now"
    assert k["closed_month"] == 2  # E0005, E0006 (E0007 closed in November)
    assert k["late_closed_month"] == 1  # E0006
    assert k["ontime_rate"] == 0.5
    assert k["grid_level_share"] == 0.5
    assert k["satisfaction_rate"] == 1.0
    assert k["whistle_waiting"] == 1  # E0008; E0009's department has it
    assert out["clock"] == {"day": "2026-12-07", "week": "2026-12-07", "month": "2026-12",
                            "tz": "Asia/Shanghai"}  # fmt: skip


def test_rankings_and_categories(cases):
    out = cockpit(cases, DISTRICT, CHILDREN, now=NOW)
    ranks = out["rank_units"]
    # B closed two this month (one on time); A closed none this month: last, without a rate
    assert [r["code"] for r in ranks] == [SUB_B, SUB_A]
    assert ranks[0]["rate"] == 0.5 and ranks[0]["closed"] == 2 and ranks[0]["open"] == 0
    assert ranks[1]["rate"] is None and ranks[1]["open"] == 6
    assert out["rank_departments"] == [{"name": "城管局", "overdue": 1, "open": 5}]
    # this week (since Monday 00:00 Beijing): E0002; last week to the same moment
    # (Monday 30 November 00:00 to 10:00): E0003, reported at 09:00
    assert out["categories"] == [
        {"id": "city_appearance", "week": 1, "last_week": 0},
        {"id": "emergency", "week": 0, "last_week": 1},
    ]
    assert out["map"]["open"] == {SUB_A: 6, SUB_B: 0}
    assert len(out["map"]["markers"]) == 6
    late = {m[2]: m[4] for m in out["map"]["markers"]}
    assert late["E0003"] == 1 and late["E0004"] == 0


def test_trend_counts_per_beijing_day(cases):
    trend = cockpit(cases, DISTRICT, CHILDREN, now=NOW)["trend"]
    assert len(trend["days"]) == 30 and trend["days"][-1] == "2026-12-07"
    day = dict(zip(trend["days"], trend["new"], strict=True))
    assert day["2026-12-07"] == 1 and day["2026-12-06"] == 1  # E0002, E0001 (23:59 on the 6th)
    closed = dict(zip(trend["days"], trend["closed"], strict=True))
    assert closed["2026-12-02"] == 1 and closed["2026-12-04"] == 1 and closed["2026-11-20"] == 1


def test_alerts_and_their_acknowledgement(cases):
    out = cockpit(cases, DISTRICT, CHILDREN, now=NOW)
    ids = [a["id"] for a in out["alerts"]["items"]]
    # the newest first: E0008's whistle (late since 2 Dec) before E0003's deadline (1 Dec)
    assert ids == ["whistle_late:E0008", "emergency_overdue:E0003"]
    assert out["alerts"]["total"] == 2
    acked = cockpit(cases, DISTRICT, CHILDREN, now=NOW, acknowledged={"whistle_late:E0008"})
    assert [a["id"] for a in acked["alerts"]["items"]] == ["emergency_overdue:E0003"]


def test_the_alerts_alone_are_the_same_alerts(cases):
    full = cockpit(cases, DISTRICT, CHILDREN, now=NOW)
    alone = cockpit(cases, DISTRICT, CHILDREN, now=NOW, only=("alerts",))
    assert alone == {"alerts": full["alerts"]}


def test_the_feed_is_the_latest_changes(cases):
    cases.loc[cases["id"] == "E0004", "updated_at"] = pd.Timestamp("2026-12-07T01:30:00Z")
    # a change stamped after "now" (a clock ahead) is not listed first
    cases.loc[cases["id"] == "E0009", "updated_at"] = pd.Timestamp("2026-12-08T00:00:00Z")
    feed = cockpit(cases, DISTRICT, CHILDREN, now=NOW, grid_names={GRID_A: "甲网格"})["feed"]
    assert [f["id"] for f in feed[:3]] == ["E0004", "E0002", "E0001"]
    assert feed[0]["grid"] == "甲网格" and not feed[0]["new"]
    assert feed[1]["new"] and feed[1]["step"] == "collected"
    assert "E0009" not in [f["id"] for f in feed]


def test_a_subdistrict_wall_counts_only_its_cases(cases):
    out = cockpit(cases, SUB_B, pd.DataFrame({"code": [], "name": []}), now=NOW)
    assert out["kpis"]["open"] == 0 and out["kpis"]["closed_month"] == 2
    assert out["alerts"]["total"] == 0


def test_no_wall_below_a_community(cases):
    with pytest.raises(CodeError, match="community"):
        cockpit(cases, GRID_A, CHILDREN, now=NOW)


def test_an_empty_store_has_zero_figures():
    empty = _frame([_case(1, reported="2026-12-01T00:00:00")]).iloc[:0]
    out = cockpit(empty, DISTRICT, CHILDREN, now=NOW)
    assert out["kpis"]["open"] == 0 and out["kpis"]["ontime_rate"] is None
    assert out["map"]["markers"] == [] and out["feed"] == []
    json.dumps(out)  # every panel is JSON as it is


# -- the feed and the routes, on both backends ----------------------------------------


@pytest.fixture(scope="module", params=["gpkg", "postgis"])
def store(request, demo_path, tmp_path_factory):
    yield from demo_on(request, demo_path, tmp_path_factory)


@pytest.fixture(scope="module")
def token(store) -> str:
    from gridmap.services.accounts import create_token, local_actor

    with open_store(store) as st:
        return create_token(st, local_actor(), "wall-tests", ["431002"])


@pytest.fixture(scope="module")
def app(store):
    from gridmap.app import create_app
    from gridmap.services.wall import stop_feeds

    yield create_app(store)
    stop_feeds()


def _passwords(address) -> dict[str, str]:
    from gridmap.store.accounts import get_setting

    with open_store(address) as st, st._accounts(write=False) as cur:
        listed = json.loads(get_setting(cur, "demo_accounts"))
    return {a["name"]: a["password"] for a in listed if "password" in a}


def _signed(app, store, name: str):
    client = app.server.test_client()
    response = client.post("/login", data={"name": name, "password": _passwords(store)[name]})
    assert response.status_code == 302
    return client


def _wall(app, token: str, **query):
    client = app.server.test_client()
    response = client.get("/wall", query_string={"token": token, **query})
    assert response.status_code == 302
    # The token leaves the address; the wall's options stay.
    assert "token" not in response.headers["Location"]
    for key, value in query.items():
        assert f"{key}={value}" in response.headers["Location"]
    return client


def _data(client, unit="431002", have=None):
    query = {"unit": unit}
    if have:
        query["have"] = ",".join(have)
    response = client.get("/_gridmap/wall/data.json", query_string=query)
    return response.status_code, response.get_json()


@pytest.mark.slow
def test_a_token_opens_the_wall_read_only(app, token):
    client = _wall(app, token, tour="1")
    page = client.get("/wall")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    tids = ("kpi-today-new", "kpi-open", "kpi-overdue-open", "kpi-ontime-rate")
    tids += ("ranking-subdistricts", "ranking-departments", "case-feed", "data-age")
    for tid in tids:
        assert f'data-testid="{tid}"' in html
    assert "演示数据" in html  # the demo is labelled synthetic
    # read-only: the alerts' desk page, a field report, a move are all refused
    assert client.get("/wall/alerts").status_code == 403
    assert client.post("/wall/alerts", data={"alert": "x:y"}).status_code == 403
    assert client.post("/_gridmap/field/report", data={}).status_code in (401, 403)


@pytest.mark.slow
def test_the_data_route_sends_only_what_changed(app, token):
    client = _wall(app, token)
    status, body = _data(client)
    assert status == 200, body
    names = set(body["panels"])
    assert {"kpis", "rank_units", "feed", "trend", "alerts", "map", "unit", "clock"} <= names
    assert body["panels"]["unit"]["data"]["synthetic"] is True
    have = [p["digest"] for p in body["panels"].values()]
    status, again = _data(client, have=have)
    assert status == 200 and again["panels"] == {}
    # a subdistrict of the token's scope, and one unit outside it
    sub = body["panels"]["unit"]["data"]["children"][0]["code"]
    status, body = _data(client, unit=sub)
    assert status == 200 and body["panels"]["unit"]["data"]["code"] == sub
    assert _data(client, unit="110101")[0] in (403, 404)
    assert _data(client, unit="not-a-code")[0] in (403, 404)


@pytest.mark.slow
def test_a_write_reaches_the_wall_within_seconds(app, token, store):
    from gridmap import incidents as inc
    from gridmap.services.accounts import local_actor

    client = _wall(app, token)
    _, body = _data(client)
    have = {k: v["digest"] for k, v in body["panels"].items()}
    before = body["panels"]["kpis"]["data"]["open"]
    with open_store(store) as st:
        row = st.read("incidents", where={"step": "reported_back"}).iloc[0]
        moved, events = inc.move(
            row.drop(labels="geometry").to_dict(),
            "closed",
            actor="tests",
            at=datetime.now(UTC),
            closed_level="grid",
        )
        st.move_incident(
            moved,
            events,
            expected_version=int(row["version"]),
            audit=local_actor().entry("incident_move", row["id"]),
        )
    t0 = time.monotonic()
    while True:
        _, body = _data(client, have=list(have.values()))
        if "kpis" in body.get("panels", {}):
            break
        assert time.monotonic() - t0 < 5, "the write did not reach the wall in 5 s"
        time.sleep(0.2)
    assert body["panels"]["kpis"]["data"]["open"] == before - 1
    assert "trend" not in body["panels"] or body["panels"]["trend"]["digest"] != have["trend"]
    assert "clock" not in body["panels"]  # unchanged panels are not sent again


@pytest.mark.slow
def test_twenty_walls_cost_one_version_query_a_second(app, token, monkeypatch):
    from gridmap.services.source import get_source

    clients = [_wall(app, token) for _ in range(20)]
    for c in clients:
        assert _data(c)[0] == 200
    store_ = get_source(app.server.config["GRIDMAP_STORE"]).store
    calls = []
    original = type(store_).version

    def counted(self):
        calls.append(time.monotonic())
        return original(self)

    monkeypatch.setattr(type(store_), "version", counted)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 3:
        for c in clients:
            assert _data(c)[0] == 200
    # the feed's thread asks once a second; the walls' ~hundreds of requests ask nothing
    assert 1 <= len(calls) <= 5, len(calls)


@pytest.mark.slow
def test_acknowledging_an_alert(app, token, store):
    client = _wall(app, token)
    _, body = _data(client)
    items = body["panels"]["alerts"]["data"]["items"]
    assert items, "the demo has alerts (overdue emergencies, late whistles)"
    first = items[0]["id"]
    # a viewer or a supervisor may not; a commander may, from the desk page
    assert (
        _signed(app, store, "viewer").post("/wall/alerts", data={"alert": first}).status_code == 403
    )
    desk = _signed(app, store, "commander")
    page = desk.get("/wall/alerts")
    assert page.status_code == 200 and first in page.get_data(as_text=True)
    done = desk.post("/wall/alerts", data={"alert": first})
    assert done.status_code == 302
    with open_store(store) as st:
        rows = st.audit_log(action="alert_ack")
    assert rows[-1]["user"] == "commander" and rows[-1]["target"] == first.split(":")[1]
    t0 = time.monotonic()
    while first in [a["id"] for a in _data(client)[1]["panels"]["alerts"]["data"]["items"]]:
        assert time.monotonic() - t0 < 5, "the acknowledged alert is still on the wall"
        time.sleep(0.3)
    # a second acknowledgement writes nothing; an unknown id is refused
    assert desk.post("/wall/alerts", data={"alert": first}).status_code == 302
    with open_store(store) as st:
        assert len(st.audit_log(action="alert_ack")) == len(rows)
    assert desk.post("/wall/alerts", data={"alert": "emergency_overdue:nope"}).status_code == 400


@pytest.mark.slow
def test_a_lost_store_is_a_503_and_heals(app, token, monkeypatch):
    from gridmap.errors import StoreError
    from gridmap.services.source import get_source

    client = _wall(app, token)
    assert _data(client)[0] == 200
    store_ = get_source(app.server.config["GRIDMAP_STORE"]).store

    def away(self):
        raise StoreError("the database does not answer")

    monkeypatch.setattr(type(store_), "version", away)
    t0 = time.monotonic()
    while (answer := _data(client))[0] != 503:
        assert time.monotonic() - t0 < 5
        time.sleep(0.2)
    assert answer[1]["store"] == "lost" and answer[1]["since"]
    monkeypatch.undo()
    t0 = time.monotonic()
    while _data(client)[0] != 200:
        assert time.monotonic() - t0 < 5
        time.sleep(0.2)


def test_the_wall_clock_can_be_set(monkeypatch):
    from gridmap.app.wall import _clock
    from gridmap.settings import get_settings

    monkeypatch.setenv("GRIDMAP_WALL_CLOCK", "2026-12-07T23:59:50")
    get_settings.cache_clear()
    try:
        clock = _clock()
        first = clock()
        assert first.astimezone(UTC) - datetime(2026, 12, 7, 15, 59, 50, tzinfo=UTC) < timedelta(
            seconds=1
        )
        time.sleep(0.2)
        assert clock() > first  # it runs on
    finally:
        get_settings.cache_clear()

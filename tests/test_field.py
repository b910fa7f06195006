"""The field mode (/field and its JSON routes), tried on the demo in a GeoPackage and in PostGIS.

Every role signs in through /login with the demo's accounts (read from the
``demo_accounts`` setting, as tests/test_area.py does); a second grid
supervisor, of another grid, is added by the tests. What is pinned down:

- the store: a report (its case, event, photos, request key and audit row) and
  a move land in one transaction or not at all; the GeoPackage upgrade from
  schema 0002 in place;
- idempotency: a report or a move sent twice, one after the other or at once,
  is made once; a key reused by another user or for another kind is refused;
- who may open, read, report and move what (the area, the role, the
  department), and the audit rows and events of every write;
- photos: stored without EXIF (no GPS), at most 1600 px (thumbnails 320 px),
  upright, named by their SHA-256, stored once however many cases show them,
  readable only by who may read the case;
- user text is text (never markup in the page) and phone numbers are masked.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import sqlite3
import threading
import uuid
from datetime import UTC, datetime
from html.parser import HTMLParser

import numpy as np
import pytest
import shapely
from conftest import demo_on

from gridmap.accounts import CREATE_ROLES
from gridmap.privacy import mask_name, mask_phone, mask_text
from gridmap.store import open_store
from gridmap.store.accounts import get_setting

pytestmark = pytest.mark.slow

ROLES = ("admin", "commander", "dispatcher", "department", "supervisor", "planner", "viewer")
FIELD_ROLES = ("admin", "commander", "dispatcher", "department", "supervisor")
#: A supervisor of another grid than the demo's, added to each store by the tests.
OTHER = ("ftest-supervisor", "ftest-supervisor-password")
API = "/_gridmap/field/"


# -- the stores and the app ------------------------------------------------------------


def _listed(address: str) -> dict[str, dict]:
    with open_store(address) as st, st._accounts(write=False) as cur:
        return {a["name"]: a for a in json.loads(get_setting(cur, "demo_accounts"))}


def _far_point(grid_geom, buildings) -> tuple[shapely.Point, float]:
    """The point of a grid (10 m inside its edge) farthest from the grid's buildings, in metres."""
    inner = grid_geom.buffer(-10)
    minx, miny, maxx, maxy = inner.bounds
    step = max(5.0, (inner.area / 2000) ** 0.5)  # about 2,000 points, however large the grid
    xs, ys = np.meshgrid(np.arange(minx, maxx, step), np.arange(miny, maxy, step))
    pts = shapely.points(xs.ravel(), ys.ravel())
    pts = pts[shapely.contains(inner, pts)]
    if not len(buildings):
        return pts[0], float("inf")
    tree = shapely.STRtree(buildings)
    _, dist = tree.query_nearest(pts, return_distance=True, all_matches=False)
    i = int(np.argmax(dist))
    return pts[i], float(dist[i])


def _places(address: str) -> dict:
    """Where to report from: the demo supervisor's grid and another grid with room in it."""
    import geopandas as gpd

    from gridmap.crs import utm_crs

    with open_store(address) as st:
        mine = st.user("supervisor").scope[0]
        grids = st.read("grids", columns=["code"])
        buildings = st.read("buildings", columns=["code", "grid_code"])
    cx, cy = grids.geometry.union_all().centroid.coords[0]
    metric = utm_crs(cx, cy)
    grids_m = grids.to_crs(metric)
    buildings_m = buildings.to_crs(metric)
    counts = buildings["grid_code"].value_counts()
    # The grids with the fewest buildings for their area have empty ground somewhere.
    room = grids_m.geometry.area / (grids_m["code"].map(counts).fillna(0) + 1)
    best = None
    for i in room.sort_values(ascending=False).index[:8]:
        code = grids_m.at[i, "code"]
        if code.startswith(mine):
            continue
        own = buildings_m[buildings_m["grid_code"] == code].geometry.to_numpy()
        point, dist = _far_point(grids_m.at[i, "geometry"], own)
        if best is None or dist > best[2]:
            best = (code, point, dist)
        if dist > 60:
            break
    other, far_m, far_dist = best
    assert far_dist > 45, f"no grid has a spot 45 m from its buildings ({far_dist:.0f} m)"
    mine_b = buildings[buildings["grid_code"] == mine].sort_values("code").iloc[0]
    inside = mine_b.geometry.representative_point()
    to_deg = gpd.GeoSeries([far_m], crs=metric).to_crs("EPSG:4326").iloc[0]
    minx, miny, _, _ = grids.total_bounds
    return {
        "mine": mine,
        "building": mine_b["code"],
        "at_building": (inside.x, inside.y),
        "other": other,
        "in_other": (to_deg.x, to_deg.y),
        "nowhere": (minx - 0.05, miny - 0.05),
    }


@pytest.fixture(scope="module", params=["gpkg", "postgis"])
def store(request, demo_path, tmp_path_factory):
    """The demo with its accounts, in a GeoPackage and in PostGIS."""
    yield from demo_on(request, demo_path, tmp_path_factory)


@pytest.fixture(scope="module")
def places(store) -> dict:
    """Where to report from (:func:`_places`); adds :data:`OTHER`, the other grid's supervisor."""
    from gridmap.accounts import Account, hash_password
    from gridmap.audit import AuditEntry

    found = _places(store)
    with open_store(store) as st:
        st.add_user(
            Account(
                name=OTHER[0],
                role="supervisor",
                scope=(found["other"],),
                password_hash=hash_password(OTHER[1]),
            ),
            audit=AuditEntry("tests", "admin", "cli", "user_change", OTHER[0]),
        )
    return found


@pytest.fixture(scope="module")
def app(store):
    from gridmap.app import create_app

    return create_app(store)


@pytest.fixture(scope="module")
def signin(app, store, places):
    """A Flask test client signed in as ``name`` through /login (one per name and module)."""
    passwords = {n: a["password"] for n, a in _listed(store).items() if "password" in a}
    passwords[OTHER[0]] = OTHER[1]
    made: dict[str, object] = {}

    def client(name: str, *, fresh: bool = False):
        if name in made and not fresh:
            return made[name]
        c = app.server.test_client()
        response = c.post("/login", data={"name": name, "password": passwords[name]})
        assert response.status_code == 302, response.get_data(as_text=True)
        if not fresh:
            made[name] = c
        return c

    return client


# -- helpers ---------------------------------------------------------------------------


def _key() -> str:
    return uuid.uuid4().hex


def _jpeg(size=(64, 48), *, colour=(200, 80, 40)) -> bytes:
    from PIL import Image

    img = Image.new("RGB", size, colour)
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=90)
    return out.getvalue()


def _gps_jpeg(size=(4000, 3000)) -> bytes:
    """A camera-like JPEG: EXIF with a make and a GPS position (checked to be there)."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", size, (90, 140, 200))
    draw = ImageDraw.Draw(img)
    draw.rectangle((size[0] // 4, size[1] // 4, size[0] // 2, size[1] // 2), fill=(250, 250, 0))
    exif = Image.Exif()
    exif[0x010F] = "FieldCam"  # Make
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (25.0, 48.0, 30.5)
    gps[3] = "E"
    gps[4] = (113.0, 0.0, 42.25)
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=80, exif=exif)
    data = out.getvalue()
    with Image.open(io.BytesIO(data)) as check:
        written = check.getexif().get_ifd(0x8825)
        assert written.get(2) == (25.0, 48.0, 30.5) and written.get(1) == "N", written
    return data


def _rotated_jpeg() -> bytes:
    """An 800×400 JPEG tagged orientation 6 (shown turned 90° clockwise): red left, blue right."""
    from PIL import Image

    img = Image.new("RGB", (800, 400), (0, 0, 230))
    img.paste((230, 0, 0), (0, 0, 400, 400))
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=90, exif=exif)
    return out.getvalue()


def _report(client, lonlat, *, key=None, photos=(), **fields):
    data = {
        "key": _key() if key is None else key,
        "lon": str(lonlat[0]),
        "lat": str(lonlat[1]),
        "frame": "gps",
        "category": "city_appearance",
        "description": "楼道堆物",
        **fields,
    }
    if photos:
        data["photo"] = [(io.BytesIO(b), name, "image/jpeg") for name, b in photos]
    return client.post(API + "report", data=data, content_type="multipart/form-data")


def _move(client, incident_id, move, to_step, version, *, key=None, **fields):
    data = {
        "key": key or _key(),
        "id": incident_id,
        "move": move,
        "to_step": to_step,
        "version": str(version),
        **fields,
    }
    return client.post(API + "move", data=data, content_type="multipart/form-data")


def _created(client, lonlat, **kw) -> dict:
    response = _report(client, lonlat, **kw)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def _moved(client, incident_id, move, to_step, version, **kw) -> dict:
    response = _move(client, incident_id, move, to_step, version, **kw)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["step"] == to_step and body["version"] == version + 1 and not body["duplicate"]
    return body


def _audit(address: str, action: str, target: str) -> list[dict]:
    with open_store(address) as st:
        return [r for r in st.audit_log(action=action) if r["target"] == target]


def _events(address: str, incident_id: str) -> list[dict]:
    with open_store(address) as st:
        ev = st.read("incident_events", where={"incident_id": incident_id})
    return ev.sort_values("at", kind="stable").to_dict("records")


def _actor(address: str, name: str):
    from gridmap.services.accounts import Actor

    with open_store(address) as st:
        return Actor(st.user(name), "127.0.0.1")


def _count(st, sql: str, params=()) -> int:
    with st._accounts(write=False) as cur:
        return int(cur.one(sql, params)[0])


# -- 1. the store: one transaction ---------------------------------------------------


def test_a_report_lands_whole_or_not_at_all(store, places, monkeypatch):
    """The case, its event, photo, key and audit row: a failure in the last step leaves none."""
    from gridmap.photos import prepare
    from gridmap.services import field
    from gridmap.services.source import get_source
    from gridmap.store import field as sql_field

    src = get_source(store)
    st = src.store
    actor = _actor(store, "supervisor")
    picture = _jpeg((320, 200), colour=(10, 200, 30))
    digest = prepare(picture).digest
    key = _key()
    now = datetime.now(UTC)
    req = field.ReportRequest(
        key=key,
        lon=places["at_building"][0],
        lat=places["at_building"][1],
        frame="gps",
        category="city_appearance",
        description="井盖破损",
        photos=[("door.jpg", picture)],
    )
    incident_id = field.case_id(now, key)
    audit_rows = len(st.audit_log())

    def boom(*args, **kwargs):
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(sql_field, "save_request", boom)
    with pytest.raises(RuntimeError, match="disk is full"):
        field.report(src, actor, req, now=now)
    assert st.read("incidents", where={"id": incident_id}).empty
    assert st.read("incident_events", where={"incident_id": incident_id}).empty
    assert _count(st, "SELECT count(*) FROM photos WHERE hash = ?", (digest,)) == 0
    assert (
        _count(st, "SELECT count(*) FROM incident_photos WHERE incident_id = ?", (incident_id,))
        == 0
    )
    assert st.photo(digest) is None and st.case_photos(incident_id) == []
    assert st.request(key) is None
    assert len(st.audit_log()) == audit_rows
    assert not [r for r in st.audit_log(action="incident_create") if r["target"] == incident_id]

    monkeypatch.undo()
    answer = field.report(src, actor, req, now=now)
    assert answer["id"] == incident_id and answer["duplicate"] is False
    assert answer["grid_code"] == places["mine"] and answer["building_code"] == places["building"]
    row = st.read("incidents", where={"id": incident_id})
    assert len(row) == 1 and row["step"].iloc[0] == "collected" and row["version"].iloc[0] == 1
    assert row["source"].iloc[0] == "patrol" and row["description"].iloc[0] == "井盖破损"
    (event,) = _events(store, incident_id)
    assert event["to_step"] == "collected" and event["actor"] == "supervisor"
    (photo,) = st.case_photos(incident_id)
    assert photo["hash"] == digest and photo["step"] == "collected"
    assert (photo["width"], photo["height"]) == (320, 200)
    image, cases = st.photo(digest)
    assert hashlib.sha256(image).hexdigest() == digest and cases == [incident_id]
    thumb, _ = st.photo(digest, thumb=True)
    assert thumb[:2] == b"\xff\xd8" and thumb != image
    stored = st.request(key)
    assert stored == {
        "user": "supervisor",
        "kind": "report",
        "target": incident_id,
        "answer": {k: v for k, v in answer.items() if k != "duplicate"},
    }
    (entry,) = _audit(store, "incident_create", incident_id)
    assert entry["user"] == "supervisor" and entry["role"] == "supervisor"
    detail = json.loads(entry["detail"])
    assert detail["key"] == key and detail["photos"] == [digest]
    assert len(st.audit_log()) == audit_rows + 1


def test_a_move_lands_whole_or_not_at_all(store, places, monkeypatch):
    from gridmap.services import field
    from gridmap.services.source import get_source
    from gridmap.store import field as sql_field

    src = get_source(store)
    st = src.store
    now = datetime.now(UTC)
    made = field.report(
        src,
        _actor(store, "supervisor"),
        field.ReportRequest(
            key=_key(),
            lon=places["at_building"][0],
            lat=places["at_building"][1],
            frame="gps",
            category="city_appearance",
            description="路灯不亮",
        ),
        now=now,
    )
    dispatcher = _actor(store, "dispatcher")
    req = field.MoveRequest(
        key=_key(), incident_id=made["id"], move="register", to_step="registered", version=1
    )
    monkeypatch.setattr(sql_field, "save_request", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        field.make_move(src, dispatcher, req, now=now)
    row = st.read("incidents", where={"id": made["id"]}).iloc[0]
    assert row["step"] == "collected" and row["version"] == 1
    assert [e["to_step"] for e in _events(store, made["id"])] == ["collected"]
    assert _audit(store, "incident_move", made["id"]) == []
    assert st.request(req.key) is None

    monkeypatch.undo()
    moved = field.make_move(src, dispatcher, req, now=now)
    assert moved == {"id": made["id"], "step": "registered", "version": 2, "duplicate": False}
    assert st.read("incidents", where={"id": made["id"]})["version"].iloc[0] == 2
    assert [e["to_step"] for e in _events(store, made["id"])] == ["collected", "registered"]
    (entry,) = _audit(store, "incident_move", made["id"])
    assert entry["user"] == "dispatcher" and json.loads(entry["detail"])["key"] == req.key
    assert st.request(req.key)["target"] == made["id"]


def test_a_0002_geopackage_is_upgraded_in_place_and_keeps_its_data(demo_path, tmp_path):
    from gridmap.store import field as sql_field

    path = tmp_path / "old.gpkg"
    shutil.copy(demo_path, path)
    with open_store(path) as st:
        before = {
            "incidents": st.count("incidents"),
            "events": st.count("incident_events"),
            "users": sorted(u.name for u in st.users()),
            "audit": len(st.audit_log()),
        }
    con = sqlite3.connect(path)
    with con:
        for table in ("incident_photos", "photos", "client_requests"):
            con.execute(f"DROP TABLE {table}")
        con.execute("UPDATE gridmap_settings SET value = '0002' WHERE key = 'schema_version'")
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    con.close()
    assert not tables & {"photos", "incident_photos", "client_requests"}

    with open_store(path) as st:
        with st._accounts(write=False) as cur:
            assert get_setting(cur, "schema_version") == "0003"
            tables = {r[0] for r in cur.all("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"photos", "incident_photos", "client_requests"} <= tables
        assert st.count("incidents") == before["incidents"]
        assert st.count("incident_events") == before["events"]
        assert sorted(u.name for u in st.users()) == before["users"]
        assert len(st.audit_log()) == before["audit"]
        assert st.verify_audit()[0] is None
        assert st.request("no-such-key") is None
        with st._accounts(write=True) as cur:
            sql_field.save_request(cur, "k" * 16, "admin", "report", "F1", {"id": "F1"})
        assert st.request("k" * 16)["answer"] == {"id": "F1"}


# -- 2. idempotency ------------------------------------------------------------------


def test_the_same_report_sent_twice_is_one_case(app, store, places, signin):
    client = signin("supervisor")
    key = _key()
    first = _report(client, places["at_building"], key=key)
    again = _report(client, places["at_building"], key=key)
    assert first.status_code == 201 and again.status_code == 200, again.get_data(as_text=True)
    a, b = first.get_json(), again.get_json()
    assert a["duplicate"] is False and b["duplicate"] is True
    assert b == {**a, "duplicate": True}
    with open_store(store) as st:
        assert len(st.read("incidents", where={"id": a["id"]})) == 1
        keyed = [
            r
            for r in st.audit_log(action="incident_create")
            if json.loads(r["detail"])["key"] == key
        ]
    assert len(keyed) == 1 and keyed[0]["target"] == a["id"]
    assert len(_events(store, a["id"])) == 1


def _at_once(monkeypatch, store, method: str, send) -> list:
    """Run ``send`` in two threads that both reach the store's ``method`` before either writes."""
    with open_store(store) as st:
        cls = type(st)
    original = getattr(cls, method)
    barrier = threading.Barrier(2, timeout=30)

    def both(self, *args, **kwargs):
        if kwargs.get("also") is not None:
            barrier.wait()
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, method, both)
    results: list = [None, None]

    def run(i: int) -> None:
        try:
            results[i] = send(i)
        except BaseException as error:  # the test reads it below
            results[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert not any(th.is_alive() for th in threads)
    assert not any(isinstance(r, BaseException) for r in results), results
    return results


def test_the_same_report_sent_twice_at_once_is_one_case(app, store, places, signin, monkeypatch):
    clients = [signin("supervisor"), signin("supervisor", fresh=True)]
    key = _key()
    with open_store(store) as st:
        count = st.count("incidents")

    def send(i):
        r = _report(clients[i], places["at_building"], key=key)
        return r.status_code, r.get_json()

    results = _at_once(monkeypatch, store, "write", send)
    assert sorted(s for s, _ in results) == [200, 201], results
    (id_,) = {b["id"] for _, b in results}
    assert sorted(b["duplicate"] for _, b in results) == [False, True]
    with open_store(store) as st:
        assert st.count("incidents") == count + 1
        assert len(st.read("incidents", where={"id": id_})) == 1
        assert st.request(key)["target"] == id_
    assert len(_audit(store, "incident_create", id_)) == 1


def test_the_same_move_sent_twice_is_made_once(app, store, places, signin):
    made = _created(signin("supervisor"), places["at_building"])
    dispatcher = signin("dispatcher")
    key = _key()
    first = _move(dispatcher, made["id"], "register", "registered", 1, key=key)
    again = _move(dispatcher, made["id"], "register", "registered", 1, key=key)
    assert first.status_code == 200 and again.status_code == 200, again.get_data(as_text=True)
    assert first.get_json() == {
        "id": made["id"],
        "step": "registered",
        "version": 2,
        "duplicate": False,
    }
    assert again.get_json() == {**first.get_json(), "duplicate": True}
    assert [e["to_step"] for e in _events(store, made["id"])] == ["collected", "registered"]
    assert len(_audit(store, "incident_move", made["id"])) == 1


def test_the_same_move_sent_twice_at_once_is_made_once(app, store, places, signin, monkeypatch):
    made = _created(signin("supervisor"), places["at_building"])
    clients = [signin("dispatcher"), signin("dispatcher", fresh=True)]
    key = _key()

    def send(i):
        r = _move(clients[i], made["id"], "register", "registered", 1, key=key)
        return r.status_code, r.get_json()

    results = _at_once(monkeypatch, store, "move_incident", send)
    assert [s for s, _ in results] == [200, 200], results
    assert sorted(b["duplicate"] for _, b in results) == [False, True]
    assert {(b["step"], b["version"]) for _, b in results} == {("registered", 2)}
    assert [e["to_step"] for e in _events(store, made["id"])] == ["collected", "registered"]
    assert len(_audit(store, "incident_move", made["id"])) == 1


def test_a_key_is_one_request_of_one_user(app, store, places, signin):
    supervisor, dispatcher = signin("supervisor"), signin("dispatcher")
    key = _key()
    made = _created(supervisor, places["at_building"], key=key)
    with open_store(store) as st:
        count = st.count("incidents")
    # Another user's report with that key.
    other = _report(dispatcher, places["at_building"], key=key)
    assert other.status_code == 400 and other.get_json()["field"] == "key"
    # The same user, a move with the key of a report.
    move = _move(supervisor, made["id"], "close", "closed", 1, key=key)
    assert move.status_code == 400 and move.get_json()["field"] == "key"
    # No key, a key that is no key.
    for bad in ("", "short", "no spaces allowed"):
        answer = _report(supervisor, places["at_building"], key=bad)
        assert answer.status_code == 400 and answer.get_json()["field"] == "key", bad
    with open_store(store) as st:
        assert st.count("incidents") == count
        assert st.request(key)["user"] == "supervisor"


# -- 3. who may do what --------------------------------------------------------------


@pytest.fixture(scope="module")
def photo_case(app, store, places, signin) -> dict:
    """A case of the demo supervisor's grid reported with two photos (a camera's, a turned one)."""
    response = _report(
        signin("supervisor"),
        places["at_building"],
        description="护栏损坏",
        photos=[("camera.jpg", _gps_jpeg()), ("turned.jpg", _rotated_jpeg())],
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    made = response.get_json()
    detail = signin("supervisor").get(f"{API}case/{made['id']}.json").get_json()
    # The larger is the camera's (in the store they are in the order of their hashes).
    photos = sorted(detail["photos"], key=lambda p: -p["width"] * p["height"])
    return {"id": made["id"], "photos": photos}


def test_anonymous_requests_reach_no_case(app, photo_case):
    client = app.server.test_client()
    page = client.get("/field")
    assert page.status_code == 302 and "/login" in page.headers["Location"]
    digest = photo_case["photos"][0]["hash"]
    for path in (
        API + "cases.json",
        f"{API}case/{photo_case['id']}.json",
        f"/_gridmap/photos/{digest}.jpg",
        f"/_gridmap/photos/{digest}.thumb.jpg",
    ):
        answer = client.get(path)
        assert answer.status_code == 401, path
        assert photo_case["id"] not in answer.get_data(as_text=True)
    for path in (API + "report", API + "move"):
        assert client.post(path, data={"key": _key()}).status_code == 401, path
    worker = client.get("/field-sw.js")
    assert worker.status_code == 200 and "javascript" in worker.mimetype
    script = client.get("/field-assets/field.js")
    assert script.status_code == 200 and len(script.data) > 1000


@pytest.mark.parametrize("role", ROLES)
def test_who_opens_the_field_mode(app, store, places, signin, photo_case, role):
    client = signin(role)
    reads = (
        "/field",
        API + "cases.json",
        f"{API}case/{photo_case['id']}.json",
        f"/_gridmap/photos/{photo_case['photos'][0]['hash']}.jpg",
    )
    with open_store(store) as st:
        count = st.count("incidents")
    if role in FIELD_ROLES:
        page = client.get("/field")
        assert page.status_code == 200 and page.mimetype == "text/html"
        assert client.get(API + "cases.json").status_code == 200
        if role not in CREATE_ROLES:
            # They work cases others report.
            answer = _report(client, places["at_building"])
            assert answer.status_code == 403 and "may not report" in answer.get_json()["error"]
            with open_store(store) as st:
                assert st.count("incidents") == count
        return
    for path in reads:
        answer = client.get(path)
        assert answer.status_code == 403, path
        assert "护栏损坏" not in answer.get_data(as_text=True)
    report = _report(client, places["at_building"])
    move = _move(client, photo_case["id"], "register", "registered", 1)
    assert report.status_code == 403 and move.status_code == 403
    with open_store(store) as st:
        assert st.count("incidents") == count
        assert st.read("incidents", where={"id": photo_case["id"]})["version"].iloc[0] == 1


def test_a_supervisor_lists_and_reads_only_its_grid(app, store, places, signin):
    client = signin("supervisor")
    mine = places["mine"]
    cases = client.get(API + "cases.json").get_json()["cases"]
    with open_store(store) as st:
        open_ = st.read(
            "incidents",
            where={"step": ["collected", "registered", "dispatched", "handling", "reported_back"]},
            prefixes={"grid_code": [mine]},
        )
        elsewhere = st.read("incidents", where={"step": "registered"})
    elsewhere = elsewhere[~elsewhere["grid_code"].astype(str).str.startswith(mine)]
    assert cases and {c["grid_code"] for c in cases} == {mine}
    assert {c["id"] for c in cases} == set(open_["id"])
    assert client.get(f"{API}case/{cases[0]['id']}.json").status_code == 200
    foreign = elsewhere["id"].iloc[0]
    answer = client.get(f"{API}case/{foreign}.json")
    assert answer.status_code == 403 and foreign in answer.get_json()["error"]
    missing = client.get(f"{API}case/NO-SUCH-CASE.json")
    assert missing.status_code == 404 and missing.get_json()["field"] == "id"
    assert "not in your area" in answer.get_json()["error"]
    # The other grid's supervisor sees none of these.
    theirs = signin(OTHER[0]).get(API + "cases.json").get_json()["cases"]
    assert {c["grid_code"] for c in theirs} <= {places["other"]}
    assert not {c["id"] for c in theirs} & set(open_["id"])


def test_a_supervisor_reports_in_its_grid_only(app, store, places, signin):
    client = signin("supervisor")
    made = _created(client, places["at_building"], description="消防栓损坏")
    assert made["grid_code"] == places["mine"] and made["building_code"] == places["building"]
    assert made["step"] == "collected" and made["version"] == 1
    (entry,) = _audit(store, "incident_create", made["id"])
    assert entry["user"] == "supervisor"
    assert [(e["to_step"], e["actor"]) for e in _events(store, made["id"])] == [
        ("collected", "supervisor")
    ]
    detail = client.get(f"{API}case/{made['id']}.json").get_json()
    assert detail["description"] == "消防栓损坏" and detail["building_code"] == places["building"]
    assert [e["to_step"] for e in detail["events"]] == ["collected"]

    # Open ground in the other supervisor's grid: its case, and no building.
    theirs = _created(signin(OTHER[0]), places["in_other"])
    assert theirs["grid_code"] == places["other"] and theirs["building_code"] is None
    with open_store(store) as st:
        assert st.read("incidents", where={"id": theirs["id"]})["building_code"].isna().all()

    with open_store(store) as st:
        count = st.count("incidents")
    there = _report(client, places["in_other"])
    assert there.status_code == 403
    assert places["other"] in there.get_json()["error"]
    assert "not in your area" in there.get_json()["error"]
    nowhere = _report(client, places["nowhere"])
    assert nowhere.status_code == 403 and "outside every grid" in nowhere.get_json()["error"]
    with open_store(store) as st:
        assert st.count("incidents") == count


def test_a_bad_report_is_refused_naming_the_field(app, store, places, signin):
    client = signin("supervisor")
    small = _jpeg()
    with open_store(store) as st:
        count = st.count("incidents")
        audit_rows = len(st.audit_log(user="supervisor"))
    cases = [
        ({"category": "no_such_category"}, (), "category"),
        ({"description": ""}, (), "description"),
        ({"description": "   "}, (), "description"),
        ({"description": "长" * 2001}, (), "description"),
        ({"lon": "nan"}, (), "lon"),
        ({"lat": "inf"}, (), "lat"),
        ({"lon": "east"}, (), "lon"),
        ({"lon": "181"}, (), "lon"),
        ({"lat": "95"}, (), "lat"),
        ({"frame": "utm"}, (), "frame"),
        ({"subcategory": "类" * 101}, (), "subcategory"),
        ({}, [(f"p{i}.jpg", small) for i in range(4)], "photo"),
        ({}, [("letter.jpg", b"this is not a picture at all")], "photo"),
        ({}, [("empty.jpg", b"")], "photo"),
    ]
    for fields, photos, name in cases:
        answer = _report(client, places["at_building"], photos=photos, **fields)
        assert answer.status_code == 400, (name, answer.get_data(as_text=True))
        assert answer.get_json()["field"] == name, (name, answer.get_json())
    with open_store(store) as st:
        assert st.count("incidents") == count
        assert len(st.audit_log(user="supervisor")) == audit_rows


def test_the_loop_through_the_field_routes(app, store, places, signin):
    """Report, register, dispatch, accept, report back, close: each by its role, and no other."""
    supervisor, dispatcher = signin("supervisor"), signin("dispatcher")
    department = signin("department")
    with open_store(store) as st:
        dept = st.user("department").department
    made = _created(supervisor, places["at_building"], description="水管爆裂")
    cid = made["id"]

    refused = _move(supervisor, cid, "register", "registered", 1)
    assert refused.status_code == 403 and "register" in refused.get_json()["error"]
    assert _move(department, cid, "register", "registered", 1).status_code == 403
    assert _move(signin(OTHER[0]), cid, "register", "registered", 1).status_code == 403
    _moved(dispatcher, cid, "register", "registered", 1)

    # A move made on the version before: refused with what changed since.
    stale = _move(dispatcher, cid, "dispatch", "dispatched", 1, department=dept)
    assert stale.status_code == 409
    body = stale.get_json()
    assert body["current"]["step"] == "registered" and body["current"]["version"] == 2
    assert [(e["to_step"], e["actor"]) for e in body["changed"]] == [("registered", "dispatcher")]
    assert _events(store, cid)[-1]["to_step"] == "registered"

    _moved(dispatcher, cid, "dispatch", "dispatched", 2, department=dept)
    listed = department.get(API + "cases.json").get_json()["cases"]
    assert cid in {c["id"] for c in listed} and {c["department"] for c in listed} == {dept}
    accept = next(c for c in listed if c["id"] == cid)["moves"]
    assert [m["name"] for m in accept] == ["accept"]
    assert _move(supervisor, cid, "accept", "handling", 3).status_code == 403
    _moved(department, cid, "accept", "handling", 3)
    _moved(department, cid, "report_back", "reported_back", 4, note="已修复")

    detail = supervisor.get(f"{API}case/{cid}.json").get_json()
    assert detail["step"] == "reported_back"
    assert {m["name"] for m in detail["moves"]} == {"close", "rework"}
    assert _move(signin(OTHER[0]), cid, "close", "closed", 5).status_code == 403
    assert _move(department, cid, "close", "closed", 5).status_code == 403
    _moved(supervisor, cid, "close", "closed", 5)

    steps = ["collected", "registered", "dispatched", "handling", "reported_back", "closed"]
    actors = ["supervisor", "dispatcher", "dispatcher", "department", "department", "supervisor"]
    assert [(e["to_step"], e["actor"]) for e in _events(store, cid)] == list(
        zip(steps, actors, strict=True)
    )
    moves = _audit(store, "incident_move", cid)
    assert [(r["user"], json.loads(r["detail"])["move"]) for r in moves] == [
        ("dispatcher", "register"),
        ("dispatcher", "dispatch"),
        ("department", "accept"),
        ("department", "report_back"),
        ("supervisor", "close"),
    ]
    assert [r["user"] for r in _audit(store, "incident_create", cid)] == ["supervisor"]
    with open_store(store) as st:
        row = st.read("incidents", where={"id": cid}).iloc[0]
    assert row["step"] == "closed" and row["version"] == 6 and row["closed_level"] == "grid"


def test_a_department_moves_only_its_cases_and_the_dispatcher_voids(app, store, places, signin):
    supervisor, dispatcher = signin("supervisor"), signin("dispatcher")
    department = signin("department")
    with open_store(store) as st:
        dept = st.user("department").department
        others = st.read("incidents", where={"step": "dispatched"})
    others = others[others["department"].astype("string") != dept]
    assert len(others)
    foreign = others.iloc[0]
    answer = _move(department, foreign["id"], "accept", "handling", int(foreign["version"]))
    assert answer.status_code == 403 and "department" in answer.get_json()["error"]
    assert department.get(f"{API}case/{foreign['id']}.json").status_code == 403

    made = _created(supervisor, places["at_building"], description="不是事件")
    _moved(dispatcher, made["id"], "void", "voided", 1)
    with open_store(store) as st:
        assert st.read("incidents", where={"id": made["id"]})["step"].iloc[0] == "voided"
    assert [r["user"] for r in _audit(store, "incident_move", made["id"])] == ["dispatcher"]

    again = _created(supervisor, places["at_building"], description="另一个部门的事")
    _moved(dispatcher, again["id"], "register", "registered", 1)
    other_dept = next(d for d in others["department"].dropna().astype(str) if d != dept)
    _moved(dispatcher, again["id"], "dispatch", "dispatched", 2, department=other_dept)
    refused = _move(department, again["id"], "accept", "handling", 3)
    assert refused.status_code == 403
    assert again["id"] not in {
        c["id"] for c in department.get(API + "cases.json").get_json()["cases"]
    }
    with open_store(store) as st:
        assert st.read("incidents", where={"id": again["id"]})["version"].iloc[0] == 3


# -- 4. photos ----------------------------------------------------------------------


def test_photos_are_stored_without_exif_resized_and_upright(app, photo_case, signin):
    from PIL import Image

    client = signin("supervisor")
    camera, turned = photo_case["photos"]
    assert (camera["width"], camera["height"]) == (1600, 1200)
    assert (turned["width"], turned["height"]) == (400, 800)
    for photo in (camera, turned):
        answer = client.get(f"/_gridmap/photos/{photo['hash']}.jpg")
        assert answer.status_code == 200 and answer.mimetype == "image/jpeg"
        body = answer.data
        assert hashlib.sha256(body).hexdigest() == photo["hash"]
        assert b"Exif\x00\x00" not in body and b"FieldCam" not in body
        with Image.open(io.BytesIO(body)) as img:
            assert img.format == "JPEG"
            assert img.size == (photo["width"], photo["height"]) and max(img.size) <= 1600
            exif = img.getexif()
            assert len(exif) == 0 and not exif.get_ifd(0x8825)
            assert "exif" not in img.info
            pixels = img.convert("RGB")
        thumb = client.get(f"/_gridmap/photos/{photo['hash']}.thumb.jpg")
        assert thumb.status_code == 200 and b"Exif\x00\x00" not in thumb.data
        with Image.open(io.BytesIO(thumb.data)) as small:
            assert max(small.size) == 320 and len(small.getexif()) == 0
            ratio = photo["width"] / photo["height"]
            assert abs(small.size[0] / small.size[1] - ratio) < 0.02
        if photo is turned:
            # Orientation 6 is shown turned 90° clockwise: the red left half is on top.
            top, bottom = pixels.getpixel((200, 100)), pixels.getpixel((200, 700))
            assert top[0] > 180 and top[2] < 60, top
            assert bottom[2] > 180 and bottom[0] < 60, bottom


def test_a_photo_is_for_who_may_read_its_case(app, photo_case, signin):
    digest = photo_case["photos"][0]["hash"]
    for name in ("dispatcher", "admin", "commander"):
        assert signin(name).get(f"/_gridmap/photos/{digest}.jpg").status_code == 200, name
    for name in (OTHER[0], "planner"):
        for path in (f"/_gridmap/photos/{digest}.jpg", f"/_gridmap/photos/{digest}.thumb.jpg"):
            answer = signin(name).get(path)
            assert answer.status_code == 403, (name, path)
            assert answer.mimetype == "application/json"
    supervisor = signin("supervisor")
    unknown = hashlib.sha256(b"no such photo").hexdigest()
    assert supervisor.get(f"/_gridmap/photos/{unknown}.jpg").status_code == 404
    assert supervisor.get("/_gridmap/photos/not-a-hash.jpg").status_code == 404


# -- 5. user text is text ------------------------------------------------------------


class _Config(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.config = None

    def handle_starttag(self, tag, attrs):
        if tag == "body":
            self.config = dict(attrs).get("data-config")


def test_markup_in_a_description_stays_text(app, places, signin):
    payload = "<img src=x onerror=alert(1)>"
    client = signin("supervisor")
    made = _created(client, places["at_building"], description=f"门口 {payload}")
    listed = client.get(API + "cases.json")
    assert listed.mimetype == "application/json"
    case = next(c for c in listed.get_json()["cases"] if c["id"] == made["id"])
    assert case["description"] == f"门口 {payload}"
    detail = client.get(f"{API}case/{made['id']}.json")
    assert detail.mimetype == "application/json"
    assert detail.get_json()["description"] == f"门口 {payload}"

    html = client.get("/field").get_data(as_text=True)
    assert payload not in html and "<img" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    parser = _Config()
    parser.feed(html)
    config = json.loads(parser.config)
    assert next(c for c in config["cases"] if c["id"] == made["id"])["description"] == (
        f"门口 {payload}"
    )


# -- 6. masking ----------------------------------------------------------------------


def test_phone_numbers_in_the_list_are_masked_for_everyone(app, store, places, signin):
    phone = "13812345678"
    text = f"楼道堆物，请回电 {phone}"
    with open_store(store) as st:
        dept = st.user("department").department
    made = _created(signin("supervisor"), places["at_building"], description=text)
    _moved(signin("dispatcher"), made["id"], "register", "registered", 1)
    _moved(signin("dispatcher"), made["id"], "dispatch", "dispatched", 2, department=dept)
    expected = mask_text(text)
    assert "138****5678" in expected and phone not in expected
    for role in FIELD_ROLES:
        answer = signin(role).get(API + "cases.json")
        case = next(c for c in answer.get_json()["cases"] if c["id"] == made["id"])
        assert case["description"] == expected, role
        assert phone not in answer.get_data(as_text=True), role
        assert "reporter_phone" not in case and "reporter_name" not in case


def test_the_reporter_is_shown_to_who_handles_the_case_and_the_view_is_audited(
    app, store, places, signin
):
    with open_store(store) as st:
        dept = st.user("department").department
        inc = st.read("incidents", prefixes={"grid_code": [places["mine"]]})
    called = inc[
        inc["reporter_phone"].notna()
        & inc["reporter_name"].notna()
        & (inc["department"].astype("string") == dept)
    ]
    assert len(called)
    case = called.sort_values("id").iloc[0]
    name, phone = case["reporter_name"], case["reporter_phone"]
    cid = case["id"]

    def views(user):
        with open_store(store) as st:
            return [r for r in st.audit_log(action="pii_view", user=user) if r["target"] == cid]

    for role in ("dispatcher", "admin", "supervisor", "department"):
        before = len(views(role))
        body = signin(role).get(f"{API}case/{cid}.json").get_json()
        assert body["reporter_name"] == name and body["reporter_phone"] == phone, role
        assert len(views(role)) == before + 1, role
    before = len(views("commander"))
    answer = signin("commander").get(f"{API}case/{cid}.json")
    body = answer.get_json()
    assert body["reporter_name"] == mask_name(name) != name
    assert body["reporter_phone"] == mask_phone(phone) != phone
    text = answer.get_data(as_text=True)
    assert phone not in text and name not in text
    assert len(views("commander")) == before
    assert signin(OTHER[0]).get(f"{API}case/{cid}.json").status_code == 403


def test_one_photo_in_two_reports_sent_at_once(app, store, places, signin, monkeypatch):
    """Two reports (two keys) with the same picture, at once: two cases sharing one stored photo."""
    clients = [signin("supervisor"), signin("supervisor", fresh=True)]
    picture = _jpeg((300, 300), colour=(1, 2, 3))

    def send(i):
        r = _report(clients[i], places["at_building"], photos=[("same.jpg", picture)])
        return r.status_code, r.get_json()

    results = _at_once(monkeypatch, store, "write", send)
    assert [s for s, _ in results] == [201, 201], results
    ids = {b["id"] for _, b in results}
    assert len(ids) == 2
    with open_store(store) as st:
        (digest,) = {p["hash"] for i in ids for p in st.case_photos(i)}
        assert sorted(st.photo(digest)[1]) == sorted(ids)
        assert _count(st, "SELECT count(*) FROM photos WHERE hash = ?", (digest,)) == 1

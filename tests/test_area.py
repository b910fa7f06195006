"""Who may read what through the app, tried as an attacker would (issue 12, points 3 and 9).

Every role signs in through /login with the demo's account (on both backends)
and asks every data route and every server callback for a unit inside its area
and for one outside it, as forged requests: the callbacks' bodies are built from
``/_dash-dependencies`` with the values the page itself offers, so a new
callback is in the matrix the day it is added. Inside: answered; outside: HTTP
403 "not in your area", with nothing of the unit in the answer.
"""

from __future__ import annotations

import json

import pytest
from conftest import demo_on

from gridmap.codes import below, level_of
from gridmap.store import open_store
from gridmap.store.accounts import get_setting

pytestmark = pytest.mark.slow

ROLES = ("admin", "commander", "dispatcher", "department", "supervisor", "planner", "viewer")


def _listed(address: str) -> dict[str, dict]:
    with open_store(address) as st, st._accounts(write=False) as cur:
        return {a["name"]: a for a in json.loads(get_setting(cur, "demo_accounts"))}


@pytest.fixture(scope="module", params=["gpkg", "postgis"])
def store(request, demo_path, tmp_path_factory):
    """The demo with its accounts, in a GeoPackage and in PostGIS."""
    yield from demo_on(request, demo_path, tmp_path_factory)


@pytest.fixture(scope="module")
def app(store):
    from gridmap.app import create_app

    return create_app(store)


def _client(app, store, name: str):
    client = app.server.test_client()
    password = _listed(store)[name]["password"]
    response = client.post("/login", data={"name": name, "password": password})
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


@pytest.fixture(scope="module")
def units(store):
    """A unit inside and one outside each role's area (None when the area is everything)."""
    st = open_store(store)
    grids = sorted(st.read("grids", columns=["code"])["code"])
    out = {}
    for name in ROLES:
        scope = st.user(name).scope
        inside = scope[0] if scope else grids[0][:9]
        outside = next((g for g in grids if not any(g.startswith(s) for s in scope)), None)
        out[name] = (inside, outside if scope else None)
    st.close()
    return out


def _value(prop_id: str, code: str):
    """What the page would send for an input: its own values (see the dashboard's layout)."""
    offered = {
        "gm-view.data": {"code": code, "lang": "zh", "child_level": below(level_of(code))},
        "gm-click.data": {"code": code + "001", "t": 1},
        "gm-measure.value": "households",
        "gm-units-mode.value": "measure",
        "gm-facility-type.value": "clinic",
        "gm-minutes.value": 5,
        "gm-heat-months.value": None,
        "gm-heat-categories.value": [],
        "gm-data-version.data": "x",
        "gm-refresh.n_intervals": 1,
        "gm-reconnect.data": None,
        "_pages_location.pathname": "/",
        "_pages_location.search": f"?unit={code}",
    }
    if prop_id.startswith("gm-on-"):
        return True
    if prop_id.startswith("gm-sent-"):
        return None
    return offered.get(prop_id)


def _bodies(client, code: str) -> list[tuple[str, dict]]:
    """A request for every server callback of the page, about ``code``."""
    deps = client.get("/_dash-dependencies").get_json()
    out = []
    for dep in deps:
        if dep.get("clientside_function") is not None:
            continue
        inputs = [
            {
                "id": i["id"],
                "property": i["property"],
                "value": _value(f"{i['id']}.{i['property']}", code),
            }
            for i in dep["inputs"]
        ]
        state = [
            {
                "id": s["id"],
                "property": s["property"],
                "value": _value(f"{s['id']}.{s['property']}", code),
            }
            for s in dep["state"]
        ]
        outputs = dep["output"].strip(".").split("...")
        body = {
            "output": dep["output"],
            "outputs": [
                {"id": o.rsplit(".", 1)[0], "property": o.rsplit(".", 1)[1]} for o in outputs
            ],
            "inputs": inputs,
            "state": state,
            "changedPropIds": [f"{dep['inputs'][0]['id']}.{dep['inputs'][0]['property']}"],
        }
        if len(outputs) == 1:
            body["outputs"] = body["outputs"][0]
        out.append((dep["output"], body))
    return out


def _text(answer) -> str:
    """An answer's body as text, JSON decoded (Dash escapes non-ASCII)."""
    if answer.is_json:
        return json.dumps(answer.get_json(), ensure_ascii=False)
    return answer.get_data(as_text=True)


def _reads_unit(dep_output: str) -> bool:
    # The data check answers a version only: it names no unit.
    return dep_output != "gm-data-version.data"


@pytest.mark.parametrize("role", ROLES)
def test_every_route_and_callback_answers_inside_the_area_and_refuses_outside(
    app, store, units, role
):
    client = _client(app, store, role)
    inside, outside = units[role]
    with open_store(store) as st:
        grids = st.read("grids", columns=["code", "name"])
    name_of = dict(zip(grids["code"], grids["name"], strict=True))
    for path in (f"/_gridmap/units/{inside}.geojson", f"/_gridmap/outline/{inside}.zh.geojson"):
        assert client.get(path).status_code == 200, path
    assert client.get("/_gridmap/basemap.geojson").status_code == 200
    for output, body in _bodies(client, inside):
        answer = client.post("/_dash-update-component", json=body)
        assert answer.status_code in (200, 204), (output, answer.get_data(as_text=True)[:300])
        assert "不在您的管辖范围内" not in _text(answer), output
    if outside is None:
        return
    for path in (f"/_gridmap/units/{outside}.geojson", f"/_gridmap/outline/{outside}.zh.geojson"):
        answer = client.get(path)
        assert answer.status_code == 403, path
        assert answer.get_json() == {"error": "不在您的管辖范围内"}
    for output, body in _bodies(client, outside):
        answer = client.post("/_dash-update-component", json=body)
        text = _text(answer)
        if output.startswith(".._pages_content"):
            # The page itself answers, with the message and nothing of the unit.
            assert answer.status_code == 200 and "不在您的管辖范围内" in text
            assert name_of.get(outside, "\0") not in text
        elif _reads_unit(output):
            assert answer.status_code == 403, (output, text[:300])
            assert name_of.get(outside, "\0") not in text


def test_a_forged_drill_out_of_the_area_is_refused(app, store, units):
    """The supervisor's view state names another grid: refused, whichever callback asks."""
    client = _client(app, store, "supervisor")
    _, outside = units["supervisor"]
    for output, body in _bodies(client, outside):
        if output == "gm-numbers.children":
            assert client.post("/_dash-update-component", json=body).status_code == 403


def test_a_scoped_user_lands_on_their_own_unit(app, store, units):
    client = _client(app, store, "supervisor")
    inside, _ = units["supervisor"]
    body = dict(_bodies(client, inside))
    page = next(b for o, b in body.items() if o.startswith(".._pages_content"))
    page["inputs"][1]["value"] = ""
    text = _text(client.post("/_dash-update-component", json=page))
    assert f'"code": "{inside}"' in text


def test_anonymous_requests_reach_nothing(app, store, units):
    client = app.server.test_client()
    inside, _ = units["admin"]
    assert client.get("/").status_code == 302
    assert client.get(f"/_gridmap/units/{inside}.geojson").status_code == 401
    for _, body in _bodies(_client(app, store, "admin"), inside):
        assert client.post("/_dash-update-component", json=body).status_code == 401


def test_the_basemap_is_cut_to_the_area(app, store):
    """A supervisor's basemap is the outline of its grid and the main roads crossing it."""
    import shapely

    admin, supervisor = _client(app, store, "admin"), _client(app, store, "supervisor")
    whole = admin.get("/_gridmap/basemap.geojson").get_json()["features"]
    mine = supervisor.get("/_gridmap/basemap.geojson").get_json()["features"]
    assert 0 < len(mine) < len(whole) / 10
    with open_store(store) as st:
        grid = st.user("supervisor").scope[0]
        shape = st.read("grids", where={"code": grid}).geometry.iloc[0]
    lines = [shapely.geometry.shape(f["geometry"]) for f in mine]
    assert all(line.intersects(shape.buffer(1e-6)) for line in lines)


def _building_with_a_caller(store) -> tuple[str, dict]:
    with open_store(store) as st:
        inc = st.read("incidents")
    hot = inc[
        inc["step"].isin(["registered", "dispatched", "handling"])
        & inc["building_code"].notna()
        & inc["source"].eq("hotline_12345")
    ].iloc[0]
    return hot["building_code"], hot


@pytest.mark.parametrize("role, unmasked", [("dispatcher", True), ("planner", False)])
def test_the_building_panel_through_its_callback_masks_by_role(app, store, role, unmasked):
    """As the browser asks for it: the panel's answer holds the phone masked or, for a
    dispatcher, unmasked with a pii_view row in the audit log."""
    client = _client(app, store, role)
    code, hot = _building_with_a_caller(store)
    (body,) = [b for o, b in _bodies(client, code) if o == "gm-building.children"]
    text = _text(client.post("/_dash-update-component", json=body))
    phone = hot["reporter_phone"]
    masked = phone[:3] + "****" + phone[-4:]
    with open_store(store) as st:
        views = [r for r in st.audit_log(action="pii_view", user=role) if r["target"] == code]
    if unmasked:
        assert phone in text and hot["reporter_name"] in text
        assert views and hot["id"] in views[-1]["detail"]
    else:
        assert phone not in text and masked in text and hot["reporter_name"] not in text
        assert not views

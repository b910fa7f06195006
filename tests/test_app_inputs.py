"""Every value a dashboard callback receives is checked on the server (issue #11, point 6).

The callbacks are sent as a forged browser would send them: straight to
``/_dash-update-component``, with values the page never offers. Each must be
refused with a one-line message in its panel, quickly, computing nothing.
"""

from __future__ import annotations

import json
import time

import pytest
from conftest import signed_in

from gridmap.accounts import Account
from gridmap.app import inputs as checks
from gridmap.coverage import MUST_HAVE
from gridmap.schema import INCIDENT_CATEGORIES
from gridmap.services.source import Source

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(demo_path):
    from gridmap.app import create_app

    return signed_in(create_app(str(demo_path), lang="en").server.test_client())


@pytest.fixture(scope="module")
def src(demo_path) -> Source:
    return Source(str(demo_path))


def _view(src: Source, **change) -> dict:
    code = src.district_code()
    return {"code": code, "lang": "en", "child_level": "subdistrict", **change}


def _circles(client, view: dict, *, ftype="clinic", minutes=5, on=True, sent=None) -> dict:
    body = {
        "output": "..gm-circles.children...gm-legend-circles.children...gm-sent-circles.data..",
        "outputs": [
            {"id": "gm-circles", "property": "children"},
            {"id": "gm-legend-circles", "property": "children"},
            {"id": "gm-sent-circles", "property": "data"},
        ],
        "inputs": [
            {"id": "gm-on-circles", "property": "data", "value": on},
            {"id": "gm-facility-type", "property": "value", "value": ftype},
            {"id": "gm-minutes", "property": "value", "value": minutes},
            {"id": "gm-data-version", "property": "data", "value": "x"},
        ],
        "state": [
            {"id": "gm-view", "property": "data", "value": view},
            {"id": "gm-sent-circles", "property": "data", "value": sent},
        ],
        "changedPropIds": ["gm-minutes.value"],
    }
    response = client.post("/_dash-update-component", json=body)
    if response.status_code == 204:  # every output left as it is
        return {}
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["response"]


def _refused(answer: dict, what: str) -> None:
    """The layer is empty and its legend says, in one line, which value was refused."""
    legend = json.dumps(answer["gm-legend-circles"]["children"], ensure_ascii=False)
    said = f"request's {what}" in legend or "请求中的" in legend
    assert "panel-error" in legend and said, legend
    assert answer["gm-circles"]["children"] == []


def test_forged_minutes_are_refused_at_once(client, src):
    """Walking minutes 1e6 once took the server to 3.9 GB: now a message, in well under a second."""
    _circles(client, _view(src), minutes=1e6)  # the first request reads the store
    for minutes in (1e6, 7, "5", -5, None, [5], True):
        t0 = time.perf_counter()
        answer = _circles(client, _view(src), minutes=minutes)
        assert time.perf_counter() - t0 < 1.0, minutes
        _refused(answer, "walking minutes")


def test_forged_facility_toggles_and_state_are_refused(client, src):
    _refused(_circles(client, _view(src), ftype="kindergarten'; drop"), "facility type")
    for on in ("yes", 1, None, ["circles"], {"on": True}):
        _refused(_circles(client, _view(src), on=on), "layers")
    _refused(_circles(client, _view(src, code="431002999")), "unit")
    # No state to take the language from: the message is in Chinese, the default.
    _refused(_circles(client, "not a dict"), "unit")
    # A forged child level is not believed: the server recomputes it.
    admin = Account("t", "admin")
    state = checks.check_state(src, _view(src, child_level="building"), who=admin)
    assert state["child_level"] == "subdistrict"


def test_offered_values_pass(client, src):
    answer = _circles(client, _view(src), ftype=MUST_HAVE[0], minutes=checks.MINUTES[-1])
    assert answer["gm-circles"]["children"], "circles drawn for an offered value"
    assert "panel-error" not in json.dumps(answer)


def test_a_layer_the_page_has_already_is_not_sent_again(client, src):
    """The digest of what was sent comes back with the request: the same layer is not re-sent."""
    first = _circles(client, _view(src))
    digest = first["gm-sent-circles"]["data"]
    assert first["gm-circles"]["children"] and isinstance(digest, str)
    body = json.dumps(_circles(client, _view(src), sent=digest))
    # Nothing sent: Dash answers 204 or leaves the outputs out.
    assert "gm-circles" not in body, body[:300]
    # Another choice changes the content: sent again.
    other = _circles(client, _view(src), minutes=15, sent=digest)
    assert other["gm-circles"]["children"] and other["gm-sent-circles"]["data"] != digest


def test_checks_of_each_kind(src):
    months = ["2025-01", "2025-02", "2025-03"]
    assert checks.check_window([0, 2], months, "en") == [0, 2]
    assert checks.check_window(None, months, "en") is None
    for bad in ([2, 0], [0, 3], [0], [0.5, 1], "0,1", [0, 10**9], [True, 1]):
        with pytest.raises(checks.RefusedInputError):
            checks.check_window(bad, months, "en")
    assert checks.check_window([0, 0], [], "en") is None
    assert checks.check_categories(None, INCIDENT_CATEGORIES, "en") == []
    first = INCIDENT_CATEGORIES[0]
    assert checks.check_categories([first, first], INCIDENT_CATEGORIES, "en") == [first]
    with pytest.raises(checks.RefusedInputError):
        checks.check_categories(["<script>"], INCIDENT_CATEGORIES, "en")
    with pytest.raises(checks.RefusedInputError):
        checks.check_categories([first] * 1000, INCIDENT_CATEGORIES, "en")
    # The message repeats a little of the value, never all of it.
    with pytest.raises(checks.RefusedInputError) as error:
        checks.check_choice("x" * 10_000, ("a",), "measure", "en")
    assert len(str(error.value)) < 200


def test_repeated_or_malformed_unit_gets_one_plain_message(client, src):
    from test_app import _page

    district = src.district_code()
    for search in (f"?unit={district}&unit=431002001&lang=en", "?unit=%3Cb%3E&lang=en"):
        page = _page(client, search)
        assert "The address's query is not valid" in page, search
        assert "['" not in page and "<b>" not in page


def test_caches_are_bounded(src, monkeypatch):
    from gridmap.services import source

    monkeypatch.setattr(source, "CACHE_ENTRIES", 3)
    fresh = Source(str(src.address))
    made = []
    for i in range(10):
        fresh.cached(f"k{i}", lambda i=i: made.append(i) or i)
    assert len(fresh._cache) == 3 and list(fresh._cache) == ["k7", "k8", "k9"]
    # A hit refreshes its entry: k7 is kept, k8 (the least recently used) goes.
    assert fresh.cached("k7", lambda: made.append("again")) == 7
    fresh.cached("k10", lambda: 10)
    assert list(fresh._cache) == ["k9", "k7", "k10"] and "again" not in made
    fresh.close()


def test_a_store_without_main_roads_still_draws(demo_path, tmp_path):
    """Only lanes and footways: the basemap draws the boundary, the page its units."""
    import shutil

    from test_app import _drawn_levels, _page

    from gridmap.app import create_app, views
    from gridmap.services.source import MAIN_ROADS
    from gridmap.store import open_store

    copy = tmp_path / "lanes.gpkg"
    shutil.copy(demo_path, copy)
    with open_store(copy) as store:
        roads = store.read("roads")
        lanes = roads[~roads["kind"].astype(str).isin(MAIN_ROADS)]
        assert 0 < len(lanes) < len(roads)
        store.write({"roads": lanes}, mode="replace")
    lanes_src = Source(str(copy))
    assert lanes_src.main_roads().empty
    kinds = {
        f["properties"].get("_style", {}).get("dashArray")
        for f in views.basemap(lanes_src)["features"]
    }
    assert kinds == {"6 4"}  # the district boundary only
    lanes_src.close()
    client = signed_in(create_app(str(copy), lang="en").server.test_client())
    page = _page(client, "?lang=en")
    assert "panel-error" not in page
    assert _drawn_levels(client, page) == ["subdistrict"] * 14


def test_text_responses_are_compressed(client, src):
    """Pages, callbacks, scripts and the geometry routes travel compressed (#11, point 2)."""
    from gridmap.app import basemap_url, units_url

    gz = {"Accept-Encoding": "gzip, deflate, br, zstd"}
    urls = [
        "/",
        "/_dash-layout",
        "/_dash-dependencies",
        basemap_url(src),
        units_url(src, src.district_code()),
    ]
    for url in urls:
        response = client.get(url, headers=gz)
        assert response.status_code == 200, url
        assert response.headers.get("Content-Encoding") in ("gzip", "br", "zstd"), url
        plain = client.get(url)
        assert len(response.data) < len(plain.data), url


def test_scripts_are_compressed_once_at_brotlis_best(client):
    """The JavaScript packages (most of a first visit's bytes) go out at brotli 11, kept."""
    import re

    import brotli

    page = client.get("/").get_data(as_text=True)
    scripts = re.findall(r'<script src="([^"]+_dash-component-suites/[^"]+)"', page)
    assert len(scripts) >= 5
    url = max(scripts, key=lambda u: len(client.get(u).data))  # the largest
    plain = client.get(url).data
    first = client.get(url, headers={"Accept-Encoding": "gzip, br"})
    assert first.headers["Content-Encoding"] == "br"
    assert brotli.decompress(first.data) == plain
    assert len(first.data) <= len(brotli.compress(plain, quality=11)) + 16
    # Kept: the same bytes again, in a fraction of brotli 11's time.
    t0 = time.perf_counter()
    again = client.get(url, headers={"Accept-Encoding": "br"})
    assert again.data == first.data and time.perf_counter() - t0 < 0.1
    # A browser without brotli gets flask-compress's gzip.
    gz = client.get(url, headers={"Accept-Encoding": "gzip"})
    assert gz.headers["Content-Encoding"] == "gzip"


def test_versioned_files_are_kept_by_the_browser(client, src):
    """Favicon and assets named by version: cached a year (one fetch, not one per drill)."""
    import re

    page = client.get("/").get_data(as_text=True)
    icon = re.search(r'href="([^"]*_favicon\.ico\?v=[^"]+)"', page).group(1)
    css = re.search(r'href="([^"]*assets/gridmap\.css\?m=[^"]+)"', page).group(1)
    for url in (icon, css):
        response = client.get(url)
        assert response.status_code == 200, url
        assert "max-age=31536000" in response.headers["Cache-Control"], url
        response.close()
    # The outline of a level at its own URL, cached like the units.
    from gridmap.app import outline_url

    response = client.get(outline_url(src, src.district_code(), "zh"))
    assert response.status_code == 200 and "max-age" in response.headers["Cache-Control"]
    assert client.get(outline_url(src, src.district_code(), "xx")).status_code == 404


def _check_data(client, shown: str, reconnected: object) -> object:
    """The data check as the page sends it when the connection returns (#11, point 7)."""
    body = {
        "output": "gm-data-version.data",
        "outputs": {"id": "gm-data-version", "property": "data"},
        "inputs": [
            {"id": "gm-refresh", "property": "n_intervals", "value": None},
            {"id": "gm-reconnect", "property": "data", "value": reconnected},
        ],
        "state": [{"id": "gm-data-version", "property": "data", "value": shown}],
        "changedPropIds": ["gm-reconnect.data"],
    }
    response = client.post("/_dash-update-component", json=body)
    assert response.status_code in (200, 204), response.get_data(as_text=True)
    # No update: 204, or no value for the output.
    sent = response.get_json()["response"] if response.status_code == 200 else {}
    return sent.get("gm-data-version", {}).get("data")


def test_reconnecting_resends_the_version_only_after_missed_requests(client, src):
    """Back from an outage, the unchanged version is sent again only if some of the
    page's requests failed (the figures then ask again); a forged notice is refused."""
    shown = src.version
    assert _check_data(client, shown, {"missed": 0, "at": 1}) is None
    assert _check_data(client, shown, {"missed": 3, "at": 2}) == shown
    assert _check_data(client, "older", {"missed": 0, "at": 3}) == shown
    for bad in ({"missed": -1}, {"missed": True}, {"missed": "9"}, "x", [1]):
        assert _check_data(client, shown, bad) is None
        with pytest.raises(checks.RefusedInputError):
            checks.check_reconnect(bad)
    assert checks.check_reconnect({"missed": 2}) == 2


def test_the_ping_and_the_offline_script_are_served(client):
    """The page that lost its server asks /_gridmap/ping (never cached) and runs offline.js."""
    ping = client.get("/_gridmap/ping")
    assert ping.status_code == 204 and ping.headers["Cache-Control"] == "no-store"
    page = client.get("/").get_data(as_text=True)
    assert "/assets/offline.js" in page
    script = client.get("/assets/offline.js")
    assert "gm-reconnect" in script.get_data(as_text=True)
    script.close()  # a streamed file: closed here, not by the garbage collector


def test_the_first_html_is_titled_in_the_urls_language(client):
    """The page Dash sends first (before any script) names itself in ``?lang``'s language."""
    import re

    def title(url: str) -> str:
        return re.search(r"<title>(.*?)</title>", client.get(url).get_data(as_text=True)).group(1)

    # This client's server speaks English by default (create_app(lang="en")).
    assert title("/") == "Grid governance map"
    assert title("/?lang=zh&unit=431002") == "网格化治理地图"
    assert title("/?lang=en") == "Grid governance map"
    assert title("/?lang=xx") == "Grid governance map"

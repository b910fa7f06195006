"""Security headers on every response; writes from other origins refused (issue 12, point 4).

The Flask test client asks the demo's dashboard for a page, an asset, a
JavaScript package (compressed, and as a 304), the ping, a 404, a 500 and a
callback: each answer carries the Content-Security-Policy and the other
headers. A callback POST from another origin is a 403 with a JSON error.
(The policy in a real browser: tests/e2e/test_csp.py.)
"""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from conftest import signed_in

from gridmap.app import security
from gridmap.app.tiles import basemap

pytestmark = pytest.mark.slow

#: The test client's own origin (its requests go to http://localhost/).
OWN = "http://localhost"


@pytest.fixture(scope="module")
def app(demo_path):
    from gridmap.app import create_app

    app = create_app(str(demo_path), lang="zh")

    # A route that fails: the 500 answer carries the headers too.
    @app.server.route("/_test/boom")
    def boom():
        raise RuntimeError("boom")

    return app


@pytest.fixture(scope="module")
def client(app):
    # Signed in: the routes checked here answer only a session (gridmap/app/auth.py).
    return signed_in(app.server.test_client())


def _policy(response) -> dict[str, list[str]]:
    """The response's Content-Security-Policy, directive by directive."""
    header = response.headers.get("Content-Security-Policy")
    assert header, f"no Content-Security-Policy on {response.status}"
    directives = [d.split() for d in header.split(";") if d.strip()]
    return {d[0]: d[1:] for d in directives}


def _assert_secured(response) -> dict[str, list[str]]:
    for name, value in security.HEADERS.items():
        assert response.headers.get(name) == value, name
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] in ("same-origin", "strict-origin-when-cross-origin")
    assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"
    policy = _policy(response)
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"][0] == "'self'"
    assert not {"'unsafe-inline'", "'unsafe-eval'"} & set(policy["script-src"])
    assert policy["connect-src"] == ["'self'"]
    assert policy["img-src"][:3] == ["'self'", "data:", "blob:"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    assert policy["form-action"] == ["'self'"]
    return policy


def _page_body(search: str = "") -> dict:
    """The body of Dash Pages' own callback (what the browser sends on navigation)."""
    return {
        "output": ".._pages_content.children..._pages_store.data..",
        "outputs": [
            {"id": "_pages_content", "property": "children"},
            {"id": "_pages_store", "property": "data"},
        ],
        "inputs": [
            {"id": "_pages_location", "property": "pathname", "value": "/"},
            {"id": "_pages_location", "property": "search", "value": search},
        ],
        "changedPropIds": ["_pages_location.search"],
    }


def _package_url(client) -> str:
    page = client.get("/").get_data(as_text=True)
    return re.findall(r'<script src="(/_dash-component-suites/[^"]+)"', page)[0]


def test_the_page_names_each_of_its_inline_scripts_by_hash(client, app):
    """Every script Dash writes inline (the renderer's start, the clientside
    callbacks) runs by its hash, and no other inline script does."""
    response = client.get("/?lang=en")
    assert response.status_code == 200
    policy = _assert_secured(response)
    page = response.get_data(as_text=True)
    # Executable inline scripts: no src, not the JSON config. (The IE-only
    # script is inside an HTML comment.)
    page = re.sub(r"<!--.*?-->", "", page, flags=re.S)
    inline = [
        body
        for attrs, body in re.findall(r"<script([^>]*)>(.*?)</script>", page, flags=re.S)
        if "src=" not in attrs and "application/json" not in attrs
    ]
    assert len(inline) >= 2  # the renderer's start and at least one clientside callback
    hashes = [
        f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'" for s in inline
    ]
    assert sorted(policy["script-src"][1:]) == sorted(hashes) == sorted(app.csp_hashes())
    # The title still follows ?lang= (the app's interpolate_index).
    assert "<title>Grid governance" in page


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/?unit=431002001", 200),
        ("/assets/gridmap.css?m=1", 200),
        ("/_favicon.ico?v=1", 200),
        ("/_gridmap/ping", 204),
        ("/_gridmap/units/999999.geojson", 404),
        ("/_gridmap/outline/431002.xx.geojson", 404),
        ("/_test/boom", 500),
    ],
)
def test_headers_on_every_response(client, path, status):
    response = client.get(path)
    response.close()  # an asset is a file, streamed
    assert response.status_code == status
    policy = _assert_secured(response)
    if path.startswith("/_"):
        # Only the page itself runs inline scripts.
        assert policy["script-src"] == ["'self'"]


def test_headers_on_the_geometry_and_packages_compressed_or_not(client):
    """The headers survive compression (flask-compress and the brotli-11 copies) and 304s."""
    package = _package_url(client)
    for encoding in ("br", "gzip", ""):
        response = client.get(package, headers={"Accept-Encoding": encoding})
        assert response.status_code == 200
        assert response.headers.get("Content-Encoding", "") == encoding
        _assert_secured(response)
    # Dash answers a package without a version in its name (an async chunk) 304
    # when it is unchanged; Flask does for an asset.
    chunk = "/_dash-component-suites/dash_leaflet/async-GeoJSON.js"
    etag = client.get(chunk).headers["ETag"]
    unchanged = client.get(chunk, headers={"If-None-Match": etag, "Accept-Encoding": "br"})
    assert unchanged.status_code == 304
    _assert_secured(unchanged)
    asset = client.get("/assets/gridmap.css?m=1")
    asset.close()
    again = client.get(
        "/assets/gridmap.css?m=1", headers={"If-Modified-Since": asset.headers["Last-Modified"]}
    )
    again.close()
    assert again.status_code == 304
    _assert_secured(again)
    page = client.get("/", headers={"Accept-Encoding": "gzip"})
    assert page.headers["Content-Encoding"] == "gzip"
    geometry = client.get("/_gridmap/units/431002.geojson?v=1", headers={"Accept-Encoding": "br"})
    assert geometry.status_code == 200 and geometry.headers["Content-Encoding"] == "br"
    _assert_secured(geometry)


def _callback(client, **headers):
    return client.post("/_dash-update-component", json=_page_body(), headers=headers)


def test_headers_on_a_callback(client):
    response = _callback(client, Origin=OWN)
    assert response.status_code == 200
    policy = _assert_secured(response)
    assert policy["script-src"] == ["'self'"]


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://localhost:99999"},
        # The same host on another port or scheme is another origin.
        {"Origin": "http://localhost:8050"},
        {"Origin": "https://localhost"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Referer": "https://evil.example/page?x=1"},
        # Origin decides when both are there.
        {"Origin": "https://evil.example", "Referer": OWN + "/"},
    ],
)
def test_a_callback_from_another_origin_is_refused(client, headers):
    response = _callback(client, **headers)
    assert response.status_code == 403
    assert response.is_json and set(response.get_json()) == {"error"}
    assert "another" in response.get_json()["error"]
    assert "Traceback" not in response.get_data(as_text=True)
    _assert_secured(response)


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": OWN},
        {"Origin": OWN + ":80"},
        {"Sec-Fetch-Site": "same-origin"},
        {"Referer": OWN + "/?unit=431002001"},
        # Neither Origin, nor Sec-Fetch-Site, nor Referer: not a browser page (curl, a script).
        {},
    ],
)
def test_a_callback_from_the_own_origin_is_answered(client, headers):
    response = _callback(client, **headers)
    assert response.status_code == 200, response.get_data(as_text=True)


def test_every_method_but_get_and_head_is_checked(client):
    evil = {"Origin": "https://evil.example"}
    for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
        response = client.open("/_gridmap/ping", method=method, headers=evil)
        assert response.status_code == 403, method
    # Reading is allowed from anywhere (a link from another site opens the page).
    assert client.get("/", headers=evil).status_code == 200
    assert client.head("/_gridmap/ping", headers=evil).status_code == 204
    # The own origin's other methods reach the route (which allows none of them).
    assert client.post("/_gridmap/ping", headers={"Origin": OWN}).status_code == 405


def test_tile_hosts_are_allowed_as_images(demo_path):
    from gridmap.app import create_app

    assert security.tile_hosts(basemap("none")) == ()
    assert security.tile_hosts(basemap("osm")) == ("https://tile.openstreetmap.org",)
    assert security.tile_hosts(basemap("amap")) == tuple(
        f"https://webrd0{s}.is.autonavi.com" for s in "1234"
    )
    # Tianditu's two layers share their eight hosts.
    assert security.tile_hosts(basemap("tianditu", "k")) == tuple(
        f"https://t{s}.tianditu.gov.cn" for s in "01234567"
    )
    app = create_app(str(demo_path), basemap=basemap("amap"))
    policy = _assert_secured(app.server.test_client().get("/_gridmap/ping"))
    assert policy["img-src"] == ["'self'", "data:", "blob:"] + [
        f"https://webrd0{s}.is.autonavi.com" for s in "1234"
    ]
    # Tiles are images only: nothing else may come from their hosts.
    assert all("autonavi" not in " ".join(v) for k, v in policy.items() if k != "img-src")

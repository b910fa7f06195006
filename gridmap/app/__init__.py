"""The gridmap dashboard: a Dash Pages app over one store.

:func:`create_app` makes the app; ``gridmap serve STORE`` runs it. The pages in
:mod:`gridmap.app.pages` own their layouts and callbacks (``@dash.callback``,
never ``app.callback``), so they never import the app: they find the store
through the Flask config the app sets (``GRIDMAP_STORE``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import dash

    from gridmap.app.tiles import Basemap
    from gridmap.services.source import Source

__all__ = ["basemap_url", "create_app", "outline_url", "run", "units_url"]

_PAGES = Path(__file__).resolve().parent / "pages"


def create_app(
    store_address: str,
    *,
    lang: str = "zh",
    basemap: Basemap | None = None,
    refresh_seconds: int | None = None,
    listed_accounts: bool = False,
) -> dash.Dash:
    """The dashboard of the store at ``store_address``.

    Parameters
    ----------
    store_address
        A ``.gpkg`` path or a ``postgresql://`` URL.
    lang
        The default language of the pages (``zh`` or ``en``); ``?lang=`` in
        the URL overrides it per view.
    basemap
        The tiles under the layers (:func:`gridmap.app.tiles.basemap`);
        ``None``: the offline basemap drawn from the store.
    refresh_seconds
        How often an open page checks for new data and updates its figures
        and layers (0: never); ``None``: ``GRIDMAP_REFRESH_SECONDS`` (60).
    listed_accounts
        Whether the login page may list the demo's accounts (the store's
        ``demo_accounts`` setting), as it does when the store is also marked
        synthetic: :func:`run` passes ``True`` for a server bound to the
        machine itself (127.0.0.1).

    Returns
    -------
    dash.Dash
        The app; ``app.server`` is its Flask (WSGI) server.
    """
    import dash
    import flask
    from dash import html

    from gridmap.app import area, auth, field, security, tiles, wall
    from gridmap.i18n import LANGS, t
    from gridmap.resources import assets_dir

    if lang not in LANGS:
        raise ValueError(f"unknown language {lang!r}; use one of {', '.join(LANGS)}")
    server = flask.Flask("gridmap.app")
    # Every text response compressed (zstd, brotli or gzip, as the browser
    # accepts): the basemap's GeoJSON is a quarter of its size gzipped. The
    # geometry routes' type is added to flask-compress's list.
    server.config["COMPRESS_MIMETYPES"] = [*_COMPRESSED, "application/geo+json"]
    # Streamed responses (the files of /assets/, a few kB) stay as they are:
    # flask-compress wraps their file in a generator and never closes it, so
    # every such request leaked a file handle until garbage collection.
    server.config["COMPRESS_STREAMS"] = False
    app = _dash_class()(
        "gridmap.app",
        server=server,
        compress=True,
        use_pages=True,
        pages_folder=str(_PAGES),
        assets_folder=str(assets_dir()),
        # Only the app's own files: assets/vendor/ holds a second Leaflet for the
        # folium export, which would replace dash-leaflet's `window.L` and break
        # its circle markers. (assets_ignore matches file names, not paths.)
        assets_ignore=r"^(?!gridmap\.css$|layer_style\.js$|steady\.js$|offline\.js$).*",
        title=t("app.title", lang),
        # The page's components exist only once the page is rendered.
        suppress_callback_exceptions=True,
        # Everything from the app itself: no CDN (the machines may be offline).
        serve_locally=True,
        update_title=None,
    )
    basemap = basemap or tiles.basemap("none")
    app.server.config["GRIDMAP_STORE"] = str(store_address)
    app.server.config["GRIDMAP_LANG"] = lang
    app.server.config["GRIDMAP_BASEMAP"] = basemap
    if refresh_seconds is None:
        from gridmap.settings import get_settings

        refresh_seconds = get_settings().refresh_seconds
    app.server.config["GRIDMAP_REFRESH_SECONDS"] = int(refresh_seconds)
    app.server.config["GRIDMAP_LISTED_ACCOUNTS"] = bool(listed_accounts)
    app.layout = html.Div([dash.page_container], className="gm-root")
    _serve_geometry(app, str(store_address), basemap.offset)
    field.install(app)
    wall.install(app)
    # Every route but the sign-in's own and the bundles asks for a session;
    # what it names must be in the user's area.
    auth.install(app)
    area.install(app.server)
    # Registered first, so it runs after the others (Flask runs them in reverse).
    _compress_packages(app)
    _cache_fingerprinted(app)
    _serve_ping(app)
    # Last, so its hook runs first: no response leaves without the headers.
    security.install(app.server)
    return app


def _serve_ping(app: dash.Dash) -> None:
    """Answer ``/_gridmap/ping`` with an empty 204, never cached.

    A page that lost its server (``assets/offline.js``) asks this every few
    seconds to learn that it is back: the cheapest answer the server has,
    touching neither the store nor Dash.
    """
    import flask

    @app.server.route(app.config.routes_pathname_prefix + _PING_PATH)
    def ping() -> flask.Response:
        return flask.Response(status=204, headers={"Cache-Control": "no-store"})


def _serve_geometry(app: dash.Dash, address: str, offset: str | None) -> None:
    """Serve the basemap's and each level's GeoJSON at URLs the browser caches.

    Every drill, and the language switch, re-render the page; the geometry
    is not in the page but at a URL that names its content (:func:`basemap_url`,
    :func:`units_url`), so a browser fetches the basemap once and each level's
    units once per version of the data.
    """
    import flask

    from gridmap.app import area, views
    from gridmap.services.source import UnitNotFoundError, get_source

    prefix = app.config.routes_pathname_prefix

    def geojson(body: bytes) -> flask.Response:
        return flask.Response(
            body,
            mimetype="application/geo+json",
            # The URL changes with the content: it can be kept for a day (by the
            # browser only: it is for signed-in users).
            headers={"Cache-Control": "private, max-age=86400, immutable"},
        )

    @app.server.route(prefix + _BASEMAP_PATH)
    def basemap_geojson() -> flask.Response:
        return geojson(_basemap_body(get_source(address, offset), area.account().scope))

    @app.server.route(prefix + _UNITS_PATH + "<code>.geojson")
    def units_geojson(code: str) -> flask.Response:
        src = get_source(address, offset)
        try:
            src.unit(code)
        except UnitNotFoundError as error:
            flask.abort(404, str(error))
        area.check(code)
        body = src.cached(
            f"units-json:{code}", lambda: json.dumps(views.units_geojson(src, code)).encode()
        )
        return geojson(body)

    @app.server.route(prefix + _OUTLINE_PATH + "<code>.<lang>.geojson")
    def outline_geojson(code: str, lang: str) -> flask.Response:
        from gridmap.i18n import LANGS

        src = get_source(address, offset)
        try:
            src.unit(code)
        except UnitNotFoundError as error:
            flask.abort(404, str(error))
        if lang not in LANGS:
            flask.abort(404, f"no language {lang!r}")
        area.check(code, lang)
        body = src.cached(
            f"outline-json:{code}:{lang}",
            lambda: json.dumps(views.outline(src, code, lang)).encode(),
        )
        return geojson(body)

    app.server.config["GRIDMAP_PATH_PREFIX"] = app.config.requests_pathname_prefix


def _dash_class() -> type[dash.Dash]:
    """Dash, whose first HTML has its title in the language the URL asks for.

    Dash writes ``app.title`` (the server's language) into the page it sends
    first and the page's own title only once the layout has rendered: a link
    preview, a bookmark or a slow connection saw ``?lang=en`` titled in Chinese.
    (Defined on call: dash is imported only when an app is made.)
    """
    import dash
    import flask

    from gridmap.app import security
    from gridmap.i18n import LANGS, t

    class Dash(dash.Dash):
        def interpolate_index(self, **kwargs: Any) -> str:
            lang = flask.request.args.get("lang") if flask.has_request_context() else None
            if lang in LANGS:
                kwargs["title"] = t("app.title", lang)
            if flask.has_request_context():
                # The page's inline scripts (the renderer's start, clientside
                # callbacks) run by their hashes in the response's policy.
                security.allow_scripts(self.csp_hashes())
            return super().interpolate_index(**kwargs)

    return Dash


#: Compressed copies of the JavaScript packages kept (one per file and encoding).
_PACKAGE_COPIES = 64


def _compress_packages(app: dash.Dash) -> None:
    """Compress the JavaScript packages once, at brotli's best, and keep the result.

    They are most of a first visit's bytes (React, Dash, dash-leaflet: 1.4 MB;
    400 kB at flask-compress's fast default level) and never change for a
    version: brotli 11 takes 0.4 s a file but makes them 19 % smaller, once.
    Everything else is left to flask-compress, which compresses fast per request.
    """
    import threading
    from collections import OrderedDict

    import brotli
    import flask

    prefix = app.config.requests_pathname_prefix + "_dash-component-suites/"
    kept: OrderedDict[tuple[str, str], bytes] = OrderedDict()
    lock = threading.Lock()

    @app.server.after_request
    def compress(response: flask.Response) -> flask.Response:
        request = flask.request
        accepts = request.headers.get("Accept-Encoding", "")
        if (
            request.method != "GET"
            or not request.path.startswith(prefix)
            or response.status_code != 200
            or response.is_streamed
            or "Content-Encoding" in response.headers
            or "br" not in accepts
            or (response.cache_control.max_age or 0) < 86400
        ):
            return response
        key = (request.full_path, "br")
        with lock:
            body = kept.get(key)
            if body is not None:
                kept.move_to_end(key)
        if body is None:
            body = brotli.compress(response.get_data(), quality=11)
            with lock:
                kept[key] = body
                while len(kept) > _PACKAGE_COPIES:
                    kept.popitem(last=False)
        response.set_data(body)
        response.headers["Content-Encoding"] = "br"
        response.vary.add("Accept-Encoding")
        return response


def _warm_packages(app: dash.Dash) -> None:
    """Ask for the page's scripts once, so the first visitor gets them compressed at once."""
    import re

    # The page itself is for signed-in users: its HTML is made here, past the gate.
    with app.server.test_request_context(app.config.requests_pathname_prefix):
        page = app.index()
    client = app.server.test_client()
    for src in re.findall(r'<script src="([^"]+_dash-component-suites/[^"]+)"', page):
        client.get(src, headers={"Accept-Encoding": "br"})


def _cache_fingerprinted(app: dash.Dash) -> None:
    """Let the browser keep what is named by its version: the favicon and the assets.

    Dash names its favicon (``_favicon.ico?v=<dash version>``) and each file of
    assets/ (``?m=<modified time>``) by version but sends them with no caching
    headers, so a page asked for the favicon again on every drill and
    revalidated every asset on every load: round trips a slow link pays for.
    """
    import flask

    prefix = app.config.requests_pathname_prefix

    @app.server.after_request
    def keep(response: flask.Response) -> flask.Response:
        path, args = flask.request.path, flask.request.args
        named = (path == prefix + "_favicon.ico" and "v" in args) or (
            path.startswith(prefix + "assets/") and "m" in args
        )
        if named and response.status_code == 200:
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response


#: The types flask-compress compresses by default (its COMPRESS_MIMETYPES), text ones.
_COMPRESSED = (
    "text/html",
    "text/css",
    "text/plain",
    "text/javascript",
    "application/javascript",
    "application/json",
    "image/svg+xml",
    "image/x-icon",
    "image/vnd.microsoft.icon",
)
_BASEMAP_PATH = "_gridmap/basemap.geojson"
_UNITS_PATH = "_gridmap/units/"
_OUTLINE_PATH = "_gridmap/outline/"
_PING_PATH = "_gridmap/ping"


def _basemap_body(src: Source, scope: tuple[str, ...] = ()) -> bytes:
    from gridmap.app import views

    key = ",".join(scope)
    return src.cached(f"basemap-json:{key}", lambda: json.dumps(views.basemap(src, scope)).encode())


def basemap_url(src: Source, prefix: str = "/", scope: tuple[str, ...] = ()) -> str:
    """The basemap's URL for ``src`` and a user's ``scope``: new whenever its content is."""
    import hashlib

    key = ",".join(scope)
    version = src.cached(
        f"basemap-version:{key}",
        lambda: hashlib.sha1(_basemap_body(src, scope)).hexdigest(),
    )
    return f"{prefix}{_BASEMAP_PATH}?v={version[:12]}"


def outline_url(src: Source, parent: str, lang: str, prefix: str = "/") -> str:
    """The URL of the outline of ``parent`` (its tooltip in ``lang``), for this version."""
    import hashlib

    version = hashlib.sha1(src.version.encode()).hexdigest()[:12]
    return f"{prefix}{_OUTLINE_PATH}{parent}.{lang}.geojson?v={version}"


def units_url(src: Source, parent: str, prefix: str = "/") -> str:
    """The URL of the units drawn under ``parent``, for this version of the store's data."""
    import hashlib

    version = hashlib.sha1(src.version.encode()).hexdigest()[:12]
    return f"{prefix}{_UNITS_PATH}{parent}.geojson?v={version}"


def run(
    store_address: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8050,
    lang: str = "zh",
    production: bool = False,
    basemap: Basemap | None = None,
) -> None:
    """Serve the dashboard until interrupted (Dash's server, or waitress with ``production``).

    The store is opened (and its level layers read) before the server starts,
    so a wrong address fails at once instead of on the first page view.
    """
    from gridmap.services.source import get_source

    source = get_source(str(store_address), basemap.offset if basemap else None)
    # Read the layers and walk the network now: the first page paints fast.
    source.warm()
    # The demo's accounts are listed on the login page only on the machine itself.
    local = host in ("127.0.0.1", "localhost", "::1")
    app = create_app(store_address, lang=lang, basemap=basemap, listed_accounts=local)
    # And compress the scripts (a second or two) while the server starts.
    import threading

    threading.Thread(target=_warm_packages, args=(app,), daemon=True).start()
    if production:
        from waitress import serve

        serve(app.server, host=host, port=port, threads=8)
    else:
        app.run(host=host, port=port, debug=False)

"""Security headers on every response, and writes from other sites refused.

:func:`install` adds both to the dashboard's Flask server:

- every response (pages, assets, geometry, callbacks, 304s, errors) carries a
  Content-Security-Policy and the headers that keep the page out of frames and
  its types unsniffed (:data:`HEADERS`);
- every request that is not a ``GET`` or ``HEAD`` (Dash's callback POSTs to
  ``/_dash-update-component`` above all) coming from a page of another origin
  is answered 403 before anything runs.

The policy allows scripts from the server only, and the few inline scripts
Dash writes into its first HTML (the renderer's start, the clientside
callbacks) by their hashes: :func:`allow_scripts`, called by the app's
``interpolate_index``, names them for that response.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from collections.abc import Iterable

    import flask

    from gridmap.app.tiles import Basemap

__all__ = ["HEADERS", "allow_scripts", "content_security_policy", "install", "refusal"]

#: The headers every response carries, besides the Content-Security-Policy.
HEADERS: dict[str, str] = {
    # frame-ancestors 'none' says the same to browsers that read CSP.
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # The unit codes in the URL stay on the server's own pages.
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}

#: The methods a page of any site may send (they change nothing).
_SAFE_METHODS = frozenset({"GET", "HEAD"})
#: Where ``flask.g`` keeps the hashes of the inline scripts of this response's page.
_G_SCRIPTS = "gridmap_script_hashes"


def install(server: flask.Flask) -> None:
    """Add the security headers and the cross-origin check to ``server``.

    Call it after every other ``after_request`` hook is registered: Flask runs
    them in reverse order, so this one runs first and no other hook sees a
    response without the headers (the compressing hooks change the body and
    its encoding, never these headers). Flask runs ``after_request`` hooks on
    every response a view, an ``abort`` (404), an error handler (500) or a
    ``before_request`` hook returns, so 304s, errors and the refusal below
    carry the headers too.

    Parameters
    ----------
    server
        The Flask server of the dashboard (``app.server``), its
        ``GRIDMAP_BASEMAP`` config set: the hosts of its tiles are allowed
        as image sources.
    """
    import flask

    @server.before_request
    def same_origin() -> flask.Response | None:
        reason = refusal(flask.request)
        if reason is None:
            return None
        response = flask.jsonify(error=reason)
        response.status_code = 403
        return response

    @server.after_request
    def headers(response: flask.Response) -> flask.Response:
        basemap = flask.current_app.config.get("GRIDMAP_BASEMAP")
        scripts = flask.g.get(_G_SCRIPTS, ())
        response.headers["Content-Security-Policy"] = content_security_policy(basemap, scripts)
        for name, value in HEADERS.items():
            response.headers[name] = value
        return response


def allow_scripts(hashes: Iterable[str]) -> None:
    """Let the page of the current response run the inline scripts of these hashes.

    Parameters
    ----------
    hashes
        CSP hash sources (``'sha256-…'``), as ``dash.Dash.csp_hashes`` gives
        them for the inline scripts it writes into the page.
    """
    import flask

    setattr(flask.g, _G_SCRIPTS, (*flask.g.get(_G_SCRIPTS, ()), *hashes))


@functools.lru_cache(maxsize=64)
def content_security_policy(basemap: Basemap | None, scripts: tuple[str, ...] = ()) -> str:
    """The Content-Security-Policy of a response.

    Parameters
    ----------
    basemap
        The dashboard's basemap: the hosts of its tiles may serve images.
    scripts
        Hash (or nonce) sources of the inline scripts the page may run.

    Returns
    -------
    str
        The header's value.
    """
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'", *scripts],
        # Dash's packages (dcc, dash-leaflet's leaflet.css, the renderer) put their
        # CSS into the page as <style> elements from their scripts (webpack's
        # style-loader), with no nonce and a content that changes with every
        # version: refused, the map has no layout. Inline styles carry no script,
        # and user data is text, never markup (CONTRIBUTING.md).
        "style-src": ["'self'", "'unsafe-inline'"],
        # The heatmap is a data: PNG (layers/base.py); blob: for images a
        # component makes in the browser.
        "img-src": ["'self'", "data:", "blob:", *tile_hosts(basemap)],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(" ".join([name, *sources]) for name, sources in directives.items())


def tile_hosts(basemap: Basemap | None) -> tuple[str, ...]:
    """The origins the basemap's tiles come from (none for the offline basemap).

    A Leaflet URL template's ``{s}`` is each of its subdomains in turn
    (Leaflet's default ``abc`` when it names none), so Tianditu's
    ``t{s}.tianditu.gov.cn`` is eight hosts, each named exactly.
    """
    if basemap is None:
        return ()
    hosts: list[str] = []
    for tile in basemap.tiles:
        parts = urlsplit(tile.url)
        names = (
            [parts.netloc.replace("{s}", s) for s in tile.subdomains or "abc"]
            if "{s}" in parts.netloc
            else [parts.netloc]
        )
        for name in names:
            host = f"{parts.scheme}://{name}" if parts.scheme else name
            if host not in hosts:
                hosts.append(host)
    return tuple(hosts)


def refusal(request: flask.Request) -> str | None:
    """Why ``request`` is refused as coming from a page of another site (``None``: it is not).

    Only a method that may change something is checked. The page's origin is
    the ``Origin`` header, which browsers send with every such request; without
    it, ``Sec-Fetch-Site`` or the ``Referer``'s origin. A request with none of
    the three (curl, a script, the tests) cannot come from a page in a
    browser, and is allowed.
    """
    if request.method in _SAFE_METHODS:
        return None
    own = _origin(request.host_url)
    origin = request.headers.get("Origin")
    if origin is not None:
        # "null" (a sandboxed frame, a file:) is no origin of ours either.
        if _origin(origin) != own:
            return f"refused: a {request.method} from another origin ({origin})"
        return None
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        # "same-site" is a sibling host: another origin all the same.
        if site not in ("same-origin", "none"):
            return f"refused: a {request.method} from another site (Sec-Fetch-Site: {site})"
        return None
    referer = request.headers.get("Referer")
    if referer is not None and _origin(referer) != own:
        return f"refused: a {request.method} from another origin ({_origin(referer)})"
    return None


def _origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, lower case, the default port left out
    (``url`` itself when it is none: it matches no origin of ours)."""
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    try:
        port = parts.port
    except ValueError:
        return url
    default = {"http": 80, "https": 443}.get(scheme)
    if ":" in host:  # an IPv6 address keeps its brackets
        host = f"[{host}]"
    return f"{scheme}://{host}" + (f":{port}" if port is not None and port != default else "")

"""What the plain pages (``/field``, ``/wall``: no Dash) share: their files, JSON answers, language.

Dash serves ``/assets/`` uncompressed; a page without Dash sends its script,
its styles and Leaflet from a table of files (:class:`StaticFiles`), each
compressed once at brotli's best (and gzip), named by a version (the files'
modification times) so a browser keeps them a year and fetches new ones after
an update. Their JSON routes answer through :func:`json_response` (never
cached: it is a user's data), in the language :func:`page_lang` picks.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import flask

__all__ = ["StaticFiles", "json_response", "page_lang"]


def json_response(body: Any, status: int = 200) -> flask.Response:
    """``body`` as JSON (UTF-8 text, times as ISO text), never kept by a cache."""
    import flask

    text = json.dumps(body, ensure_ascii=False, default=str)
    response = flask.Response(text, status=status, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


def page_lang() -> str:
    """The request's language: ``?lang=`` (or a form's) if known, else the app's default."""
    import flask

    from gridmap.i18n import LANGS

    lang = flask.request.values.get("lang")
    return lang if lang in LANGS else flask.current_app.config.get("GRIDMAP_LANG", "zh")


class StaticFiles:
    """A page's static files.

    Parameters
    ----------
    files
        Name in the URL → (path under ``assets/``, media type).
    watched
        Other files under ``assets/`` whose change makes a new version (a
        service worker served elsewhere).
    """

    def __init__(self, files: Mapping[str, tuple[str, str]], watched: tuple[str, ...] = ()) -> None:
        self.files = dict(files)
        self.watched = watched

    def version(self) -> str:
        """The files' version (their latest modification time): new files, new URLs."""
        from gridmap.resources import assets_dir

        root = assets_dir()
        paths = [path for path, _ in self.files.values()] + list(self.watched)
        return str(max(int((root / path).stat().st_mtime) for path in paths))

    def response(self, name: str) -> flask.Response:
        """The file ``name`` as the browser accepts it (brotli, gzip or plain); 404 if unknown."""
        import flask

        if name not in self.files:
            flask.abort(404)
        version = self.version()
        raw, br, gz = _body(self.files[name][0], version)
        accepts = flask.request.headers.get("Accept-Encoding", "")
        body, encoding = (raw, None)
        if "br" in accepts:
            body, encoding = br, "br"
        elif "gzip" in accepts:
            body, encoding = gz, "gzip"
        response = flask.Response(body, mimetype=self.files[name][1])
        if encoding:
            response.headers["Content-Encoding"] = encoding
        response.vary.add("Accept-Encoding")
        named = flask.request.args.get("v") == version
        response.headers["Cache-Control"] = (
            "public, max-age=31536000, immutable" if named else "no-cache"
        )
        return response


@functools.lru_cache(maxsize=32)
def _body(path: str, stamp: str) -> tuple[bytes, bytes, bytes]:
    """A file as it is, brotli'd and gzipped (kept per version: ``stamp``)."""
    import gzip

    import brotli

    from gridmap.resources import assets_dir

    raw = (assets_dir() / path).read_bytes()
    return raw, brotli.compress(raw, quality=11), gzip.compress(raw, 9)

"""``/field``: the field mode's page and its JSON routes (grid supervisors on tablets, desks too).

Not a Dash page: a tablet on a phone line cannot wait for Dash's and React's
310 kB of scripts (issue 11's slow-link budget was missed by exactly those),
and a page that must open offline is easier to cache when it is one HTML file,
Leaflet (the same library dash-leaflet draws with, vendored in assets/vendor)
and one script. The map shows the same geometry URLs as the dashboard
(:func:`gridmap.app.units_url`, :func:`gridmap.app.outline_url`, the basemap),
so the browser shares their cache between both.

Routes (behind the sign-in gate of :mod:`gridmap.app.auth`):

``GET /field``
    The page, its first list of cases in the HTML (no second round trip).
``GET /field-sw.js``
    The service worker (``assets/field/sw.js``): the page and the user's
    grid open offline once visited.
``GET /_gridmap/field/cases.json``
    The open cases of the user's area (``?step=&category=&queue=1``).
``GET /_gridmap/field/case/<id>.json``
    One case: events, photos, the moves the user may make.
``POST /_gridmap/field/report``, ``POST /_gridmap/field/move``
    A report, a move: multipart forms with an idempotency ``key``; answered
    201/200 (a retry: the first answer, ``duplicate``), 400 (the input, with
    the field), 403 (not the user's area or role), 409 (the case changed:
    ``current`` and ``changed``).
``GET /_gridmap/photos/<hash>.jpg`` (and ``.thumb.jpg``)
    A case's photo, for a user who may read the case.

Every answer is JSON with ``error`` (and ``hint``) when refused; the browser's
outbox (``assets/field/field.js``) keeps what was refused with that reason.
"""

from __future__ import annotations

import json
import logging
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from gridmap.app.plain import StaticFiles, json_response, page_lang
from gridmap.errors import AccessError, ConflictError, GridmapError, InputError, StoreError
from gridmap.i18n import label, t
from gridmap.schema import CLOSING_LEVELS, INCIDENT_CATEGORIES, SATISFACTION

if TYPE_CHECKING:
    import dash
    import flask

    from gridmap.services.source import Source

__all__ = ["install", "FIELD_PATH", "SW_PATH"]

log = logging.getLogger(__name__)

FIELD_PATH = "field"
#: The service worker: at the top of the site so its scope may be ``/field``.
SW_PATH = "field-sw.js"
_API = "_gridmap/field/"
#: The page's own files and Leaflet, compressed once at brotli's best (Dash's
#: /assets/ are sent uncompressed: Leaflet alone would be 147 kB on a phone line).
_STATIC_PATH = "field-assets/"
_STATIC = {
    "leaflet.js": ("vendor/leaflet/leaflet.js", "text/javascript"),
    "leaflet.css": ("vendor/leaflet/leaflet.css", "text/css"),
    "field.js": ("field/field.js", "text/javascript"),
    "field.css": ("field/field.css", "text/css"),
}
_FILES = StaticFiles(_STATIC, watched=("field/sw.js",))
_PHOTOS = "_gridmap/photos/"
#: The largest request body the field routes take (three photos as a camera made them).
MAX_BODY = 50 * 1024 * 1024
#: Text keys the page's script needs (its catalogue, sent with the page).
_SCRIPT_TEXT = (
    "field.empty",
    "field.cases",
    "field.legend",
    "field.legend_overdue",
    "field.overdue",
    "field.left",
    "field.no_deadline",
    "field.outbox_title",
    "field.outbox_empty",
    "field.pending",
    "field.refused",
    "field.retry",
    "field.discard",
    "field.discard_confirm",
    "field.sent",
    "field.saved_offline",
    "field.other_user",
    "field.place_tap",
    "field.place_gps",
    "field.place_none",
    "field.gps_wait",
    "field.gps_failed",
    "field.accuracy",
    "field.photos_max",
    "field.changed",
    "field.changed_retry",
    "field.conflict_now",
    "field.sign_in_again",
    "field.offline",
    "field.online",
    "field.events",
    "field.photos",
    "field.no_photos",
    "field.reporter",
    "field.move_note",
    "field.move_photo",
    "field.move_submit",
    "field.department",
    "field.closed_level",
    "field.satisfaction",
    "field.hours",
    "field.building",
    "field.grid",
    "field.no_building",
    "field.report_kind",
    "field.move_kind",
    "field.cancel",
    "field.close",
    "field.whistled",
    "field.need_place",
    "field.need_category",
    "field.need_description",
    "move.whistle",
)


def install(app: dash.Dash) -> None:
    """Add ``/field``, its service worker and its JSON routes to ``app``'s server."""
    import flask

    from gridmap.services.source import get_source

    server = app.server
    prefix = app.config.requests_pathname_prefix

    def source() -> Source:
        basemap = server.config["GRIDMAP_BASEMAP"]
        return get_source(server.config["GRIDMAP_STORE"], basemap.offset)

    @server.route(prefix + FIELD_PATH)
    def field_page() -> flask.Response:
        return _answer(lambda: _page(source(), prefix))

    @server.route(prefix + SW_PATH)
    def field_worker() -> flask.Response:
        from gridmap.resources import assets_dir

        body = (assets_dir() / "field" / "sw.js").read_text(encoding="utf-8")
        version = _assets_version()
        shell = [prefix + FIELD_PATH] + [f"{prefix}{_STATIC_PATH}{n}?v={version}" for n in _STATIC]
        body = (
            body.replace("__VERSION__", version)
            .replace("__PREFIX__", prefix)
            .replace('"__SHELL__"', json.dumps(shell))
        )
        response = flask.Response(body, mimetype="text/javascript")
        # Checked on every visit: a new gridmap replaces the old worker at once.
        response.headers["Cache-Control"] = "no-cache"
        return response

    @server.route(prefix + _STATIC_PATH + "<name>")
    def field_asset(name: str) -> flask.Response:
        return _FILES.response(name)

    @server.route(prefix + _API + "cases.json")
    def field_cases() -> flask.Response:
        def run() -> flask.Response:
            from gridmap.services import field

            args = flask.request.args
            cases = field.case_list(
                source(),
                _actor(),
                now=_now(),
                steps=[s for s in args.getlist("step") if s],
                categories=[c for c in args.getlist("category") if c],
                queue=args.get("queue") == "1",
            )
            return json_response({"cases": cases, "now": _now().isoformat()})

        return _answer(run)

    @server.route(prefix + _API + "case/<incident_id>.json")
    def field_case(incident_id: str) -> flask.Response:
        def run() -> flask.Response:
            from gridmap.services import field

            return json_response(field.case_detail(source(), _actor(), incident_id, now=_now()))

        return _answer(run)

    @server.route(prefix + _API + "report", methods=["POST"])
    def field_report() -> flask.Response:
        def run() -> flask.Response:
            from gridmap.services import field

            form = _form()
            req = field.ReportRequest(
                key=form.get("key", ""),
                lon=_number(form, "lon"),
                lat=_number(form, "lat"),
                frame=form.get("frame", "gps"),
                category=form.get("category", ""),
                subcategory=form.get("subcategory") or None,
                description=form.get("description", ""),
                accuracy=_number(form, "accuracy") if form.get("accuracy") else None,
                photos=_files(),
            )
            answer = field.report(source(), _actor(), req, now=_now())
            return json_response(answer, 200 if answer["duplicate"] else 201)

        return _answer(run)

    @server.route(prefix + _API + "move", methods=["POST"])
    def field_move() -> flask.Response:
        def run() -> flask.Response:
            from gridmap.services import field

            form = _form()
            try:
                version = int(form.get("version", ""))
            except ValueError:
                raise InputError("the move names no version of the case", field="version") from None
            req = field.MoveRequest(
                key=form.get("key", ""),
                incident_id=form.get("id", ""),
                move=form.get("move", ""),
                to_step=form.get("to_step", ""),
                version=version,
                note=form.get("note") or None,
                department=form.get("department") or None,
                closed_level=form.get("closed_level") or None,
                satisfaction=form.get("satisfaction") or None,
                hours=_number(form, "hours") if form.get("hours") else None,
                photos=_files(),
            )
            return json_response(field.make_move(source(), _actor(), req, now=_now()))

        return _answer(run)

    @server.route(prefix + _PHOTOS + "<digest>.jpg")
    def field_photo(digest: str) -> flask.Response:
        return _answer(lambda: _photo(source(), digest))

    server.config.setdefault("MAX_CONTENT_LENGTH", MAX_BODY)


# -- answers --------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


def _actor():
    import flask

    from gridmap.app.auth import current_account
    from gridmap.services.accounts import Actor

    return Actor(current_account(), flask.request.remote_addr or "")


def _answer(run) -> flask.Response:
    """Run a route; a refusal becomes its status and a JSON reason, never a traceback.

    ``error`` is the message in English, ``message`` the one to show, in the
    page's language where the catalogue has it (``field.reason.*``).
    """
    from gridmap.services.field import CaseChangedError, CaseNotFoundError, FieldRefusedError

    lang = page_lang()
    try:
        return run()
    except CaseChangedError as error:
        return json_response(
            {
                "error": error.what,
                "message": t("field.reason.changed", lang, id=error.current["id"]),
                "hint": error.hint,
                "current": error.current,
                "changed": error.changed,
            },
            409,
        )
    except ConflictError as error:
        return json_response({"error": error.what, "hint": error.hint}, 409)
    except FieldRefusedError as error:
        message = t(f"field.reason.{error.reason}", lang, **error.values)
        return json_response({"error": error.what, "message": message, "hint": error.hint}, 403)
    except AccessError as error:
        return json_response({"error": error.what, "hint": error.hint}, 403)
    except StoreError as error:
        # Busy, or the database is away: the outbox tries again, nothing is lost.
        log.warning("field: the store failed: %s", error.what)
        return json_response({"error": error.what, "hint": error.hint, "retry": True}, 503)
    except CaseNotFoundError as error:
        return json_response({"error": error.what, "field": error.field}, 404)
    except InputError as error:
        return json_response({"error": error.what, "hint": error.hint, "field": error.field}, 400)
    except GridmapError as error:
        return json_response({"error": error.what, "hint": error.hint}, 400)


def _form():
    import flask

    return flask.request.form


def _files() -> list[tuple[str, bytes]]:
    import flask

    files = flask.request.files.getlist("photo")
    return [(f.filename or "photo", f.read()) for f in files if f.filename or f.content_length]


def _number(form, name: str) -> float:
    try:
        value = float(form.get(name, ""))
    except ValueError:
        raise InputError(f"'{form.get(name, '')}' is not a number", field=name) from None
    if not math.isfinite(value):
        raise InputError(f"'{form.get(name)}' is not a number", field=name)
    return value


def _photo(src: Source, digest: str) -> flask.Response:
    import flask

    from gridmap.services import field

    thumb = digest.endswith(".thumb")
    digest = digest.removesuffix(".thumb")
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        flask.abort(404)
    found = src.store.photo(digest, thumb=thumb)
    if found is None:
        flask.abort(404)
    body, cases = found
    actor = _actor()
    field.require_field(actor)
    readable = False
    for incident_id in cases:
        try:
            field.check_case(src, actor, incident_id)
        except (AccessError, InputError):
            continue
        readable = True
        break
    if not readable:
        raise AccessError("this photo belongs to a case that is not in your area")
    response = flask.Response(body, mimetype="image/jpeg")
    # Named by its content: it never changes. Private: it is for this user.
    response.headers["Cache-Control"] = "private, max-age=604800, immutable"
    return response


# -- the page -----------------------------------------------------------------------


def _assets_version() -> str:
    """A version of the field page's own files and its service worker: new files, new cache."""
    return _FILES.version()


def _page(src: Source, prefix: str) -> flask.Response:
    import flask

    from gridmap.app import area, basemap_url, outline_url, units_url
    from gridmap.app.auth import _dash_version, _render
    from gridmap.services import field

    lang = page_lang()
    actor = _actor()
    field.require_field(actor)
    home = area.home(src)
    account = actor.account
    basemap = flask.current_app.config["GRIDMAP_BASEMAP"]
    cases = field.case_list(src, actor, now=_now())
    steps = [s for s in ("collected", "registered", "dispatched", "handling", "reported_back")]
    version = _assets_version()
    config = {
        "lang": lang,
        "user": account.name,
        "role": account.role,
        "prefix": prefix,
        "api": prefix + _API,
        "photos": prefix + _PHOTOS,
        "sw": prefix + SW_PATH,
        "home": home,
        "units": units_url(src, home, prefix),
        "outline": outline_url(src, home, lang, prefix),
        "basemap": basemap_url(src, prefix, account.scope) if basemap.offline else None,
        "tiles": [
            {"url": tl.url, "subdomains": tl.subdomains, "attribution": tl.attribution}
            for tl in basemap.tiles
        ],
        "frame": "map" if src.offset else "gps",
        "queue": account.role in ("dispatcher", "department", "commander"),
        "cases": cases,
        "now": _now().isoformat(),
        "departments": field.departments(src),
        "steps": {s: label("step", s, lang) for s in (*steps, "closed", "evaluated", "voided")},
        "categories": {c: label("category", c, lang) for c in INCIDENT_CATEGORIES},
        "closed_levels": {c: t(f"field.level.{c}", lang) for c in CLOSING_LEVELS},
        "satisfaction": {s: t(f"field.satisfaction.{s}", lang) for s in SATISFACTION},
        "moves": {m: t(f"move.{m}", lang) for m in _MOVE_NAMES},
        "text": {k: t(k, lang) for k in _SCRIPT_TEXT},
        "synthetic": src.synthetic,
    }
    other = "en" if lang == "zh" else "zh"
    html = _render(
        (Path(__file__).parent / _TEMPLATE).read_text(encoding="utf-8"),
        lang=lang,
        title=t("field.title", lang),
        app_title=t("app.title", lang),
        user=account.name,
        role=label("role", account.role, lang),
        switch=t("app.lang_switch", lang),
        switch_url=prefix + FIELD_PATH + "?lang=" + other,
        logout=prefix + "logout?lang=" + lang,
        logout_label=t("auth.logout", lang),
        dashboard=prefix + ("?lang=" + lang if lang != "zh" else ""),
        dashboard_label=t("field.dashboard", lang),
        synthetic=t("field.synthetic", lang) if src.synthetic else "",
        leaflet_css=f"{prefix}{_STATIC_PATH}leaflet.css?v={version}",
        leaflet_js=f"{prefix}{_STATIC_PATH}leaflet.js?v={version}",
        css=f"{prefix}{_STATIC_PATH}field.css?v={version}",
        js=f"{prefix}{_STATIC_PATH}field.js?v={version}",
        favicon=prefix + "_favicon.ico?v=" + _dash_version(),
        config=json.dumps(config, ensure_ascii=False, default=str),
        steps=[(s, label("step", s, lang)) for s in steps],
        categories=[(c, label("category", c, lang)) for c in INCIDENT_CATEGORIES],
        tx={k: t(k, lang) for k in _PAGE_TEXT},
        outbox_label=t("field.outbox", lang),
    )
    response = flask.Response(html, mimetype="text/html")
    # Never kept by the HTTP cache (it holds the user's cases); the service worker
    # keeps the last copy to open offline.
    response.headers["Cache-Control"] = "no-store"
    return response


_MOVE_NAMES = (
    "register",
    "void",
    "dispatch",
    "accept",
    "transfer",
    "report_back",
    "close",
    "rework",
    "evaluate",
    "whistle",
)
_PAGE_TEXT = (
    "field.report",
    "field.report_title",
    "field.here",
    "field.place",
    "field.category",
    "field.subcategory",
    "field.description",
    "field.photo",
    "field.submit",
    "field.cancel",
    "field.filter_step",
    "field.filter_category",
    "field.all",
    "field.queue",
    "field.cases",
    "field.legend",
    "field.legend_overdue",
    "field.close",
    "field.outbox_title",
    "field.loading",
)

#: The page (Jinja, every value escaped): gridmap/app/field.html.
_TEMPLATE = "field.html"

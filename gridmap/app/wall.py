"""``/wall``: the command centre's wall display, and the desk page that acknowledges its alerts.

A plain page like ``/field`` (no Dash: a wall runs for days, and a page of
one script whose every element is updated in place keeps its memory flat):
one HTML file, Leaflet (vendored) and ``assets/wall/wall.js``. It asks
``/_gridmap/wall/data.json`` every ``GRIDMAP_WALL_POLL_SECONDS`` for what
changed; the answers come from the server's one :class:`WallFeed` per store,
so twenty walls cost twenty digest comparisons, not twenty computations.

Routes (behind the sign-in gate of :mod:`gridmap.app.auth`; ``/wall?token=``
signs a wall in and comes back here without the token):

``GET /wall``
    The page: ``?unit=CODE`` (default: the account's area), ``?tour=1``
    (district → each subdistrict, ``?dwell=`` seconds per stop, default 30),
    ``?alert=`` seconds an alert takes the screen (20), ``?theme=light``
    (dark by default), ``?lang=en``.
``GET /_gridmap/wall/data.json?unit=CODE&alerts=CODE&have=D1,D2…``
    The panels of ``unit`` whose digest is not in ``have`` (and the alerts
    of ``alerts``, the wall's home while it tours); 503 while the store does
    not answer, 403 outside the account's area.
``GET /wall/alerts``, ``POST /wall/alerts``
    The alerts of the account's area and a button to acknowledge each
    (commander, dispatcher, admin; never a wall's session): audited, and gone
    from every wall within seconds.
"""

from __future__ import annotations

import json
import logging
import math
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gridmap.app.plain import StaticFiles, json_response, page_lang
from gridmap.errors import AccessError, CodeError, GridmapError, StoreError
from gridmap.i18n import label, t
from gridmap.incidents.cockpit import WALL_TZ
from gridmap.schema import INCIDENT_CATEGORIES, INCIDENT_STEPS

if TYPE_CHECKING:
    import dash
    import flask

    from gridmap.services.wall import WallFeed

__all__ = ["install", "page", "ACK_ROLES", "WALL_PATH"]

log = logging.getLogger(__name__)

WALL_PATH = "wall"
_API = "_gridmap/wall/"
_ALERTS_PATH = "wall/alerts"
_STATIC_PATH = "wall-assets/"
_FILES = StaticFiles(
    {
        "leaflet.js": ("vendor/leaflet/leaflet.js", "text/javascript"),
        "leaflet.css": ("vendor/leaflet/leaflet.css", "text/css"),
        "wall.js": ("wall/wall.js", "text/javascript"),
        "wall.css": ("wall/wall.css", "text/css"),
    }
)
#: Who may acknowledge a wall's alert (from a desk: never a wall's own session).
ACK_ROLES = frozenset({"admin", "commander", "dispatcher"})
#: Defaults and limits of the page's options (seconds).
DWELL, DWELL_RANGE = 30.0, (5.0, 3600.0)
ALERT, ALERT_RANGE = 20.0, (3.0, 600.0)
#: The most digests a request may send (one per panel, with room to spare).
_MAX_HAVE = 32
_KPIS = (
    "today_new",
    "open",
    "overdue_open",
    "ontime_rate",
    "grid_level_share",
    "satisfaction_rate",
    "whistle_waiting",
    "late_closed_month",
)
_TEXT = (
    "wall.title",
    "wall.rank_departments",
    "wall.categories",
    "wall.feed",
    "wall.feed_new",
    "wall.trend7",
    "wall.trend30",
    "wall.new",
    "wall.closed",
    "wall.alerts",
    "wall.alerts_none",
    "wall.alert_since",
    "wall.alert_more",
    "wall.alert.emergency_overdue",
    "wall.alert.whistle_late",
    "wall.map",
    "wall.legend",
    "wall.legend_case",
    "wall.legend_overdue",
    "wall.age",
    "wall.age_seconds",
    "wall.age_minutes",
    "wall.lost",
    "wall.store_lost",
    "wall.signed_out",
    "wall.none",
    "wall.more",
    "wall.rank_units.subdistrict",
    "wall.rank_units.community",
    "wall.rank_units.grid",
)


def install(app: dash.Dash) -> None:
    """Add the wall's data route, its static files and the alerts page to ``app``'s server.

    ``GET /wall`` itself is :mod:`gridmap.app.auth`'s (it signs tokens in) and
    calls :func:`page`.
    """

    server = app.server
    prefix = app.config.requests_pathname_prefix

    @server.route(prefix + _STATIC_PATH + "<name>")
    def wall_asset(name: str) -> flask.Response:
        return _FILES.response(name)

    @server.route(prefix + _API + "data.json")
    def wall_data() -> flask.Response:
        return _data()

    @server.route(prefix + _ALERTS_PATH, methods=["GET", "POST"])
    def wall_alerts() -> flask.Response:
        return _alerts_page(prefix)


def feed() -> WallFeed:
    """The server's :class:`WallFeed` (its clock from ``GRIDMAP_WALL_CLOCK``)."""
    import flask

    from gridmap.services.wall import feed_for

    config = flask.current_app.config
    return feed_for(config["GRIDMAP_STORE"], config["GRIDMAP_BASEMAP"].offset, clock=_clock())


def _clock():
    """The wall's clock: the real time, or one started at ``GRIDMAP_WALL_CLOCK`` running on."""
    from gridmap.settings import get_settings

    start = get_settings().wall_clock
    if start is None:
        return None
    if start.tzinfo is None:
        # A naive time is the wall's own (Beijing time), as its staff read it.
        from zoneinfo import ZoneInfo

        start = start.replace(tzinfo=ZoneInfo(WALL_TZ))
    origin = time.monotonic()
    start = start.astimezone(UTC)
    return lambda: start + timedelta(seconds=time.monotonic() - origin)


# -- the page -----------------------------------------------------------------------


def page() -> flask.Response:
    """The wall page for the signed-in session (a person's or a wall token's)."""
    import flask

    from gridmap.app import _UNITS_PATH as UNITS_PATH
    from gridmap.app import area, basemap_url
    from gridmap.app.auth import _dash_version, _message_page, _render, current_account
    from gridmap.codes import level_of
    from gridmap.incidents.cockpit import WALL_LEVELS
    from gridmap.services.source import UnitNotFoundError, get_source

    lang = page_lang()
    config = flask.current_app.config
    basemap = config["GRIDMAP_BASEMAP"]
    prefix = config.get("GRIDMAP_PATH_PREFIX", "/")
    try:
        src = get_source(config["GRIDMAP_STORE"], basemap.offset)
        home = area.home(src)
    except (StoreError, OSError) as error:
        log.warning("wall: the store does not answer: %s", type(error).__name__)
        return _message_page(lang, t("wall.store_lost", lang, time=_hhmm()), status=503)
    args = flask.request.args
    unit = args.get("unit") or home
    try:
        src.unit(unit)
        area.check(unit, lang)
    except UnitNotFoundError as error:
        return _message_page(lang, error.what, status=404)
    except AccessError as error:
        return _message_page(lang, error.what, status=403)
    if level_of(unit) not in WALL_LEVELS:
        return _message_page(lang, t("wall.level_refused", lang), status=400)
    account = current_account()
    theme = "light" if args.get("theme") == "light" else "dark"
    version = _FILES.version()
    settings = _settings()
    page_config = {
        "lang": lang,
        "prefix": prefix,
        "api": prefix + _API + "data.json",
        "units": prefix + UNITS_PATH,
        "unit": unit,
        "tour": args.get("tour") == "1",
        "dwell": _seconds(args.get("dwell"), DWELL, DWELL_RANGE),
        "alertSeconds": _seconds(args.get("alert"), ALERT, ALERT_RANGE),
        "poll": settings.wall_poll_seconds,
        "basemap": basemap_url(src, prefix, account.scope) if basemap.offline else None,
        "tiles": [
            {"url": tl.url, "subdomains": tl.subdomains, "attribution": tl.attribution}
            for tl in basemap.tiles
        ],
        "kpis": {k: t(f"wall.kpi.{k}", lang) for k in _KPIS},
        "steps": {s: label("step", s, lang) for s in INCIDENT_STEPS},
        "categories": {c: label("category", c, lang) for c in INCIDENT_CATEGORIES},
        "text": {k: t(k, lang) for k in _TEXT},
        "tz": WALL_TZ,
    }
    html = _render(
        (Path(__file__).parent / "wall.html").read_text(encoding="utf-8"),
        lang=lang,
        theme=theme,
        title=t("wall.title", lang),
        app_title=t("app.title", lang),
        kpis=[(k, k.replace("_", "-"), t(f"wall.kpi.{k}", lang)) for k in _KPIS],
        tx={k: t(k, lang) for k in _TEXT},
        synthetic=t("wall.synthetic", lang) if src.synthetic else "",
        leaflet_css=f"{prefix}{_STATIC_PATH}leaflet.css?v={version}",
        leaflet_js=f"{prefix}{_STATIC_PATH}leaflet.js?v={version}",
        css=f"{prefix}{_STATIC_PATH}wall.css?v={version}",
        js=f"{prefix}{_STATIC_PATH}wall.js?v={version}",
        favicon=prefix + "_favicon.ico?v=" + _dash_version(),
        config=json.dumps(page_config, ensure_ascii=False),
    )
    response = flask.Response(html, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


def _data() -> flask.Response:
    """The panels that changed: ``{"now", "checked", "unit", "panels": {name: {digest, data}}}``."""
    import flask

    from gridmap.app import area
    from gridmap.services.source import UnitNotFoundError

    args = flask.request.args
    code = args.get("unit", "")
    alerts_of = args.get("alerts") or code
    have = set(args.get("have", "").split(",")[:_MAX_HAVE])
    wall = feed()
    try:
        for unit in {code, alerts_of}:
            area.check(unit)
        snap = wall.snapshot(code)
        home = wall.snapshot(alerts_of, alerts_only=True) if alerts_of != code else snap
    except StoreError as error:
        since = wall.checked_at.isoformat() if wall.checked_at else None
        return json_response({"error": error.what, "store": "lost", "since": since}, 503)
    except AccessError as error:
        return json_response({"error": error.what}, 403)
    except (UnitNotFoundError, CodeError) as error:
        return json_response({"error": error.what, "hint": error.hint}, 404)
    except GridmapError as error:
        return json_response({"error": error.what, "hint": error.hint}, 400)
    panels = dict(snap.panels)
    panels["alerts"] = home.panels["alerts"]
    changed = {k: v for k, v in panels.items() if v["digest"] not in have}
    body = {
        "unit": code,
        "now": wall.clock().isoformat(),
        "checked": wall.checked_at.isoformat() if wall.checked_at else None,
        "computed": snap.at.isoformat(),
        "panels": changed,
    }
    return json_response(body)


# -- the alerts' desk page ------------------------------------------------------------


def _alerts_page(prefix: str) -> flask.Response:
    """The account's alerts, each with a button that acknowledges it (POST, audited)."""
    import flask

    from gridmap.app import area
    from gridmap.app.auth import _message_page, _render, current_account, is_wall
    from gridmap.services.source import get_source

    lang = page_lang()
    account = current_account()
    if is_wall() or account.role not in ACK_ROLES:
        return _message_page(lang, t("wall.ack.refused", lang), status=403)
    config = flask.current_app.config
    src = get_source(config["GRIDMAP_STORE"], config["GRIDMAP_BASEMAP"].offset)
    home = area.home(src)
    message = None
    if flask.request.method == "POST":
        alert_id = flask.request.form.get("alert", "")
        message = _acknowledge(src, account, alert_id, lang)
        if message is None:
            return flask.redirect(f"{prefix}{_ALERTS_PATH}?lang={lang}&done={alert_id}")
    try:
        alerts = feed().snapshot(home, alerts_only=True).panels["alerts"]["data"]["items"]
    except StoreError:
        return _message_page(lang, t("wall.store_lost", lang, time=_hhmm()), status=503)
    done = flask.request.args.get("done")
    rows = [
        {
            "id": a["id"],
            "kind": t(f"wall.alert.{a['kind']}", lang),
            "case": a["case"],
            "category": label("category", a["category"], lang),
            "where": a["grid"],
            "since": _local(a["since"]),
        }
        for a in alerts
    ]
    body = _render(
        (Path(__file__).parent / "wall_alerts.html").read_text(encoding="utf-8"),
        rows=rows,
        action=f"{prefix}{_ALERTS_PATH}?lang={lang}",
        tx={
            k: t(f"wall.ack.{k}", lang)
            for k in ("button", "none", "case", "kind", "where", "since", "open_wall")
        },
        wall=f"{prefix}{WALL_PATH}?lang={lang}",
        done=t("wall.ack.done", lang, id=done) if done else "",
    )
    from gridmap.app.auth import _page

    return _page(lang, t("wall.ack.title", lang), body, message, 200 if not message else 400)


def _acknowledge(src: Any, account: Any, alert_id: str, lang: str) -> str | None:
    """Acknowledge ``alert_id`` for ``account``; the message of a refusal, or None."""
    import flask

    from gridmap.accounts import in_scope
    from gridmap.audit import AuditEntry
    from gridmap.incidents.cockpit import ALERT_KINDS

    kind, _, case = alert_id.partition(":")
    if kind not in ALERT_KINDS or not case or len(alert_id) > 200:
        return t("wall.ack.none", lang)
    incidents = src.incidents
    hit = incidents[incidents["id"].astype("str") == case] if len(incidents) else incidents
    if not len(hit) or not in_scope(str(hit["grid_code"].iloc[0] or ""), account.scope):
        # Unknown, or not in the account's area: the same answer (the id tells nothing).
        return t("wall.ack.none", lang)
    src.store.acknowledge_alert(
        alert_id,
        audit=AuditEntry(
            user=account.name,
            role=account.role,
            address=flask.request.remote_addr or "",
            action="alert_ack",
            target=case,
            detail={"alert": kind},
        ),
    )
    return None


# -- helpers -----------------------------------------------------------------------


def _settings():
    from gridmap.settings import get_settings

    return get_settings()


def _seconds(text: str | None, default: float, bounds: tuple[float, float]) -> float:
    """A duration from the URL, kept within ``bounds``; the default if it is not a number."""
    try:
        value = float(text) if text else default
    except ValueError:
        return default
    if not math.isfinite(value):
        return default
    return min(max(value, bounds[0]), bounds[1])


def _hhmm() -> str:
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo(WALL_TZ)).strftime("%H:%M")


def _local(iso: str) -> str:
    from zoneinfo import ZoneInfo

    return datetime.fromisoformat(iso).astimezone(ZoneInfo(WALL_TZ)).strftime("%m-%d %H:%M")

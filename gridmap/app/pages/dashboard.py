"""The dashboard page (``/``): drill-down map, breadcrumb, numbers, building and layers panels.

The view is the URL: ``?unit=CODE&lang=zh|en``. Dash Pages renders the layout
for it (geometry of the level once, the basemap, the breadcrumb); a click on
a unit writes the child's code into the URL, so links, reloads and the back
button all work. The callbacks below are thin: each calls one helper of
:mod:`gridmap.app.views` and wraps the result in components.
"""

from __future__ import annotations

import json
from typing import Any

import dash
import dash_leaflet as dl
import flask
from dash import (
    ALL,
    ClientsideFunction,
    Input,
    Output,
    State,
    callback,
    clientside_callback,
    ctx,
    dcc,
    html,
    no_update,
)

from gridmap.app import area, auth, basemap_url, ids, outline_url, units_url
from gridmap.app import inputs as checks
from gridmap.app import views as v
from gridmap.app.errors import in_panel
from gridmap.app.tiles import Basemap
from gridmap.audit import AuditEntry
from gridmap.codes import ancestor, drawn_parent, is_under, level_of, width_of
from gridmap.coverage import MUST_HAVE
from gridmap.errors import AuthError
from gridmap.i18n import LANGS, label, t
from gridmap.schema import INCIDENT_CATEGORIES
from gridmap.services.source import Source, get_source


def _page_title(**_: Any) -> str:
    """The browser tab's title, in the page's language.

    Dash Pages calls this without the query (only path variables), once for
    the first HTML and once per navigation (in the callback that renders the
    layout): the language is read from the request's query or, in that
    callback, from the location's ``search`` it was given.
    """
    lang = flask.request.args.get("lang") if flask.has_request_context() else None
    if lang is None:
        try:
            search = ctx.inputs.get("_pages_location.search")
        except Exception:
            search = None
        lang = v.parse_search(search if isinstance(search, str) else None).get("lang")
    return t("app.title", lang if lang in LANGS else _default_lang())


dash.register_page(__name__, path="/", name="gridmap", title=_page_title)

_STYLE = {"variable": "gridmapStyle.fromProperties"}
_POINT = {"variable": "gridmapStyle.pointToLayer"}
#: The units' names: a text marker per unit (never markup: see layer_style.js).
_LABEL = {"variable": "gridmapStyle.labelToLayer"}
#: Every GeoJSON layer binds its tooltips through this: as text, never HTML.
_TEXT = {"variable": "gridmapStyle.bindText"}
#: The units layer as outlines only (the units' blue), and off: both stay clickable
#: (a transparent fill still takes clicks), so the map drills whatever is shown.
_OUTLINED = {"color": "#08519c", "weight": 1.5, "fill": True, "fillOpacity": 0.0}
_SELECTED_OUTLINE = {**_OUTLINED, "color": "#08306b", "weight": 3.5}
_OFF = {"color": "#08519c", "opacity": 0.0, "weight": 1, "fill": True, "fillOpacity": 0.0}
_OVERLAYS = ("units", "party", "circles", "heatmap")
#: The layers on when a page opens for the first time (the toggles remember the rest).
_DEFAULT_ON = ("units",)
#: The pane of the heatmap image (see :func:`_geojson`).
HEAT_PANE = "shadowPane"
_UNITS_MODES = ("measure", "outline")


#: Pattern id of the overlay layers: clicks on their features drill like the units'.
_OVERLAY = "gm-overlay"
#: Pattern id of the image overlays (the heatmap): they take no clicks.
_IMAGE = "gm-image"
#: The closest the map zooms in (a building fills much of it); tiles stop at
#: _TILE_ZOOM and are magnified past it. The farthest out is set in the browser
#: (assets/steady.js): one step out from the whole district, whatever the screen.
_MAX_ZOOM = 20
_TILE_ZOOM = 18
#: Room (CSS px) between the unit framed and the map's edges.
_PADDING = [24, 24]


def _basemap() -> Basemap:
    return flask.current_app.config["GRIDMAP_BASEMAP"]


def _source() -> Source:
    return get_source(flask.current_app.config["GRIDMAP_STORE"], _basemap().offset)


def _default_lang() -> str:
    return flask.current_app.config.get("GRIDMAP_LANG", "zh")


def _tid(name: str) -> dict[str, str]:
    """A ``data-testid`` attribute (Dash passes ``data-*`` through)."""
    return {"data-testid": name}


def layout(unit: str | None = None, lang: str | None = None, **_: Any) -> html.Div:
    """The page for ``?unit=…&lang=…`` (Dash Pages passes the query as keywords)."""
    # Dash Pages passes a repeated parameter (`?unit=a&unit=b`) as a list.
    lang = lang if isinstance(lang, str) and lang in LANGS else _default_lang()
    src = _source()
    resolved = v.resolve(src, unit, lang)
    code = resolved["code"]
    if code is not None and not unit:
        code = area.home(src)  # a scoped user's `/` opens their own unit
    elif code is not None and not area.allowed(code):
        # Asked for by URL: nothing of the unit is read; home is offered instead.
        resolved = {"code": None, "message": t("app.not_in_area", lang)}
        code = None
    other = "en" if lang == "zh" else "zh"
    header = html.Header(
        [
            html.H1(t("app.title", lang), className="gm-title"),
            html.Span(t("app.synthetic", lang), className="gm-synthetic", **_tid("synthetic"))
            if src.synthetic
            else None,
            # dcc.Link navigates without a reload but takes no data-* attributes: wrap it.
            html.Span(
                dcc.Link(
                    t("app.lang_switch", lang),
                    href=dash.get_relative_path("/") + v.search_for(code, other),
                    className="gm-lang",
                ),
                **_tid("lang-switch"),
            ),
            _account(lang),
        ],
        className="gm-header",
    )
    messages = [resolved["message"]] if resolved["message"] else []
    if code is None:
        home = (
            html.P(
                dcc.Link(t("app.my_areas", lang), href=dash.get_relative_path("/")),
                **_tid("home-link"),
            )
            if resolved["message"] == t("app.not_in_area", lang)
            else None
        )
        return html.Div(
            [
                header,
                _offline(lang),
                _message(messages),
                home,
                dcc.Location(id=ids.URL, refresh="callback-nav"),
            ],
            className="gm-page",
            lang=lang,
        )
    if src.roads.empty:
        messages.append(t("app.no_roads", lang))
    if src.incidents.empty:
        messages.append(t("app.no_incidents", lang))

    view = v.level_view(src, code, measure="households", lang=lang)
    crumbs = v.breadcrumb(src, code, lang)
    state = {"code": code, "lang": lang, "child_level": view["child_level"]}
    base = _basemap()
    prefix = flask.current_app.config["GRIDMAP_PATH_PREFIX"]
    tiles = [
        dl.TileLayer(
            url=tile.url,
            subdomains=tile.subdomains,
            attribution=tile.attribution,
            maxZoom=_MAX_ZOOM,
            maxNativeZoom=_TILE_ZOOM,
        )
        for tile in base.tiles
    ]
    (south, west), (north, east) = view["district"]
    dy, dx = (north - south) / 2, (east - west) / 2
    the_map = dl.Map(
        [
            *tiles,
            # Fetched once from its own URL (the browser caches it), not with each level.
            dl.GeoJSON(
                id=ids.BASEMAP,
                url=basemap_url(src, prefix, area.account().scope),
                style=_STYLE,
                onEachFeature=_TEXT,
                interactive=False,
            ),
            dl.GeoJSON(
                id=ids.UNITS,
                # Loaded from its URL (cached): the same for both languages and for
                # a grid and its buildings, so neither re-sends it.
                url=units_url(src, view["parent"], prefix),
                hideout=view["hideout"],
                style=_STYLE,
                onEachFeature=_TEXT,
                zoomToBounds=False,
            ),
            dl.GeoJSON(
                id=ids.OUTLINE,
                # From its URL too: the district's outline (141 KB) was re-sent with
                # every district view, the breadcrumb's way back included.
                url=outline_url(src, drawn_parent(code), lang, prefix),
                style=_STYLE,
                onEachFeature=_TEXT,
                hideout={"kind": "gm-outline"},
                interactive=False,
            ),
            dl.LayerGroup(id=ids.HEATMAP),
            dl.LayerGroup(id=ids.CIRCLES),
            dl.LayerGroup(id=ids.PARTY),
            # Names on the map (a wall display has no mouse to hover with): in the
            # marker pane, above every overlay, and letting clicks through.
            dl.GeoJSON(
                id=ids.LABELS,
                data=v.unit_labels(src, code),
                pointToLayer=_LABEL,
                interactive=False,
                zoomToBounds=False,
            ),
            dl.ScaleControl(position="bottomleft", imperial=False),
        ],
        id=ids.MAP,
        bounds=view["bounds"],
        boundsOptions={"padding": _PADDING},
        # No center/zoom: react-leaflet would prefer them to `bounds`. Without a
        # center, dash-leaflet 1.1.3's viewport tracking fails after load, so it is off.
        trackViewport=False,
        # Quarter zoom steps: a level fills the map instead of the next power of two below.
        zoomSnap=0.25,
        # A double click is a click (it drills, once): it must not zoom as well.
        doubleClickZoom=False,
        maxZoom=_MAX_ZOOM,
        # The district's box grown by half on each side: panning stays near the
        # district, and steady.js derives the least zoom from it.
        maxBounds=[[south - dy, west - dx], [north + dy, east + dx]],
        # Each drill mounts a new page and map (`bounds` gives its first view);
        # `viewport` is what the "whole unit" button sets again to re-frame it.
        viewport={
            "bounds": view["bounds"],
            "transition": "fitBounds",
            "options": {"padding": _PADDING},
        },
        className="gm-map",
        # Offline, the basemap is the GeoJSON above and there is nothing to attribute.
        attributionControl=not base.offline,
    )
    side = html.Aside(
        [
            _numbers_panel(lang),
            _building_panel(src, code, lang),
            _layers_panel(lang, view["hideout"]["legend"], v.incident_months(src)),
        ],
        className="gm-side",
    )
    refresh = flask.current_app.config.get("GRIDMAP_REFRESH_SECONDS", 0)
    return html.Div(
        [
            dcc.Location(id=ids.URL, refresh="callback-nav"),
            dcc.Store(id=ids.VIEW, data=state),
            # The clicks let through to `drill` (assets/steady.js `guard`).
            dcc.Store(id=ids.CLICK),
            # Wall displays run unattended: every `refresh` seconds the page asks
            # whether the store has changed, and only then updates what it shows.
            dcc.Interval(id=ids.REFRESH, interval=max(refresh, 1) * 1000, disabled=not refresh),
            dcc.Store(id=ids.DATA_VERSION, data=src.version),
            *[dcc.Store(id=ids.layer_on(k), data=k in _DEFAULT_ON) for k in _OVERLAYS],
            *[dcc.Store(id=ids.layer_sent(k)) for k in _OVERLAYS if k != "units"],
            # Set by assets/offline.js when the server answers again after an outage.
            dcc.Store(id=ids.RECONNECT),
            header,
            _offline(lang),
            _breadcrumb(crumbs, lang, view["child_level"]),
            _message(messages),
            html.Main(
                [html.Div([the_map, _home(lang)], className="gm-map-box"), side],
                className="gm-main",
            ),
        ],
        className="gm-page",
        lang=lang,
    )


# -- pieces of the layout -------------------------------------------------------------


def _account(lang: str) -> html.Div | None:
    """Who is signed in (name and role), with "change password" and "sign out".

    Plain links and a form, not callbacks: the password page and the sign-out
    are server pages (gridmap/app/auth.py). A wall display shows its name only.
    """
    try:
        account = auth.current_account()
    except AuthError:
        return None
    prefix = flask.current_app.config["GRIDMAP_PATH_PREFIX"]
    who = html.Span(
        f"{account.name} · {label('role', account.role, lang)}",
        className="gm-account-name",
        **_tid("account"),
    )
    controls: list[Any] = []
    if not auth.is_wall():
        from gridmap.app.wall import ACK_ROLES
        from gridmap.services.field import FIELD_ROLES

        if account.role in FIELD_ROLES:
            controls.append(
                html.A(
                    t("field.title", lang),
                    href=f"{prefix}field?lang={lang}",
                    className="gm-account-link",
                    **_tid("open-field"),
                )
            )
        if account.role in ACK_ROLES:
            # The command centre's staff: the wall, and its alerts to acknowledge.
            for key, path, tid in (
                ("wall.title", "wall", "open-wall"),
                ("wall.ack.title", "wall/alerts", "open-wall-alerts"),
            ):
                controls.append(
                    html.A(
                        t(key, lang),
                        href=f"{prefix}{path}?lang={lang}",
                        className="gm-account-link",
                        **_tid(tid),
                    )
                )
        controls += [
            html.A(
                t("auth.change_password", lang),
                href=f"{prefix}account/password?lang={lang}",
                className="gm-account-link",
                **_tid("change-password"),
            ),
            # A POST (a link would sign out whoever a page of another site sends to it).
            html.Form(
                html.Button(
                    t("auth.logout", lang),
                    type="submit",
                    className="gm-account-link",
                    **_tid("logout"),
                ),
                method="POST",
                action=f"{prefix}logout?lang={lang}",
                className="gm-logout",
            ),
        ]
    return html.Div(
        [who, *controls],
        className="gm-account",
        role="group",
        **{"aria-label": t("auth.account", lang)},
    )


def _home(lang: str) -> html.Button:
    """The "whole unit" button, a Leaflet-style control over the map's top right corner."""
    return html.Button(
        t("app.home", lang),
        id=ids.HOME,
        className="gm-home leaflet-bar",
        title=t("app.home_hint", lang),
        type="button",
        **{"aria-label": t("app.home_hint", lang)},
        **_tid("home"),
    )


def _message(messages: list[str]) -> html.Div:
    return html.Div(
        [html.P(m) for m in messages],
        id=ids.MESSAGE,
        className="gm-message" if messages else "gm-message gm-hidden",
        role="status",
        **_tid("message"),
    )


def _offline(lang: str) -> html.Div:
    """The banner of a page that lost its server: hidden until assets/offline.js shows it.

    Its second line shows once a click was held back (no view can open offline).
    """
    return html.Div(
        [
            html.P(t("app.offline", lang)),
            html.P(t("app.offline_held", lang), className="gm-offline-held"),
        ],
        id=ids.OFFLINE,
        className="gm-offline",
        role="status",
        **_tid("offline"),
    )


def _breadcrumb(crumbs: list[dict[str, str]], lang: str, below: str | None) -> html.Nav:
    """The path to the unit, crumbs up; and what a click on the map opens."""
    items: list[Any] = []
    for i, crumb in enumerate(crumbs):
        text = f"{crumb['level']} {crumb['name']}"
        attrs = {"data-code": crumb["code"], "className": "gm-crumb"}
        if i < len(crumbs) - 1:
            # Units above the user's area are named, not linked (their views are refused).
            if area.allowed(crumb["code"]):
                href = dash.get_relative_path("/") + v.search_for(crumb["code"], lang)
                items.append(html.Span(dcc.Link(text, href=href), **attrs))
            else:
                items.append(html.Span(text, **attrs))
            items.append(html.Span(" › ", className="gm-sep"))
        else:
            items.append(html.Span(text, **attrs, **{"aria-current": "page"}))
    if below is not None:
        hint = t("app.click_hint", lang).format(level=label("level", below, lang))
        items.append(html.Span(hint, className="gm-hint"))
    return html.Nav(
        items,
        id=ids.BREADCRUMB,
        className="gm-breadcrumb",
        **{"aria-label": t("app.breadcrumb", lang)},
        **_tid("breadcrumb"),
    )


def _numbers_panel(lang: str) -> html.Section:
    return html.Section(
        [
            html.H2(t("app.numbers", lang)),
            dcc.Loading(html.Dl(id=ids.NUMBERS, className="gm-numbers"), delay_show=300),
            # Plain HTML bars, not a plotly graph: plotly.js is 4.8 MB the
            # first paint would wait for, to draw a dozen bars.
            html.Figure(id=ids.TREND, className="gm-trend", **_tid("trend")),
        ],
        className="gm-panel",
        **_tid("numbers"),
    )


def _building_panel(src: Source, code: str, lang: str) -> html.Section:
    """The building panel (hidden above building level); :func:`show_building` refills it."""
    children = _building_children(src, code, lang)
    return html.Section(
        children,
        id=ids.BUILDING,
        className="gm-panel" if children else "gm-panel gm-hidden",
        **_tid("building"),
    )


def _building_children(src: Source, code: str, lang: str) -> list[Any]:
    who = area.account()
    info = v.building_info(src, code, lang, who)
    if info is None:
        return []
    if info["pii"]:
        # Unmasked personal data shown: the access is recorded (PIPL).
        src.store.audit(
            AuditEntry(
                who.name,
                who.role,
                flask.request.remote_addr or "",
                "pii_view",
                code,
                {"cases": info["pii"]},
            )
        )
    none = t("app.none", lang)
    groups = [
        html.Li(
            f"{g['kind']} {g['name']}"
            + (f"（{t('app.members', lang).format(n=g['members'])}）" if g["members"] else "")
        )
        for g in info["party"]
    ] or [html.Li(none)]
    incidents = [
        html.Li(
            [
                html.Span(f"{i['reported_at']} {i['category']} · {i['step']} ({i['id']})"),
                html.Span(i["description"], className="gm-case-text") if i["description"] else None,
                html.Span(
                    f"{t('app.reporter', lang)}：{i['reporter_name'] or ''} "
                    f"{i['reporter_phone'] or ''}".rstrip(),
                    className="gm-case-reporter",
                    **_tid("reporter"),
                )
                if i["reporter_name"] or i["reporter_phone"]
                else None,
            ]
        )
        for i in info["open_incidents"]
    ] or [html.Li(none)]
    rows = [
        (t("app.building_use", lang), info["use"]),
        (label("stat", "households", lang), _count(info["households"])),
        (label("stat", "residents", lang), _count(info["residents"])),
    ]
    return [
        html.H2(f"{t('app.building', lang)} {info['code']}"),
        html.Dl(
            [c for k, val in rows for c in (html.Dt(k), html.Dd(val))],
            className="gm-numbers",
        ),
        html.H3(t("app.party_group", lang)),
        html.Ul(groups),
        html.H3(f"{t('app.open_incidents', lang)} ({len(info['open_incidents'])})"),
        html.Ul(incidents, className="gm-incidents", **_tid("open-incidents")),
    ]


def _count(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def _layers_panel(lang: str, units_legend: dict, months: list[str]) -> html.Section:
    toggles = dcc.Checklist(
        id=ids.LAYER_TOGGLES,
        options=[{"label": t(f"app.layer.{k}", lang), "value": k} for k in _OVERLAYS],
        value=list(_DEFAULT_ON),
        persistence=True,
        persistence_type="session",
        className="gm-toggles",
    )
    mode = dcc.RadioItems(
        id=ids.UNITS_MODE,
        options=[{"label": t(f"app.units_mode.{m}", lang), "value": m} for m in _UNITS_MODES],
        value="measure",
        inline=True,
        persistence=True,
        persistence_type="session",
        className="gm-toggles",
    )
    measure = dcc.Dropdown(
        id=ids.MEASURE,
        options=[{"label": _measure_label(m, lang), "value": m} for m in v.MEASURES],
        value="households",
        clearable=False,
        persistence=True,
        persistence_type="session",
    )
    ftype = dcc.Dropdown(
        id=ids.FACILITY_TYPE,
        options=[{"label": label("facility", f, lang), "value": f} for f in MUST_HAVE],
        value="clinic",
        clearable=False,
        persistence=True,
        persistence_type="session",
    )
    minutes = dcc.RadioItems(
        id=ids.MINUTES,
        options=[{"label": f"{m}", "value": m} for m in checks.MINUTES],
        value=5,
        inline=True,
        persistence=True,
        persistence_type="session",
    )
    last = max(len(months) - 1, 0)
    # A mark every quarter (every year past three years) keeps the labels apart.
    every = 3 if len(months) <= 36 else 12
    window = dcc.RangeSlider(
        id=ids.HEAT_MONTHS,
        min=0,
        max=last,
        step=1,
        value=[0, last],
        marks={i: m for i, m in enumerate(months) if i % every == 0 or i == last},
        allowCross=False,
        # Its number boxes would show month indexes, not months: the marks say which.
        allow_direct_input=False,
        disabled=not months,
    )
    categories = dcc.Dropdown(
        id=ids.HEAT_CATEGORIES,
        options=[{"label": label("category", c, lang), "value": c} for c in INCIDENT_CATEGORIES],
        value=[],
        multi=True,
        placeholder=t("app.categories", lang),
    )
    return html.Section(
        [
            html.H2(t("app.layers", lang)),
            toggles,
            html.Label(t("app.units_mode", lang)),
            mode,
            html.Label(t("app.measure", lang)),
            measure,
            html.Div(_legend(units_legend), id=ids.UNITS_LEGEND, **_tid("legend-units")),
            html.Div(id=ids.PARTY_LEGEND, **_tid("legend-party")),
            html.Label(t("app.facility_type", lang)),
            ftype,
            html.Label(t("app.minutes", lang)),
            minutes,
            html.Div(id=ids.CIRCLES_LEGEND, **_tid("legend-circles")),
            html.Label(t("app.months", lang)),
            html.Div(window, **_tid("window")),
            categories,
            html.Div(id=ids.HEATMAP_LEGEND, **_tid("legend-heatmap")),
        ],
        id=ids.LAYERS,
        className="gm-panel gm-layers",
        **_tid("layers"),
    )


def _measure_label(measure: str, lang: str) -> str:
    from layers.grids import measure_label

    return measure_label(measure, lang)


def _legend(legend: dict | None) -> list[Any]:
    """A legend dict (:meth:`layers.base.Legend.to_dict`) as swatches."""
    if not legend:
        return []
    items = [
        html.Li(
            [
                html.Span(className=f"gm-swatch gm-{i['kind']}", style=_swatch_style(i)),
                i["label"],
            ]
        )
        for i in legend["items"]
    ]
    return [
        html.Div(legend["title"], className="gm-legend-title"),
        html.Ul(items, className="gm-legend"),
        html.Div(legend["note"], className="gm-legend-note") if legend.get("note") else None,
    ]


def _swatch_style(item: dict) -> dict[str, str]:
    """A legend swatch's colour: a gap (not covered) is an empty dashed square."""
    if item["kind"] == "gap":
        return {"borderColor": item["color"]}
    return {"background": item["color"]}


def _geojson(overlay: dict) -> dl.GeoJSON | dl.ImageOverlay:
    """An overlay layer. Its features take clicks only if they name a unit (a click
    drills to it, as on the units layer) or are points; the others (service
    circles) and images (the heatmap) let clicks through to the units under them."""
    if overlay["kind"] == "image":
        # In the shadow pane (unused: no marker has a shadow), above the overlay
        # pane's SVG — Leaflet re-appends that SVG whenever a vector layer is
        # re-added, which would bury the image — and below the markers' pane,
        # where the unit names are.
        return dl.ImageOverlay(
            id={"type": _IMAGE, "layer": overlay["id"]},
            pane=HEAT_PANE,
            url=overlay["url"],
            bounds=overlay["bounds"],
            opacity=overlay["opacity"],
            interactive=False,
            className=f"gm-image gm-image-{overlay['id']}",
        )
    point = {"pointToLayer": _POINT} if overlay["kind"] == "point" else {}
    features = overlay["data"]["features"]
    props = features[0]["properties"] if features else {}
    coded = "code" in props or "unit_code" in props
    return dl.GeoJSON(
        id={"type": _OVERLAY, "layer": overlay["id"]},
        data=overlay["data"],
        style=_STYLE,
        onEachFeature=_TEXT,
        interactive=coded or overlay["kind"] == "point",
        **point,
    )


def _bars(trend: dict, lang: str) -> list[Any]:
    """The trend as HTML bars: one per month, its height the month's count."""
    head = html.Figcaption(trend["title"])
    if trend["message"]:
        return [head, html.P(trend["message"], className="gm-empty")]
    top = max(trend["max"], 1)
    bars = [
        html.Div(
            [
                html.Span(str(b["count"]) if b["count"] else "", className="gm-bar-n"),
                html.Div(className="gm-bar", style={"height": f"{100 * b['count'] / top:.1f}%"}),
                html.Span(b["month"][5:], className="gm-bar-m"),
            ],
            className="gm-bar-col",
            title=t("app.trend_bar", lang).format(month=b["month"], n=b["count"]),
        )
        for b in trend["bars"]
    ]
    span = f"{trend['bars'][0]['month']} – {trend['bars'][-1]['month']}"
    return [head, html.Div(bars, className="gm-bars"), html.Div(span, className="gm-bar-span")]


def _overlay_legends(overlays: list[dict]) -> list[Any]:
    return [
        html.Div(_legend(o["legend"]), **_tid(f"legend-{o['id']}"), className="gm-legend-box")
        for o in overlays
    ]


# -- callbacks ------------------------------------------------------------------------


# Clicks reach the server through the browser's guard (assets/steady.js): a
# double click, or a second click while the first drill is on its way or on a
# level just shown, is dropped there, so every drill is one intended click.
clientside_callback(
    ClientsideFunction(namespace="gridmap", function_name="guard"),
    Output(ids.CLICK, "data"),
    Input(ids.UNITS, "clickData"),
    Input({"type": _OVERLAY, "layer": ALL}, "clickData"),
    State(ids.VIEW, "data"),
    prevent_initial_call=True,
)
clientside_callback(
    ClientsideFunction(namespace="gridmap", function_name="home"),
    Output(ids.MAP, "viewport"),
    Input(ids.HOME, "n_clicks"),
    State(ids.MAP, "viewport"),
    prevent_initial_call=True,
)


@callback(
    Output(ids.URL, "search"),
    Input(ids.CLICK, "data"),
    State(ids.VIEW, "data"),
    prevent_initial_call=True,
)
@in_panel(lambda box: no_update)
def drill(click: dict | None, state: dict) -> str:
    """A click on a unit opens it: its code goes into the URL.

    ``click`` is ``{code, t}``: the code of the feature clicked, on the units
    layer or on an overlay's feature that names a unit (a grid's party branch,
    a building's party group …), which opens the child unit holding it.
    """
    state = checks.check_state(_source(), state)
    code = click.get("code") if isinstance(click, dict) else None
    code = code if isinstance(code, str) else ""
    below = state["child_level"]
    # A click on any feature with a code opens the child unit holding it.
    if not below or len(code) < width_of(below) or not is_under(code, state["code"]):
        return no_update
    child = ancestor(code, below)
    if level_of(child) != below:
        return no_update
    return v.search_for(child, state["lang"])


# The toggles, split in the browser into one store per layer, each written only
# when it changes: a layer's callback runs when its own toggle does, not when
# another layer's is turned on.
clientside_callback(
    """function (toggles, ...shown) {
        const on = new Set(Array.isArray(toggles) ? toggles : []);
        const names = NAMES;
        return names.map((name, i) => on.has(name) === shown[i]
            ? window.dash_clientside.no_update : on.has(name));
    }""".replace("NAMES", json.dumps(list(_OVERLAYS))),
    *[Output(ids.layer_on(k), "data") for k in _OVERLAYS],
    Input(ids.LAYER_TOGGLES, "value"),
    *[State(ids.layer_on(k), "data") for k in _OVERLAYS],
)


@callback(
    Output(ids.UNITS, "hideout"),
    Output(ids.UNITS_LEGEND, "children"),
    Input(ids.MEASURE, "value"),
    Input(ids.layer_on("units"), "data"),
    Input(ids.DATA_VERSION, "data"),
    State(ids.VIEW, "data"),
    # Last, with a default: callers that predate the mode keep their arguments.
    Input(ids.UNITS_MODE, "value"),
)
@in_panel(lambda box: (no_update, [box]))
def restyle(
    measure: str, on: bool, _version: str, state: dict, mode: str = "measure"
) -> tuple[dict, list]:
    """New colours for the units: the hideout changes, the geometry stays.

    Off, the units are invisible but still take clicks; as outlines only,
    they leave the overlays under them readable.
    """
    src = _source()
    state = checks.check_state(src, state)
    on = checks.check_on(on, state["lang"])
    measure = checks.check_choice(measure, v.MEASURES, "measure", state["lang"])
    mode = checks.check_choice(mode, _UNITS_MODES, "units_mode", state["lang"])
    selected = state["code"] if level_of(state["code"]) == "building" else None
    if not on:
        return {"styles": {}, "default": _OFF, "selected": selected}, []
    if mode == "outline":
        # The building on screen keeps its heavier outline.
        styles = {selected: _SELECTED_OUTLINE} if selected else {}
        return {"styles": styles, "default": _OUTLINED, "selected": selected}, []
    hideout = v.unit_styles(src, state["code"], measure=measure, lang=state["lang"])
    return hideout, _legend(hideout["legend"])


@callback(
    Output(ids.DATA_VERSION, "data"),
    Input(ids.REFRESH, "n_intervals"),
    Input(ids.RECONNECT, "data"),
    State(ids.DATA_VERSION, "data"),
    prevent_initial_call=True,
)
@in_panel(lambda box: no_update)
def check_data(_ticks: int, reconnected: Any, shown: str) -> str:
    """On each tick, and when the connection returns: the store's version, if it
    is not the one on screen.

    The figures and layers take the version as an input, so they update only
    when the data did. The new copy is read here, before they ask for it.
    Back from an outage during which some of the page's requests failed
    (``reconnected`` counts them), the version is sent even if unchanged: the
    figures and layers then ask again for what they missed.
    """
    src = _source()
    missed = ctx.triggered_id == ids.RECONNECT and checks.check_reconnect(reconnected) > 0
    if src.version == shown and not missed:
        return no_update
    if src.version != shown:
        src.warm()
    return src.version


@callback(
    Output(ids.BUILDING, "children"),
    Input(ids.DATA_VERSION, "data"),
    State(ids.VIEW, "data"),
    prevent_initial_call=True,
)
@in_panel(lambda box: [box])
def show_building(_version: str, state: dict) -> list:
    """The building panel again, when the data changed (its open incidents)."""
    src = _source()
    state = checks.check_state(src, state)
    return _building_children(src, state["code"], state["lang"])


@callback(
    Output(ids.NUMBERS, "children"),
    Input(ids.VIEW, "data"),
    Input(ids.DATA_VERSION, "data"),
)
@in_panel(lambda box: [box])
def show_numbers(state: dict, _version: str) -> list:
    """The numbers panel: the unit's `gridmap stats` figures."""
    src = _source()
    state = checks.check_state(src, state)
    rows = v.numbers(src, state["code"], state["lang"])
    children = []
    for row in rows:
        children.append(html.Dt(row["label"]))
        children.append(html.Dd(row["text"], **_tid(f"number-{row['key']}")))
    return children


@callback(
    Output(ids.TREND, "children"),
    Input(ids.HEAT_MONTHS, "value"),
    Input(ids.HEAT_CATEGORIES, "value"),
    Input(ids.DATA_VERSION, "data"),
    State(ids.VIEW, "data"),
)
@in_panel(lambda box: [box])
def show_trend(window: list[int], categories: list[str], _version: str, state: dict) -> list:
    """The unit's incidents per month over the chosen window and categories."""
    src = _source()
    state = checks.check_state(src, state)
    window = checks.check_window(window, v.incident_months(src), state["lang"])
    categories = checks.check_categories(categories, INCIDENT_CATEGORIES, state["lang"])
    trend = v.trend(src, state["code"], state["lang"], window=window, categories=categories)
    return _bars(trend, state["lang"])


@callback(
    Output(ids.PARTY, "children"),
    Output(ids.PARTY_LEGEND, "children"),
    Output(ids.layer_sent("party"), "data"),
    Input(ids.layer_on("party"), "data"),
    Input(ids.DATA_VERSION, "data"),
    State(ids.VIEW, "data"),
    State(ids.layer_sent("party"), "data"),
)
@in_panel(lambda box: ([], [box], "failed"))
def show_party(on: bool, _version: str, state: dict, sent: str | None = None) -> tuple:
    """The party layers of the unit, when toggled on."""
    src = _source()
    state = checks.check_state(src, state)
    if not checks.check_on(on, state["lang"]):
        return _off(sent)
    return _show(v.overlays(src, state["code"], "party", lang=state["lang"]), sent)


@callback(
    Output(ids.CIRCLES, "children"),
    Output(ids.CIRCLES_LEGEND, "children"),
    Output(ids.layer_sent("circles"), "data"),
    Input(ids.layer_on("circles"), "data"),
    Input(ids.FACILITY_TYPE, "value"),
    Input(ids.MINUTES, "value"),
    Input(ids.DATA_VERSION, "data"),
    State(ids.VIEW, "data"),
    State(ids.layer_sent("circles"), "data"),
)
@in_panel(lambda box: ([], [box], "failed"))
def show_circles(
    on: bool, ftype: str, minutes: int, _version: str, state: dict, sent: str | None = None
) -> tuple:
    """Service circles of one facility type, when toggled on."""
    src = _source()
    state = checks.check_state(src, state)
    lang = state["lang"]
    if not checks.check_on(on, lang):
        return _off(sent)
    ftype = checks.check_choice(ftype, MUST_HAVE, "facility", lang)
    minutes = checks.check_choice(minutes, checks.MINUTES, "minutes", lang)
    group = v.overlays(
        src,
        state["code"],
        "circles",
        lang=state["lang"],
        facility_type=ftype,
        minutes=float(minutes),
    )
    return _show(group, sent)


@callback(
    Output(ids.HEATMAP, "children"),
    Output(ids.HEATMAP_LEGEND, "children"),
    Output(ids.layer_sent("heatmap"), "data"),
    Input(ids.layer_on("heatmap"), "data"),
    Input(ids.HEAT_MONTHS, "value"),
    Input(ids.HEAT_CATEGORIES, "value"),
    Input(ids.DATA_VERSION, "data"),
    State(ids.VIEW, "data"),
    State(ids.layer_sent("heatmap"), "data"),
)
@in_panel(lambda box: ([], [box], "failed"))
def show_heatmap(
    on: bool,
    window: list[int],
    categories: list[str],
    _version: str,
    state: dict,
    sent: str | None = None,
) -> tuple:
    """The incident heatmap of the unit, when toggled on."""
    src = _source()
    state = checks.check_state(src, state)
    lang = state["lang"]
    if not checks.check_on(on, lang):
        return _off(sent)
    window = checks.check_window(window, v.incident_months(src), lang)
    categories = checks.check_categories(categories, INCIDENT_CATEGORIES, lang)
    group = v.overlays(
        src,
        state["code"],
        "heatmap",
        lang=state["lang"],
        window=window,
        categories=categories,
    )
    return _show(group, sent)


def _show(group: dict, sent: str | None) -> tuple:
    """An overlay group's layers and legends (or the note saying why it has none),
    and the digest of what was sent.

    Nothing is sent when the page has this very group already (``sent``, the
    digest it was given last): a data change or a refresh re-sends only the
    layers whose content changed, and a layer's megabytes are never sent twice.
    """
    digest = group["digest"]
    if digest == sent:
        return no_update, no_update, no_update
    if group["note"]:
        return [], [html.P(group["note"])], digest
    overlays = group["overlays"]
    return [_geojson(o) for o in overlays], _overlay_legends(overlays), digest


def _off(sent: str | None) -> tuple:
    """A layer switched off: emptied, once."""
    return (no_update, no_update, no_update) if sent is None else ([], [], None)

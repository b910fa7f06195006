"""Layer specs to one self-contained, offline HTML map (folium).

:func:`to_folium` draws a list of :class:`~layers.base.LayerSpec` s on a
:class:`folium.Map`: one :class:`folium.GeoJson` per spec, styled from each
feature's ``_style`` and with a tooltip showing its ``_tooltip``; point layers
as circle markers; a layer control; and every legend as a plain HTML/CSS box
(no d3, no branca colormap), shown while its layer is.

The page works without a network, opened from a file:

* no basemap tiles: a plain background, with the unit's outline (see
  :func:`layers.unit_map.outline_spec`) drawn on top of the other layers;
* Leaflet's JavaScript and CSS (vendored in ``assets/vendor/leaflet``, its
  icons as ``data:`` URIs) are inlined into the page;
* folium's default CDN links (jQuery, Bootstrap, Font Awesome, awesome-markers,
  Leaflet itself) are removed from the map, and :func:`render_html` refuses a
  page that would still load a script or stylesheet from the web.

:func:`write_html` writes the page atomically (a temporary file renamed over
the target), so a reader never sees half a map.
"""

from __future__ import annotations

import base64
import functools
import html
import os
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import folium
import numpy as np
import shapely
from branca.element import Element, MacroElement
from jinja2 import Template

from gridmap.i18n import t
from gridmap.io.atomic import write_text_atomic
from layers.base import LayerSpec, Legend, LegendItem
from layers.unit_map import GROUPS, OUTLINE_ID, MapOptions, build_layers, legend_testid

if TYPE_CHECKING:
    from gridmap.services.source import Source

__all__ = [
    "BOUNDARY_ID",
    "LAYER_GROUPS",
    "StoreMap",
    "store_map",
    "leaflet_assets",
    "render_html",
    "to_folium",
    "write_html",
]

#: The id of the outline layer: drawn above the others, without tooltips.
BOUNDARY_ID = OUTLINE_ID
#: Coordinates are rounded to this many decimals of a degree (~0.1 m): enough
#: for a building footprint, and a third of the file size of full precision.
_DECIMALS = 6
_BACKGROUND = "#f4f3ee"
#: A script or stylesheet the browser would fetch from the web (attribution
#: links are <a href> in text and are not loaded).
_EXTERNAL = re.compile(r"<(?:script|link)\b[^>]*\b(?:src|href)\s*=\s*[\"']?(?:https?:)?//", re.I)


# ---------------------------------------------------------------------------
# Vendored Leaflet


@functools.cache
def leaflet_assets() -> tuple[str, str]:
    """Leaflet 1.9.4's JavaScript and CSS from ``assets/vendor/leaflet``, ready to inline.

    The CSS's icon URLs (``images/*.png``) become ``data:`` URIs: a page opened
    from a file has no ``images/`` folder beside it, and a failed image load
    shows up as a console error.

    Returns
    -------
    tuple of str
        ``(javascript, css)``.
    """
    from gridmap.resources import assets_dir

    folder = assets_dir() / "vendor" / "leaflet"
    js = (folder / "leaflet.js").read_text(encoding="utf-8")
    # The source map is not shipped: drop the comment pointing at it.
    js = re.sub(r"\n//# sourceMappingURL=\S+\s*$", "\n", js)
    if "</script" in js.lower():  # pragma: no cover - a guard for a future Leaflet
        raise ValueError("leaflet.js contains '</script' and cannot be inlined")
    css = (folder / "leaflet.css").read_text(encoding="utf-8")

    def inline(match: re.Match[str]) -> str:
        data = base64.b64encode((folder / match.group(1)).read_bytes()).decode("ascii")
        return f"url(data:image/png;base64,{data})"

    css = re.sub(r"url\((images/[\w.-]+\.png)\)", inline, css)
    return js, css


# ---------------------------------------------------------------------------
# The map


def _geojson(spec: LayerSpec) -> tuple[dict, list[dict]]:
    """The spec's features for the page, and their styles by feature id.

    Only the (escaped) tooltip and the unit code (what a feature is, for
    anyone reading the page's data) travel in the properties; the style is
    looked up by feature id when folium builds its style table, so the page
    does not carry the same style dict once per feature.
    """
    frame = spec.drawn_features()
    geoms = frame.geometry.to_numpy()
    geoms = shapely.transform(geoms, lambda xy: np.round(xy, _DECIMALS))
    codes = frame["code"].astype("str").to_numpy() if "code" in frame else [None] * len(frame)
    features = []
    styles = []
    for geom, style, tip, code in zip(
        geoms, frame["_style"], frame["_tooltip"], codes, strict=True
    ):
        # The tooltip is set as HTML: names from users' files are escaped.
        props = {"_tooltip": html.escape(str(tip), quote=False)}
        if code is not None:
            props["code"] = code
        features.append(
            {
                "type": "Feature",
                "id": str(len(features)),
                "properties": props,
                "geometry": shapely.geometry.mapping(geom),
            }
        )
        styles.append(dict(style) if isinstance(style, dict) else {})
    return {"type": "FeatureCollection", "features": features}, styles


def _swatch(item: LegendItem) -> str:
    color = html.escape(item.color)
    if item.kind == "line":
        return f'<i class="gm-sw gm-line" style="border-top-color:{color}"></i>'
    if item.kind == "point":
        return f'<i class="gm-sw gm-point" style="background:{color}"></i>'
    if item.kind == "gap":
        return f'<i class="gm-sw" style="border:2px dashed {color};background:none"></i>'
    return f'<i class="gm-sw" style="background:{color}"></i>'


def _legend_html(legend: Legend, layer_var: str, testid: str, hidden: bool) -> str:
    """One legend as a plain HTML box (tied to its layer by the layer's JS variable)."""
    rows = "".join(
        f'<div class="gm-item">{_swatch(i)}<span>{html.escape(i.label)}</span></div>'
        for i in legend.items
    )
    note = f'<div class="gm-note">{html.escape(legend.note)}</div>' if legend.note else ""
    style = ' style="display:none"' if hidden else ""
    return (
        f'<div class="gm-legend" id="gm-{html.escape(testid)}" '
        f'data-testid="{html.escape(testid)}" data-layer="{layer_var}"{style}>'
        f'<div class="gm-title">{html.escape(legend.title)}</div>{rows}{note}</div>'
    )


_CSS = """
.leaflet-container { background: %(bg)s; font: 13px/1.4 "Noto Sans CJK SC", "Microsoft YaHei",
  "PingFang SC", "WenQuanYi Micro Hei", sans-serif; }
.gm-banner { position: absolute; top: 10px; left: 50%%; transform: translateX(-50%%);
  z-index: 1000; background: rgba(255,255,255,.92); padding: 6px 14px; border-radius: 4px;
  box-shadow: 0 1px 4px rgba(0,0,0,.3); font: bold 16px/1.3 "Noto Sans CJK SC",
  "Microsoft YaHei", "PingFang SC", "WenQuanYi Micro Hei", sans-serif; pointer-events: none; }
.gm-legends { position: absolute; bottom: 56px; left: 10px; z-index: 1000;
  max-height: calc(100vh - 150px);
  overflow-y: auto; display: flex; flex-direction: column; gap: 6px; max-width: 320px; }
.gm-legend { background: rgba(255,255,255,.92); padding: 6px 10px; border-radius: 4px;
  box-shadow: 0 1px 4px rgba(0,0,0,.3); font: 12px/1.4 "Noto Sans CJK SC",
  "Microsoft YaHei", "PingFang SC", "WenQuanYi Micro Hei", sans-serif; }
.gm-title { font-weight: bold; margin-bottom: 3px; }
.gm-item { display: flex; align-items: center; gap: 6px; }
.gm-sw { display: inline-block; width: 14px; height: 12px; border: 1px solid #777;
  flex: none; }
.gm-sw.gm-line { height: 0; border: 0; border-top: 3px solid; }
.gm-sw.gm-point { width: 10px; height: 10px; border-radius: 50%%; }
.gm-note { color: #555; font-size: 11px; margin-top: 3px; }
.foliumtooltip table { border-collapse: collapse; }
"""

# Show a legend only while its layer is on the map (the layer control toggles layers).
_TOGGLE = Template(
    """
    {% macro script(this, kwargs) %}
    (function () {
        var map = {{ this._parent.get_name() }};
        function sync() {
            document.querySelectorAll(".gm-legend[data-layer]").forEach(function (box) {
                var layer = window[box.getAttribute("data-layer")];
                box.style.display = layer && map.hasLayer(layer) ? "" : "none";
            });
        }
        map.on("overlayadd overlayremove", sync);
        sync();
    })();
    {% endmacro %}
    """
)


class _LegendToggle(MacroElement):
    """A script that shows each legend box while its layer is shown."""

    _template = _TOGGLE

    def __init__(self) -> None:
        super().__init__()
        self._name = "LegendToggle"


def to_folium(
    specs: Sequence[LayerSpec],
    *,
    title: str,
    lang: str = "zh",
    hidden: Collection[str] = (),
    groups: Mapping[str, str] | None = None,
) -> folium.Map:
    """The layers on an offline folium map.

    Parameters
    ----------
    specs
        The layers in drawing order (later on top); a spec with id
        :data:`BOUNDARY_ID` is drawn in its own pane above the others and lets
        the mouse through to them.
    title
        The page title, also shown in a banner on the map.
    lang
        ``zh`` (default) or ``en``: the language of the page's own words.
    hidden
        Ids of layers that start switched off (they stay in the layer control).
    groups
        The group of each layer id (:class:`StoreMap`), which names its legend's
        ``data-testid`` as the dashboard does (:func:`layers.unit_map.legend_testid`).

    Returns
    -------
    folium.Map
        Without tiles, with Leaflet inlined and no CDN links, its view fitted
        to the boundary (to all the layers when there is none).
    """
    m = folium.Map(tiles=None, control_scale=True, zoom_control=True)
    # Instance attributes shadow folium's class-level CDN lists: this map (and
    # only this map) loads nothing from the web; Leaflet comes inline below.
    m.default_js = []
    m.default_css = []
    figure = m.get_root()
    js, css = leaflet_assets()
    figure.header.add_child(Element(f"<title>{html.escape(title)}</title>"), name="gm_title")
    figure.header.add_child(
        Element(f'<meta name="gridmap:lang" content="{html.escape(lang)}">'), name="gm_lang"
    )
    figure.header.add_child(Element(f"<style>{css}</style>"), name="leaflet_css")
    figure.header.add_child(Element(f"<script>{js}</script>"), name="leaflet_js")
    figure.header.add_child(Element(f"<style>{_CSS % {'bg': _BACKGROUND}}</style>"), name="gm_css")

    boundary_pane = None
    # The view fits the boundary when there is one (service circles reach past it).
    has_boundary = any(s.id == BOUNDARY_ID and len(s.features) for s in specs)
    legends = []
    bounds = None
    for spec in specs:
        testid = legend_testid((groups or {}).get(spec.id, ""), spec)
        if spec.image is not None:
            # An image layer (the heatmap): stretched over its box, smooth (not
            # pixelated), letting the mouse through to the layers under it;
            # above the vector layers, below the markers (as on the dashboard).
            image = folium.raster_layers.ImageOverlay(
                image=spec.image.url(),
                bounds=spec.image.corners(),
                opacity=spec.image.opacity,
                name=html.escape(spec.title),
                show=spec.id not in hidden,
                pixelated=False,
                interactive=False,
                pane="shadowPane",
            )
            image.add_to(m)
            legends.append(_legend_html(spec.legend, image.get_name(), testid, spec.id in hidden))
            continue
        data, styles = _geojson(spec)
        kwargs: dict = {}
        is_boundary = spec.id == BOUNDARY_ID
        if is_boundary:
            if boundary_pane is None:
                # Above the overlay pane (400), below markers and tooltips; the
                # mouse goes through to the layers underneath.
                boundary_pane = folium.map.CustomPane("gm_boundary", z_index=450)
                m.add_child(boundary_pane)
            kwargs.update(pane="gm_boundary", interactive=False)
        if data["features"]:
            kwargs["style_function"] = lambda f, s=styles: s[int(f["id"])]
            if not is_boundary:
                kwargs["tooltip"] = folium.GeoJsonTooltip(
                    fields=["_tooltip"], labels=False, sticky=True
                )
        if spec.kind == "point":
            # fill=True: folium's CircleMarker is unfilled unless told, and a
            # style's fillColor alone does not switch the fill on.
            kwargs["marker"] = folium.CircleMarker(radius=5, fill=True)
        layer = folium.GeoJson(
            data,
            name=html.escape(spec.title),
            show=spec.id not in hidden,
            **kwargs,
        )
        layer.add_to(m)
        legends.append(_legend_html(spec.legend, layer.get_name(), testid, spec.id in hidden))
        if data["features"] and (spec.id == BOUNDARY_ID or not has_boundary):
            b = spec.features.total_bounds
            bounds = (
                b
                if bounds is None
                else np.r_[np.minimum(bounds[:2], b[:2]), np.maximum(bounds[2:], b[2:])]
            )

    folium.LayerControl(collapsed=False).add_to(m)
    figure.html.add_child(
        Element(f'<div class="gm-banner">{html.escape(title)}</div>'), name="gm_banner"
    )
    aria = html.escape(t("map.export.legend", lang))
    figure.html.add_child(
        Element(f'<div class="gm-legends" aria-label="{aria}">{"".join(legends)}</div>'),
        name="gm_legends",
    )
    m.add_child(_LegendToggle())
    if bounds is not None and np.isfinite(bounds).all():
        m.fit_bounds([[bounds[1], bounds[0]], [bounds[3], bounds[2]]])
    else:
        m.location = [0.0, 0.0]
        m.options["zoom"] = 2
    return m


def render_html(m: folium.Map) -> str:
    """The map's complete page, checked to load nothing from the web.

    Raises
    ------
    ValueError
        If a ``<script>`` or ``<link>`` would fetch from the web (e.g. a folium
        plugin was added whose library is not vendored yet).
    """
    env = folium.GeoJson._template.environment
    saved = env.policies["json.dumps_kwargs"]
    # Compact JSON with UTF-8 text: folium embeds the data with Jinja's tojson,
    # whose defaults (", " separators, \uXXXX for every Chinese character)
    # make the page about a third larger. The HTML-unsafe characters are still
    # escaped by tojson. Restored at once: the environment is folium's shared one.
    env.policies["json.dumps_kwargs"] = {
        "sort_keys": True,
        "separators": (",", ":"),
        "ensure_ascii": False,
    }
    try:
        page = m.get_root().render()
    finally:
        env.policies["json.dumps_kwargs"] = saved
    found = _EXTERNAL.search(page)
    if found:
        raise ValueError(
            f"the map would load {found.group(0)!r}… from the web: vendor it under "
            "assets/vendor and inline it"
        )
    return page


def write_html(
    specs: Sequence[LayerSpec],
    path: str | os.PathLike,
    *,
    title: str,
    lang: str = "zh",
    hidden: Collection[str] = (),
    groups: Mapping[str, str] | None = None,
) -> Path:
    """Write the layers as one self-contained HTML page, atomically.

    Parameters
    ----------
    specs, title, lang, hidden, groups
        As in :func:`to_folium`.
    path
        The ``.html`` file to write (replaced whole once the new one is complete).

    Returns
    -------
    pathlib.Path
        The path written.
    """
    page = render_html(to_folium(specs, title=title, lang=lang, hidden=hidden, groups=groups))
    return write_text_atomic(path, page)


# ---------------------------------------------------------------------------
# A store's map (what `gridmap export --html` draws)

#: The layer groups `gridmap export --html --layers` offers, in drawing order
#: (:data:`layers.unit_map.GROUPS`), and the older names it still takes.
LAYER_GROUPS: tuple[str, ...] = GROUPS
GROUP_ALIASES: dict[str, str] = {
    "grids": "units",
    "service_circles": "circles",
    "incidents": "heatmap",
}


@dataclass
class StoreMap:
    """What :func:`store_map` found to draw.

    Attributes
    ----------
    specs
        The layers in drawing order, the outline last.
    title
        The page title.
    hidden
        Ids of layers that start switched off (a second unit fill under the first).
    notes
        Layers left out and why, for the user.
    groups
        The group of each layer, by layer id (names its legend, see
        :func:`layers.unit_map.legend_testid`).
    """

    specs: list[LayerSpec]
    title: str
    hidden: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)
    groups: dict[str, str] = field(default_factory=dict)


def store_map(
    store: str | os.PathLike | Source,
    *,
    unit: str | None = None,
    groups: Sequence[str] = LAYER_GROUPS,
    options: MapOptions | None = None,
    lang: str | None = None,
) -> StoreMap:
    """The map of a unit of a store, as the dashboard draws it (:func:`build_layers`).

    Parameters
    ----------
    store
        The store's address (a ``.gpkg`` path or a ``postgresql://`` URL), or
        a :class:`gridmap.services.source.Source` already open.
    unit
        A unit code of any level; ``None``: the store's district.
    groups
        Which of :data:`LAYER_GROUPS` to draw (or their older names,
        :data:`GROUP_ALIASES`).
    options
        The measure, facility type, minutes, months and categories.
    lang
        ``zh`` or ``en``; overrides ``options.lang`` when given.

    Returns
    -------
    StoreMap

    Raises
    ------
    gridmap.errors.CodeError
        If the unit's code is malformed or no unit has it.
    ValueError
        For an unknown layer group.
    """
    from dataclasses import replace

    from gridmap.errors import CodeError
    from gridmap.services.source import Source, UnitNotFoundError

    options = options or MapOptions()
    if lang is not None:
        options = replace(options, lang=lang)
    wanted = [GROUP_ALIASES.get(g, g) for g in groups]
    src = store if isinstance(store, Source) else Source(str(store))
    try:
        try:
            code = unit or src.district_code()
            layers = build_layers(src, code, options, groups=wanted)
        except UnitNotFoundError as error:
            raise CodeError(error.what, error.hint) from None
        row = src.unit(code)
        title = t("map.export.title", options.lang, name=str(row["name"]), code=code)
        if src.synthetic:
            title += t("map.export.demo", options.lang)
    finally:
        if src is not store:
            src.close()
    hidden: set[str] = set()
    if "units" in layers.groups:
        # Two unit fills on top of each other read as neither: the branch
        # coverage and the coverage choropleth start switched off, one click away.
        hidden |= {"party_grid_branches", "coverage"}
    elif "party" in layers.groups:
        hidden.add("coverage")
    specs = layers.specs()
    belongs = {spec.id: gid for gid, group in layers.groups.items() for spec in group.specs}
    # Points last, so they stay clickable above every polygon (the outline is not
    # interactive and stays above the polygons in its own pane).
    specs.sort(key=lambda s: s.kind == "point")
    return StoreMap(specs, title, hidden & {s.id for s in specs}, layers.notes(), belongs)

"""Layer specs to one self-contained, offline HTML map (folium).

:func:`to_folium` draws a list of :class:`~layers.base.LayerSpec` s on a
:class:`folium.Map`: one :class:`folium.GeoJson` per spec, styled from each
feature's ``_style`` and with a tooltip showing its ``_tooltip``; point layers
as circle markers; a layer control; and every legend as a plain HTML/CSS box
(no d3, no branca colormap), shown while its layer is.

The page works without a network, opened from a file:

* no basemap tiles: a plain background, with the unit boundary (see
  :func:`boundary_spec`) drawn on top of the other layers;
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
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import Element, MacroElement
from jinja2 import Template

from layers.base import LayerSpec, Legend, LegendItem

if TYPE_CHECKING:
    from gridmap.store.base import Store

__all__ = [
    "BOUNDARY_ID",
    "LAYER_GROUPS",
    "StoreMap",
    "store_map",
    "boundary_spec",
    "leaflet_assets",
    "render_html",
    "to_folium",
    "write_html",
]

#: The id of the boundary layer: drawn above the others, without tooltips.
BOUNDARY_ID = "boundary"
#: Coordinates are rounded to this many decimals of a degree (~0.1 m): enough
#: for a building footprint, and a third of the file size of full precision.
_DECIMALS = 6
_BACKGROUND = "#f4f3ee"
#: A script or stylesheet the browser would fetch from the web (attribution
#: links are <a href> in text and are not loaded).
_EXTERNAL = re.compile(r"<(?:script|link)\b[^>]*\b(?:src|href)\s*=\s*[\"']?(?:https?:)?//", re.I)

_TEXT = {
    "boundary": ("边界", "Boundary"),
    "synthetic": ("演示数据为合成数据", "demo data are synthetic"),
    "legend": ("图例", "Legend"),
}


def _txt(key: str, lang: str) -> str:
    return _TEXT[key][0 if lang == "zh" else 1]


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
# The boundary


def boundary_spec(
    units: gpd.GeoDataFrame, *, lang: str = "zh", synthetic: bool = False
) -> LayerSpec:
    """The outline of one or more units (a district, a subdistrict …) as a layer.

    Parameters
    ----------
    units
        ``code``, ``name`` and the polygon (any CRS).
    lang
        ``zh`` (default) or ``en``.
    synthetic
        Say in the legend that the data are synthetic.

    Returns
    -------
    LayerSpec
        ``id="boundary"``, unfilled dark outlines.
    """
    u = units.to_crs("EPSG:4326") if units.crs is not None else units.copy()
    if u is units:
        u = u.copy()
    u["_style"] = [{"color": "#252525", "weight": 2.5, "fill": False, "opacity": 0.9}] * len(u)
    names = [
        f"{n}（{c}）" if lang == "zh" else f"{n} ({c})"
        for n, c in zip(u["name"].astype("str"), u["code"].astype("str"), strict=True)
    ]
    u["_tooltip"] = names
    title = _txt("boundary", lang)
    return LayerSpec(
        BOUNDARY_ID,
        title,
        u,
        Legend(
            title,
            tuple(LegendItem(n, "#252525", kind="line") for n in names[:3]),
            _txt("synthetic", lang) if synthetic else None,
        ),
        properties=["code", "name"],
    )


# ---------------------------------------------------------------------------
# The map


def _geojson(spec: LayerSpec) -> tuple[dict, list[dict]]:
    """The spec's features for the page, and their styles by feature id.

    Only the (escaped) tooltip travels in the properties; the style is looked
    up by feature id when folium builds its style table, so the page does not
    carry the same style dict once per feature.
    """
    frame = spec.features
    geoms = frame.geometry.to_numpy()
    geoms = shapely.transform(geoms, lambda xy: np.round(xy, _DECIMALS))
    features = []
    styles = []
    for geom, style, tip in zip(geoms, frame["_style"], frame["_tooltip"], strict=True):
        if geom is None or shapely.is_empty(geom):
            continue
        features.append(
            {
                "type": "Feature",
                "id": str(len(features)),
                # The tooltip is set as HTML: names from users' files are escaped.
                "properties": {"_tooltip": html.escape(str(tip), quote=False)},
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
    return f'<i class="gm-sw" style="background:{color}"></i>'


def _legend_html(legend: Legend, layer_var: str, spec_id: str, hidden: bool) -> str:
    """One legend as a plain HTML box (tied to its layer by the layer's JS variable)."""
    rows = "".join(
        f'<div class="gm-item">{_swatch(i)}<span>{html.escape(i.label)}</span></div>'
        for i in legend.items
    )
    note = f'<div class="gm-note">{html.escape(legend.note)}</div>' if legend.note else ""
    style = ' style="display:none"' if hidden else ""
    return (
        f'<div class="gm-legend" id="gm-legend-{html.escape(spec_id)}" '
        f'data-layer="{layer_var}"{style}>'
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
        legends.append(_legend_html(spec.legend, layer.get_name(), spec.id, spec.id in hidden))
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
    figure.html.add_child(
        Element(
            f'<div class="gm-legends" aria-label="{_txt("legend", lang)}">{"".join(legends)}</div>'
        ),
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
) -> Path:
    """Write the layers as one self-contained HTML page, atomically.

    Parameters
    ----------
    specs, title, lang, hidden
        As in :func:`to_folium`.
    path
        The ``.html`` file to write (replaced whole once the new one is complete).

    Returns
    -------
    pathlib.Path
        The path written.
    """
    out = Path(path)
    page = render_html(to_folium(specs, title=title, lang=lang, hidden=hidden))
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    return out


# ---------------------------------------------------------------------------
# A store's map (what `gridmap export --html` draws)

#: The layer groups `gridmap export --html --layers` offers, in drawing order.
LAYER_GROUPS: tuple[str, ...] = ("grids", "party", "service_circles", "incidents")
#: The kernel reach of the exported incident heatmap, in metres.
HEATMAP_RADIUS_M = 500.0
#: The facility type of the exported service circles.
CIRCLES_TYPE = "clinic"

_STORE_TEXT = {
    "title": ("{name}（{code}）网格化治理图", "{name} ({code}) grid governance map"),
    "demo": ("（演示数据）", " (demo data)"),
    "no_roads": (
        "存储中没有道路，未绘制服务圈",
        "the store has no roads: service circles left out",
    ),
    "no_buildings": (
        "存储中没有楼栋，未绘制服务圈",
        "the store has no buildings: service circles left out",
    ),
    "no_incidents": ("该范围内没有事件，未绘制事件热力图", "no incidents there: heatmap left out"),
}


def _stxt(key: str, lang: str, **kw: object) -> str:
    return _STORE_TEXT[key][0 if lang == "zh" else 1].format(**kw)


@dataclass
class StoreMap:
    """What :func:`store_map` found to draw.

    Attributes
    ----------
    specs
        The layers in drawing order, the boundary first.
    title
        The page title.
    hidden
        Ids of layers that start switched off (a second unit fill under the first).
    notes
        Layers left out and why, for the user.
    """

    specs: list[LayerSpec]
    title: str
    hidden: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)


def _under(frame: pd.DataFrame, column: str, code: str) -> pd.DataFrame:
    """Rows whose ``column`` starts with ``code`` (all rows for an empty code)."""
    if not code or not len(frame):
        return frame
    return frame[frame[column].astype("str").str.startswith(code).fillna(False).to_numpy(bool)]


def store_map(
    store: str | os.PathLike,
    *,
    unit: str | None = None,
    groups: Sequence[str] = LAYER_GROUPS,
    lang: str = "zh",
) -> StoreMap:
    """The layers of a store's map: one unit (default: the district) and what lies under it.

    Parameters
    ----------
    store
        The store's address (a ``.gpkg`` path or a ``postgresql://`` URL).
    unit
        A unit code of any level above buildings; ``None``: the store's district(s).
    groups
        Which of :data:`LAYER_GROUPS` to draw: ``grids`` (the units of the level
        below the unit coloured by households), ``party`` (:mod:`layers.party`),
        ``service_circles`` (clinics at their standard walking distance, along
        the roads; left out with a note when the store has no roads) and
        ``incidents`` (the density heatmap; left out when there are none).
    lang
        ``zh`` (default) or ``en``.

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
    from gridmap.codes import child_level, level_of
    from gridmap.errors import CodeError
    from gridmap.schema import LEVEL_LAYERS
    from gridmap.store import open_store
    from layers import grids as grids_layer
    from layers import party as party_layer

    unknown = [g for g in groups if g not in LAYER_GROUPS]
    if unknown:
        raise ValueError(f"unknown layer(s) {', '.join(unknown)}; use {', '.join(LAYER_GROUPS)}")
    notes: list[str] = []
    with open_store(store) as st:
        if unit is None:
            level = "district"
            units = st.read("districts")
            if not len(units):
                raise CodeError("the store holds no district", "import or build one first")
        else:
            level = level_of(unit)
            if level == "building":
                raise CodeError(
                    f"{unit} is a building: map a grid or a larger unit", "give a grid's code"
                )
            units = st.read(LEVEL_LAYERS[level], where={"code": unit})
            if not len(units):
                raise CodeError(f"no {level} has the code '{unit}'", "check the code")
        code = "" if unit is None else unit
        polygon = shapely.union_all(units.geometry.to_numpy())
        bbox = tuple(float(v) for v in polygon.bounds)
        meta = st.read("metadata")
        synthetic = bool(len(meta)) and bool(meta["synthetic"].fillna(False).astype(bool).any())

        specs = [boundary_spec(units, lang=lang, synthetic=synthetic)]
        below = child_level(level)
        need_buildings = any(g in groups for g in ("party", "service_circles")) or (
            below == "building"
        )
        buildings = (
            _under(st.read("buildings", bbox=bbox), "code", code) if need_buildings else None
        )
        children = None
        if "grids" in groups or "service_circles" in groups:
            if below == "building":
                children = buildings
            else:
                children = _under(st.read(LEVEL_LAYERS[below], bbox=bbox), "code", code)
                totals = st.unit_totals(below, under=code)
                children = children.copy()
                children["households"] = (
                    totals["households"].reindex(children["code"].astype("str")).to_numpy()
                )
        hidden: set[str] = set()
        if "grids" in groups:
            specs.append(
                grids_layer.build(
                    children, measure="households", level=below, lang=lang, synthetic=synthetic
                )
            )
        if "party" in groups:
            grid_units = _under(st.read("grids", bbox=bbox), "code", code)
            orgs = _under(st.read("party_orgs", bbox=bbox), "unit_code", code)
            party_specs = party_layer.build(
                grid_units, buildings, orgs, lang=lang, synthetic=synthetic
            )
            if "grids" in groups:
                # Two unit fills on top of each other read as neither: the
                # branch coverage starts switched off, one click away.
                hidden.add("party_grid_branches")
            specs.extend(party_specs)
        if "incidents" in groups:
            specs.extend(_incident_specs(st, polygon, bbox, code, lang, synthetic, notes))
        if "service_circles" in groups:
            specs.extend(
                _circle_specs(st, buildings, children, below, bbox, lang, synthetic, notes)
            )
            if "grids" in groups or "party" in groups:
                # The coverage choropleth is one more unit fill: off at first.
                hidden.add("coverage")
    row = units.iloc[0]
    name = str(row["name"]) if len(units) == 1 else "、".join(units["name"].astype("str"))
    title = _stxt("title", lang, name=name, code=code or str(row["code"]))
    if synthetic:
        title += _stxt("demo", lang)
    # Points last, so they stay clickable above every polygon.
    specs.sort(key=lambda s: s.kind == "point")
    return StoreMap(specs, title, hidden, notes)


def _incident_specs(
    st: Store,
    polygon: shapely.Geometry,
    bbox: tuple[float, float, float, float],
    code: str,
    lang: str,
    synthetic: bool,
    notes: list[str],
) -> list[LayerSpec]:
    """The incident heatmap of the unit, clipped to it (none, with a note, without incidents)."""
    from gridmap.density import density_surface
    from layers.incidents import heatmap

    incidents = st.read("incidents", bbox=bbox)
    if code:
        incidents = _under(incidents, "grid_code", code)
    incidents = incidents[incidents.geometry.notna().to_numpy()]
    if not len(incidents):
        notes.append(_stxt("no_incidents", lang))
        return []
    surface = density_surface(
        incidents, radius_m=HEATMAP_RADIUS_M, bounds=None if not code else bbox
    )
    spec = heatmap(surface, lang=lang, synthetic=synthetic)
    # The classes' staircase outlines of raster cells are most of the page's
    # bytes: simplified as a coverage (shared edges stay shared, so no gaps or
    # overlaps appear between classes) by about one cell, which is a pixel or
    # two at the zoom a district is seen, then cut at the boundary, which the
    # kernel spills over by a radius.
    metric = spec.features.to_crs(surface.crs)
    simple = shapely.coverage_simplify(metric.geometry.to_numpy(), surface.cell_m)
    inside = gpd.GeoSeries([polygon], crs="EPSG:4326").to_crs(surface.crs).iloc[0]
    clipped = gpd.GeoSeries(shapely.intersection(simple, inside), crs=surface.crs)
    keep = ~clipped.is_empty.to_numpy()
    spec.features = spec.features[keep].set_geometry(clipped[keep].to_crs("EPSG:4326"))
    return [spec]


def _circle_specs(
    st: Store,
    buildings: gpd.GeoDataFrame | None,
    units: gpd.GeoDataFrame | None,
    level: str,
    bbox: tuple[float, float, float, float],
    lang: str,
    synthetic: bool,
    notes: list[str],
) -> list[LayerSpec]:
    """Service circles, coverage and uncovered buildings of clinics at the standard distance."""
    from gridmap.coverage import CoverageModel, meters_for
    from gridmap.network import build_network
    from layers.service_circles import from_model

    meters = meters_for(CIRCLES_TYPE)
    # People walk across the unit's edge: take roads and clinics a walk beyond it.
    pad = meters / 100_000 * 1.5
    wide = (bbox[0] - pad, bbox[1] - pad, bbox[2] + pad, bbox[3] + pad)
    roads = st.read("roads", bbox=wide)
    if not len(roads):
        notes.append(_stxt("no_roads", lang))
        return []
    if buildings is None or not len(buildings):
        notes.append(_stxt("no_buildings", lang))
        return []
    facilities = st.read("facilities", bbox=wide, where={"type": CIRCLES_TYPE})
    model = CoverageModel(
        build_network(roads), buildings, CIRCLES_TYPE, meters=meters, facilities=facilities
    )
    if level == "building":
        # A grid's coverage is shown for the grid itself.
        level = "grid"
        units = st.read("grids", where={"code": str(buildings["grid_code"].iloc[0])})
    return from_model(model, buildings, units, level, lang=lang, synthetic=synthetic)

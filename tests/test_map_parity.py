"""One map, two renderers: the dashboard and the HTML export draw the same thing.

For a unit at every level, every measure of the units layer and every overlay
(party, service circles, incident heatmap), the test takes what each renderer
hands its drawing library — on the dashboard, the answers of the page's own
callbacks and the units' GeoJSON route; in the export, the folium map's
GeoJSON layers and the legend boxes of the rendered page — and checks they
carry the same features, the same colour per feature and the same legends.
"""

from __future__ import annotations

import html as html_lib
import json
import re

import pytest
import shapely
from conftest import signed_in
from shapely.geometry import shape

from gridmap.app import create_app, units_url
from gridmap.codes import drawn_parent
from gridmap.services.source import Source, close_sources
from layers import folium_map
from layers.unit_map import MEASURES, MapOptions

pytestmark = pytest.mark.slow

#: The overlay groups and the dashboard callback that draws each.
OVERLAYS = ("party", "circles", "heatmap")


@pytest.fixture(autouse=True)
def _as_admin(monkeypatch):
    """The callbacks are called here as functions, outside a signed-in request: they act
    for an admin (the sign-in and the area are tested in test_auth.py and test_area.py)."""
    from gridmap.accounts import Account

    monkeypatch.setattr("gridmap.app.area.account", lambda: Account("test", "admin"))


@pytest.fixture(scope="module")
def src(demo_path) -> Source:
    source = Source(str(demo_path))
    yield source
    source.close()


@pytest.fixture(scope="module")
def app(demo_path):
    app = create_app(str(demo_path), lang="zh", refresh_seconds=0)
    yield app
    close_sources()


@pytest.fixture(scope="module")
def dashboard(app):
    """The dashboard page's module (Dash Pages imports it once the app exists)."""
    import sys

    return sys.modules["gridmap.app.pages.dashboard"]


@pytest.fixture(scope="module")
def path(src) -> list[str]:
    """One code per level, district to building: subdistrict 431002001 and its first units."""
    codes = [src.district_code(), "431002001"]
    while len(codes) < 5:
        codes.append(str(src.children(codes[-1])["code"].iloc[0]))
    return codes


# -- what each renderer carries -------------------------------------------------------


def _key(feature: dict) -> tuple:
    """A feature's identity: its code (when it has one) and its geometry as drawn."""
    geom = shapely.normalize(shape(feature["geometry"]))
    return (feature["properties"].get("code"), shapely.to_wkb(geom, hex=True))


def _colour(style: dict) -> str:
    """The colour a feature is seen in: its fill when filled, else its line."""
    if style.get("fill", True) and "fillColor" in style:
        return str(style["fillColor"])
    return str(style.get("color"))


def _text(node) -> list[str]:
    """Every string in a Dash component tree, in order."""
    if node is None:
        return []
    if isinstance(node, str):
        return [node]
    if isinstance(node, list | tuple):
        return [s for child in node for s in _text(child)]
    return _text(getattr(node, "children", None))


def _find(node, class_name: str) -> list:
    """The components of a tree with ``class_name``."""
    found = []
    if isinstance(node, list | tuple):
        for child in node:
            found += _find(child, class_name)
    elif node is not None and not isinstance(node, str):
        if class_name in (getattr(node, "className", "") or "").split():
            found.append(node)
        found += _find(getattr(node, "children", None), class_name)
    return found


def _dash_legend(children) -> dict:
    """A legend as the dashboard shows it: title, item labels, note."""
    (title,) = _find(children, "gm-legend-title")
    (items,) = _find(children, "gm-legend")
    notes = _find(children, "gm-legend-note")
    return {
        "title": " ".join(_text(title)),
        "items": [" ".join(_text(li)) for li in items.children],
        "note": " ".join(_text(notes[0])) if notes else None,
    }


def _dashboard(app, dashboard, src: Source, code: str, group: str, measure: str) -> dict:
    """``{testid: {"features": {key: colour}, "legend": …}}`` as the dashboard draws them."""
    state = {"code": code, "lang": "zh", "child_level": None}
    out: dict[str, dict] = {}
    with app.server.test_request_context("/"):
        if group == "units":
            hideout, legend = dashboard.restyle(measure, True, src.version, state)
            client = signed_in(app.server.test_client())
            response = client.get(units_url(src, drawn_parent(code)))
            assert response.status_code == 200
            features = {}
            for feature in response.get_json()["features"]:
                style = hideout["styles"].get(feature["properties"]["code"])
                assert style is not None, feature["properties"]["code"]
                features[_key(feature)] = _colour(style)
            out["legend-units"] = {"features": features, "legend": _dash_legend(legend)}
            return out
        show = {
            "party": lambda: dashboard.show_party(True, src.version, state),
            "circles": lambda: dashboard.show_circles(True, "clinic", 5, src.version, state),
            "heatmap": lambda: dashboard.show_heatmap(True, None, [], src.version, state),
        }[group]
        layers, legends, _ = show()
    for layer, box in zip(layers, legends, strict=True):
        testid = box.to_plotly_json()["props"]["data-testid"]
        if getattr(layer, "url", None):  # an image layer (the heatmap): its picture and box
            features = {("image", layer.url, json.dumps(layer.bounds)): layer.opacity}
        else:
            features = {_key(f): _colour(f["properties"]["_style"]) for f in layer.data["features"]}
        out[testid] = {"features": features, "legend": _dash_legend(box.children)}
    return out


_LEGEND = re.compile(
    r'<div class="gm-legend" id="[^"]*" data-testid="(?P<id>[^"]+)" data-layer="(?P<var>[^"]+)"'
    r'[^>]*><div class="gm-title">(?P<title>.*?)</div>(?P<items>(?:<div class="gm-item">.*?'
    r"</div>)*)(?:<div class=\"gm-note\">(?P<note>.*?)</div>)?</div>"
)
_ITEM = re.compile(r'<div class="gm-item"><i [^>]*></i><span>(.*?)</span></div>')


_IMAGE = folium_map.folium.raster_layers.ImageOverlay


def _export(src: Source, code: str, group: str, measure: str) -> dict:
    """The same, as the HTML export draws them (the outline left aside: both draw it apart)."""
    drawn = folium_map.store_map(
        src, unit=code, groups=[group], options=MapOptions(measure=measure, lang="zh")
    )
    m = folium_map.to_folium(drawn.specs, title=drawn.title, groups=drawn.groups)
    page = folium_map.render_html(m)
    layers = {
        child.get_name(): child
        for child in m._children.values()
        if isinstance(child, folium_map.folium.GeoJson | _IMAGE)
    }
    out: dict[str, dict] = {}
    for match in _LEGEND.finditer(page):
        if match["id"] == "legend-outline":
            continue
        layer = layers[match["var"]]
        if isinstance(layer, _IMAGE):
            bounds = json.dumps(layer.bounds)
            features = {("image", layer.url, bounds): layer.options["opacity"]}
        else:
            features = {_key(f): _colour(layer.style_function(f)) for f in layer.data["features"]}
        unescape = html_lib.unescape
        legend = {
            "title": unescape(match["title"]),
            "items": [unescape(i) for i in _ITEM.findall(match["items"])],
            "note": unescape(match["note"]) if match["note"] else None,
        }
        out[match["id"]] = {"features": features, "legend": legend}
    return out


def _same(dash_side: dict, export_side: dict, case: str) -> None:
    assert dash_side.keys() == export_side.keys(), case
    for testid, drawn in dash_side.items():
        other = export_side[testid]
        assert drawn["legend"] == other["legend"], (case, testid)
        assert drawn["features"].keys() == other["features"].keys(), (case, testid)
        assert drawn["features"] == other["features"], (case, testid)


# -- the cases ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "level", range(5), ids=["district", "subdistrict", "community", "grid", "building"]
)
def test_units_layer_is_the_same_in_both_renderers(app, dashboard, src, path, level):
    code = path[level]
    colours = {}
    for measure in MEASURES:
        dash_side = _dashboard(app, dashboard, src, code, "units", measure)
        export_side = _export(src, code, "units", measure)
        _same(dash_side, export_side, f"{code} {measure}")
        features = dash_side["legend-units"]["features"]
        assert len(features) >= 2, (code, measure)
        colours[measure] = set(features.values())
    # Not trivially equal: a real choropleth, several colours (a building counts as one
    # building, so that measure may well be one colour at building level).
    assert len(colours["households"]) >= 2 and len(colours["population"]) >= 2, colours


@pytest.mark.parametrize(
    "level", range(5), ids=["district", "subdistrict", "community", "grid", "building"]
)
@pytest.mark.parametrize("group", OVERLAYS)
def test_overlays_are_the_same_in_both_renderers(app, dashboard, src, path, level, group):
    code = path[level]
    dash_side = _dashboard(app, dashboard, src, code, group, "households")
    export_side = _export(src, code, group, "households")
    _same(dash_side, export_side, f"{code} {group}")
    assert dash_side, (code, group)
    assert sum(len(d["features"]) for d in dash_side.values()) > 0, (code, group)


def test_a_units_colour_does_not_depend_on_where_one_looks_from(app, dashboard, src, path):
    """A community's colour is the same seen from the district's export and its subdistrict's
    dashboard: the classes are the whole level's."""
    community = path[2]
    from_sub = _dashboard(app, dashboard, src, path[1], "units", "households")["legend-units"]
    colour = {k[0]: c for k, c in from_sub["features"].items()}[community]
    options = MapOptions(measure="households")
    exported = folium_map.store_map(src, unit=path[1], groups=["units"], options=options)
    (units,) = [s for s in exported.specs if s.id == "units_community"]
    row = units.features[units.features["code"] == community].iloc[0]
    assert row["_style"]["fillColor"] == colour
    # And the legend is the whole level's: its top class holds the level's maximum.
    top = src.units("community")["households"].max()
    assert f"{top:,.0f}" in json.dumps(from_sub["legend"], ensure_ascii=False)

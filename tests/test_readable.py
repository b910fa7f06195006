"""A readable map (issue 11, point 4), without a browser: colours, modes, class breaks."""

from __future__ import annotations

import colorsys

import pytest
from test_layer_service_circles import _inputs as circle_inputs

from layers import palette, party, service_circles
from layers.palette import GAP, SCHEMES, gap_style

from fixtures import G_EAST, valid_layers


def _hue(color: str) -> float:
    r, g, b = (int(color[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return 360 * colorsys.rgb_to_hls(r, g, b)[0]


#: The hue (degrees) each meaning's darker colours keep to: centre, half width.
FAMILIES = {
    "units": (212, 20),  # blues
    "party": (265, 25),  # purples
    "incidents": (15, 40),  # crimson to orange
    "service": (160, 35),  # teal / greens
}


@pytest.mark.parametrize("meaning", sorted(SCHEMES))
def test_each_meaning_keeps_to_its_own_hue_family(meaning):
    centre, half = FAMILIES[meaning]
    # The three darkest classes carry the hue; the lightest are near white.
    for color in SCHEMES[meaning][2:]:
        off = abs((_hue(color) - centre + 180) % 360 - 180)
        assert off <= half, (meaning, color, _hue(color))


def test_no_two_meanings_share_a_colour():
    seen = [c for scheme in SCHEMES.values() for c in scheme]
    assert len(seen) == len(set(seen))


def test_a_gap_is_a_dashed_outline_not_a_fill():
    style = gap_style()
    assert style["dashArray"] and style["fillOpacity"] == 0 and style["color"] == GAP
    assert palette.GAP not in {c for scheme in SCHEMES.values() for c in scheme}


def test_uncovered_buildings_and_grids_without_a_branch_are_gaps():
    *_, uncovered = service_circles.build(ftype="clinic", meters=300, **circle_inputs())
    assert list(uncovered.features["_style"]) == [gap_style()]
    assert uncovered.legend.items[0].kind == "gap"
    layers = valid_layers()
    branches, groups, central = party.build(
        layers["grids"], layers["buildings"], layers["party_orgs"]
    )
    styles = branches.features.set_index("code")["_style"]
    assert styles[G_EAST] == gap_style(2.5)
    assert branches.legend.items[1].kind == "gap"
    # Every party colour is a purple of the party scheme (or the central's outline).
    purples = set(SCHEMES["party"])
    assert {s["fillColor"] for c, s in styles.items() if c != G_EAST} <= purples
    assert {s["fillColor"] for s in groups.features["_style"]} <= purples
    assert {s["fillColor"] for s in central.features["_style"]} <= purples


@pytest.fixture(scope="module")
def dashboard(demo_path):
    """The dashboard page's module and its app (Dash Pages imports it once the app exists)."""
    import sys

    from gridmap.app import create_app
    from gridmap.services.source import close_sources

    app = create_app(str(demo_path), lang="zh", refresh_seconds=0)
    yield app, sys.modules["gridmap.app.pages.dashboard"]
    close_sources()


@pytest.mark.slow
def test_the_units_can_be_coloured_outlined_or_off(dashboard):
    app, page = dashboard
    state = {"code": "431002001", "lang": "en", "child_level": "community"}
    with app.server.test_request_context("/"):
        coloured, legend = page.restyle("households", ["units"], "v", state, "measure")
        outlined, no_legend = page.restyle("households", ["units"], "v", state, "outline")
        off, _ = page.restyle("households", [], "v", state, "outline")
    fills = {s["fillColor"] for s in coloured["styles"].values()}
    assert fills and fills <= set(SCHEMES["units"]) and legend
    # Outlines only: no fill colour, a visible outline; off: nothing visible.
    assert outlined["styles"] == {} and no_legend == []
    assert outlined["default"]["fillOpacity"] == 0 and outlined["default"]["weight"] > 0
    assert off["default"]["fillOpacity"] == 0 and off["default"]["opacity"] == 0
    # Both still take clicks (a transparent fill is filled for Leaflet's hit test).
    assert outlined["default"]["fill"] and off["default"]["fill"]

"""A readable map (issue 11, point 4), without a browser: colours, modes, class breaks."""

from __future__ import annotations

import colorsys
import re

import numpy as np
import pytest
from test_layer_service_circles import _inputs as circle_inputs

from layers import grids, palette, party, service_circles
from layers.base import class_breaks
from layers.palette import GAP, SCHEMES, gap_style

from fixtures import G_EAST, valid_layers


@pytest.fixture(autouse=True)
def _as_admin(monkeypatch):
    """The callbacks are called here as functions, outside a signed-in request: they act
    for an admin (the sign-in and the area are tested in test_auth.py and test_area.py)."""
    from gridmap.accounts import Account

    monkeypatch.setattr("gridmap.app.area.account", lambda: Account("test", "admin"))


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
    assert list(uncovered.features["_style"]) == [gap_style(1.2)]
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
        coloured, legend = page.restyle("households", True, "v", state, "measure")
        outlined, no_legend = page.restyle("households", True, "v", state, "outline")
        off, _ = page.restyle("households", False, "v", state, "outline")
    fills = {s["fillColor"] for s in coloured["styles"].values()}
    assert fills and fills <= set(SCHEMES["units"]) and legend
    # Outlines only: no fill colour, a visible outline; off: nothing visible.
    assert outlined["styles"] == {} and no_legend == []
    assert outlined["default"]["fillOpacity"] == 0 and outlined["default"]["weight"] > 0
    assert off["default"]["fillOpacity"] == 0 and off["default"]["opacity"] == 0
    # Both still take clicks (a transparent fill is filled for Leaflet's hit test).
    assert outlined["default"]["fill"] and off["default"]["fill"]


# -- class breaks -----------------------------------------------------------------


@pytest.mark.parametrize("n", [5, 14, 99, 165, 581, 1000])
def test_quantile_classes_hold_n_over_k_units_give_or_take_one(n):
    values = np.random.default_rng(n).lognormal(6, 1.2, n)  # distinct, skewed like households
    breaks = class_breaks(values, k=5)
    counts = np.bincount(np.searchsorted(breaks, values, side="left"), minlength=5)
    assert len(breaks) == 5 and counts.sum() == n
    assert (np.abs(counts - n / 5) <= 1).all(), counts


def test_ties_are_never_split_and_stay_near_n_over_k():
    values = np.repeat([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 3)  # 30 values, runs of 3
    counts = np.bincount(np.searchsorted(class_breaks(values, k=5), values, side="left"))
    assert (np.abs(counts - 6) <= 3).all() and counts.sum() == 30


@pytest.mark.slow
def test_sibling_views_share_one_legend_of_the_whole_level(demo_path):
    from gridmap.services.source import Source
    from layers.unit_map import MapOptions, build_layers

    src = Source(str(demo_path))
    try:
        subdistricts = list(src.children(src.district_code())["code"])[:3]
        legends = []
        for code in subdistricts:
            (spec,) = (
                build_layers(src, code, MapOptions(lang="en"), groups=("units",))
                .groups["units"]
                .specs
            )
            legends.append(spec.legend.to_dict())
        assert legends[0] == legends[1] == legends[2]
        # The classes are those of every community of the district: about n/5 each.
        every = src.units("community")
        values = every["households"].to_numpy(float)
        breaks = grids.breaks_of(every, "households")
        counts = np.bincount(np.searchsorted(breaks, values, side="left"))
        ties = max(np.unique(values, return_counts=True)[1])
        assert (np.abs(counts - len(values) / 5) <= max(1, ties)).all(), counts
        labels = [i["label"] for i in legends[0]["items"]]
        # Ranges with thousands separators, and no figure in two labels.
        assert any(re.search(r"\d,\d{3}", label) for label in labels), labels
        figures = [f for label in labels for f in re.findall(r"[\d,]+", label)]
        assert len(figures) == len(set(figures)), labels
        assert str(len(values)) in legends[0]["note"]
    finally:
        src.close()

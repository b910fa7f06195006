"""Coverage on real streets: the Helsinki OpenStreetMap extract, checked against networkx.

The extract is imported with `gridmap import-osm`; every building's network
distance to its nearest facility must equal networkx's exact shortest path on
the same graph with the same snapping (within 0.01 m) — for the facility types
the extract has, and for facilities "added" at real POI locations (cafés,
shops … of the extract) — and service circles must cover exactly the reached
street parts.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from gridmap.cli import main
from gridmap.network import build_network, nearest_distance, reachable_counts, service_areas, snap
from gridmap.osm import read_osm
from gridmap.resources import data_file
from gridmap.store import open_store

from nxref import nx_counts, nx_nearest, nx_reference, reached_street_parts

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def helsinki(tmp_path_factory):
    path = tmp_path_factory.mktemp("osm") / "helsinki.gpkg"
    assert main(["import-osm", str(path), str(data_file("helsinki.osm.pbf")), "--quiet"]) == 0
    with open_store(path) as st:
        roads, buildings, facilities = st.read("roads"), st.read("buildings"), st.read("facilities")
    net = build_network(roads)
    return net, buildings, facilities


def _agree(net, sources, targets, limit: float) -> int:
    """Compare gridmap and networkx nearest distances; return how many targets were reached."""
    ours = nearest_distance(net, sources, targets, limit=limit)
    ref = nx_nearest(nx_reference(net, s=sources, t=targets), sources, targets, limit)
    assert np.array_equal(np.isfinite(ours), np.isfinite(ref))
    finite = np.isfinite(ours)
    assert np.abs(ours[finite] - ref[finite]).max(initial=0.0) < 0.01
    return int(finite.sum())


@pytest.mark.parametrize(
    ("types", "limit"),
    [
        (("clinic",), 1000.0),
        (("primary_school", "middle_school"), 1000.0),
        (("bus_stop",), 500.0),
    ],
    ids=["clinics", "schools", "bus-stops"],
)
def test_nearest_facility_equals_networkx(helsinki, types, limit):
    net, buildings, facilities = helsinki
    chosen = facilities[facilities["type"].isin(types)]
    assert len(chosen), f"the extract has no {types}"
    reached = _agree(net, snap(net, chosen), snap(net, buildings), limit)
    assert reached > len(buildings) // 4  # a real test: most buildings have a distance


def test_facilities_added_at_real_poi_locations(helsinki):
    net, buildings, _ = helsinki
    points = read_osm(data_file("helsinki.osm.pbf"))["points"]
    tags = points["other_tags"].astype("str")
    pois = points[tags.str.contains('"amenity"=>"(?:cafe|restaurant|pharmacy|library)"')]
    assert len(pois) >= 20
    sources = snap(net, pois.geometry.iloc[:60])
    targets = snap(net, buildings)
    assert _agree(net, sources, targets, 300.0) > 0
    ours = reachable_counts(net, sources, targets, limit=300.0)
    g = nx_reference(net, s=sources, t=targets)
    assert np.array_equal(ours, nx_counts(g, sources, targets, 300.0))


def test_service_circles_cover_the_reached_streets(helsinki):
    net, buildings, facilities = helsinki
    clinics = facilities[facilities["type"] == "clinic"]
    sources, targets = snap(net, clinics), snap(net, buildings.iloc[:50])
    limit, width = 300.0, 10.0
    areas = service_areas(net, sources, limit=limit, width=width)
    g = nx_reference(net, s=sources, t=targets)
    for i in np.flatnonzero(sources.reachable):
        reached, unreached = reached_street_parts(net, g, sources, targets, i, limit)
        assert areas[i].buffer(1e-6).contains(shapely.MultiLineString(reached))
        near = shapely.union_all(reached).buffer(width + 0.05)
        for part in unreached:
            assert not areas[i].intersects(part.difference(near))

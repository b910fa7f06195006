"""Per-unit counts and sums computed in the store's SQL equal the in-Python figures.

On both backends: the SQL totals equal the party-coverage counts computed from
the layers in pandas, and ``store_unit_stats`` (SQL + the unit's own points)
equals ``unit_stats`` on the whole layers, so `gridmap stats` gives the same
figures whichever backend holds the district.
"""

from __future__ import annotations

import pandas as pd
import pytest

from gridmap.codes import WIDTHS
from gridmap.party import _coverage
from gridmap.services.stats import store_unit_stats
from gridmap.stats import unit_stats
from gridmap.store import open_store

pytestmark = pytest.mark.slow

COUNT_COLUMNS = [
    "grids",
    "grids_with_branch",
    "branches",
    "residential_buildings",
    "buildings_with_group",
    "building_groups",
    "central_households",
    "members",
    "households",
    "subdistricts",
]


@pytest.fixture(scope="module")
def demo_layers(demo_path) -> dict[str, pd.DataFrame]:
    with open_store(demo_path) as st:
        return st.read_all()


@pytest.fixture(scope="module")
def postgis_demo(postgis, demo_layers):
    """The demo district loaded into one PostGIS database for the module."""
    url = postgis.create_database()
    st = open_store(url, create=True)
    st.write({k: v for k, v in demo_layers.items() if k != "metadata"})
    yield st
    st.close()
    postgis.drop_database(url)


@pytest.fixture(params=["gpkg", "postgis"])
def store(request, demo_path):
    """The demo district in each backend."""
    if request.param == "gpkg":
        st = open_store(demo_path)
        yield st
        st.close()
    else:
        yield request.getfixturevalue("postgis_demo")


@pytest.mark.parametrize("level", ["district", "subdistrict", "community", "grid"])
def test_sql_totals_equal_pandas_counts(store, demo_layers, level):
    sql = store.unit_totals(level)
    expected = _coverage(demo_layers, level, "")
    expected = expected[expected.index.str.len() == WIDTHS[level]]
    expected = expected.reindex(sql.index, fill_value=0).astype("int64")
    pd.testing.assert_frame_equal(sql[COUNT_COLUMNS], expected[COUNT_COLUMNS], check_names=False)
    # Every unit of the level has its row, and the sums add up to the whole district.
    assert len(sql) == len(demo_layers[f"{level}s" if level != "community" else "communities"])
    assert sql["population"].sum() == demo_layers["buildings"]["population"].sum()


def test_totals_under_a_unit(store):
    sub = store.unit_totals("grid", under="431002001")
    assert len(sub) and sub.index.str.startswith("431002001").all()
    assert sub["buildings"].sum() == store.unit_totals("subdistrict").loc["431002001", "buildings"]


def test_store_stats_equal_layer_stats(store, demo_layers):
    building = demo_layers["buildings"]["code"].iloc[100]
    for code in (None, "431002001", "431002101", "431002001001", building[:14], building):
        assert store_unit_stats(store, code) == unit_stats(demo_layers, code), code

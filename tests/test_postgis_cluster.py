"""The throwaway PostGIS cluster of the tests (tests/postgis_cluster.py)."""

from __future__ import annotations

import os
import socket

import pytest
from postgis_cluster import PostGISCluster

try:
    import psycopg
    from psycopg import errors
except ImportError:  # pragma: no cover - psycopg comes with the test dependencies
    if os.environ.get("CI", "").lower() == "true":
        raise
    pytest.skip("psycopg is not installed (./dev.sh test installs it)", allow_module_level=True)


def extensions(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {row[0] for row in conn.execute("SELECT extname FROM pg_extension")}


def test_cluster_answers_with_postgis(postgis_url):
    assert postgis_url.startswith("postgresql://gridmap@127.0.0.1:")
    with psycopg.connect(postgis_url) as conn:
        version = conn.execute("SELECT postgis_full_version()").fetchone()[0]
        assert "POSTGIS=" in version
        # PostGIS works, not only loads: a geodesic length in metres.
        metres = conn.execute(
            "SELECT ST_Length('LINESTRING(113 25.78, 113.01 25.78)'::geography)"
        ).fetchone()[0]
    assert 990 < metres < 1010


def test_databases_are_independent(postgis, postgis_url):
    other = postgis.create_database()
    assert other != postgis_url
    with psycopg.connect(postgis_url) as conn:
        conn.execute("CREATE TABLE grids (code text PRIMARY KEY, geom geometry(Polygon, 4326))")
        conn.execute(
            "INSERT INTO grids VALUES "
            "('43100200100101', ST_MakeEnvelope(113, 25.78, 113.01, 25.79, 4326))"
        )
    with psycopg.connect(other) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'grids'"
        ).fetchone()[0]
    assert tables == 0
    # …and nothing leaked into the template the next test's database comes from.
    assert postgis.create_database() not in (postgis_url, other)
    postgis.drop_database(other)


def test_template_databases_have_nothing_but_postgis(postgis_url):
    with psycopg.connect(postgis_url) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
        ).fetchall()
    assert [row[0] for row in tables] == ["spatial_ref_sys"]
    assert extensions(postgis_url) == {"plpgsql", "postgis"}


def test_plain_database_has_no_postgis(postgis):
    url = postgis.create_plain_database()
    assert "postgis" not in extensions(url)
    with psycopg.connect(url) as conn, pytest.raises(errors.UndefinedFunction):
        conn.execute("SELECT postgis_full_version()")
    postgis.drop_database(url)


def test_database_names_are_checked(postgis):
    with pytest.raises(ValueError, match="database name"):
        postgis.create_database('x"; DROP DATABASE postgres; --')
    with pytest.raises(ValueError, match="not for dropping"):
        postgis.drop_database(postgis.url("gridmap_template"))


def test_stop_removes_everything(postgis):
    # A second cluster of its own (~1 s), so that stopping it harms no other test.
    with PostGISCluster(bindir=postgis.bindir) as cluster:
        workdir, port = cluster.workdir, cluster.port
        assert port != postgis.port
        assert "postgis" in extensions(cluster.create_database())
    assert not workdir.exists()
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0
    cluster.stop()  # a second stop does nothing


def test_missing_programs_say_what_to_install(tmp_path):
    with pytest.raises(RuntimeError, match=r"postgresql-15-postgis-3 \(\./dev\.sh test does\)"):
        PostGISCluster(bindir=tmp_path).start()

"""Shared fixtures.

Under CI (``CI=true``) a missing tool or service fails the test run; it is
never silently skipped. Elsewhere the test is skipped with the reason.
"""

from __future__ import annotations

import os
import shutil

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"
#: Debian's Chromium, driven by Playwright (never `playwright install`: no downloads).
CHROMIUM = "/usr/bin/chromium"
#: Headless, and quiet: no background requests of its own leave the machine.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


#: The account the app's tests sign in with: an admin, added to each store they serve.
TEST_ADMIN = ("test-admin", "test-admin-password")


def add_admin(address) -> tuple[str, str]:
    """Add :data:`TEST_ADMIN` to the store at ``address`` (if it is not there yet)."""
    from gridmap.accounts import Account, hash_password
    from gridmap.audit import AuditEntry
    from gridmap.store import open_store

    name, password = TEST_ADMIN
    with open_store(address) as store:
        if store.user(name) is None:
            store.add_user(
                Account(name=name, role="admin", password_hash=hash_password(password)),
                audit=AuditEntry(
                    user="tests", role="admin", address="cli", action="user_change", target=name
                ),
            )
    return TEST_ADMIN


def signed_in(client):
    """A Flask test client of the dashboard, signed in as :data:`TEST_ADMIN` through /login."""
    add_admin(client.application.config["GRIDMAP_STORE"])
    name, password = TEST_ADMIN
    response = client.post("/login", data={"name": name, "password": password})
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


@pytest.fixture
def require_tool():
    """Find an external program, or fail (under CI) / skip (elsewhere) without it."""

    def find(name: str) -> str:
        path = shutil.which(name)
        if path is None:
            message = f"{name} is not installed (./dev.sh test installs it)"
            if IN_CI:
                pytest.fail(message)
            pytest.skip(message)
        return path

    return find


#: The as-of of the session's demo (naive: Beijing time): ``REFERENCE_AS_OF``.
DEMO_AS_OF = "2026-01-01T00:00"


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> tuple[int, str]:
    """Build the 北湖区 demo once per test session, as a user would: `gridmap demo`.

    At a fixed as-of (:data:`gridmap.demo.REFERENCE_AS_OF`, 2026-01-01 00:00 Beijing
    time), so the session's data (a calendar year 2025, its figures) are the same
    whatever day the tests run; without ``--as-of`` the demo ends at its build.
    """
    import subprocess
    import sys
    from pathlib import Path

    out = tmp_path_factory.mktemp("demo") / "beihu.gpkg"
    exe = Path(sys.executable).with_name("gridmap")
    result = subprocess.run(
        [str(exe), "demo", "--out", str(out), "--no-serve", "--quiet", "--as-of", DEMO_AS_OF],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    return result.returncode, result.stdout


@pytest.fixture(scope="session")
def demo_path(demo_run, tmp_path_factory):
    """The path of the session's demo store (do not modify it: copy it)."""
    from pathlib import Path

    from gridmap.i18n import LANGS, t

    # The line saying where the store is, in whichever language the demo printed.
    prefixes = [t("cli.demo.store", lang).split("{location}")[0] for lang in LANGS]
    for line in demo_run[1].splitlines():
        for prefix in prefixes:
            if line.startswith(prefix):
                return Path(line.removeprefix(prefix))
    raise AssertionError(f"`gridmap demo` did not say where the store is:\n{demo_run[1]}")


@pytest.fixture(scope="session")
def demo_admin(demo_path) -> tuple[str, str]:
    """The name and password of an admin of the session's demo store (added once)."""
    return add_admin(demo_path)


def demo_on(request, demo_path, tmp_path_factory):
    """The session's demo with its accounts, as a fresh store on ``request.param``'s backend.

    For a module fixture parametrised ``["gpkg", "postgis"]``: yields a copied
    GeoPackage's path or a new PostGIS database's URL (dropped afterwards).
    """
    from gridmap.services.accounts import demo_accounts, local_actor
    from gridmap.store import open_store

    if request.param == "gpkg":
        path = tmp_path_factory.mktemp("demo-copy") / "demo.gpkg"
        shutil.copy(demo_path, path)
        yield str(path)
        return
    cluster = request.getfixturevalue("postgis")
    url = cluster.create_database()
    with open_store(demo_path) as src, open_store(url, create=True) as dst:
        layers = src.read_all()
        metadata = layers.pop("metadata").to_dict("records")
        dst.replace_all(layers, metadata=metadata)
        demo_accounts(dst, local_actor())
    yield url
    cluster.drop_database(url)


@pytest.fixture(scope="session")
def postgis():
    """A throwaway PostgreSQL cluster with PostGIS, one for the whole test session.

    See :class:`postgis_cluster.PostGISCluster`; it is stopped and removed at
    the end of the session. Without PostgreSQL/PostGIS the tests that use it
    fail under CI and are skipped elsewhere.
    """
    from postgis_cluster import PostGISCluster

    cluster = PostGISCluster()
    try:
        cluster.start()
    except RuntimeError as error:
        message = f"the PostGIS test cluster did not start: {error}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def postgis_url(postgis) -> str:
    """The URL of a fresh, empty database with PostGIS enabled, one per test.

    ``postgresql://gridmap@127.0.0.1:PORT/NAME`` (for SQLAlchemy, replace the
    scheme with ``postgresql+psycopg``). The database is dropped after the test.
    """
    url = postgis.create_database()
    yield url
    postgis.drop_database(url)


@pytest.fixture(scope="session")
def bare_demo_path(demo_path, tmp_path_factory):
    """A copy of the demo without roads and incidents (hierarchy, buildings, facilities kept)."""
    import shutil

    from gridmap.store import open_store

    out = tmp_path_factory.mktemp("bare") / "bare.gpkg"
    shutil.copy(demo_path, out)
    with open_store(out) as store:
        empty = {
            name: store.read(name).iloc[0:0] for name in ("roads", "incidents", "incident_events")
        }
        store.write(empty, mode="replace")
    return out

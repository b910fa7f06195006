"""An installed gridmap (a wheel, not the source tree) finds its data and assets."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

#: Slow: builds and installs a wheel.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (whl,) = out.glob("gridmap-*.whl")
    return whl


def test_wheel_carries_both_packages_data_and_assets(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in (
        "gridmap/cli.py",
        "gridmap/store/gpkg.py",
        "gridmap/store/postgis.py",
        "gridmap/migrations/env.py",
        "gridmap/migrations/versions/0001_initial.py",
        "gridmap/migrations/versions/0001_initial.sql",
        "gridmap/migrations/versions/0002_accounts.py",
        "gridmap/migrations/versions/0002_accounts.sql",
        "gridmap/migrations/versions/0003_field.py",
        "gridmap/migrations/versions/0003_field.sql",
        "layers/__init__.py",
        "gridmap/data/cn_districts.geojson",
        "gridmap/data/cn_streets.csv",
        "gridmap/data/cn_communities.csv",
        "gridmap/data/helsinki.osm.pbf",
        "gridmap/assets/gridmap.css",
    ):
        assert required in names, required
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "gridmap = gridmap.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()


def test_installed_wheel_finds_its_data(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    code = (
        "import gridmap, gridmap.resources as r, json;"
        "print(gridmap.__file__);"
        "print(json.load(open(r.data_file('cn_districts.geojson')))['features'][0]['properties']['adcode']);"
        "print(r.assets_dir())"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    assert out[0].startswith(str(target))  # the installed copy, not the source tree
    assert out[1] == "431002"
    assert out[2].startswith(str(target))

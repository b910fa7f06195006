"""docker-compose.yml: valid against the Compose schema, and its start-up path really works.

There is no Docker engine here, so the container's start-up script
(docker/start.sh, which the compose file runs) is run as is against a real
PostGIS with the same environment variable the compose file sets.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gridmap.store import open_store

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def test_compose_file_matches_the_compose_schema():
    result = subprocess.run(
        [
            str(BIN / "check-jsonschema"),
            "--builtin-schema",
            "vendor.compose-spec",
            str(ROOT / "docker-compose.yml"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_runs_the_tested_start_script():
    compose = (ROOT / "docker-compose.yml").read_text()
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'command: ["gridmap-start"]' in compose
    assert "COPY docker/start.sh /usr/local/bin/gridmap-start" in dockerfile
    assert "GRIDMAP_DATABASE_URL: postgresql://" in compose
    assert "condition: service_healthy" in compose
    assert "RUN pip install --no-cache-dir -c constraints.txt ." in dockerfile


@pytest.mark.slow
def test_start_script_migrates_and_loads_the_demo_once(postgis_url):
    env = {**os.environ, "GRIDMAP_DATABASE_URL": postgis_url, "PATH": f"{BIN}:{os.environ['PATH']}"}
    first = subprocess.run(
        ["sh", str(ROOT / "docker/start.sh")], env=env, capture_output=True, text=True
    )
    assert first.returncode == 0, first.stderr
    assert "schema upgraded from none to" in first.stdout
    with open_store(postgis_url) as st:
        counts = st.counts()
    assert counts["districts"] == 1 and counts["incidents"] >= 50_000
    again = subprocess.run(
        ["sh", str(ROOT / "docker/start.sh")], env=env, capture_output=True, text=True
    )
    assert again.returncode == 0, again.stderr
    assert "nothing to do" in again.stdout and "left as it is" in again.stdout
    with open_store(postgis_url) as st:
        assert st.counts() == counts

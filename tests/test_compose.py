"""docker-compose.yml: valid against the Compose schema, and its start-up path really works.

There is no Docker engine here, so the container's start-up script
(docker/start.sh, which the compose file runs) is run as is against a real
PostGIS with the same environment variable the compose file sets.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
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


def _start(env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        ["sh", str(ROOT / "docker/start.sh")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_served(proc: subprocess.Popen, url: str, timeout: float = 180.0) -> str:
    """Wait until the dashboard answers at ``url``; return the page."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"start.sh ended early: {proc.stderr.read()}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.read().decode()
        except OSError:
            time.sleep(0.5)
    raise AssertionError("the dashboard did not answer in time")


def _stop(proc: subprocess.Popen) -> str:
    proc.terminate()
    out, _ = proc.communicate(timeout=30)
    return out


@pytest.mark.slow
def test_start_script_migrates_loads_the_demo_once_and_serves(postgis_url):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "GRIDMAP_DATABASE_URL": postgis_url,
        "GRIDMAP_HOST": "127.0.0.1",
        "GRIDMAP_PORT": str(port),
        "PATH": f"{BIN}:{os.environ['PATH']}",
    }
    url = f"http://127.0.0.1:{port}/"
    first = _start(env)
    try:
        page = _wait_served(first, url)
    finally:
        out = _stop(first)
    assert "已建立数据库结构" in out  # the container speaks Chinese, as the CLI does by default
    # The app, served by waitress: its sign-in page (every page asks for a session first).
    assert 'data-testid="login-submit"' in page
    with open_store(postgis_url) as st:
        counts = st.counts()
    assert counts["districts"] == 1 and counts["incidents"] >= 50_000
    again = _start(env)
    try:
        _wait_served(again, url)
    finally:
        out = _stop(again)
    assert "无需升级" in out and "保持不变" in out
    with open_store(postgis_url) as st:
        assert st.counts() == counts

"""Dependencies by use: the core, the GeoPackage store and the CLI work without the
extras; a command that needs one names it.

Each case runs the CLI in a fresh interpreter where the extra's modules cannot be
imported (``sys.modules[name] = None`` makes ``import name`` raise
``ModuleNotFoundError``, as on a machine where they were never installed).
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from gridmap.extras import EXTRAS, MissingExtraError, missing_extra

#: Slow: a fresh interpreter per case, on the demo store.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]

_RUN = """
import sys
for name in sys.argv[1].split(","):
    sys.modules[name] = None
from gridmap.cli import main
sys.exit(main(sys.argv[2:]))
"""


def _without(extras: tuple[str, ...], *args: str) -> subprocess.CompletedProcess:
    blocked = ",".join(m for extra in extras for m in EXTRAS[extra])
    return subprocess.run(
        [sys.executable, "-c", _RUN, blocked, "--lang", "en", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize("command", [("info",), ("validate",), ("stats",)])
def test_core_commands_need_no_extra(demo_path, command):
    result = _without(("app", "postgis"), *command, demo_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("extra", "args"),
    [
        ("app", ("serve", "{store}")),
        ("app", ("export", "{store}", "--html", "{tmp}/map.html")),
        ("app", ("demo", "--out", "{tmp}/demo.gpkg")),
        ("postgis", ("info", "postgresql://nobody@127.0.0.1:1/none")),
        ("postgis", ("db", "upgrade", "postgresql://nobody@127.0.0.1:1/none")),
    ],
)
def test_a_missing_extra_is_named(demo_path, tmp_path, extra, args):
    filled = [a.format(store=demo_path, tmp=tmp_path) for a in args]
    result = _without((extra,), *filled)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"pip install 'gridmap[{extra}]'" in result.stderr
    assert "Traceback" not in result.stderr
    # Nothing was started or written before the check.
    assert "http://" not in result.stdout
    assert not list(tmp_path.iterdir())


def test_an_unknown_missing_module_is_not_an_extra():
    error = ModuleNotFoundError("No module named 'nosuch'", name="nosuch")
    assert missing_extra(error) is None
    named = missing_extra(ModuleNotFoundError(name="dash.html"), "gridmap serve")
    assert isinstance(named, MissingExtraError) and named.extra == "app"
    assert str(named).startswith("gridmap serve needs the optional dependencies gridmap[app]")


def test_the_extras_hold_what_their_modules_come_from():
    """pyproject's extras and gridmap.extras name the same packages, and the core
    dependencies hold none of them."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]

    def names(requirements: list[str]) -> set[str]:
        cut = (r.split(">")[0].split("=")[0].split("[")[0].split("<")[0] for r in requirements)
        return {c.strip().lower().replace("-", "_") for c in cut}

    assert names(extras["app"]) == {
        "dash",
        "dash_leaflet",
        "flask_compress",
        "folium",
        "waitress",
        "flask_login",
        "flask_limiter",
        "pillow",
    }
    assert names(extras["postgis"]) == {"sqlalchemy", "geoalchemy2", "psycopg", "alembic"}
    assert extras["all"] == ["gridmap[app,postgis]"]
    core = names(project["dependencies"])
    assert not core & (names(extras["app"]) | names(extras["postgis"]))
    # The module a distribution is imported as, where the two names differ.
    module = {"pillow": "PIL"}
    for extra in ("app", "postgis"):
        assert {module.get(n, n) for n in names(extras[extra])} <= set(EXTRAS[extra])

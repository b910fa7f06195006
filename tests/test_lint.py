"""The code stays ruff-clean (the same check a developer runs)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_clean():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "check",
            "--no-cache",
            "gridmap",
            "layers",
            "tests",
            "bench",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _contracts() -> dict[str, dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return {c["id"]: c for c in config["tool"]["importlinter"]["contracts"]}


def test_the_rings_hold():
    """import-linter: core <- store <- services <- layers <- app/CLI, and the core
    imports none of the outer rings."""
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout, result.stdout


def test_every_module_is_in_a_ring():
    """A new module of gridmap must be placed in a ring, or the contracts do not see it."""
    contracts = _contracts()
    placed = set(contracts["core"]["source_modules"])
    for layer in contracts["rings"]["layers"]:
        placed |= {name.strip() for name in layer.replace("|", ":").split(":")}
    found = {f"gridmap.{m.name}" for m in pkgutil.iter_modules([str(ROOT / "gridmap")])}
    assert found - placed == set(), "modules in no ring (add them to pyproject.toml)"
    assert placed - found - {"layers"} == set(), "the contracts name modules that do not exist"

"""Where gridmap's bundled data and assets are.

An installed wheel carries them inside the package (``gridmap/data``,
``gridmap/assets``); a source checkout has them at the top of the repository.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["data_dir", "assets_dir", "data_file"]

_PKG = Path(__file__).resolve().parent


def _find(name: str) -> Path:
    for candidate in (_PKG / name, _PKG.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"gridmap's {name}/ folder is missing (looked in {_PKG} and {_PKG.parent}); "
        "reinstall gridmap"
    )


def data_dir() -> Path:
    """The folder of bundled data files (boundaries, codes, the OSM extract)."""
    return _find("data")


def assets_dir() -> Path:
    """The folder of the dashboard's static assets."""
    return _find("assets")


def data_file(name: str) -> Path:
    """A bundled data file by name."""
    return data_dir() / name

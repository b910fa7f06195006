"""Storage: one interface (:class:`Store`), chosen by the store's address.

``open_store("district.gpkg")`` opens the embedded GeoPackage store;
``open_store("postgresql://user@host/db")`` the PostGIS backend.
"""

from __future__ import annotations

import os

from gridmap.errors import StoreError
from gridmap.store.base import Store, conform, empty_frame

__all__ = ["Store", "conform", "empty_frame", "is_database_url", "open_store"]


def open_store(address: str | os.PathLike, *, create: bool = False) -> Store:
    """Open the store named by ``address``.

    Parameters
    ----------
    address
        A ``.gpkg`` path, or a ``postgresql://`` URL.
    create
        Create an empty store if there is none at ``address``.

    Raises
    ------
    gridmap.errors.StoreError
        If the address names no store (and ``create`` is false), or cannot be opened.
    gridmap.extras.MissingExtraError
        For a ``postgresql://`` URL when the ``gridmap[postgis]`` extra is not installed.
    """
    from gridmap.extras import require
    from gridmap.settings import get_settings

    text = str(address)
    if is_database_url(text):
        # A PostGIS store needs the gridmap[postgis] extra: say so, not ModuleNotFoundError.
        require("postgis")
        from gridmap.store.postgis import PostGISStore

        return PostGISStore(text, create=create)
    if "://" in text:
        raise StoreError(
            f"'{text}' is not a store address", "give a .gpkg path or a postgresql:// URL"
        )
    from gridmap.store.gpkg import GeoPackageStore

    return GeoPackageStore(text, create=create, lock_timeout=get_settings().lock_timeout)


def is_database_url(address: str | os.PathLike) -> bool:
    """Whether a store address names a PostgreSQL database (not a file)."""
    return str(address).startswith(("postgresql://", "postgres://", "postgresql+"))

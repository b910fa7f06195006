"""Which optional dependencies ("extras") a part of gridmap needs, and saying so.

``pip install gridmap`` gives the core, the GeoPackage store and the CLI. Two
parts need more, installed as extras:

==============  ==========================================  ===============================
extra           packages                                    for
==============  ==========================================  ===============================
``app``         dash, dash-leaflet, folium, waitress,       ``gridmap serve``, the demo's
                flask-login, flask-limiter, pillow          dashboard, ``export --html``
``postgis``     SQLAlchemy, GeoAlchemy2, psycopg, Alembic   ``postgresql://`` stores,
                                                            ``gridmap db upgrade``
``all``         both                                        what the README's commands install
==============  ==========================================  ===============================

A part that needs an extra imports its packages only when it runs, so the
rest works without them; when one is missing, :func:`missing_extra` turns the
``ModuleNotFoundError`` into a :class:`MissingExtraError` that names the extra
to install. This module needs only the standard library.
"""

from __future__ import annotations

from gridmap.errors import GridmapError

__all__ = ["EXTRAS", "MissingExtraError", "missing_extra", "require"]

#: The top-level modules of each extra's packages (as imported, not as named on PyPI).
EXTRAS: dict[str, tuple[str, ...]] = {
    "app": (
        "dash",
        "dash_leaflet",
        "folium",
        "branca",
        "waitress",
        "flask",
        "flask_compress",
        "flask_login",
        "flask_limiter",
        "PIL",
    ),
    "postgis": ("sqlalchemy", "geoalchemy2", "psycopg", "alembic"),
}

_EXTRA_OF = {module: extra for extra, modules in EXTRAS.items() for module in modules}


class MissingExtraError(GridmapError):
    """A part of gridmap was used whose optional dependencies are not installed.

    Parameters
    ----------
    extra
        The extra that holds them (``"app"``, ``"postgis"``).
    module
        The module that could not be imported.
    needed_by
        What needs it, as the user named it (``"gridmap serve"``); default "this".
    """

    def __init__(self, extra: str, module: str, needed_by: str | None = None) -> None:
        who = needed_by or "this"
        super().__init__(
            f"{who} needs the optional dependencies gridmap[{extra}] ({module} is not installed)",
            hint=f"pip install 'gridmap[{extra}]' (or 'gridmap[all]' for everything)",
        )
        self.extra = extra
        self.module = module


def missing_extra(
    error: ModuleNotFoundError, needed_by: str | None = None
) -> MissingExtraError | None:
    """The :class:`MissingExtraError` for ``error``, if an extra provides its module.

    Parameters
    ----------
    error
        What ``import`` raised.
    needed_by
        What needed the module (see :class:`MissingExtraError`).

    Returns
    -------
    MissingExtraError or None
        ``None`` when the missing module belongs to no extra (a broken install,
        a bug): the caller re-raises the original error then.
    """
    module = (error.name or "").partition(".")[0]
    extra = _EXTRA_OF.get(module)
    return MissingExtraError(extra, module, needed_by) if extra else None


def require(extra: str, needed_by: str | None = None) -> None:
    """Import every module of ``extra``, or raise :class:`MissingExtraError`.

    For a check before work starts (a store URL given, a server to start),
    so that the user hears of the missing extra first, not half way.

    Parameters
    ----------
    extra
        A key of :data:`EXTRAS`.
    needed_by
        What needs it (see :class:`MissingExtraError`).

    Raises
    ------
    MissingExtraError
        Naming the first module that is missing.
    """
    import importlib

    for module in EXTRAS[extra]:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            raise MissingExtraError(extra, module, needed_by) from exc

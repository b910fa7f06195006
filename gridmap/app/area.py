"""The user's area: every unit a request names is checked against the account's scope.

A user's scope is a list of unit codes (:mod:`gridmap.accounts`); a unit is in
it when its code starts with one of them. Everything the app reads is keyed by
a unit code — a page's ``?unit=``, the view's state every callback receives,
the geometry routes — so one check at each of those doors filters every read,
on the server: a supervisor of grid A who asks for grid B, by URL, by a forged
callback or by the units route, is refused with "not in your area" (HTTP 403).
Views above the scope are refused too (a supervisor's community holds other
grids' figures); the scope's first unit is the user's home (``/``).

Public geography is not scoped: the basemap (the district's outline and main
roads) is the same for everyone signed in.
"""

from __future__ import annotations

from gridmap.accounts import Account, in_scope
from gridmap.errors import AccessError
from gridmap.i18n import t
from gridmap.services.source import Source, UnitNotFoundError

__all__ = ["NotInAreaError", "account", "check", "home", "allowed", "install"]


class NotInAreaError(AccessError):
    """A unit outside the signed-in account's area (answered with HTTP 403)."""


def account() -> Account:
    """The account of the current request (:func:`gridmap.app.auth.current_account`)."""
    from gridmap.app.auth import current_account

    return current_account()


def allowed(code: str, who: Account | None = None) -> bool:
    """Whether ``code`` is in the area of ``who`` (default: the current request's account)."""
    who = who or account()
    return in_scope(code, who.scope)


def check(code: str, lang: str = "zh") -> str:
    """``code`` if it is in the current account's area.

    Raises
    ------
    NotInAreaError
        Otherwise (the message does not repeat the code asked for).
    """
    if not allowed(code):
        raise NotInAreaError(t("app.not_in_area", lang), t("app.not_in_area_hint", lang))
    return code


def home(src: Source) -> str:
    """The unit ``/`` opens for the current account: its scope's first unit, or the district."""
    for code in account().scope:
        try:
            src.unit(code)
        except UnitNotFoundError:
            continue
        return code
    return src.district_code()


def install(server) -> None:
    """Answer :class:`NotInAreaError` with HTTP 403 wherever it is raised (routes, callbacks).

    A callback refused this way sends nothing: a forged request gets the status,
    not a page. JSON for data routes and callbacks, one line of text otherwise.
    """
    import flask

    @server.errorhandler(NotInAreaError)
    def refused(error: NotInAreaError) -> flask.Response:
        return flask.jsonify({"error": error.what}), 403

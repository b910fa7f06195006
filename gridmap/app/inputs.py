"""Every value a callback receives, checked against what the page offers.

A callback's inputs come from the browser, so anyone can send any value: a
forged request with walking minutes ``1e6`` once pinned a core for minutes
and filled the caches. Each callback passes what it receives through these
checks before it computes anything; a value the page never offers raises
:class:`RefusedInputError`, which :func:`gridmap.app.errors.in_panel` shows as a
one-line message in the panel that asked (a :class:`gridmap.errors.GridmapError`).

The view's state (``{code, lang, child_level}`` in a ``dcc.Store``) is not
trusted either: :func:`check_state` keeps its code only if the unit exists
and recomputes ``child_level`` on the server.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from gridmap.accounts import Account, in_scope
from gridmap.app import area
from gridmap.codes import below, level_of
from gridmap.errors import GridmapError
from gridmap.i18n import LANGS, t
from gridmap.services.source import Source, UnitNotFoundError

__all__ = [
    "MINUTES",
    "RefusedInputError",
    "check_categories",
    "check_choice",
    "check_choices",
    "check_on",
    "check_reconnect",
    "check_state",
    "check_window",
]

#: The walking minutes the page offers for service circles.
MINUTES: tuple[int, ...] = (5, 10, 15)
#: How much of a refused value a message repeats.
_SHOWN = 40


class RefusedInputError(GridmapError):
    """A value a callback received that the page never offers (a stale or forged request)."""


def _refuse(what: str, value: Any, lang: str) -> RefusedInputError:
    shown = repr(value)
    if len(shown) > _SHOWN:
        shown = shown[:_SHOWN] + "…"
    return RefusedInputError(
        t("app.refused", lang).format(what=what, value=shown), t("app.refused_hint", lang)
    )


def check_state(src: Source, state: Any, *, who: Account | None = None) -> dict[str, Any]:
    """The view's state, checked: a unit that exists in the user's area, a language, its
    ``child_level``.

    Parameters
    ----------
    src
        The store.
    state
        The ``VIEW`` store's data, as the browser sent it.
    who
        The account asking (default: the current request's, :func:`gridmap.app.area.account`).

    Returns
    -------
    dict
        ``code``, ``lang`` and ``child_level`` (recomputed from the code).

    Raises
    ------
    RefusedInputError
        When the state is not a dict of a known unit and language.
    gridmap.app.area.NotInAreaError
        When the unit is outside the account's area (HTTP 403).
    """
    lang = state.get("lang") if isinstance(state, dict) else None
    lang = lang if lang in LANGS else "zh"
    code = state.get("code") if isinstance(state, dict) else None
    if not isinstance(code, str) or not code.isdigit():
        raise _refuse(t("app.what.unit", lang), code, lang)
    try:
        src.unit(code)
    except UnitNotFoundError:
        raise _refuse(t("app.what.unit", lang), code, lang) from None
    # Every callback passes here: the one door to the store's data by unit.
    if not in_scope(code, (who or area.account()).scope):
        raise area.NotInAreaError(t("app.not_in_area", lang), t("app.not_in_area_hint", lang))
    return {"code": code, "lang": lang, "child_level": below(level_of(code))}


def check_choice(value: Any, offered: Collection[Any], what: str, lang: str) -> Any:
    """``value`` if it is one of ``offered`` (compared as is: ``"5"`` is not ``5``)."""
    if isinstance(value, bool) or not _hashable(value) or value not in offered:
        raise _refuse(t(f"app.what.{what}", lang), value, lang)
    return value


def check_on(value: Any, lang: str) -> bool:
    """A layer's on/off store: ``True`` or ``False``, nothing else."""
    if not isinstance(value, bool):
        raise _refuse(t("app.what.layers", lang), value, lang)
    return value


def check_choices(values: Any, offered: Collection[Any], what: str, lang: str) -> list[Any]:
    """A list (``None``: empty) whose every item is one of ``offered``, without repeats."""
    if values is None:
        return []
    if not isinstance(values, list) or len(values) > len(offered):
        raise _refuse(t(f"app.what.{what}", lang), values, lang)
    for value in values:
        check_choice(value, offered, what, lang)
    return list(dict.fromkeys(values))


def check_categories(values: Any, offered: Collection[str], lang: str) -> list[str]:
    """The incident categories chosen (each one the page offers)."""
    return check_choices(values, offered, "categories", lang)


def check_window(window: Any, months: Sequence[str], lang: str) -> list[int] | None:
    """The month slider's ``[first, last]``: two whole indexes into ``months``, in order.

    ``None`` (every month) for ``None``, or when there are no months (the slider is disabled).
    """
    if window is None or (not months and window == [0, 0]):
        return None  # every month
    ok = (
        isinstance(window, list)
        and len(window) == 2
        and all(isinstance(i, int) and not isinstance(i, bool) for i in window)
        and 0 <= window[0] <= window[1] < max(len(months), 1)
    )
    if not ok:
        raise _refuse(t("app.what.months", lang), window, lang)
    return list(window)


def check_reconnect(value: Any) -> int:
    """How many of the page's requests failed during an outage it came back from.

    ``assets/offline.js`` sends ``{"missed": n}`` when the server answers again.

    Raises
    ------
    RefusedInputError
        When the value is not such a dict of a count.
    """
    missed = value.get("missed") if isinstance(value, dict) else None
    if isinstance(missed, bool) or not isinstance(missed, int) or missed < 0:
        raise _refuse(t("app.what.reconnect", "zh"), value, "zh")
    return missed


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True

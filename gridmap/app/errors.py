"""What a user sees when a part of the page fails: the one place errors become messages.

A Dash callback that raises becomes an HTTP 500 the page swallows: the panel
stays as it was and no one knows why. Every callback of the pages is wrapped
in :func:`in_panel`, which turns an exception into a one-line message in the
panel that failed — the rest of the page keeps working — and logs it on the
server with its traceback and a short reference, which the message shows, so
the two can be matched.

:func:`user_message` is the table of what users are told: an error they can
do something about (:class:`gridmap.errors.GridmapError`) says what and what
to do; anything else says that the panel failed and gives the reference
(never the exception's text, which may hold paths or data).
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable
from typing import Any

from gridmap.errors import AccessError, GridmapError
from gridmap.i18n import LANGS, t

__all__ = ["in_panel", "message_box", "user_message"]

log = logging.getLogger("gridmap.app")


def user_message(error: BaseException, lang: str, reference: str) -> str:
    """The one line a user reads for ``error`` (see the module docstring).

    Parameters
    ----------
    error
        What went wrong.
    lang
        ``zh`` or ``en``.
    reference
        The short id under which the error was logged.
    """
    if isinstance(error, GridmapError):
        return t("app.layer_failed", lang).format(error=error.render())
    return t("app.panel_failed", lang).format(ref=reference)


def message_box(text: str) -> Any:
    """A one-line error message as a component (``data-testid="panel-error"``)."""
    from dash import html

    return html.P(text, className="gm-error", role="alert", **{"data-testid": "panel-error"})


def _lang_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """The view's language, from the callback's ``VIEW`` state (a dict with ``lang``)."""
    for value in (*args, *kwargs.values()):
        if isinstance(value, dict) and value.get("lang") in LANGS:
            return value["lang"]
    return "zh"


def in_panel(fallback: Callable[[Any], Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Wrap a callback so that a failure shows in its panel instead of a silent HTTP 500.

    Parameters
    ----------
    fallback
        Called with the message component; returns the callback's outputs for
        the failed case (e.g. ``lambda box: ([], [box])``: no layer, the
        message in the legend's place).

    Returns
    -------
    callable
        A decorator, to put under ``@callback``.
    """

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except Exception as error:
                # Dash's own control flow (PreventUpdate) is not a failure.
                from dash.exceptions import PreventUpdate

                if isinstance(error, PreventUpdate):
                    raise
                # Outside the user's area: HTTP 403, nothing drawn (gridmap.app.area).
                if isinstance(error, AccessError):
                    log.warning("callback %s refused: not in the user's area", func.__name__)
                    raise
                reference = uuid.uuid4().hex[:8]
                if isinstance(error, GridmapError):
                    # The user's to fix (a refused value …): no traceback, and
                    # not the message either, which may repeat what was sent.
                    log.warning(
                        "callback %s refused: %s [ref %s]",
                        func.__name__,
                        type(error).__name__,
                        reference,
                    )
                else:
                    log.exception("callback %s failed [ref %s]", func.__name__, reference)
                text = user_message(error, _lang_of(args, kwargs), reference)
                return fallback(message_box(text))

        return wrapper

    return decorate

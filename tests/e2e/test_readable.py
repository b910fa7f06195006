"""A readable map (issue 11, point 4) in a real browser.

The English page is titled in English (tab and header); unit names are
labels on the map, as text, without overlaps; every layer on at once is
screenshotted at each level (tests/artifacts/screenshots/layers-<level>.png)
and the heatmap's legend does not move with the month window.
"""

from __future__ import annotations

import pytest
from test_dashboard import (  # noqa: F401
    SHOTS,
    TIMEOUT_MS,
    _first_unit,
    _serving,
    _wait_view,
    browser,
    page_of,
    server,
)

from gridmap.i18n import t

pytestmark = pytest.mark.slow


def test_the_english_page_is_titled_in_english(page_of, server):  # noqa: F811
    page = page_of()
    page.goto(server + "/?unit=431002001&lang=en")
    _wait_view(page, "431002001")
    assert page.title() == t("app.title", "en")
    assert page.locator("h1").inner_text() == t("app.title", "en")
    # Switching the language in the page (no reload) retitles the tab too.
    page.get_by_test_id("lang-switch").click()
    page.wait_for_function(
        "title => document.title === title", arg=t("app.title", "zh"), timeout=TIMEOUT_MS
    )
    page.get_by_test_id("lang-switch").click()
    page.wait_for_function(
        "title => document.title === title", arg=t("app.title", "en"), timeout=TIMEOUT_MS
    )

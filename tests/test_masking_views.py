"""Personal data in what the app draws: the building panel's cases, masked by role.

Dispatchers, the admin and the case's own handlers (the department it is
dispatched to, the supervisor of its grid) see reporters unmasked; everyone
else sees 张* and 138****1234, and phone numbers in descriptions masked.
"""

from __future__ import annotations

import re

import pytest

from gridmap.accounts import Account
from gridmap.app import views
from gridmap.services.source import Source

pytestmark = pytest.mark.slow

OPEN = ("collected", "registered", "dispatched", "handling", "reported_back")


@pytest.fixture(scope="module")
def case(demo_path):
    src = Source(str(demo_path))
    inc = src.incidents
    hot = inc[
        inc["step"].isin(OPEN)
        & inc["building_code"].notna()
        & inc["source"].eq("hotline_12345")
        & inc["department"].notna()
    ].iloc[0]
    yield src, hot
    src.close()


def _shown(src, hot, account):
    info = views.building_info(src, hot["building_code"], "zh", account)
    (line,) = [c for c in info["open_incidents"] if c["id"] == hot["id"]]
    return info, line


@pytest.mark.parametrize(
    "account, unmasked",
    [
        (None, False),
        (Account("a", "admin"), True),
        (Account("d", "dispatcher", ("431002",)), True),
        (Account("c", "commander", ("431002",)), False),
        (Account("p", "planner", ("431002",)), False),
        (Account("v", "viewer", ("431002",)), False),
        ("own department", True),
        ("other department", False),
        ("own supervisor", True),
        ("other supervisor", False),
    ],
)
def test_the_building_panel_masks_reporters_by_role(case, account, unmasked):
    src, hot = case
    if account == "own department":
        account = Account("x", "department", ("431002",), department=hot["department"])
    elif account == "other department":
        account = Account("x", "department", ("431002",), department="别的部门")
    elif account == "own supervisor":
        account = Account("x", "supervisor", (hot["grid_code"],))
    elif account == "other supervisor":
        account = Account("x", "supervisor", ("43100299999999",))
    info, line = _shown(src, hot, account)
    phone = hot["reporter_phone"]
    if unmasked:
        assert line["reporter_name"] == hot["reporter_name"]
        assert line["reporter_phone"] == phone and phone in line["description"]
        assert hot["id"] in info["pii"]
    else:
        assert line["reporter_name"] == hot["reporter_name"][0] + "*" * (
            len(hot["reporter_name"]) - 1
        )
        assert line["reporter_phone"] == phone[:3] + "****" + phone[-4:]
        assert not re.search(r"1[3-9][0-9]{9}", line["description"])
        assert hot["id"] not in info["pii"]

"""Shared fixtures.

Under CI (``CI=true``) a missing tool or service fails the test run; it is
never silently skipped. Elsewhere the test is skipped with the reason.
"""

from __future__ import annotations

import os
import shutil

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture
def require_tool():
    """Find an external program, or fail (under CI) / skip (elsewhere) without it."""

    def find(name: str) -> str:
        path = shutil.which(name)
        if path is None:
            message = f"{name} is not installed (./dev.sh test installs it)"
            if IN_CI:
                pytest.fail(message)
            pytest.skip(message)
        return path

    return find

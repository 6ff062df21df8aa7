"""Playwright against Debian's Chromium: no `playwright install` (its download is unreachable)."""

from typing import Any

import pytest

CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  "--disable-quic"]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return dict(browser_type_launch_args, executable_path="/usr/bin/chromium",
                args=CHROMIUM_FLAGS)

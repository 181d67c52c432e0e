"""Helpers of the panel browser tests: open the sidebar and panels, screenshots, REST."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from tests.browser.conftest import ARTIFACTS, LabServer


def open_sidebar(page: Any) -> Any:
    tab = page.locator('.jp-SideBar.jp-mod-left li[data-id="workbench-sidebar"]')
    tab.wait_for(timeout=30_000)
    if tab.get_attribute("aria-selected") != "true":
        tab.click()
    panel = page.locator("#workbench-sidebar")
    panel.wait_for(state="visible")
    return panel


def open_panel(page: Any, kind: str) -> Any:
    """Open a main-area panel from the sidebar; returns its content node."""
    open_sidebar(page).locator(f'button[data-panel="{kind}"]').click()
    panel = page.locator(f"#workbench-{kind}")
    panel.wait_for(state="visible", timeout=30_000)
    return panel


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def api(lab: LabServer, path: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(  # noqa: S310
        f"{lab.url}/workbench/api/{path}",
        data=data,
        method="GET" if body is None else "POST",
        headers={"Authorization": f"token {lab.token}"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
        return json.loads(resp.read())

"""JupyterLab in a real Chromium shows the Workbench sidebar with the server's version."""

from __future__ import annotations

import pytest

import workbench
from tests.browser.conftest import ARTIFACTS


@pytest.mark.browser
@pytest.mark.slow
def test_sidebar_shows_server_version(page):
    tab = page.locator('.jp-SideBar.jp-mod-left li[data-id="workbench-sidebar"]')
    tab.wait_for(timeout=30_000)
    tab.click()
    panel = page.locator("#workbench-sidebar")
    panel.wait_for(state="visible")
    version = panel.locator(".wb-version")
    version.filter(has_text=f"Workbench server v{workbench.__version__}").wait_for(timeout=30_000)
    assert panel.locator(".wb-version-error").count() == 0

    headings = panel.locator(".wb-section h3").all_text_contents()
    assert [h.strip() for h in headings] == ["Labeling", "Models", "Jobs", "Experiments"]
    sections = panel.locator(".wb-section")
    assert [sections.nth(i).get_attribute("data-section") for i in range(4)] == [
        "labeling", "models", "jobs", "experiments",
    ]  # fmt: skip

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "workbench-sidebar.png"))

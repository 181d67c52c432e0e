"""The Workbench in JupyterLab's shell: sidebar overview, launcher, palette, restore."""

from __future__ import annotations

import pytest

import workbench
from tests.browser.panels import open_panel, open_sidebar, shot

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PANELS = ["Labeling", "Datasets", "Models", "Jobs", "Experiments"]


def test_sidebar_overview_opens_every_panel_and_reload_restores_them(page):
    sidebar = open_sidebar(page)
    sidebar.locator(".wb-version").filter(
        has_text=f"Workbench server v{workbench.__version__}"
    ).wait_for(timeout=30_000)
    titles = [t.strip() for t in sidebar.locator("button.wb-open-panel strong").all_inner_texts()]
    assert titles == PANELS
    sidebar.locator('[data-section="labeling"] .wb-badge').wait_for(timeout=30_000)
    shot(page, "sidebar")

    labeling = open_panel(page, "labeling")  # no Label Studio runs here: it says so
    labeling.locator('.wb-ls-status[data-running="false"] button.wb-ls-start').wait_for(
        timeout=30_000
    )
    assert "not running" in labeling.inner_text()
    shot(page, "labeling-stopped")
    for kind in ("jobs", "experiments"):
        open_panel(page, kind)
    tabs = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tabLabel").all_inner_texts()
    assert "Jobs" in tabs and "Experiments" in tabs

    page.wait_for_timeout(2000)  # the workspace is saved a moment after a layout change
    page.reload()
    page.wait_for_selector("#jp-main-dock-panel", timeout=60_000)
    page.locator("#workbench-jobs").wait_for(state="attached", timeout=30_000)
    page.locator("#workbench-experiments").wait_for(state="attached", timeout=30_000)


def test_launcher_and_palette_have_a_workbench_category(page):
    page.keyboard.press("Control+Shift+L")  # a new launcher
    section = page.locator(".jp-Launcher-section").filter(
        has=page.locator(".jp-Launcher-sectionTitle", has_text="Workbench")
    )
    section.wait_for(timeout=30_000)
    labels = [t.strip() for t in section.locator(".jp-LauncherCard-label").all_inner_texts()]
    assert labels == [f"Open Workbench {p}" for p in PANELS]
    shot(page, "launcher")
    section.locator(".jp-LauncherCard", has_text="Open Workbench Datasets").click()
    page.locator("#workbench-datasets").wait_for(state="visible", timeout=30_000)

    page.keyboard.press("Control+Shift+C")
    palette = page.locator("#command-palette")
    palette.locator("input").fill("Open Workbench")
    items = palette.locator(".lm-CommandPalette-item").all_inner_texts()
    assert sum("Open Workbench" in i for i in items) >= 6  # five panels and the sidebar

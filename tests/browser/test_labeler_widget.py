"""The in-notebook labeler in a real JupyterLab: keys label, move and undo in the kernel."""

from __future__ import annotations

import json

import nbformat
import pytest

from tests.browser.conftest import ARTIFACTS, LabServer
from tests.labeling.fixtures import write_digits

CLASSES = ["0", "1", "2"]
MAKE = """from workbench.labeling.widget import Labeler
lab = Labeler("digits", classes={classes!r}, dataset="digits-quick", page_size=6)
lab"""
SHOW = "import json\nprint(json.dumps(lab.labels, sort_keys=True))"

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def notebook(lab_server: LabServer) -> tuple[str, list[str]]:
    """A notebook in the server's root over 12 unlabeled digits; its name and image keys."""
    root = lab_server.home.parent  # the server's root_dir holds its home
    folder = root / "digits"
    folder.mkdir(exist_ok=True)
    keys = sorted(write_digits(folder, flat=12, classes=len(CLASSES)))
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(MAKE.format(classes=CLASSES)),
        nbformat.v4.new_code_cell(SHOW),
    ]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, root / "labeler.ipynb")
    return "labeler.ipynb", keys


def _run_cell(page, index: int) -> None:  # type: ignore[no-untyped-def]
    page.locator(".jp-Notebook .jp-Cell").nth(index).locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")


def _dark_theme(page) -> None:  # type: ignore[no-untyped-def]
    page.locator(".lm-MenuBar-itemLabel", has_text="Settings").click()
    page.locator(".lm-Menu-itemLabel", has_text="Theme").first.hover()
    page.locator(".lm-Menu-itemLabel").get_by_text("JupyterLab Dark", exact=True).click()
    page.wait_for_selector('body[data-jp-theme-light="false"]', state="attached", timeout=30_000)
    page.wait_for_timeout(500)  # the theme's CSS variables settle


def test_keys_label_move_and_undo(page, lab_server: LabServer, notebook) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import TimeoutError as PlaywrightTimeout  # only with the browser

    name, keys = notebook
    page.goto(f"{lab_server.url}/lab/tree/{name}?token={lab_server.token}")
    page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
    page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=60_000)  # kernel ready
    _run_cell(page, 0)
    widget = page.locator(".wb-labeler")
    tiles = widget.locator(".wb-tile")
    try:
        tiles.nth(5).wait_for(timeout=120_000)
    except PlaywrightTimeout:  # say what the cell showed instead
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "labeler-widget-missing.png"))
        shown = page.locator(".jp-Notebook .jp-Cell").first.inner_text()
        pytest.fail(
            f"no labeler grid; the cell shows:\n{shown}\n{lab_server.log.read_text()[-2000:]}"
        )
    assert tiles.count() == 6
    status = widget.locator(".wb-labeler-status")
    assert status.inner_text() == "0 / 12 labeled · page 1/2"
    assert widget.locator(".wb-class kbd").all_inner_texts() == ["1", "2", "3"]
    assert widget.locator(".wb-class span").all_inner_texts() == CLASSES

    tiles.first.click()
    for key in ("2", "ArrowRight", "1", "u"):
        page.keyboard.press(key)
    expected = f"1 / 12 labeled · page 1/2 · undid {keys[2]}"
    status.filter(has_text=expected).wait_for(timeout=30_000)
    badges = [t.locator(".wb-badge").inner_text() for t in tiles.all()[:3]]
    assert badges == [CLASSES[1], "unlabeled", "unlabeled"]
    selected = widget.locator(".wb-tile.wb-selected")
    assert selected.count() == 1
    assert selected.get_attribute("data-key") == keys[2]  # undo shows what it changed
    page.mouse.move(0, 0)  # no hover outline in the picture
    ARTIFACTS.mkdir(exist_ok=True)
    widget.screenshot(path=str(ARTIFACTS / "labeler-widget.png"))

    _run_cell(page, 1)
    output = page.locator(".jp-Notebook .jp-Cell").nth(1).locator(".jp-OutputArea-output")
    output.filter(has_text="{").wait_for(timeout=30_000)
    assert json.loads(output.inner_text()) == {keys[0]: CLASSES[1]}

    _dark_theme(page)
    widget.screenshot(path=str(ARTIFACTS / "labeler-widget-dark.png"))

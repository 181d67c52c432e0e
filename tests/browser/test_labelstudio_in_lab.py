"""Label Studio in a JupyterLab tab: a same-origin iframe over the main area (as the
Labeling panel makes it) on ``<base_url>/workbench/labelstudio/``; a person labels a task
with real clicks and the workbench reads the annotation back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Frame, Page

from tests.browser.conftest import ARTIFACTS, LabServer, running_lab
from tests.browser.labelstudio import choice_box, label_task, task_url
from tests.labeling.fixtures import JUPYTER_BASE_URL, LabelStudioSession, write_digits
from workbench.labeling.service import LabelingService

pytestmark = [pytest.mark.browser, pytest.mark.slow]
OPEN_TAB = """url => {
  const dock = document.querySelector('#jp-main-dock-panel').getBoundingClientRect();
  const frame = document.createElement('iframe');
  frame.name = 'labelstudio';
  frame.src = url;
  Object.assign(frame.style, {position: 'fixed', left: dock.left + 'px', top: dock.top + 'px',
    width: dock.width + 'px', height: dock.height + 'px', border: '0', zIndex: 1000,
    background: 'white'});
  document.body.appendChild(frame);
}"""


@pytest.fixture(scope="module")
def lab_server(
    tmp_path_factory: pytest.TempPathFactory, label_studio: LabelStudioSession
) -> Iterator[LabServer]:
    """JupyterLab under a non-root base_url, on the session's Label Studio."""
    root = tmp_path_factory.mktemp("lab-labelstudio")
    with running_lab(root, label_studio.env, JUPYTER_BASE_URL) as lab:
        yield lab


def open_in_tab(page: Page, url: str) -> Frame:
    page.evaluate(OPEN_TAB, url)
    frame = page.wait_for_selector("iframe[name=labelstudio]").content_frame()
    assert frame is not None
    return frame


def dismiss_news(page: Page) -> None:
    """JupyterLab's "notified about news?" toast would cover the tab's Submit/Update bar."""
    no = page.locator(".Toastify").get_by_role("button", name="No", exact=True)
    if no.count():
        no.first.click()
        no.first.wait_for(state="detached")


def test_a_task_is_labeled_with_real_clicks_inside_jupyterlab(
    page: Page, lab_server: LabServer, labeling: LabelingService, label_studio: LabelStudioSession
):
    folder = label_studio.folder("in-lab")
    truths = write_digits(folder, flat=3)
    classes = [str(d) for d in range(10)]
    record, _ = labeling.create_project("digits in lab", folder, classes=classes, progress=False)
    task = max(labeling.client().iter_tasks(record.id), key=lambda t: t["id"])  # a 2
    digit = str(truths[task["data"]["wb_path"]])

    frame = open_in_tab(page, task_url(lab_server.url, record.id, task["id"]))
    stored = label_task(frame, digit)  # no login form: the Jupyter server signed us in
    assert "/user/login" not in frame.url and frame.url.startswith(lab_server.url)
    dismiss_news(page)
    choice_box(frame, digit).scroll_into_view_if_needed()  # the screenshot shows the label
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "labelstudio-in-lab.png"))

    # what Label Studio stored, read through the workbench
    assert stored["task"] == task["id"]
    annotated = {t["id"]: t for t in labeling.client().annotated_tasks(record.id)}
    results = [r for a in annotated[task["id"]]["annotations"] for r in a["result"]]
    assert [r["value"]["choices"] for r in results] == [[digit]]
    assert results[0]["from_name"] == "label" and results[0]["to_name"] == "image"
    assert set(annotated) == {task["id"]}  # the other tasks stay unlabeled
    for secret in (labeling.server.admin_password(), labeling.server.token()):
        assert secret not in lab_server.log.read_text()

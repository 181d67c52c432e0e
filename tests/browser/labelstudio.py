"""Label Studio as JupyterLab shows it (``<base_url>/workbench/labelstudio/``), driven with
real clicks: for the proxy's browser test and for the JupyterLab flow tests (whose Labeling
panel opens the same URLs in an iframe; pass that iframe's ``Frame``).

URL patterns, relative to the lab's URL (``LabServer.url``, base_url included):
  project list  /workbench/labelstudio/projects/
  a project     /workbench/labelstudio/projects/<project id>/data
  one task      /workbench/labelstudio/projects/<project id>/data?task=<task id>
Nothing has to happen before opening them: the Jupyter server signs the browser in.
"""

from __future__ import annotations

import json
import re
from typing import Any

from playwright.sync_api import Frame, Locator, Page, expect

UI = "/workbench/labelstudio"
# the labeling UI draws the task's image from this element (kept out of view)
IMAGE_LOADED = """() => {
  const image = document.querySelector('.lsf-image img');
  return image !== null && image.complete && image.naturalWidth > 0;
}"""


def task_url(lab_url: str, project: int, task: int) -> str:
    """The labeling page of one task (``lab_url``: the lab's URL, base_url included)."""
    return f"{lab_url}{UI}/projects/{project}/data?task={task}"


def choice_box(target: Page | Frame, choice: str) -> Locator:
    """The checkbox (with its label) of one class of a Choices control."""
    return target.locator(f"label.lsf-choice__checkbox:has(input[name={json.dumps(choice)}])")


def label_task(target: Page | Frame, choice: str, timeout: float = 90_000) -> dict[str, Any]:
    """On an open task page: click ``choice`` and Submit; returns the annotation Label
    Studio stored (its JSON answer to the submit), after the UI has shown it as saved."""
    page = target.page if isinstance(target, Frame) else target
    submit = target.get_by_role("button", name=re.compile(r"^Submit"))
    submit.wait_for(timeout=timeout)  # the labeling UI is up
    target.wait_for_function(IMAGE_LOADED, timeout=timeout)  # with the task's image
    box = choice_box(target, choice)
    for attempt in range(3):  # a task with predictions re-renders as they load: click again
        box.click()
        try:
            expect(box.locator("input")).to_be_checked(timeout=3_000)
            break
        except AssertionError:
            if attempt == 2:
                raise
    saved = re.compile(r"/api/tasks/[0-9]+/annotations")
    with page.expect_response(
        lambda r: r.request.method == "POST" and saved.search(r.url) is not None,
        timeout=timeout,
    ) as answer:
        submit.click()
    response = answer.value
    assert response.status == 201, f"submit answered {response.status}: {response.text()[:300]}"
    update = target.get_by_role("button").filter(has_text=re.compile(r"^Update$"))
    expect(update).to_be_visible(timeout=timeout)  # the UI took the annotation as saved
    stored: dict[str, Any] = response.json()
    return stored

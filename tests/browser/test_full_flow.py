"""The whole workbench in JupyterLab, as a person uses it: a labeling project from a folder
picked in the file browser, one task labeled with real clicks in Label Studio's tab (the
rest came labeled in class folders), auto-label, accept, export v1, the Train form on v1 with
2 ranks to success, its run with a chart and the confusion matrix, and two runs compared."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page

from tests.browser.conftest import LabServer, running_lab
from tests.browser.labelstudio import label_task
from tests.browser.panels import api, open_panel, shot
from tests.labeling.fixtures import JUPYTER_BASE_URL, LabelStudioSession, write_digits
from workbench.labeling.service import LabelingService

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.mpi]
FINAL = "el => ['succeeded', 'failed', 'cancelled', 'lost'].includes(el.dataset.state)"


@pytest.fixture(scope="module")
def lab_server(label_studio: LabelStudioSession) -> Iterator[LabServer]:
    """JupyterLab rooted where Label Studio serves files from, on the session's server."""
    with running_lab(label_studio.root, label_studio.env, JUPYTER_BASE_URL) as lab:
        yield lab


def _tab(page: Page, label: str) -> None:
    page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text=label).first.click()


def test_label_autolabel_export_train_and_compare(
    page: Page, lab_server: LabServer, labeling: LabelingService, label_studio: LabelStudioSession
):
    folder = label_studio.folder("flow")
    truth = write_digits(folder, per_class=6, flat=12, classes=3)
    rel = folder.relative_to(label_studio.root).as_posix()

    # 1. The Labeling panel sees the managed Label Studio; pick the folder in the file browser.
    panel = open_panel(page, "labeling")
    panel.locator('.wb-ls-status[data-running="true"]').wait_for(timeout=60_000)
    page.locator('.jp-SideBar.jp-mod-left li[data-id="filebrowser"]').click()
    browser = page.locator("#filebrowser")
    browser.locator(".jp-DirListing-item", has_text="images").dblclick()
    browser.locator(".jp-DirListing-item", has_text=folder.name).click()
    create = panel.locator("form.wb-create-project")
    create.locator('input[name="title"]').fill("flow digits")
    create.locator("button", has_text="Use file browser selection").click()
    assert create.locator('input[name="images"]').input_value() == rel
    create.locator("button.wb-create").click()
    card = panel.locator(".wb-project", has_text="flow digits")
    card.wait_for(timeout=120_000)
    assert "18 / 30 labeled" in card.locator(".wb-project-head").inner_text()
    assert card.locator('.wb-chip[data-class="1"]').inner_text() == "1: 6"

    # 2. Auto-label from the labels so far (held-out accuracy shown); the next batch to
    #    label, the most uncertain first, with thumbnails; one opens in Label Studio's tab.
    card.locator("button.wb-autolabel").click()
    held_out = card.locator(".wb-outcome .wb-held-out")
    held_out.wait_for(timeout=180_000)
    assert float(held_out.inner_text().rstrip("%")) > 50
    card.locator("button", has_text="Next batch").click()
    thumbs = card.locator(".wb-batch .wb-thumb")
    try:
        thumbs.first.wait_for(timeout=60_000)
    finally:
        shot(page, "labeling")
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0",
        arg=thumbs.first.locator("img").element_handle(),
    )
    shot(page, "labeling")
    task_id = int(re.search(r"task (\d+)", thumbs.first.get_attribute("title") or "").group(1))
    record = labeling.projects.find("flow digits")
    path = next(t["data"]["wb_path"] for t in labeling.client().iter_tasks(record.id)
                if t["id"] == task_id)  # fmt: skip
    thumbs.first.click()
    frame_el = page.locator("#workbench-labelstudio iframe")
    frame_el.wait_for(timeout=30_000)
    frame = frame_el.element_handle().content_frame()
    assert frame is not None
    try:
        label_task(frame, str(truth[path]))
    finally:
        shot(page, "labelstudio-tab")
    shot(page, "labelstudio-tab")

    # 3. Back in the panel: the new label counts; accept the rest, export v1.
    _tab(page, "Labeling")
    card.locator(".wb-project-head", has_text="19 / 30 labeled").wait_for(timeout=60_000)
    card.locator("button", has_text="Accept predictions").click()
    card.locator(".wb-outcome", has_text="Accepted").wait_for(timeout=120_000)
    # label issues: the suspects the server ranks, each with its thumbnail
    card.locator("button.wb-issues").click()
    card.locator(".wb-issues-table, .wb-outcome:has-text('No likely label errors')").first.wait_for(
        timeout=120_000
    )
    expected = labeling.label_errors("flow digits", 50, False)["suspects"]
    suspects = card.locator(".wb-issues-table tr.wb-suspect")
    assert suspects.count() == len(expected)
    for i in range(suspects.count()):
        page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                               arg=suspects.nth(i).locator("img").element_handle())  # fmt: skip
    shot(page, "labeling-issues")
    card.locator("input.wb-export-name").fill("flow-digits")
    card.locator("button.wb-export").click()
    ref = card.locator(".wb-outcome .wb-version-ref")
    ref.wait_for(timeout=120_000)
    assert ref.inner_text() == "flow-digits@v1"
    shot(page, "labeling-exported")

    # 4. The version in Datasets, then "Train on this version": 2 ranks.
    card.locator(".wb-outcome button", has_text="Open in Datasets").click()
    datasets = page.locator("#workbench-datasets")
    version = datasets.locator('.wb-version[data-ref="flow-digits@v1"]')
    version.wait_for(timeout=30_000)
    assert version.locator('.wb-class-counts tr[data-key="2"] .wb-num').inner_text() == "10"
    shot(page, "datasets")
    version.locator("button.wb-train-on").click()
    jobs = page.locator("#workbench-jobs")
    form = jobs.locator(".wb-train-form form")
    form.locator("#root_spec_data_dataset").wait_for(timeout=30_000)
    assert form.locator("#root_spec_data_dataset option:checked").inner_text() == "flow-digits@v1"
    form.locator("#root_spec_name").fill("flow-mlp")
    form.locator("#root_ranks").fill("2")
    form.locator("#root_spec_train_epochs").fill("3")
    with page.expect_response(re.compile(r"/workbench/api/train(\?|$)")) as answer:
        form.locator("button.wb-train").click()
    assert answer.value.status == 201, answer.value.text()
    job = answer.value.json()
    # a second run to compare with: the same version, another learning rate, over REST
    api(lab_server, "train", {"spec": {
        "name": "flow-mlp-lr", "experiment": "workbench", "model": {"name": "mlp"},
        "data": {"source": "dataset", "dataset": "flow-digits@v1"},
        "train": {"epochs": 3, "lr": 0.1}}, "ranks": 1})  # fmt: skip
    row = jobs.locator(f'.wb-job[data-job-id="{job["id"]}"]')
    row.wait_for(timeout=30_000)
    page.wait_for_function(FINAL, arg=row.element_handle(), timeout=300_000)
    assert api(lab_server, f"jobs/{job['id']}")["state"] == "succeeded"
    shot(page, "jobs")

    # 5. Its run: a chart and the confusion matrix.
    jobs.locator("button.wb-open-run").click()
    experiments = page.locator("#workbench-experiments")
    run = experiments.locator("tr.wb-run", has_text="flow-mlp")
    run.first.wait_for(timeout=30_000)
    run.first.click()
    detail = experiments.locator(".wb-run-detail")
    detail.locator('figure[data-metric="test_accuracy"] canvas').wait_for(timeout=30_000)
    assert "flow-digits@v1" in detail.locator(".wb-run-dataset").inner_text()
    matrix = detail.locator('figure.wb-artifact[data-path$="confusion_matrix.png"] img')
    page.wait_for_function("img => img.complete && img.naturalWidth > 100",
                           arg=matrix.element_handle(), timeout=30_000)  # fmt: skip
    shot(page, "experiments-run")

    # 6. Both runs of v1, compared.
    page.wait_for_function(
        "() => fetch('/user/wb/workbench/api/jobs').then(r => r.json()).then(b => "
        "b.jobs.filter(j => j.name.startsWith('flow-mlp')).every(j => j.state === 'succeeded'))",
        timeout=300_000,
        polling=2000,
    )
    experiments.locator("input.wb-filter-input").fill("attributes.run_name LIKE 'flow-mlp%'")
    experiments.locator("input.wb-filter-input").press("Enter")
    rows = experiments.locator("tr.wb-run")
    rows.nth(1).wait_for(timeout=30_000)
    for i in range(2):
        rows.nth(i).locator('input[type="checkbox"]').check()
    experiments.locator("button.wb-compare-button").click()
    compare = experiments.locator(".wb-compare")
    compare.locator('figure[data-metric="test_accuracy"] canvas').wait_for(timeout=30_000)
    differing = compare.locator(".wb-compare-table tr.wb-differs th").all_inner_texts()
    assert "train.lr" in differing
    shot(page, "experiments-compare-flow")

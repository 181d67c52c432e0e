"""The Jobs panel: the Train form from the server's schema, a job to success, logs, cancel."""

from __future__ import annotations

import re
import time

import pytest

from tests.browser.conftest import LabServer
from tests.browser.panels import api, open_panel, open_sidebar, shot

pytestmark = [pytest.mark.browser, pytest.mark.slow]
FINAL = "el => ['succeeded', 'failed', 'cancelled', 'lost'].includes(el.dataset.state)"


def _form(page):  # type: ignore[no-untyped-def]
    panel = open_panel(page, "jobs")
    form = panel.locator(".wb-train-form form")
    form.locator("#root_spec_model_name").wait_for(timeout=30_000)
    return panel, form


def test_train_form_validates_then_trains_to_a_tracked_run(page, lab_server: LabServer):
    panel, form = _form(page)
    model = form.locator("#root_spec_model_name")
    options = model.locator("option").all_inner_texts()
    assert "mlp (torch)" in options and "keras_small_cnn (keras)" in options
    assert model.locator("option:checked").inner_text() == "mlp (torch)"
    assert form.locator("#root_ranks").input_value() == "2"
    assert form.locator("#root_spec_train_epochs").input_value() == "10"  # the server's default
    # Tensor swapping is off (the server's default) until turned on, with its budget.
    swap = form.locator("#root_spec_swap__oneof_select")
    assert swap.locator("option:checked").inner_text() == "Off"
    swap.select_option(label="On (tensor swapping)")
    form.locator("#root_spec_swap_budget_bytes").wait_for()
    swap.select_option(label="Off")
    shot(page, "jobs-form")

    # Refused in the browser, from the schema, before any request.
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    form.locator("#root_ranks").fill("0")
    form.locator("button.wb-train").click()
    panel.locator(".wb-error", has_text="Fix the fields").wait_for(timeout=10_000)
    assert form.locator(".error-detail, .jp-FormGroup-error, .text-danger").count() >= 1
    assert not [u for u in posts if "/workbench/api/train" in u]

    form.locator("#root_ranks").fill("1")
    form.locator("#root_spec_train_epochs").fill("1")
    with page.expect_response(re.compile(r"/workbench/api/train(\?|$)")) as answer:
        form.locator("button.wb-train").click()
    assert answer.value.status == 201, answer.value.text()
    job_id = answer.value.json()["id"]
    row = panel.locator(f'.wb-job[data-job-id="{job_id}"]')
    row.wait_for(timeout=30_000)
    assert "1 rank · local" in row.locator(".wb-job-meta").inner_text()
    # The selected job's log streams in while it runs.
    panel.locator(".wb-log-line").first.wait_for(timeout=120_000)
    page.wait_for_function(FINAL, arg=row.element_handle(), timeout=240_000)
    assert api(lab_server, f"jobs/{job_id}")["state"] == "succeeded"
    assert row.get_attribute("data-state") == "succeeded"
    toast = page.locator(
        ".Toastify__toast", has_text=f"Job {row.locator('.wb-job-name').inner_text()} succeeded"
    )
    toast.first.wait_for(timeout=30_000)
    shot(page, "jobs-finished")

    panel.locator("button.wb-open-run").click()
    experiments = page.locator("#workbench-experiments")
    experiments.wait_for(state="visible", timeout=30_000)
    run_row = experiments.locator("tr.wb-run")
    run_row.first.wait_for(timeout=30_000)
    assert run_row.count() == 1
    run_row.first.click()
    detail = experiments.locator(".wb-run-detail")
    detail.locator('figure[data-metric="test_accuracy"] canvas').wait_for(timeout=30_000)
    cell = detail.locator('table.wb-kv tr:has(th:text-is("test_accuracy")) td')
    accuracy = float(cell.inner_text())
    assert accuracy > 0.5
    # The evaluation's artifacts show inline.
    image = detail.locator('figure.wb-artifact[data-path$="confusion_matrix.png"] img')
    image.wait_for(timeout=30_000)
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 100", arg=image.element_handle()
    )
    shot(page, "experiments-run")


def test_server_refusal_shows_inline(page):
    panel, form = _form(page)
    form.locator("#root_spec_model_name").select_option(label="unet (torch)")
    with page.expect_response(re.compile(r"/workbench/api/train(\?|$)")) as answer:
        form.locator("button.wb-train").click()
    assert answer.value.status == 400
    error = panel.locator(".wb-error", has_text="Train failed: ")
    error.wait_for(timeout=30_000)
    assert "'unet' does segmentation" in error.inner_text()
    assert form.locator("button.wb-train").is_enabled()


def test_cancel_and_polling_only_while_shown(page, lab_server: LabServer):
    root = lab_server.home.parent
    (root / "sleepy.py").write_text("import time\nprint('sleeping', flush=True)\ntime.sleep(120)\n")
    job = api(lab_server, "jobs", {
        "name": "sleepy", "entry": {"kind": "script", "path": "sleepy.py"}, "ranks": 1,
        "working_dir": str(root),
    })  # fmt: skip
    polls: list[float] = []
    page.on("request", lambda r: polls.append(time.monotonic()) if "/api/jobs?" in r.url else None)
    panel = open_panel(page, "jobs")
    row = panel.locator(f'.wb-job[data-job-id="{job["id"]}"]')
    row.wait_for(timeout=30_000)
    row.click()
    panel.locator(".wb-log-line", has_text="sleeping").wait_for(timeout=60_000)
    before = len(polls)
    page.wait_for_timeout(4500)
    assert len(polls) - before >= 2, "a shown jobs list is polled every 2 s"
    shot(page, "jobs-logs")

    panel.locator("button.wb-cancel").click()
    page.wait_for_function(
        "el => el.dataset.state === 'cancelled'", arg=row.element_handle(), timeout=60_000
    )
    assert api(lab_server, f"jobs/{job['id']}")["state"] == "cancelled"
    assert panel.locator("button.wb-cancel").count() == 0

    # Retry: a new attempt of the same job, selected; it is stopped again over REST.
    with page.expect_response(re.compile(r"/retry(\?|$)")) as answer:
        panel.locator("button.wb-retry").click()
    assert answer.value.status == 201
    retried = answer.value.json()
    assert retried["retry_of"] == job["id"] and retried["name"] == "sleepy"
    panel.locator(f'.wb-job.wb-selected[data-job-id="{retried["id"]}"]').wait_for(timeout=30_000)
    api(lab_server, f"jobs/{retried['id']}/cancel", {})
    # a job retried from this page is watched (to notify its end) until seen ending
    page.wait_for_function(
        "el => el.dataset.state === 'cancelled'",
        arg=panel.locator(f'.wb-job[data-job-id="{retried["id"]}"]').element_handle(),
        timeout=60_000,
    )

    # Close the panel and hide the sidebar: no view shows jobs, so nothing polls.
    page.locator(".lm-TabBar-tab", has_text="Jobs").locator(".lm-TabBar-tabCloseIcon").click()
    open_sidebar(page)
    page.locator('.jp-SideBar.jp-mod-left li[data-id="workbench-sidebar"]').click()
    page.locator("#workbench-sidebar").wait_for(state="hidden")
    page.wait_for_timeout(800)
    quiet_from = len(polls)
    page.wait_for_timeout(5000)
    assert len(polls) == quiet_from, "no polling while no view shows"

"""The sidebar's Models, Experiments and Jobs sections against a real server, in Chromium."""

from __future__ import annotations

import json
import re
import time
import urllib.request

import pytest

from tests.browser.conftest import ARTIFACTS, LabServer

JOB_STATES = ("queued", "starting", "running", "succeeded", "failed", "cancelled", "lost")
SEED_RUNS = {
    "seed-run-a": [(0.60, 1.20), (0.80, 0.70), (0.90, 0.30)],
    "seed-run-b": [(0.50, 1.50), (0.70, 0.90)],
}

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def seeded_runs(lab_server: LabServer, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Two MLflow runs in experiment ``workbench`` of the lab server's home."""
    monkeypatch.setenv("WORKBENCH_HOME", str(lab_server.home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    from workbench.training.data import synthetic
    from workbench.training.observer import MlflowObserver

    data = synthetic(40, (1, 4, 4), 2)
    data.name = "seed-data@v2"
    train, test = data.split(0.25)
    for name, history in SEED_RUNS.items():
        with MlflowObserver("workbench", name, system_metrics_interval=0) as run:
            run.log_params({"model": "mlp"})
            if name == "seed-run-a":
                run.log_dataset("manifest", train, test)
            for step, (acc, loss) in enumerate(history):
                run.log_metrics({"test_accuracy": acc, "train_loss": loss}, step=step)
    return list(SEED_RUNS)


def _open_sidebar(page):  # type: ignore[no-untyped-def]
    tab = page.locator('.jp-SideBar.jp-mod-left li[data-id="workbench-sidebar"]')
    tab.wait_for(timeout=30_000)
    tab.click()
    panel = page.locator("#workbench-sidebar")
    panel.wait_for(state="visible")
    return panel


def _shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#workbench-sidebar").screenshot(path=str(ARTIFACTS / f"{name}.png"))


def test_models_lists_the_zoo_by_framework(page):
    panel = _open_sidebar(page)
    models = panel.locator('.wb-section[data-section="models"]')
    models.locator('.wb-model[data-model="resnet50"]').wait_for(timeout=30_000)
    for name in ("resnet50", "keras_mobilenet_v2"):
        item = models.locator(f'.wb-model[data-model="{name}"]')
        assert item.locator(".wb-model-name").inner_text() == name
        assert item.locator(".wb-model-desc").inner_text().strip()
    groups = models.locator(".wb-model-group .wb-subheading").all_text_contents()
    assert [g.split(" (")[0] for g in groups] == ["PyTorch", "Keras"]
    torch_group = models.locator('.wb-model-group[data-framework="PyTorch"]')
    assert torch_group.locator('.wb-model[data-model="resnet50"]').count() == 1
    keras_group = models.locator('.wb-model-group[data-framework="Keras"]')
    assert keras_group.locator('.wb-model[data-model="keras_mobilenet_v2"]').count() == 1
    _shot(page, "workbench-models")


def test_experiments_lists_runs_and_charts_one(seeded_runs, page):
    panel = _open_sidebar(page)
    section = panel.locator('.wb-section[data-section="experiments"]')
    select = section.locator("select.wb-experiment-select")
    select.locator("option", has_text="workbench").wait_for(state="attached", timeout=30_000)
    select.select_option(label="workbench")

    rows = section.locator("tr.wb-run")
    rows.first.wait_for(timeout=30_000)
    names = [n.strip() for n in rows.locator(".wb-col-name").all_text_contents()]
    assert sorted(names) == sorted(seeded_runs)
    row = rows.filter(has_text="seed-run-a")
    cells = [c.strip() for c in row.locator("td").all_text_contents()]
    assert cells == ["seed-run-a", "finished", "0.900", "0.300"]

    row.click()
    chart = section.locator('.wb-run-detail figure[data-metric="test_accuracy"] svg')
    chart.wait_for(timeout=30_000)
    assert chart.locator("path.wb-chart-line").count() == 1
    assert chart.locator("circle.wb-chart-dot").count() == 3
    labels = chart.locator("text.wb-chart-label").all_text_contents()
    assert labels == ["step", "test_accuracy"]
    loss = section.locator('.wb-run-detail figure[data-metric="train_loss"] svg')
    loss.wait_for()
    dataset = section.locator(".wb-run-detail .wb-run-dataset").inner_text()
    assert dataset.startswith("seed-data@v2 · ") and dataset.endswith("train 30, test 10")
    assert row.get_attribute("class") is not None and "wb-selected" in row.get_attribute("class")
    section.scroll_into_view_if_needed()
    _shot(page, "workbench-experiments")


def test_jobs_form_trains_a_model_to_success_and_tracks_it(page, lab_server: LabServer):
    panel = _open_sidebar(page)
    section = panel.locator('.wb-section[data-section="jobs"]')
    form = section.locator("form.wb-train-form")
    model = form.locator('select[name="model"]')
    model.locator('option[value="mlp"]').wait_for(state="attached", timeout=30_000)
    model.select_option("mlp")
    groups = model.locator("optgroup").evaluate_all("gs => gs.map(g => g.label)")
    assert groups == ["PyTorch", "Keras"]
    assert form.locator('select[name="dataset"]').input_value() == "digits"
    assert form.locator('input[name="ranks"]').input_value() == "2"
    assert form.locator('input[name="epochs"]').input_value() == "3"

    # A bad value is refused inline, before any request.
    form.locator('input[name="ranks"]').fill("9")
    form.locator("button.wb-train").click()
    error = form.locator(".wb-error")
    error.wait_for(state="visible")
    assert "Ranks" in error.inner_text()

    form.locator('input[name="ranks"]').fill("1")
    form.locator('input[name="epochs"]').fill("1")
    form.locator("button.wb-train").click()
    job = section.locator(".wb-job[data-state]").filter(has_text="mlp-digits").first
    job.wait_for(timeout=30_000)
    assert form.locator(".wb-error").is_hidden()
    badge = job.locator(".wb-badge")
    assert badge.inner_text().strip() in JOB_STATES
    assert "1 rank" in job.locator(".wb-job-meta").inner_text()

    job.locator("button.wb-logs-toggle").click()
    job.locator(".wb-logs").wait_for(state="visible")
    section.scroll_into_view_if_needed()
    _shot(page, "workbench-jobs")

    # A one-rank, one-epoch MLP on digits must finish, and its run must be tracked.
    page.wait_for_function(
        "el => ['succeeded', 'failed', 'cancelled', 'lost'].includes(el.dataset.state)",
        arg=job.element_handle(),
        timeout=180_000,
    )
    job_id = job.get_attribute("data-job-id")
    record = _api(lab_server, f"jobs/{job_id}")
    assert record["state"] == "succeeded", record
    assert badge.inner_text().strip() == "succeeded"
    experiments = {
        e["name"]: e["experiment_id"] for e in _api(lab_server, "experiments")["experiments"]
    }
    runs = _api(lab_server, f"runs?experiment_id={experiments['workbench']}&page_size=100")["runs"]
    tracked = [r for r in runs if r["tags"].get("workbench.job_id") == job_id]
    assert len(tracked) == 1 and tracked[0]["status"] == "FINISHED", runs
    assert tracked[0]["metrics"]["test_accuracy"] > 0.5
    _shot(page, "workbench-jobs-finished")


def _api(lab_server: LabServer, path: str, body: dict[str, object] | None = None) -> dict:  # type: ignore[type-arg]
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(  # noqa: S310
        f"{lab_server.url}/workbench/api/{path}",
        data=data,
        method="GET" if body is None else "POST",
        headers={"Authorization": f"token {lab_server.token}"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
        return json.loads(resp.read())  # type: ignore[no-any-return]


def test_jobs_poll_only_while_visible_and_cancel(page, lab_server: LabServer):
    root = lab_server.home.parent
    (root / "sleepy.py").write_text("import time\nprint('sleeping', flush=True)\ntime.sleep(120)\n")
    job = _api(
        lab_server,
        "jobs",
        {
            "name": "sleepy",
            "entry": {"kind": "script", "path": "sleepy.py"},
            "ranks": 1,
            "working_dir": str(root),
        },
    )
    polls: list[float] = []
    page.on(
        "request",
        lambda r: polls.append(time.monotonic()) if "/workbench/api/jobs?" in r.url else None,
    )
    panel = _open_sidebar(page)
    row = panel.locator(f'.wb-job[data-job-id="{job["id"]}"]')
    row.wait_for(timeout=30_000)
    page.wait_for_function(
        "el => ['starting', 'running'].includes(el.dataset.state)",
        arg=row.element_handle(),
        timeout=60_000,
    )
    before = len(polls)
    page.wait_for_timeout(4500)
    assert len(polls) - before >= 2, "an active job is polled every 2 s"

    # Hide the panel: polling stops.
    page.locator('.jp-SideBar.jp-mod-left li[data-id="workbench-sidebar"]').click()
    panel.wait_for(state="hidden")
    page.wait_for_timeout(500)  # one request may already be in flight
    hidden_from = len(polls)
    page.wait_for_timeout(4500)
    assert len(polls) == hidden_from, "no polling while the panel is hidden"

    panel = _open_sidebar(page)
    row.locator("button.wb-logs-toggle").click()
    row.locator(".wb-log-line", has_text="sleeping").wait_for(timeout=30_000)
    row.scroll_into_view_if_needed()
    _shot(page, "workbench-jobs-logs")
    row.locator("button.wb-cancel").click()
    page.wait_for_function(
        "el => el.dataset.state === 'cancelled'", arg=row.element_handle(), timeout=60_000
    )
    assert row.locator(".wb-badge").inner_text().strip() == "cancelled"
    assert row.locator("button.wb-cancel").is_hidden()
    assert _api(lab_server, f"jobs/{job['id']}")["state"] == "cancelled"


def test_train_shows_the_servers_refusal_inline(page):
    """The form sends what the user chose; the server's own check refuses it (a segmentation
    model for images with one label each) and the form shows the server's words."""
    panel = _open_sidebar(page)
    form = panel.locator('.wb-section[data-section="jobs"] form.wb-train-form')
    model = form.locator('select[name="model"]')
    model.locator('option[value="unet"]').wait_for(state="attached", timeout=30_000)
    model.select_option("unet")
    with page.expect_response(re.compile(r"/workbench/api/train(\?|$)")) as answer:
        form.locator("button.wb-train").click()
    assert answer.value.status == 400
    error = form.locator(".wb-error")
    error.wait_for(state="visible", timeout=30_000)
    assert error.inner_text().startswith("Train failed: ")
    assert "'unet' does segmentation" in error.inner_text()
    assert form.locator("button.wb-train").is_enabled()

"""The Experiments panel over a real MLflow store of 10,000 runs, in Chromium."""

from __future__ import annotations

import pytest

from tests.browser.bulk_runs import bulk_runs
from tests.browser.conftest import LabServer
from tests.browser.panels import open_panel, shot

pytestmark = [pytest.mark.browser, pytest.mark.slow]

HISTORIES = {
    "seed-run-a": [(0.60, 1.20), (0.80, 0.70), (0.90, 0.30)],
    "seed-run-b": [(0.50, 1.50), (0.70, 0.90)],
}


@pytest.fixture(scope="module")
def store(lab_server: LabServer) -> str:
    """10,000 bulk runs in experiment ``bulk`` and two runs with histories in ``workbench``."""
    import os

    from workbench.config import Settings
    from workbench.training.data import synthetic
    from workbench.training.observer import MlflowObserver

    uri = Settings(home=lab_server.home).mlflow_tracking_uri
    bulk_runs(uri, "bulk", 10_000)
    saved = {k: os.environ.get(k) for k in ("WORKBENCH_HOME", "MLFLOW_TRACKING_URI")}
    os.environ["WORKBENCH_HOME"] = str(lab_server.home)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    try:
        data = synthetic(40, (1, 4, 4), 2)
        data.name = "seed-data@v2"
        train, test = data.split(0.25)
        for i, (name, history) in enumerate(HISTORIES.items()):
            with MlflowObserver("workbench", name, system_metrics_interval=0) as run:
                run.log_params({"model": "mlp", "lr": str(0.05 * (i + 1))})
                if name == "seed-run-a":
                    run.log_dataset("manifest", train, test)
                for step, (acc, loss) in enumerate(history):
                    run.log_metrics({"test_accuracy": acc, "train_loss": loss}, step=step)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return uri


def _choose(panel, name: str):  # type: ignore[no-untyped-def]
    select = panel.locator("select.wb-experiment-select")
    select.locator("option", has_text=name).wait_for(state="attached", timeout=30_000)
    select.select_option(label=name)


def test_ten_thousand_runs_first_page_fast_and_virtualized(store, page):
    panel = open_panel(page, "experiments")
    select = panel.locator("select.wb-experiment-select")
    select.locator("option", has_text="bulk").wait_for(state="attached", timeout=30_000)
    # Time from choosing the experiment to its first rows on screen, in the page itself.
    page.evaluate(
        """() => { window.__wbT0 = performance.now(); window.__wbT1 = null;
        const obs = new MutationObserver(() => {
          if (document.querySelector('#workbench-experiments tr.wb-run') && !window.__wbT1) {
            window.__wbT1 = performance.now(); obs.disconnect(); } });
        obs.observe(document.body, {childList: true, subtree: true}); }"""
    )
    select.select_option(label="bulk")
    page.wait_for_function("() => window.__wbT1 !== null", timeout=30_000)
    first_page_ms = page.evaluate("() => window.__wbT1 - window.__wbT0")
    assert first_page_ms < 1000, f"first page after {first_page_ms:.0f} ms"

    rows = panel.locator("tr.wb-run")
    assert rows.first.locator("td").nth(1).inner_text() == "bulk-09999"  # newest first
    assert rows.count() < 200
    scroller = panel.locator(".wb-runs-scroll")
    for _ in range(8):  # scroll down: pages load, the DOM keeps only what shows
        scroller.evaluate("el => { el.scrollTop = el.scrollHeight; }")
        page.wait_for_timeout(400)
    page.wait_for_function(
        "() => parseInt(document.querySelector('#workbench-experiments .wb-count')"
        ".textContent) >= 600",
        timeout=30_000,
    )
    assert rows.count() < 200, rows.count()
    shot(page, "experiments-10k")

    # Sort by a metric: the server orders all 10,000 runs.
    panel.locator('th[data-field="metrics.test_accuracy"]').click()
    page.wait_for_function(
        "() => document.querySelector('#workbench-experiments "
        "th[data-field=\"metrics.test_accuracy\"]').getAttribute('aria-sort') === 'descending'"
    )
    rows.first.wait_for()
    page.wait_for_timeout(300)
    accs = [float(t) for t in panel.locator("tr.wb-run td.wb-num").all_inner_texts()[:20:2]]
    assert accs == sorted(accs, reverse=True) and accs[0] > 0.98, accs

    # An MLflow filter string, run by the server.
    query = "params.model = 'mlp' and metrics.test_accuracy > 0.95"
    panel.locator("input.wb-filter-input").fill(query)
    panel.locator("input.wb-filter-input").press("Enter")
    page.wait_for_timeout(500)
    rows.first.wait_for()
    accs = [float(t) for t in panel.locator("tr.wb-run td.wb-num").all_inner_texts()[::2]]
    assert accs and min(accs) > 0.95
    models = panel.locator("tr.wb-run td:nth-child(7)").all_inner_texts()
    assert set(models) == {"mlp"}, models

    # A bad filter: the server's message, not an empty table.
    panel.locator("input.wb-filter-input").fill("metrics.test_accuracy >> 1")
    panel.locator("input.wb-filter-input").press("Enter")
    error = panel.locator(".wb-error")
    error.wait_for(timeout=15_000)
    assert "filter" in error.inner_text().lower() or "invalid" in error.inner_text().lower()


def test_compare_two_runs_overlays_charts_and_diffs_params(store, page):
    panel = open_panel(page, "experiments")
    _choose(panel, "workbench")
    rows = panel.locator("tr.wb-run")
    rows.filter(has_text="seed-run-a").wait_for(timeout=30_000)
    for name in HISTORIES:
        rows.filter(has_text=name).locator('input[type="checkbox"]').check()
    panel.locator("button.wb-compare-button").click()
    charts = panel.locator(".wb-compare figure.wb-chart")
    charts.first.locator("canvas").wait_for(timeout=30_000)
    metrics = sorted(charts.evaluate_all("fs => fs.map(f => f.dataset.metric)"))
    assert metrics == ["test_accuracy", "train_loss"]
    legend = charts.first.locator(".u-legend .u-series").all_inner_texts()
    assert any("seed-run-a" in t for t in legend) and any("seed-run-b" in t for t in legend)
    differing = panel.locator(".wb-compare-table tr.wb-differs th").all_inner_texts()
    assert "lr" in differing and "model" not in differing
    shot(page, "experiments-compare")

    # Columns the user picks: a param not shown by default.
    panel.locator("button", has_text="Columns").click()
    panel.locator(".wb-column-picker label", has_text="param lr").locator("input").check()
    panel.locator('th[data-field="params.lr"]').wait_for()
    cells = panel.locator("tr.wb-run td:last-child").all_inner_texts()
    assert sorted(cells) == ["0.05", "0.1"]

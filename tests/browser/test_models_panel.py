"""The Models panel: the zoo's hyper-parameter forms, a selection study run live, the registry."""

from __future__ import annotations

import json

import pytest

from tests.browser.conftest import LabServer
from tests.browser.panels import api, open_panel, shot

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.mpi]


def test_zoo_form_opens_the_train_form_with_that_model(page):
    panel = open_panel(page, "models")
    panel.locator('.wb-model[data-model="small_cnn"]').wait_for(timeout=30_000)
    groups = panel.locator(".wb-model-group h4").all_inner_texts()
    assert groups == ["Keras", "PyTorch"]
    card = panel.locator('.wb-model[data-model="small_cnn"]')
    card.locator("button.wb-link").click()
    card.locator(".wb-hparams form").wait_for()
    card.locator("button", has_text="Train with these").click()
    form = page.locator("#workbench-jobs .wb-train-form form")
    form.locator("#root_spec_model_name").wait_for(timeout=30_000)
    assert form.locator("#root_spec_model_name option:checked").inner_text() == "small_cnn (torch)"


def test_a_study_runs_live_and_its_best_is_registered(page, lab_server: LabServer):
    panel = open_panel(page, "models")
    form = panel.locator(".wb-selection form")
    form.locator("#root_spec_name").wait_for(timeout=30_000)
    form.locator("#root_spec_name").fill("ui-study")
    form.locator('textarea[name="models"]').fill(
        json.dumps({"mlp": {"hidden": {"categorical": [[16], [64]]}}})
    )
    form.locator('textarea[name="search"]').fill("{}")
    form.locator('textarea[name="base"]').fill(
        json.dumps({"data": {"source": "digits"}, "train": {"epochs": 1, "batch_size": 64}})
    )
    form.locator("#root_spec_trials").fill("2")
    form.locator("#root_spec_pruner").select_option(label="none")
    form.locator("button.wb-start-study").click()

    study = panel.locator('.wb-study[data-study="ui-study"]')
    study.wait_for(timeout=60_000)
    panel.locator(".wb-selection .wb-progress").wait_for(timeout=30_000)  # live progress
    page.wait_for_function(
        "() => document.querySelectorAll('.wb-study tr[data-trial] .wb-state-complete').length"
        " === 2",
        timeout=300_000,
    )
    study.locator('figure[data-chart="parallel"] canvas').wait_for(timeout=30_000)
    study.locator("figure.wb-chart canvas").first.wait_for()
    detail = api(lab_server, "studies/ui-study")
    assert [t["state"] for t in detail["trials"]] == ["complete", "complete"]
    study.scroll_into_view_if_needed()
    shot(page, "models-study")

    study.locator("input").fill("ui-best")
    study.locator("button.wb-register-best").click()
    study.locator(".wb-outcome", has_text="Registered ui-best v1").wait_for(timeout=30_000)
    panel.locator('.wb-registered[data-name="ui-best"]').wait_for(timeout=30_000)
    registry = {m["name"]: m for m in api(lab_server, "registry")["models"]}
    best = detail["trials"][detail["best_trial"]]
    assert registry["ui-best"]["versions"][0]["run_id"] == best["run_id"]
    panel.locator(".wb-registry").scroll_into_view_if_needed()
    shot(page, "models-registry")

"""Reading studies and registering the best trial's model (real Optuna, real MLflow)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.selection.small_study import SMALL, run_small_study, score
from workbench.config import get_settings
from workbench.errors import Conflict, InvalidInput, NotFound
from workbench.selection.studies import list_studies, register_best, study_detail
from workbench.tracking.client import tracking_client
from workbench.tracking.registry import registered_models


def test_no_study_yet_reads_empty_and_creates_nothing(wb_home: Path):
    assert list_studies() == []
    with pytest.raises(NotFound, match="study quick-select does not exist"):
        study_detail("quick-select")
    assert not (wb_home / "selection.db").exists()


def test_a_study_reads_back_with_its_trials_runs_and_the_values_tried(wb_home: Path):
    result = run_small_study()
    (study,) = list_studies()
    assert study["name"] == "quick-select" and study["direction"] == "maximize"
    assert (study["metric"], study["experiment"]) == ("test_accuracy", "quick-selection")
    assert study["trials"] == 3 and study["states"] == {"complete": 3}
    assert study["best_trial"] == result.best_trial
    assert study["best_value"] == pytest.approx(result.best_value)
    detail = study_detail("quick-select")
    assert detail["spec"]["register_model"] == "quick-best"
    client = tracking_client()
    for trial in detail["trials"]:
        assert trial["state"] == "complete"
        assert trial["params"]["model"] == "mlp"
        assert trial["params"]["mlp.hidden"] in ([32], [64, 32])  # the value, not its index
        raw = {"model": {"params": {"hidden": trial["params"]["mlp.hidden"]}},
               "train": {"lr": trial["params"]["lr"]}}  # fmt: skip
        assert [p["value"] for p in trial["intermediate_values"]] == pytest.approx(
            [score(raw, 0), score(raw, 1)]
        )
        assert trial["value"] == pytest.approx(score(raw, 1))
        run = client.get_run(trial["run_id"])
        assert run.info.run_name == trial["run_name"] == f"quick-select-trial-{trial['number']}"
        assert trial["end_time"] >= trial["start_time"] > 0


def test_the_best_trials_model_is_registered_under_the_specs_name_or_another(wb_home: Path):
    result = run_small_study()
    best_run = next(t["run_id"] for t in study_detail("quick-select")["trials"]
                    if t["number"] == result.best_trial)  # fmt: skip
    first = register_best("quick-select")
    assert first["trial"] == result.best_trial and first["run_id"] == best_run
    assert first["model_version"]["name"] == "quick-best"
    assert first["model_version"]["version"] == 1
    register_best("quick-select", "other-name")
    models = {m["name"]: m for m in registered_models(tracking_client())}
    assert [v["run_id"] for v in models["quick-best"]["versions"]] == [best_run]
    assert [v["run_id"] for v in models["other-name"]["versions"]] == [best_run]


def test_registering_needs_a_name_and_a_completed_trial(wb_home: Path):
    run_small_study(name="unnamed", register_model=None, trials=1)
    with pytest.raises(InvalidInput, match="name: study unnamed names no register_model"):
        register_best("unnamed")

    def failing(raw, report):
        raise RuntimeError("no ranks today")

    from workbench.selection.spec import SelectionSpec
    from workbench.selection.study import run_selection, study_storage

    spec = SelectionSpec.model_validate({**SMALL, "name": "broken", "trials": 1})
    with pytest.raises(ValueError):  # optuna: no trial completed, so no best value
        run_selection(spec, failing, study_storage(get_settings().home))
    with pytest.raises(Conflict, match="study broken has no completed trial yet"):
        register_best("broken")
    assert {s["name"]: s["states"] for s in list_studies()}["broken"] == {"fail": 1}
    with pytest.raises(NotFound, match="study nope does not exist"):
        register_best("nope", "x")

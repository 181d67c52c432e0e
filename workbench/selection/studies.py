"""Reading the studies of this workbench home, and registering a study's best model.

What the UI and the CLI show of model selection: each study with its best value and trial
counts, each trial with its state, value, parameters (the values tried: Optuna stores a
categorical choice as its index, the study keeps the value beside it) and per-epoch
metric (``intermediate_values``, the optimization history), and the MLflow run it trained.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import optuna
from mlflow.tracking import MlflowClient

from workbench.config import Settings, get_settings
from workbench.errors import Conflict, InvalidInput, NotFound
from workbench.selection.study import study_db, study_storage, trial_run_name
from workbench.tracking.client import tracking_client
from workbench.tracking.registry import register_run_model

MAX_TRIAL_RUNS = 10_000


def list_studies(settings: Settings | None = None) -> list[dict[str, Any]]:
    """Every study, newest first: direction, metric, best value and trial, trial counts."""
    settings = settings or get_settings()
    if not study_db(settings.home).exists():
        return []  # no study was ever run here (and a read creates no store)
    storage = study_storage(settings.home)
    found = []
    for summary in optuna.get_all_study_summaries(storage, include_best_trial=True):
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        counts = Counter(t.state.name.lower() for t in study.get_trials(deepcopy=False))
        best = summary.best_trial
        found.append(
            {
                "name": summary.study_name,
                "direction": summary.direction.name.lower(),
                "metric": summary.user_attrs.get("metric"),
                "experiment": summary.user_attrs.get("experiment"),
                "start_time": _ms(summary.datetime_start),
                "trials": summary.n_trials,
                "states": dict(sorted(counts.items())),
                "best_trial": best.number if best else None,
                "best_value": _finite(best.value) if best else None,
                "best_params": _params(best) if best else None,
            }
        )
    return sorted(found, key=lambda s: -(s["start_time"] or 0))


def study_detail(name: str, settings: Settings | None = None) -> dict[str, Any]:
    """One study and all its trials, each with the id of the MLflow run it trained."""
    settings = settings or get_settings()
    study = _load(name, settings)
    experiment = study.user_attrs.get("experiment")
    runs = trial_runs(tracking_client(settings), experiment, name) if experiment else {}
    trials = [_trial(t, name, runs) for t in study.get_trials(deepcopy=False)]
    best = _best(study)
    return {
        "name": name,
        "direction": study.direction.name.lower(),
        "metric": study.user_attrs.get("metric"),
        "experiment": experiment,
        "spec": study.user_attrs.get("spec"),
        "best_trial": best.number if best else None,
        "best_value": _finite(best.value) if best else None,
        "trials": trials,
    }


def register_best(
    name: str, model_name: str | None = None, settings: Settings | None = None
) -> dict[str, Any]:
    """Register the model of the study's best trial as a new version of ``model_name``
    (default: the study spec's ``register_model``)."""
    settings = settings or get_settings()
    study = _load(name, settings)
    model_name = model_name or (study.user_attrs.get("spec") or {}).get("register_model")
    if not model_name:
        raise InvalidInput(
            f"name: study {name} names no register_model: give the registered model's name"
        )
    best = _best(study)
    if best is None:
        raise Conflict(f"study {name} has no completed trial yet: nothing to register")
    experiment = study.user_attrs.get("experiment")
    if not experiment:
        raise NotFound(f"study {name} does not say which MLflow experiment its runs are in")
    run_id = trial_runs(tracking_client(settings), experiment, name).get(
        best.user_attrs.get("run_name") or trial_run_name(name, best.number)
    )
    if run_id is None:
        raise NotFound(f"the MLflow run of trial {best.number} of study {name} does not exist")
    version = register_run_model(run_id, model_name, settings)
    return {"study": name, "trial": best.number, "value": _finite(best.value),
            "run_id": run_id, "model_version": version}  # fmt: skip


def trial_runs(client: MlflowClient, experiment: str, study: str) -> dict[str, str]:
    """Run name -> run id of the study's trial runs (the newest run of each name)."""
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return {}
    prefix = trial_run_name(study, 0)[:-1]  # "<study>-trial-"
    quoted = prefix.replace("'", "\\'")
    runs = client.search_runs(
        [found.experiment_id],
        filter_string=f"attributes.run_name LIKE '{quoted}%'",
        max_results=MAX_TRIAL_RUNS,
        order_by=["attributes.start_time ASC"],
    )  # LIKE reads "_" in a name as any character: only exact prefixes are kept
    return {r.info.run_name: r.info.run_id for r in runs if r.info.run_name.startswith(prefix)}


def _load(name: str, settings: Settings) -> optuna.Study:
    if not study_db(settings.home).exists():
        raise NotFound(f"study {name} does not exist (no study has been run yet)")
    try:
        return optuna.load_study(study_name=name, storage=study_storage(settings.home))
    except KeyError:
        raise NotFound(f"study {name} does not exist") from None


def _best(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    try:
        return study.best_trial
    except ValueError:  # no completed trial yet
        return None


def _trial(t: optuna.trial.FrozenTrial, study: str, runs: dict[str, str]) -> dict[str, Any]:
    run_name = t.user_attrs.get("run_name") or trial_run_name(study, t.number)
    return {
        "number": t.number,
        "state": t.state.name.lower(),
        "value": _finite(t.value),
        "params": _params(t),
        "intermediate_values": [
            {"step": step, "value": _finite(value)}
            for step, value in sorted(t.intermediate_values.items())
        ],
        "start_time": _ms(t.datetime_start),
        "end_time": _ms(t.datetime_complete),
        "run_name": run_name,
        "run_id": runs.get(run_name),
    }


def _params(t: optuna.trial.FrozenTrial) -> dict[str, Any]:
    return dict(t.user_attrs.get("params") or t.params)


def _finite(value: float | None) -> float | None:
    """JSON has no NaN or infinity: a diverged trial's value reads null."""
    return value if value is not None and math.isfinite(value) else None


def _ms(when: Any) -> int | None:
    """A trial's datetime as epoch milliseconds, as MLflow gives run times."""
    return None if when is None else int(when.timestamp() * 1000)

"""An Optuna study over models and hyper-parameters, a trial per training run.

Each trial becomes a training spec (a nested MLflow run under the study's parent run); the
*launcher* given to :func:`run_selection` runs it (:mod:`workbench.selection.jobs` hands in
one that submits jobs) and reports per-epoch metrics, which feed Optuna's pruner; a pruned
trial is stopped. The study lives in sqlite, so re-running the same selection resumes it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from workbench.errors import InvalidInput
from workbench.selection.spec import Distribution, SelectionSpec
from workbench.training.spec import parse_spec


def _suggest(trial: optuna.Trial, name: str, dist: Distribution) -> Any:
    log = bool(dist.get("log", False))
    if "int" in dist:
        return trial.suggest_int(name, dist["int"][0], dist["int"][1], log=log)
    if "float" in dist:
        return trial.suggest_float(name, dist["float"][0], dist["float"][1], log=log)
    choices = dist["categorical"]
    index = trial.suggest_categorical(name, list(range(len(choices))))  # any JSON value works
    return choices[index]


def trial_spec(
    spec: SelectionSpec, trial: optuna.Trial, parent_run_id: str | None
) -> dict[str, Any]:
    """The training spec of one trial (validated)."""
    model = trial.suggest_categorical("model", sorted(spec.models))
    params = {p: _suggest(trial, f"{model}.{p}", d) for p, d in spec.models[model].items()}
    searched = {p: _suggest(trial, p, d) for p, d in spec.search.items()}
    train = {**spec.base.get("train", {}), **searched}
    name = trial_run_name(spec.name, trial.number)
    # Optuna stores a categorical as its index: keep the values for whoever reads the study
    trial.set_user_attr(
        "params", {"model": model, **{f"{model}.{p}": v for p, v in params.items()}, **searched}
    )
    trial.set_user_attr("run_name", name)
    raw = {
        **spec.base,
        "name": name,
        "experiment": spec.experiment,
        "model": {"name": model, "params": params},
        "train": train,
        "parent_run_id": parent_run_id,
    }
    parse_spec(raw)
    return raw


def trial_run_name(study: str, number: int) -> str:
    """The MLflow run name of trial ``number`` of ``study``."""
    return f"{study}-trial-{number}"


class TrialPruned(Exception):
    """Raised by a launcher's report callback when Optuna prunes the trial."""


# A launcher runs one training spec; it calls report(epoch, metrics) as epochs finish (raising
# TrialPruned from report stops the run) and returns the final metrics.
Report = Callable[[int, dict[str, float]], None]
Launcher = Callable[[dict[str, Any], Report], dict[str, float]]


@dataclass
class SelectionResult:
    best_value: float
    best_params: dict[str, Any]
    best_trial: int
    completed: int
    pruned: int
    failed: int


def _pruner(kind: str) -> optuna.pruners.BasePruner:
    if kind == "asha":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=2)
    if kind == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, reduction_factor=2)
    return optuna.pruners.NopPruner()


def study_db(home: Path) -> Path:
    """The sqlite file holding every study of this workbench home."""
    return home / "selection.db"


def study_storage(home: Path) -> str:
    home.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{study_db(home)}"


def run_selection(
    spec: SelectionSpec,
    launch: Launcher,
    storage: str,
    parent_run_id: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SelectionResult:
    """Run (or resume) the study until it holds ``spec.trials`` finished trials."""
    study = optuna.create_study(
        study_name=spec.name,
        storage=storage,
        load_if_exists=True,
        direction=spec.direction,
        sampler=optuna.samplers.TPESampler(seed=spec.seed),
        pruner=_pruner(spec.pruner),
    )
    for key, value in (("experiment", spec.experiment), ("metric", spec.metric),
                       ("spec", spec.model_dump(mode="json"))):  # fmt: skip
        study.set_user_attr(key, value)  # what readers of the study need to find its runs
    lock = threading.Lock()

    def objective(trial: optuna.Trial) -> float:
        raw = trial_spec(spec, trial, parent_run_id)

        def report(epoch: int, metrics: dict[str, float]) -> None:
            if spec.metric in metrics:
                with lock:
                    trial.report(metrics[spec.metric], epoch)
                    prune = trial.should_prune()
                if prune:
                    raise TrialPruned(f"trial {trial.number} pruned at epoch {epoch}")

        try:
            final = launch(raw, report)
        except TrialPruned as exc:
            raise optuna.TrialPruned(str(exc)) from exc
        if spec.metric not in final:
            raise InvalidInput(f"trial {trial.number} did not report metric {spec.metric!r}")
        return float(final[spec.metric])

    # Trials share this machine's cores: never more at once than there are cores for their ranks.
    n_jobs = max(1, min(spec.parallel, (os.cpu_count() or 1) // spec.ranks))
    done = len([t for t in study.trials if t.state.is_finished()])
    remaining = max(0, spec.trials - done)
    callbacks = [] if progress is None else [lambda s, t: progress(len(s.trials), spec.trials)]
    if remaining:
        study.optimize(
            objective,
            n_trials=remaining,
            n_jobs=n_jobs,
            callbacks=callbacks,
            catch=(RuntimeError,),
        )
    states = [t.state for t in study.trials]
    return SelectionResult(
        study.best_value,
        study.best_params,
        study.best_trial.number,
        states.count(optuna.trial.TrialState.COMPLETE),
        states.count(optuna.trial.TrialState.PRUNED),
        states.count(optuna.trial.TrialState.FAIL),
    )

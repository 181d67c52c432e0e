"""`workbench runs list|show|compare` over a real embedded store."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from workbench.cli import app
from workbench.tracking.runs import RunLogger


def _run(name: str, acc: float) -> str:
    with RunLogger("vision", name) as run:
        run.log_params({"model": "small_cnn", "lr": acc / 10})
        run.log_metrics({"test_accuracy": acc, "train_loss": 1 - acc}, step=0)
    assert run.run_id
    return run.run_id


def test_list_show_compare(wb_home: Path):
    a, b = _run("a", 0.91), _run("b", 0.97)
    runner = CliRunner()
    listed = runner.invoke(
        app, ["runs", "list", "-e", "vision", "--order-by", "metrics.test_accuracy DESC"]
    )
    assert listed.exit_code == 0, listed.output
    assert listed.output.index("0.9700") < listed.output.index("0.9100")
    shown = runner.invoke(app, ["runs", "show", a, "--json"])
    assert json.loads(shown.output)["params"]["model"] == "small_cnn"
    compared = runner.invoke(app, ["runs", "compare", a, b, "--json"])
    assert json.loads(compared.output)["metrics"]["test_accuracy"] == [0.91, 0.97]


def test_errors_exit_nonzero_with_a_message(wb_home: Path):
    runner = CliRunner()
    missing = runner.invoke(app, ["runs", "list", "-e", "nope"])
    assert missing.exit_code == 1 and "no experiment named 'nope'" in missing.output
    _run("a", 0.5)
    bad = runner.invoke(app, ["runs", "list", "-e", "vision", "--filter", "metrics.x >>> 1"])
    assert bad.exit_code == 2 and "run search failed" in bad.output
    unknown = runner.invoke(app, ["runs", "show", "0" * 32])
    assert unknown.exit_code == 1 and "does not exist" in unknown.output


def test_show_names_the_dataset_version_a_run_read(wb_home: Path):
    from workbench.training.data import digits
    from workbench.training.observer import MlflowObserver

    data = digits()
    data.meta["digest"] = data.digest()
    train, test = data.split(0.25)
    with MlflowObserver("vision", "with-data", system_metrics_interval=0) as run:
        run.log_dataset("digits", train, test)
    runner = CliRunner()
    shown = runner.invoke(app, ["runs", "show", str(run.run_id), "--json"])
    (used,) = json.loads(shown.output)["datasets"]
    assert used == {
        "name": "digits",
        "digest": data.digest(),
        "context": "training",
        "profile": {"train_samples": len(train), "test_samples": len(test)},
    }
    text = runner.invoke(app, ["runs", "show", str(run.run_id)]).output
    assert f"dataset digits @ {data.digest()} (training; train_samples {len(train)}" in text

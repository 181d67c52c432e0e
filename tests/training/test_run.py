"""`python -m workbench.training.run` on real ranks: accuracy, identical weights, MLflow, resume."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import mlflow
import pytest
import yaml

from workbench.jobs.service import JobService
from workbench.tracking.client import fluent_tracking_uri

SPEC = {
    "name": "digits-cnn",
    "experiment": "digits",
    "model": {"name": "small_cnn", "params": {"width": 16}},
    "data": {"source": "digits"},
    "train": {"epochs": 4, "batch_size": 32, "lr": 0.05},
}

RANK_SNIPPET = """
import json, hashlib, sys
from pathlib import Path
import torch
torch.set_num_threads(1)
from workbench.training.run import run
from workbench.training.spec import load_spec
spec_path = Path({spec!r})
out = run(load_spec(spec_path), spec_path.parent)
digest = hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in out["model"].parameters()))
print(json.dumps({{"accuracy": out["accuracy"], "weights": digest.hexdigest()}}))
"""


def _spec(tmp_path: Path, **train: object) -> Path:
    spec = {**SPEC, "train": {**SPEC["train"], **train}}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.mark.mpi
@pytest.mark.slow
def test_two_ranks_reach_95_percent_and_agree(mpirun, wb_home: Path, tmp_path: Path):
    result = mpirun(
        RANK_SNIPPET.format(spec=str(_spec(tmp_path))),
        n=2,
        timeout=600,
        env={"WORKBENCH_HOME": str(wb_home)},
    )
    rows = [json.loads(out.strip().splitlines()[-1]) for out in result.outputs]
    assert rows[0]["accuracy"] >= 0.95, rows
    assert rows[0]["weights"] == rows[1]["weights"]  # synchronous training: identical models

    with fluent_tracking_uri(f"sqlite:///{wb_home.resolve() / 'mlflow.db'}"):
        runs = mlflow.search_runs(experiment_names=["digits"], output_format="list")
        assert len(runs) == 1  # rank 0 only
        run = runs[0]
        assert run.info.status == "FINISHED"
        assert run.data.params["model.name"] == "small_cnn" and run.data.params["world_size"] == "2"
        history = mlflow.MlflowClient().get_metric_history(run.info.run_id, "test_accuracy")
        assert [m.step for m in history] == [0, 1, 2, 3]
        assert "system/cpu_utilization_percentage" in run.data.metrics
        artifacts = {
            a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "evaluation")
        }
        assert artifacts == {
            "evaluation/evaluation.json",
            "evaluation/confusion_matrix.png",
            "evaluation/misclassified.png",
        }
        models = mlflow.search_logged_models(
            experiment_ids=[run.info.experiment_id], output_format="list"
        )
        assert len(models) == 1 and models[0].source_run_id == run.info.run_id
        model = mlflow.pytorch.load_model(f"models:/{models[0].model_id}")
        assert sum(p.numel() for p in model.parameters()) > 0


def _wait_for(predicate, timeout: float = 120.0, poll: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(poll)


@pytest.mark.mpi
@pytest.mark.slow
def test_killed_job_resumes_from_checkpoint_to_the_same_accuracy(wb_home: Path, tmp_path: Path):
    service = JobService()
    # epochs take ~0.1 s here: 20 of them leave the kill after epoch 2 seconds to land
    raw = {**SPEC, "train": {**SPEC["train"], "epochs": 20}}

    def submit(name: str) -> str:
        job = service.submit(
            {
                "name": name,
                "entry": {"kind": "training", "spec": {**raw, "name": name}},
                "ranks": 2,
                "working_dir": str(tmp_path),
            }
        )
        return job.id

    log = lambda job_id: "\n".join(str(line) for line in service.logs(job_id))  # noqa: E731
    straight = submit("straight")  # one job at a time: 2 cores, and MPI ranks busy-poll
    assert service.wait(straight, timeout=600).state == "succeeded", log(straight)
    interrupted = submit("interrupted")
    _wait_for(lambda: "epoch 2: loss" in log(interrupted), timeout=300, poll=0.05)
    os.kill(_rank_pids(service, interrupted)[-1], signal.SIGKILL)
    _wait_for(lambda: service.get(interrupted).state.terminal, timeout=60)
    assert service.get(interrupted).state == "failed"
    assert "epoch 20: loss" not in log(interrupted)  # killed mid-training
    resumed = service.retry(interrupted).id
    assert service.wait(resumed, timeout=600).state == "succeeded", log(resumed)
    resumed_log = log(resumed)
    assert "resumed from" in resumed_log
    acc = lambda text: text.split("epoch 20: loss")[1].split("test accuracy")[1].split()[0]  # noqa: E731
    assert acc(log(straight)) == acc(resumed_log)


def _rank_pids(service: JobService, job_id: str) -> list[int]:
    """The rank processes: python running this job's training spec."""
    import psutil

    spec_file = str(Path(service.get(job_id).job_dir) / "training-spec.json")
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info["cmdline"] or [""]
        launcher = "workbench.jobs.rank_wrapper" in cmd or "mpiexec" in Path(cmd[0]).name
        if spec_file in cmd and "workbench.training.run" in cmd and not launcher:
            found.append(proc.pid)
    assert len(found) == 2, found
    return found


KERAS_SNIPPET = """
import json, hashlib, os
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
from pathlib import Path
from workbench.training.run import run
from workbench.training.spec import load_spec
spec_path = Path({spec!r})
out = run(load_spec(spec_path), spec_path.parent)
digest = hashlib.sha256(b"".join(w.tobytes() for w in out["model"].get_weights()))
print(json.dumps({{"accuracy": out["accuracy"], "weights": digest.hexdigest()}}))
"""


@pytest.mark.mpi
@pytest.mark.slow
def test_keras_model_trains_on_two_ranks(mpirun, wb_home: Path, tmp_path: Path):
    spec = {
        **SPEC,
        "name": "digits-keras",
        "model": {"name": "keras_small_cnn", "params": {"width": 16}},
        "train": {"epochs": 6, "batch_size": 32, "optimizer": "adam", "lr": 0.005},
        "swap": {"tier": "disk", "min_bytes": 0, "keep_resident": 1},
    }
    path = tmp_path / "keras.yaml"
    path.write_text(yaml.safe_dump(spec))
    result = mpirun(
        KERAS_SNIPPET.format(spec=str(path)), n=2, timeout=600, env={"WORKBENCH_HOME": str(wb_home)}
    )
    rows = [json.loads(out.strip().splitlines()[-1]) for out in result.outputs]
    assert rows[0]["weights"] == rows[1]["weights"]
    assert rows[0]["accuracy"] >= 0.9, rows
    with fluent_tracking_uri(f"sqlite:///{wb_home.resolve() / 'mlflow.db'}"):
        (run,) = mlflow.search_runs(experiment_names=["digits"], output_format="list")
        history = mlflow.MlflowClient().get_metric_history(run.info.run_id, "train_loss")
        assert history[-1].value < history[0].value
        assert run.data.tags["workbench.framework"] == "keras"
        assert run.data.metrics["swap/swapped_out_bytes"] > 0  # the SwapCallback's, per epoch
        models = mlflow.search_logged_models(
            experiment_ids=[run.info.experiment_id], output_format="list"
        )
        assert len(models) == 1


@pytest.mark.mpi
@pytest.mark.slow
def test_swapping_trains_with_the_distributed_optimizer(mpirun, wb_home: Path, tmp_path: Path):
    spill = tmp_path / "spill"
    spill.mkdir()
    path = _spec(tmp_path, epochs=2)
    spec = yaml.safe_load(path.read_text())
    spec["swap"] = {"tier": "disk", "min_bytes": 0, "keep_resident": 1}
    path.write_text(yaml.safe_dump(spec))
    env = {"WORKBENCH_HOME": str(wb_home), "TMPDIR": str(spill)}
    result = mpirun(RANK_SNIPPET.format(spec=str(path)), n=2, timeout=600, env=env)
    rows = [json.loads(out.strip().splitlines()[-1]) for out in result.outputs]
    assert rows[0]["weights"] == rows[1]["weights"]
    assert rows[0]["accuracy"] >= 0.9, rows
    with fluent_tracking_uri(f"sqlite:///{wb_home.resolve() / 'mlflow.db'}"):
        (run,) = mlflow.search_runs(experiment_names=["digits"], output_format="list")
        assert run.data.metrics["swap/swapped_out_bytes"] > 0
    assert list((spill / "workbench-swap").iterdir()) == []  # no spill file left behind


def _digits_as_png_folder(root: Path) -> list[tuple[str, str]]:
    """scikit-learn digits written as 8x8 grayscale PNGs under ``root/<digit>/``."""
    from PIL import Image
    from sklearn.datasets import load_digits

    raw = load_digits()
    labeled = []
    for i, (image, target) in enumerate(zip(raw.images, raw.target, strict=True)):
        relative = f"{target}/{i:04d}.png"
        (root / str(target)).mkdir(parents=True, exist_ok=True)
        Image.fromarray((image * 255 / 16).astype("uint8"), mode="L").save(root / relative)
        labeled.append((relative, str(target)))
    return labeled


@pytest.mark.slow
def test_image_folder_and_manifest_datasets_train_and_are_named_in_the_run(
    wb_home: Path, tmp_path: Path
):
    from workbench.training.data.manifest import write_manifest
    from workbench.training.run import run
    from workbench.training.spec import TrainingSpec

    root = tmp_path / "digits-png"
    labeled = _digits_as_png_folder(root)
    exported = write_manifest(
        root / "manifest.json", "digits-labels", 3, [str(d) for d in range(10)], labeled
    )
    sources = {
        "image_folder": {"source": "image_folder", "path": "digits-png", "grayscale": True},
        "manifest": {"source": "manifest", "path": "digits-png/manifest.json", "grayscale": True},
    }
    for source, data in sources.items():
        spec = TrainingSpec.model_validate(
            {**SPEC, "name": source, "data": data, "train": {**SPEC["train"], "epochs": 5}}
        )
        out = run(spec, tmp_path)
        assert out["accuracy"] >= 0.9, (source, out["accuracy"])

    client = mlflow.MlflowClient(f"sqlite:///{wb_home.resolve() / 'mlflow.db'}")
    runs = {
        r.info.run_name: r
        for r in client.search_runs([client.get_experiment_by_name("digits").experiment_id])
    }
    assert runs.keys() == {"image_folder", "manifest"}
    for name, dataset_name in (("image_folder", "digits-png"), ("manifest", "digits-labels@v3")):
        (used,) = runs[name].inputs.dataset_inputs
        assert used.dataset.name == dataset_name and used.tags[0].value == "training"
        sizes = json.loads(used.dataset.profile)
        assert sizes["train_samples"] + sizes["test_samples"] == len(labeled)
    # the manifest run names the exported version by its content hash
    assert runs["manifest"].inputs.dataset_inputs[0].dataset.digest == exported.content_hash[:32]

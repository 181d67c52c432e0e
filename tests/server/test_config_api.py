"""``GET /workbench/api/config``: the server's root directory, for job working dirs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tornado.httpclient import HTTPClientError


@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {"workbench.server": True}}}


async def test_config_reports_absolute_root_dir(jp_fetch, jp_root_dir: Path):
    response = await jp_fetch("workbench", "api", "config")
    assert response.code == 200
    body = json.loads(response.body)
    assert Path(body["root_dir"]).is_absolute()
    assert Path(body["root_dir"]) == jp_root_dir.resolve()


async def test_config_needs_a_token(jp_fetch):
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("workbench", "api", "config", headers={"Authorization": ""})
    assert err.value.code == 403


def _backends(body: dict) -> dict[str, dict]:
    return {b["name"]: b for b in body["backends"]}


async def test_config_reports_backends_limits_and_no_mlflow_ui_for_the_embedded_store(jp_fetch):
    body = json.loads((await jp_fetch("workbench", "api", "config")).body)
    assert set(body) == {"root_dir", "backends", "limits", "mlflow_ui_url", "labeling"}
    assert body["labeling"]["batch_strategies"][-1] == "k-center"  # what `next` accepts
    backends = _backends(body)
    assert set(backends) == {"local", "slurm", "kubernetes"}
    assert backends["local"]["available"] and "mpiexec" in backends["local"]["detail"]
    assert not backends["slurm"]["available"] and "sbatch not found" in backends["slurm"]["detail"]
    assert not backends["kubernetes"]["available"]
    assert "no kube config" in backends["kubernetes"]["detail"]
    assert body["limits"] == {"max_ranks": 1024}
    assert body["mlflow_ui_url"] is None  # sqlite: there is no UI server to link to


async def test_config_sees_sbatch_on_path_and_a_kube_config(
    jp_fetch, fake_slurm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    backends = _backends(json.loads((await jp_fetch("workbench", "api", "config")).body))
    assert backends["slurm"]["available"] and backends["slurm"]["detail"].endswith("/sbatch")
    assert backends["kubernetes"] == {
        "name": "kubernetes", "available": True, "detail": f"kube config {kubeconfig}",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("uri", "ui"),
    [
        ("http://mlflow:5000", "http://mlflow:5000/"),
        (
            "https://user:secret@tracking.example.org/mlflow/",
            "https://tracking.example.org/mlflow/",
        ),
        ("file:///tmp/mlruns", None),
        ("databricks", None),
    ],
)
async def test_config_links_the_mlflow_ui_of_a_tracking_server_without_credentials(
    jp_fetch, monkeypatch: pytest.MonkeyPatch, uri: str, ui: str | None
):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    body = json.loads((await jp_fetch("workbench", "api", "config")).body)
    assert body["mlflow_ui_url"] == ui

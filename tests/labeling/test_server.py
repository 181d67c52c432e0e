"""The managed Label Studio: real start, reuse, secrets, errors, an external server."""

from __future__ import annotations

import json
import os
import socket
import stat
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tests.labeling.fixtures import LabelStudioSession, free_port
from workbench.cli import app
from workbench.config import Settings
from workbench.errors import Conflict, InvalidInput, NotFound, ServiceUnavailable
from workbench.labeling.client import LabelStudioClient
from workbench.labeling.server import PLACEHOLDER_ORIGIN, LabelStudioServer
from workbench.labeling.service import LabelingService

pytestmark = pytest.mark.slow


def test_started_server_is_loopback_healthy_and_keeps_secrets_private(
    label_studio: LabelStudioSession,
):
    server = LabelStudioServer(label_studio.settings())
    status = server.status()
    assert status.running and status.managed and status.pid
    assert status.url.startswith("http://127.0.0.1:")
    for name in ("token", "admin-password", "secret-key", "server.json", "server.log"):
        mode = stat.S_IMODE((server.data_dir / name).stat().st_mode)
        assert mode == 0o600, (name, oct(mode))
    token = server.token()
    assert token not in server.log_file.read_text()
    assert token not in json.dumps(status.to_dict())
    # the token authenticates; without it the API refuses
    api = f"{status.url}/api/projects"
    assert httpx.get(api, headers={"Authorization": f"Token {token}"}).status_code == 200
    assert httpx.get(api).status_code == 401
    # bound to loopback only: the port is not open on another address of this machine
    others = {a[4][0] for a in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)}
    for address in others - {"127.0.0.1"}:
        with socket.socket() as sock, pytest.raises(OSError):
            sock.settimeout(1)
            sock.connect((address, server.settings.labelstudio_port))


def test_second_start_reuses_the_running_server(label_studio: LabelStudioSession):
    server = LabelStudioServer(label_studio.settings())
    before = server.status()
    started = time.monotonic()
    again = server.start(progress=False)
    assert again.pid == before.pid and again.running
    assert time.monotonic() - started < 5


def test_a_server_running_for_another_url_path_is_not_silently_reused(
    label_studio: LabelStudioSession,
):
    settings = label_studio.settings()
    assert LabelStudioServer(settings).status().public_path == settings.labelstudio_public_path
    elsewhere = settings.model_copy(update={"labelstudio_public_path": "/workbench/labelstudio"})
    with pytest.raises(Conflict, match=r"serves it under /workbench/labelstudio: stop it"):
        LabelStudioServer(elsewhere).start(progress=False)


def test_cli_status_json_names_the_token_file_not_the_token(
    labeling: LabelingService, label_studio: LabelStudioSession
):
    result = CliRunner().invoke(app, ["label", "status", "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["running"] is True
    assert shown["token_file"] == str(labeling.server.token_file)
    assert labeling.server.token() not in result.output


def test_taken_port_is_a_clear_error(tmp_path: Path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        server = LabelStudioServer(Settings(home=tmp_path / "h", labelstudio_port=port))
        with pytest.raises(Conflict, match=f"port {port} .* taken .*WORKBENCH_LABELSTUDIO_PORT"):
            server.start(progress=False)
    assert not (tmp_path / "h" / "labelstudio" / "server.json").exists()


def test_label_studio_down_is_service_unavailable(tmp_path: Path):
    client = LabelStudioClient(f"http://127.0.0.1:{free_port()}", "whatever-token")
    with pytest.raises(ServiceUnavailable, match=r"not reachable .*workbench label start"):
        client.projects()
    service = LabelingService(Settings(home=tmp_path / "h", labelstudio_port=free_port()))
    with pytest.raises(ServiceUnavailable, match="not running"):
        service.list_projects()
    assert service.status().running is False and service.status().detail == "stopped"


def test_external_server_is_used_as_is(label_studio: LabelStudioSession, tmp_path: Path):
    managed = LabelStudioServer(label_studio.settings())
    token_file = tmp_path / "ext-token"
    token_file.write_text(managed.token())
    os.chmod(token_file, 0o644)
    settings = Settings(home=tmp_path / "h", labelstudio_url=managed.url,
                        labelstudio_token_file=token_file)  # fmt: skip
    external = LabelStudioServer(settings)
    with pytest.raises(InvalidInput, match="readable by others: chmod 600"):
        external.token()
    os.chmod(token_file, 0o600)
    status = external.status()
    assert status.running and not status.managed and status.url == managed.url
    assert external.start(progress=False).running
    with pytest.raises(InvalidInput, match="external"):
        external.stop()
    assert managed.status().running  # untouched
    service = LabelingService(settings)
    assert isinstance(service.client().projects(), list)
    with pytest.raises(NotFound):
        service.client().project(999_999)


def test_a_server_that_dies_while_starting_shows_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    fake = tmp_path / "label-studio"
    fake.write_text(
        "#!/bin/sh\necho 'django.db.utils.OperationalError: disk I/O error' >&2\nexit 3\n"
    )
    fake.chmod(0o755)
    monkeypatch.setattr("workbench.labeling.server.label_studio_executable", lambda: str(fake))
    server = LabelStudioServer(Settings(home=tmp_path / "h", labelstudio_port=free_port()))
    with pytest.raises(ServiceUnavailable, match=r"exited with 3 while starting(.|\n)*disk I/O"):
        server.start(timeout=30, progress=False)
    assert not server.pid_file.exists() and server.status().detail == "stopped"


def test_the_server_runs_air_gapped_with_local_files_under_the_root(tmp_path: Path):
    settings = Settings(home=tmp_path / "h", labelstudio_files_root=tmp_path)
    env = LabelStudioServer(settings)._environment()
    assert env["COLLECT_ANALYTICS"] == "false" and env["LATEST_VERSION_CHECK"] == "false"
    assert env["SENTRY_DSN"] == env["FRONTEND_SENTRY_DSN"] == ""
    assert env["LOCAL_FILES_SERVING_ENABLED"] == "true"
    assert env["LOCAL_FILES_DOCUMENT_ROOT"] == str(tmp_path.resolve())
    assert env["LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK"] == "true"
    # its links are built for the prefix Jupyter serves it under (the proxy swaps the origin)
    assert env["LABEL_STUDIO_HOST"] == PLACEHOLDER_ORIGIN + settings.labelstudio_public_path
    again = LabelStudioServer(settings)._environment()  # the first start's secrets stay
    assert again["LABEL_STUDIO_USER_TOKEN"] == env["LABEL_STUDIO_USER_TOKEN"]
    assert again["SECRET_KEY"] == env["SECRET_KEY"]

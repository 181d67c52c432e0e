"""A real JupyterLab server (with the workbench extensions) and a real Chromium."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = REPO_ROOT / "test-artifacts"


@pytest.fixture(autouse=True)
def jp_asyncio_loop() -> None:
    """Browser tests run Jupyter as a subprocess, not in-process: pytest-jupyter's autouse
    loop fixture would otherwise close the loop Playwright's sync API is running on."""


@pytest.fixture(autouse=True)
def jp_server_cleanup() -> None:
    """No in-process ServerApp to clean up here (see ``jp_asyncio_loop``)."""


@dataclass
class LabServer:
    url: str  # http://127.0.0.1:<port> + the base_url (no trailing slash)
    token: str
    log: Path
    home: Path  # the server's WORKBENCH_HOME (jobs store, MLflow tracking)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_until_up(url: str, token: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"jupyter lab exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            status_url = f"{url}/api/status"
            req = urllib.request.Request(status_url, headers={"Authorization": f"token {token}"})  # noqa: S310
            with urllib.request.urlopen(req, timeout=2) as resp:  # noqa: S310
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"jupyter lab did not answer in 90 s:\n{log.read_text()[-3000:]}")


@contextmanager
def running_lab(
    root: Path, env: dict[str, str] | None = None, base_url: str = "/"
) -> Iterator[LabServer]:
    """`workbench lab` as a subprocess under ``root``; ``env`` adds to (and may replace) the
    workbench settings it gets (default: a WORKBENCH_HOME of its own under ``root``)."""
    port, token = _free_port(), secrets.token_hex(16)
    log = root / "jupyter.log"
    full_env = {
        **os.environ,
        "WORKBENCH_HOME": str(root / "wbhome"),
        "JUPYTER_CONFIG_DIR": str(root / "config"),
        "JUPYTER_RUNTIME_DIR": str(root / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(root / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(root / "workspaces"),
        **(env or {}),
    }
    news = root / "settings" / "@jupyterlab" / "apputils-extension"
    news.mkdir(parents=True)  # no "get notified about Jupyter news?" toast over the panels
    (news / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    workbench = str(Path(sys.executable).parent / "workbench")
    argv = [
        workbench, "lab", "--no-browser", f"--port={port}",
        "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}", f"--ServerApp.base_url={base_url}",
    ]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=full_env)
    url = f"http://127.0.0.1:{port}{base_url.rstrip('/')}"
    try:
        _wait_until_up(url, token, proc, log)
        yield LabServer(url, token, log, Path(full_env["WORKBENCH_HOME"]))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    with running_lab(tmp_path_factory.mktemp("lab")) as lab:
        yield lab


@pytest.fixture(scope="module")  # module: Playwright's loop must stop before other tests run
def browser() -> Iterator[object]:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (`make test` installs it with apt-get)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, lab_server: LabServer):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{lab_server.url}/lab?token={lab_server.token}")
    page.wait_for_selector("#jp-main-dock-panel", timeout=60_000)
    yield page
    context.close()
    ARTIFACTS.mkdir(exist_ok=True)
    assert not errors, f"uncaught page errors: {errors}"

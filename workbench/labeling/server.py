"""The managed Label Studio: one loopback server per workbench home.

``start()`` launches ``label-studio start`` bound to 127.0.0.1 with its data under the
home, creates an admin user and API token on the first start (kept in 0600 files,
never printed or logged), waits for ``/health/`` with progress and records a pid file;
a second ``start()`` reuses the running server. Telemetry and version checks are off.

Its UI is served by the Jupyter server under ``settings.labelstudio_public_path`` (see
``workbench/server/labelstudio_proxy.py``). Label Studio builds its links from
``LABEL_STUDIO_HOST``, which must be an absolute URL; it is started with
:data:`PLACEHOLDER_ORIGIN` + the public path, and the proxy turns that origin into the
browser's own (so the UI works on whatever host name the browser used). The API the
workbench itself calls stays on 127.0.0.1:port, unprefixed.

An external Label Studio (``WORKBENCH_LABELSTUDIO_URL`` + ``..._TOKEN_FILE``) is used
as it is: never started or stopped here.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from workbench.config import Settings, get_settings
from workbench.engine.stall import process_alive
from workbench.errors import Conflict, InvalidInput, ServiceUnavailable
from workbench.progress import bar

ADMIN_USER = "admin@workbench.local"
PLACEHOLDER_ORIGIN = "http://labelstudio.workbench.invalid"  # never resolves (RFC 2606)
START_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class ServerStatus:
    running: bool
    managed: bool
    url: str
    token_file: str
    pid: int | None = None
    version: str | None = None
    detail: str = ""
    public_path: str | None = None  # where Jupyter serves its UI (managed servers only)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def write_private(path: Path, text: str) -> None:
    """Write a secret: the file is created 0600 before any byte lands in it."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def read_token(path: Path) -> str:
    if not path.is_file():
        raise ServiceUnavailable(f"Label Studio token file {path} does not exist")
    mode = path.stat().st_mode & 0o077
    if mode:
        raise InvalidInput(f"Label Studio token file {path} is readable by others: chmod 600 it")
    token = path.read_text().strip()
    if not token:
        raise InvalidInput(f"Label Studio token file {path} is empty")
    return token


def healthy(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health/", timeout=timeout) as response:  # noqa: S310
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def port_free(port: int) -> bool:
    """Nothing listens on ``port``. Connections of a server just stopped (TIME_WAIT) do not
    count: Label Studio's server binds with SO_REUSEADDR, so this probe does too."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class LabelStudioServer:
    """Start, stop and describe the Label Studio that this workbench home uses."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        assert self.settings.labelstudio_data_dir is not None
        self.data_dir = self.settings.labelstudio_data_dir
        self.pid_file = self.data_dir / "server.json"
        self.log_file = self.data_dir / "server.log"

    @property
    def managed(self) -> bool:
        return not self.settings.labelstudio_url

    @property
    def url(self) -> str:
        if not self.managed:
            return self.settings.labelstudio_url.rstrip("/")
        return f"http://127.0.0.1:{self.settings.labelstudio_port}"

    @property
    def token_file(self) -> Path:
        if not self.managed:
            if self.settings.labelstudio_token_file is None:
                raise InvalidInput(
                    "WORKBENCH_LABELSTUDIO_URL is set: set WORKBENCH_LABELSTUDIO_TOKEN_FILE "
                    "to a 0600 file holding that server's API token"
                )
            return self.settings.labelstudio_token_file.expanduser()
        return self.data_dir / "token"

    def token(self) -> str:
        return read_token(self.token_file)

    def admin_password(self) -> str:
        """The managed admin's password (made on the first start; for the browser sign-in)."""
        if not self.managed:
            raise InvalidInput(f"the Label Studio at {self.url} is external: sign in there")
        return read_token(self.data_dir / "admin-password")

    def _record(self) -> dict[str, Any]:
        try:
            record = json.loads(self.pid_file.read_text())
        except (OSError, ValueError):
            return {}
        return record if isinstance(record, dict) else {}

    def _recorded_pid(self) -> int | None:
        try:
            return int(self._record()["pid"])
        except (KeyError, TypeError, ValueError):
            return None

    def recorded_public_path(self) -> str | None:
        """The URL path the running server was started for (None: not recorded)."""
        path = self._record().get("public_path")
        return path if isinstance(path, str) else None

    def status(self) -> ServerStatus:
        token_file = str(self.token_file)
        if not self.managed:
            up = healthy(self.url)
            return ServerStatus(up, False, self.url, token_file, detail="external server")
        pid = self._recorded_pid()
        if pid is not None and not process_alive(pid):
            self.pid_file.unlink(missing_ok=True)
            pid = None
        up = pid is not None and healthy(self.url)
        detail = "running" if up else ("starting or unhealthy" if pid else "stopped")
        public = self.recorded_public_path() if pid else self.settings.labelstudio_public_path
        return ServerStatus(
            up, True, self.url, token_file, pid, label_studio_version(), detail, public
        )

    def check_serves_ui(self) -> None:
        """Raise what keeps Jupyter from showing this server's UI: an external server, one
        that is not running, or one started for another URL path. Cheap: no request."""
        if not self.managed:
            raise ServiceUnavailable(
                f"WORKBENCH_LABELSTUDIO_URL points at an external Label Studio: open "
                f"{self.url} itself (JupyterLab shows the managed one only)"
            )
        pid = self._recorded_pid()
        if pid is None or not process_alive(pid):
            raise ServiceUnavailable(
                "Label Studio is not running: start it with `workbench label start` "
                "or the Start button of the Labeling panel"
            )
        self.check_public_path()

    def check_public_path(self) -> None:
        """Conflict when the running server builds its links for another URL path than
        ``settings.labelstudio_public_path`` (started by another Jupyter, or before the
        workbench served its UI)."""
        wanted, running = self.settings.labelstudio_public_path, self.recorded_public_path()
        if self._recorded_pid() is not None and running != wanted:
            raise Conflict(
                f"Label Studio runs for the URL path {running or '(none)'}, but this Jupyter "
                f"serves it under {wanted}: stop it (`workbench label stop`, or the panel's "
                "Stop) and start it again from here (`workbench label start` with "
                f"WORKBENCH_LABELSTUDIO_PUBLIC_PATH={wanted}, or the panel's Start button)"
            )

    def start(self, timeout: float = START_TIMEOUT_S, progress: bool = True) -> ServerStatus:
        """Start the managed server, or return the running one (external: check it is up)."""
        current = self.status()
        if current.pid is not None and self.managed:
            self.check_public_path()
        if current.running:
            return current
        if not self.managed:
            raise ServiceUnavailable(f"the external Label Studio at {self.url} does not answer")
        if current.pid is not None:  # ours, alive, not healthy yet: wait for it
            return self._wait_healthy(None, current.pid, timeout, progress)
        port = self.settings.labelstudio_port
        if not port_free(port):
            raise Conflict(
                f"port {port} on 127.0.0.1 is taken by another program; "
                "set WORKBENCH_LABELSTUDIO_PORT to a free port"
            )
        exe = label_studio_executable()
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        env = self._environment()
        argv = [exe, "start", "--no-browser", "--internal-host", "127.0.0.1"]
        argv += ["--port", str(port), "--data-dir", str(self.data_dir)]
        fd = os.open(self.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "ab") as log:
            proc = subprocess.Popen(
                argv, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.data_dir, start_new_session=True,
            )  # fmt: skip
        record = {
            "pid": proc.pid, "port": port, "started_at": time.time(),
            "public_path": self.settings.labelstudio_public_path,
        }  # fmt: skip
        write_private(self.pid_file, json.dumps(record))
        return self._wait_healthy(proc, proc.pid, timeout, progress)

    def _environment(self) -> dict[str, str]:
        """The server's environment: first-start credentials, air-gapped, local files on."""
        token_file, password_file = self.data_dir / "token", self.data_dir / "admin-password"
        key_file = self.data_dir / "secret-key"
        for path, make in ((token_file, 20), (password_file, 18), (key_file, 40)):
            if not path.exists():
                write_private(path, secrets.token_hex(make))
        root = self.settings.labelstudio_files_root
        env = {k: v for k, v in os.environ.items() if not k.startswith("LABEL_STUDIO_")}
        env.update(
            LABEL_STUDIO_USERNAME=ADMIN_USER,
            LABEL_STUDIO_PASSWORD=password_file.read_text().strip(),
            LABEL_STUDIO_USER_TOKEN=read_token(token_file),
            LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN="true",  # noqa: S106 - a switch, not a secret
            LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK="true",
            LABEL_STUDIO_BASE_DATA_DIR=str(self.data_dir),
            # links and the UI's API base: the proxy swaps this origin for the browser's
            LABEL_STUDIO_HOST=PLACEHOLDER_ORIGIN + self.settings.labelstudio_public_path,
            SECRET_KEY=key_file.read_text().strip(),  # sessions survive restarts
            LOCAL_FILES_SERVING_ENABLED="true",
            LOCAL_FILES_DOCUMENT_ROOT=str(root),
            LATEST_VERSION_CHECK="false",
            COLLECT_ANALYTICS="false",
            SENTRY_DSN="",
            FRONTEND_SENTRY_DSN="",
            DEBUG="false",
        )
        return env

    def _wait_healthy(
        self, proc: subprocess.Popen[bytes] | None, pid: int, timeout: float, progress: bool
    ) -> ServerStatus:
        deadline = time.monotonic() + timeout
        meter = bar(None, "starting Label Studio", show=progress, unit="s")
        started = time.monotonic()
        try:
            while time.monotonic() < deadline:
                exited = proc.poll() if proc is not None else (None if process_alive(pid) else -1)
                if exited is not None:
                    self.pid_file.unlink(missing_ok=True)
                    raise ServiceUnavailable(
                        f"Label Studio exited with {exited} while starting; "
                        f"last lines of {self.log_file}:\n{self.log_tail()}"
                    )
                if healthy(self.url, timeout=1.0):
                    return self.status()
                time.sleep(0.5)
                meter.update(int(time.monotonic() - started) - meter.done)  # seconds waited
        finally:
            meter.__exit__()
        self.stop()
        raise ServiceUnavailable(
            f"Label Studio did not answer {self.url}/health/ within {timeout:.0f}s "
            f"(stopped it); last lines of {self.log_file}:\n{self.log_tail()}"
        )

    def stop(self, timeout: float = 20.0) -> ServerStatus:
        """Stop the managed server (its whole process group); a no-op when stopped."""
        if not self.managed:
            raise InvalidInput(f"the Label Studio at {self.url} is external: stop it where it runs")
        pid = self._recorded_pid()
        if pid is not None and process_alive(pid):
            signal_group(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while process_alive(pid) and time.monotonic() < deadline:
                reap(pid)
                time.sleep(0.2)
            if process_alive(pid):
                signal_group(pid, signal.SIGKILL)
                reap(pid)
        self.pid_file.unlink(missing_ok=True)
        return self.status()

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_file.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(text[-lines:])


def signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)  # the server was started in its own session: pgid == pid
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def reap(pid: int) -> None:
    """Collect our own child's exit status so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def label_studio_executable() -> str:
    beside = Path(sys.executable).parent / "label-studio"
    exe = str(beside) if beside.exists() else shutil.which("label-studio")
    if exe is None:
        raise ServiceUnavailable(
            "label-studio is not installed: run `make lab` (it installs the pinned version)"
        )
    return exe


def label_studio_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("label-studio")
    except PackageNotFoundError:
        return None

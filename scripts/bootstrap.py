#!/usr/bin/env python3
"""Set up everything the workbench needs on a fresh machine, idempotently.

Used by `make lab` and `make test`. Steps (each skipped when already done):
  1. Debian packages the tests need (chromium) when --browser is given;
  2. a venv cached under ~/.cache/workbench/venvs/<sha256 of requirements/lock.txt>,
     linked to ./.venv (torch installed first, then the lock);
  3. the workbench package itself, editable;
  4. the JupyterLab extension: npm ci + production build when its sources changed;
  5. the extension linked into the venv (the package enables the server extension).
Only the standard library is used: this runs before any venv exists.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LOCK = REPO / "requirements" / "lock.txt"
EXTENSION = REPO / "extensions" / "workbench-lab"
LAYOUT_VERSION = "1"  # bump to force new venvs when this script's install steps change


def step(title: str) -> float:
    print(f"==> {title}", flush=True)
    return time.monotonic()


def done(started: float) -> None:
    print(f"    done in {time.monotonic() - started:.1f}s", flush=True)


def run(argv: list[str], **kwargs: object) -> None:
    print("    $ " + " ".join(argv), flush=True)
    subprocess.run(argv, check=True, **kwargs)  # type: ignore[call-overload]


def ensure_debian_packages(packages: dict[str, str]) -> None:
    """Install Debian packages whose command is missing; ``packages`` maps command -> package."""
    missing = sorted({pkg for cmd, pkg in packages.items() if shutil.which(cmd) is None})
    if not missing:
        return
    started = step(f"installing Debian packages: {', '.join(missing)}")
    prefix: list[str] = []
    if os.geteuid() != 0:
        sudo = shutil.which("sudo")
        if sudo is None:
            sys.exit(
                f"need root to install {missing}: run `apt-get install -y {' '.join(missing)}`"
            )
        prefix = [sudo]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run([*prefix, "apt-get", "update", "-q"], env=env)
    run([*prefix, "apt-get", "install", "-y", "-q", "--no-install-recommends", *missing], env=env)
    done(started)


def venv_key() -> str:
    digest = hashlib.sha256()
    digest.update(LOCK.read_bytes())
    digest.update(f"{sys.version_info[:2]}|{LAYOUT_VERSION}".encode())
    return digest.hexdigest()[:16]


def cache_root() -> Path:
    base = os.environ.get("WORKBENCH_CACHE") or os.environ.get("XDG_CACHE_HOME")
    return Path(base) / "workbench" if base else Path.home() / ".cache" / "workbench"


def pinned(prefix: str) -> str:
    for line in LOCK.read_text().splitlines():
        if line.startswith(prefix + "=="):
            return line.strip()
    sys.exit(f"{LOCK} has no pin for {prefix}")


def ensure_venv() -> Path:
    venv = cache_root() / "venvs" / venv_key()
    marker = venv / ".workbench-complete"
    if not marker.exists():
        started = step(f"creating venv {venv} (first run takes several minutes)")
        shutil.rmtree(venv, ignore_errors=True)
        venv.parent.mkdir(parents=True, exist_ok=True)
        run([sys.executable, "-m", "venv", str(venv)])
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--progress-bar", "off"]
        run([*pip, pinned("pip")])
        run([*pip, pinned("torch")])  # first: the CPU wheel, before anything pulls a CUDA one
        run([*pip, "-r", str(LOCK)])
        marker.write_text(venv_key() + "\n")
        done(started)
    link = REPO / ".venv"
    if link.is_symlink() or not link.exists():
        if not (link.is_symlink() and link.resolve() == venv.resolve()):
            link.unlink(missing_ok=True)
            link.symlink_to(venv)
    elif link.resolve() != venv.resolve():
        sys.exit(f"{link} exists and is not a link to the cached venv; remove it and rerun")
    return venv


def ensure_package(venv: Path) -> None:
    started = step("installing the workbench package (editable)")
    python = str(venv / "bin" / "python")
    run(
        [python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "-e", str(REPO)]
    )
    done(started)


def extension_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted(EXTENSION.rglob("*")):
        rel = path.relative_to(EXTENSION)
        if rel.parts[0] in {"node_modules", "lib", "labextension"} or not path.is_file():
            continue
        if rel.name == "tsconfig.tsbuildinfo":
            continue
        digest.update(str(rel).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def ensure_extension(venv: Path) -> None:
    stamp = EXTENSION / "labextension" / ".workbench-source-digest"
    digest = extension_digest()
    env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    if not (stamp.exists() and stamp.read_text().strip() == digest):
        if shutil.which("npm") is None:
            sys.exit("npm not found: install Node.js 20+ (Debian: apt-get install nodejs npm)")
        started = step("building the JupyterLab extension (npm ci + production build)")
        run(["npm", "ci", "--no-audit", "--no-fund"], cwd=EXTENSION, env=env)
        run(["npm", "run", "build:prod"], cwd=EXTENSION, env=env)
        stamp.write_text(digest + "\n")
        done(started)
    elif not (EXTENSION / "node_modules").exists():
        started = step("installing the extension's node modules (for lint)")
        run(["npm", "ci", "--no-audit", "--no-fund"], cwd=EXTENSION, env=env)
        done(started)
    target = venv / "share" / "jupyter" / "labextensions" / "workbench-lab"
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_symlink() or target.exists():
        if target.is_symlink() and target.resolve() == (EXTENSION / "labextension").resolve():
            return
        if target.is_symlink():
            target.unlink()
        else:
            shutil.rmtree(target)
    target.symlink_to(EXTENSION / "labextension")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--browser", action="store_true", help="also install chromium for tests")
    args = parser.parse_args()
    started = time.monotonic()
    needed = {"node": "nodejs", "npm": "npm"}
    if args.browser:
        needed["chromium"] = "chromium"
    ensure_debian_packages(needed)
    venv = ensure_venv()
    ensure_package(venv)
    ensure_extension(venv)
    print(f"==> ready in {time.monotonic() - started:.0f}s: venv {venv}", flush=True)


if __name__ == "__main__":
    main()

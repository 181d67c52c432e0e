"""The import graph holds to the layers of DESIGN.md: every import of ours points down.

A module may import its own package freely; any other ``workbench.X`` it imports (at the top
or inside a function, under ``TYPE_CHECKING`` or not) must sit in a strictly lower layer, so
siblings (engine and tracking, jobs and labeling, server and cli) never import each other.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "workbench"

# Lowest first. ``workbench`` itself is the root package (it only knows its version).
# ``doctor`` is the service behind ``workbench doctor`` (it checks labeling's Label Studio
# among others), so it sits under the leaves that call it.
LAYERS: list[set[str]] = [
    {"errors"},
    {"workbench", "config", "progress", "validation", "paths"},
    {"engine", "tracking"},
    {"training"},
    {"jobs", "labeling"},
    {"selection", "doctor"},
    {"server", "magics", "cli"},
]
LAYER_OF = {area: level for level, areas in enumerate(LAYERS) for area in areas}
# Named exceptions, each with its reason. IPython's `%load_ext workbench` calls
# `workbench.load_ipython_extension`, which can only hand over to the magics above it.
ALLOWED = {("workbench", "magics")}

# What ``import workbench.engine`` may not pull in (torch and tensorflow only in its adapters).
ENGINE_MUST_NOT_IMPORT = [
    "torch",
    "tensorflow",
    "keras",
    "mlflow",
    "pydantic",
    "jupyter_server",
    "label_studio_sdk",
    "ipywidgets",
    "optuna",
]


def module_name(path: Path, package: Path) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def area_of(module: str) -> str:
    """``workbench.jobs.service`` -> ``jobs``; ``workbench.doctor`` -> ``doctor``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def imported_modules(tree: ast.AST, module: str, is_package: bool) -> Iterator[tuple[int, str]]:
    """(line, module) of every import of ours in ``tree``, relative ones resolved."""
    here = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if target == "workbench":  # `from workbench import jobs` names a package
                for alias in node.names:
                    known = alias.name in LAYER_OF
                    yield node.lineno, f"workbench.{alias.name}" if known else target
            else:
                yield node.lineno, target


def layer_violations(package: Path) -> list[str]:
    """``file:line -> target (why)`` for each import that does not point strictly down."""
    problems = []
    for path in sorted(package.rglob("*.py")):
        module = module_name(path, package)
        area = area_of(module)
        if area not in LAYER_OF:
            problems.append(f"{path}: package {area!r} has no layer (add it to LAYERS)")
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        for line, target in imported_modules(tree, module, path.name == "__init__.py"):
            if target.split(".")[0] != package.name:
                continue
            to = area_of(target)
            if to == area or (area, to) in ALLOWED:
                continue
            if to not in LAYER_OF:
                problems.append(f"{path}:{line} -> {target} (package {to!r} has no layer)")
            elif LAYER_OF[to] >= LAYER_OF[area]:
                how = "sideways" if LAYER_OF[to] == LAYER_OF[area] else "upward"
                problems.append(f"{path}:{line} -> {target} ({how}: {area} may not import {to})")
    return problems


def test_every_import_points_down():
    problems = layer_violations(PACKAGE)
    assert not problems, "imports against the layers of DESIGN.md:\n" + "\n".join(problems)


def plant(root: Path, files: dict[str, str]) -> Path:
    package = root / "workbench"
    for name, code in files.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(code))
    return package


def test_the_checker_catches_upward_sideways_and_unknown_imports(tmp_path: Path):
    package = plant(
        tmp_path,
        {
            "__init__.py": "",
            "engine/__init__.py": "from workbench.errors import WorkbenchError\n",
            "engine/ring.py": """
                import numpy

                def late():
                    from workbench.jobs.service import JobService
                    return JobService
            """,
            "jobs/__init__.py": "from . import spec\nfrom workbench.training import models\n",
            "jobs/spec.py": "from ..labeling import client\n",
            "tracking/runs.py": "from workbench import training, __version__\n",
            "gadgets/x.py": "",
        },
    )
    problems = layer_violations(package)
    assert problems == [
        f"{package}/engine/ring.py:5 -> workbench.jobs.service "
        "(upward: engine may not import jobs)",
        f"{package}/gadgets/x.py: package 'gadgets' has no layer (add it to LAYERS)",
        f"{package}/jobs/spec.py:1 -> workbench.labeling (sideways: jobs may not import labeling)",
        f"{package}/tracking/runs.py:1 -> workbench.training (upward: tracking may not import "
        "training)",
    ]


def test_importing_the_engine_pulls_in_no_framework_or_service():
    code = (
        "import sys, workbench.engine; "
        f"print(' '.join(m for m in {ENGINE_MUST_NOT_IMPORT!r} if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [], f"import workbench.engine imported {proc.stdout.strip()}"

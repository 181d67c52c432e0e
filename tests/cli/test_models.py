"""``workbench models``: the zoo as the installed command prints it."""

from __future__ import annotations

import json
import subprocess

from tests.cli import WORKBENCH


def test_models_lists_the_zoo():
    proc = subprocess.run(
        [WORKBENCH, "models", "--json"], capture_output=True, text=True, check=True
    )
    names = {m["name"] for m in json.loads(proc.stdout)}
    assert {"resnet50", "unet", "keras_mobilenet_v2"} <= names

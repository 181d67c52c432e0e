#!/usr/bin/env python3
"""Write the server's JSON Schemas to ``extensions/workbench-lab/schemas/<name>.json``.

The UI generates its TypeScript types from these files, so they are committed, and a test
(tests/server/test_schemas.py) fails when they differ from what this script writes now:
after changing a spec model, run ``python scripts/dump_schemas.py`` and commit the result.
The train request's ``backend`` enum lists every known backend (the server's own answer,
``GET /workbench/api/schemas``, lists those usable where it runs).

Formatting: sorted keys, 2-space indent, a trailing newline, and arrays on one line when
they fit in 80 columns, which is how the extension's prettier writes JSON (its lint checks
these files too). ``--check`` writes nothing and exits 1 if a file would change.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
OUT_DIR = REPO / "extensions" / "workbench-lab" / "schemas"
WIDTH = 80


def rendered() -> dict[str, str]:
    """File name -> the text this script writes there."""
    sys.path.insert(0, str(REPO))
    from workbench.jobs.backends import backend_names
    from workbench.server.schemas import api_schemas

    return {
        f"{name}.json": to_json(schema) for name, schema in api_schemas(backend_names()).items()
    }


def to_json(value: Any) -> str:
    return _format(value, 0, 0) + "\n"


def _format(value: Any, indent: int, prefix: int) -> str:
    """``value`` at ``indent`` spaces, on a line that already holds ``prefix`` characters."""
    if isinstance(value, dict) and value:
        inner = " " * (indent + 2)
        items = []
        for key in sorted(value):
            head = f"{inner}{json.dumps(key)}: "
            items.append(head + _format(value[key], indent + 2, len(head)))
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    if isinstance(value, list) and value:
        flat = json.dumps(value, separators=(", ", ": "))
        nested = any(isinstance(v, dict | list) and len(v) > 0 for v in value)
        if not nested and prefix + len(flat) + 1 <= WIDTH:  # +1: the comma that may follow
            return flat
        inner = " " * (indent + 2)
        parts = [inner + _format(v, indent + 2, len(inner)) for v in value]
        return "[\n" + ",\n".join(parts) + "\n" + " " * indent + "]"
    return json.dumps(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale files")
    args = parser.parse_args(argv)
    stale = []
    files = rendered()
    for name, text in files.items():
        path = OUT_DIR / name
        if path.exists() and path.read_text() == text:
            continue
        stale.append(name)
        if not args.check:
            OUT_DIR.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    extra = sorted(p.name for p in OUT_DIR.glob("*.json") if p.name not in files)
    for name in extra:  # a schema the server no longer has
        stale.append(name)
        if not args.check:
            (OUT_DIR / name).unlink()
    verb = "stale" if args.check else "written"
    print(f"{verb}: {', '.join(stale)}" if stale else "schemas up to date")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())

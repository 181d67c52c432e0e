"""Summarise Horovod conformance runs against the documented differences.

    python scripts/conformance_summary.py build/conformance/torch-2.json [torch-3.json ...]

Each JSON is what ``../shared/conformance/horovod/run.py`` writes (one file per rank count;
the rank count is read from the name, ``torch-<N>.json``). A test that did not pass counts
as a documented difference when ``docs/horovod-conformance.md`` lists it in its table (a
line ``| `test_name` | why | what we do instead |``); everything else that did not pass is
a failure. Prints one JSON line per file: counts, the pass rate over the tests that ran,
the pass rate over the tests that apply (ran and not documented as not applicable), and
the undocumented failures with their first error line.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "horovod-conformance.md"
ROW = re.compile(r"^\|\s*`(test_\w+)`\s*\|\s*([^|]*?)\s*\|")


def documented(doc: Path = DOC) -> dict[str, str]:
    """Test name -> the kind of difference (the table's second column)."""
    found: dict[str, str] = {}
    for line in doc.read_text().splitlines():
        match = ROW.match(line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def summarise(path: Path, differences: dict[str, str]) -> dict[str, object]:
    results = json.loads(path.read_text())["results"]
    ran = {n: r for n, r in results.items() if r["result"] in ("passed", "failed", "hung")}
    passed = [n for n, r in ran.items() if r["result"] == "passed"]
    not_passed = [n for n in ran if n not in passed]
    not_applicable = [n for n in not_passed if differences.get(n, "").startswith("not applicable")]
    deliberate = [n for n in not_passed if n in differences and n not in not_applicable]
    failing = {
        n: f"{ran[n]['result']}: {ran[n]['why'][:120]}" for n in not_passed if n not in differences
    }
    applicable = len(ran) - len(not_applicable)
    ranks = re.search(r"(\d+)", path.stem)
    return {
        "file": str(path),
        "ranks": int(ranks.group(1)) if ranks else None,
        "counts": json.loads(path.read_text())["counts"],
        "passed": len(passed),
        "ran": len(ran),
        "pass_rate_of_ran": round(len(passed) / len(ran), 3) if ran else 0.0,
        "applicable": applicable,
        "pass_rate_of_applicable": round(len(passed) / applicable, 3) if applicable else 0.0,
        "documented_differences": sorted(deliberate),
        "not_applicable": sorted(not_applicable),
        "undocumented_failures": failing,
    }


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    differences = documented()
    for name in argv:
        print(json.dumps(summarise(Path(name), differences)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The conformance summary counts documented differences apart from real failures."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("summary", REPO / "scripts/conformance_summary.py")
assert spec and spec.loader
summary = importlib.util.module_from_spec(spec)
spec.loader.exec_module(summary)


def test_documented_differences_and_not_applicable_tests_are_told_apart(tmp_path: Path):
    doc = tmp_path / "doc.md"
    doc.write_text(
        "| test | kind | instead |\n|---|---|---|\n"
        "| `test_b` | ordering: queue order, not names | same order on every rank |\n"
        "| `test_c` | not applicable: torch 2.x optimizer | - |\n"
    )
    results = {
        "test_a": {"result": "passed", "why": ""},
        "test_b": {"result": "failed", "why": "mismatch"},
        "test_c": {"result": "failed", "why": "Muon"},
        "test_d": {"result": "hung", "why": ""},
        "test_e": {"result": "skipped", "why": ""},
    }
    run = tmp_path / "torch-3.json"
    run.write_text(json.dumps({"counts": {}, "results": results}))
    got = summary.summarise(run, summary.documented(doc))
    assert got["ranks"] == 3 and got["ran"] == 4 and got["passed"] == 1
    assert got["applicable"] == 3 and got["pass_rate_of_applicable"] == 0.333
    assert got["documented_differences"] == ["test_b"] and got["not_applicable"] == ["test_c"]
    assert list(got["undocumented_failures"]) == ["test_d"]


def test_every_documented_test_exists_in_horovods_suite():
    suite = REPO.parent / "shared/conformance/horovod/test_torch.py"
    names = summary.documented()
    assert names, "docs/horovod-conformance.md lists no differences"
    if suite.exists():
        text = suite.read_text()
        assert [n for n in names if f"def {n}(" not in text] == []

"""How cases running inside MPI ranks report: one JSON line per case; failures are data
(``ok: false`` with a detail), not exceptions, so one bad case does not hide the others."""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable
from typing import Any


def emit(case: str, ok: bool, detail: Any = "") -> None:
    print(json.dumps({"case": case, "ok": bool(ok), "detail": str(detail)[:500]}), flush=True)


def run_case(case: str, body: Callable[[], tuple[bool, Any]]) -> None:
    try:
        ok, detail = body()
    except Exception:
        ok, detail = False, traceback.format_exc()
    emit(case, ok, detail)


def raises(error: type[BaseException], call: Callable[[], Any]) -> tuple[bool, Any]:
    try:
        call()
    except error as exc:
        return True, exc
    return False, f"no {error.__name__} raised"


def passed_cases(outputs: list[str], log: str) -> list[dict[str, dict[str, Any]]]:
    """The test side: each rank's cases by name, after checking that every rank reached
    ``done`` and that no case failed (the messages carry mpiexec's log and the details)."""
    by_rank = [
        {r["case"]: r for r in (json.loads(x) for x in text.splitlines() if x.startswith("{"))}
        for text in outputs
    ]
    for rank, cases in enumerate(by_rank):
        assert "done" in cases, f"rank {rank} did not finish:\n{log[-3000:]}"
        failed = {name: c["detail"] for name, c in cases.items() if not c["ok"]}
        assert not failed, f"rank {rank} failed {len(failed)} of {len(cases)}: {failed}"
    return by_rank

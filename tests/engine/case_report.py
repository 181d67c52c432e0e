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

"""Progress of a ``%wb`` command as one line per bar in the cell's output, redrawn in place.

A tqdm bar on stderr is saved in a notebook as one line per update (dozens for a Label Studio
start); a display handle keeps one line that ends as the bar's final state.
"""

from __future__ import annotations

import time
from typing import Any

REDRAW_S = 0.5


class CellProgress:
    """A :data:`workbench.progress.Sink` that draws each bar as a line of the cell's output."""

    def __init__(self) -> None:
        self._lines: dict[str, tuple[Any, float, float]] = {}  # desc -> (handle, start, drawn)

    def __call__(self, desc: str, done: int, total: int | None) -> None:
        from IPython.display import display

        now = time.monotonic()
        if desc not in self._lines:
            handle = display(self._text(desc, done, total, 0.0), display_id=True)  # type: ignore[no-untyped-call]
            self._lines[desc] = (handle, now, now)
            return
        handle, start, drawn = self._lines[desc]
        if now - drawn < REDRAW_S and done != total:
            return
        if handle is not None:
            handle.update(self._text(desc, done, total, now - start))
        self._lines[desc] = (handle, start, now)

    @staticmethod
    def _text(desc: str, done: int, total: int | None, seconds: float) -> Any:
        from IPython.display import Pretty

        count = f"{done}/{total}" if total is not None else ""
        text = f"{desc}: {count}{' · ' if count else ''}{seconds:.0f} s"
        return Pretty(text)  # type: ignore[no-untyped-call]

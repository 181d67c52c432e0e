"""Progress of long work, shown where the work was asked for.

Library code opens a :func:`bar`; in a terminal it is a tqdm bar, and inside a
background operation of the server (see :func:`reporting_to`) every update also lands
in that operation's ``progress`` record, which the UI polls. A notebook magic reports to a
sink that redraws one output line and turns the tqdm bar off (``terminal=False``): a stderr
bar in a cell is saved as one line per update.
"""

from __future__ import annotations

import contextvars
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

Sink = Callable[[str, int, int | None], None]  # (description, done, total)
_sink: contextvars.ContextVar[Sink | None] = contextvars.ContextVar("workbench_progress")
_terminal: contextvars.ContextVar[bool] = contextvars.ContextVar("workbench_tqdm", default=True)


@contextmanager
def reporting_to(sink: Sink, terminal: bool = True) -> Iterator[None]:
    """Send the progress of bars opened in this context (this thread) to ``sink``; with
    ``terminal=False`` the sink is the only display (no tqdm bar on stderr)."""
    token, shown = _sink.set(sink), _terminal.set(terminal)
    try:
        yield
    finally:
        _terminal.reset(shown)
        _sink.reset(token)


class Bar:
    """A progress bar: tqdm on stderr when ``show``, and the current sink if any."""

    def __init__(self, total: int | None, desc: str, show: bool, unit: str) -> None:
        from tqdm import tqdm

        self.desc, self.total, self.done = desc, total, 0
        self.sink = _sink.get(None)
        hidden = not show or not _terminal.get()
        self.tqdm: Any = tqdm(total=total, desc=desc, unit=unit, disable=hidden, file=sys.stderr)
        self._report()

    def _report(self) -> None:
        if self.sink is not None:
            self.sink(self.desc, self.done, self.total)

    def update(self, n: int = 1) -> None:
        self.done += n
        self.tqdm.update(n)
        self._report()

    def __enter__(self) -> Bar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.tqdm.close()


def bar(total: int | None, desc: str, show: bool = True, unit: str = "it") -> Bar:
    return Bar(total, desc, show, unit)

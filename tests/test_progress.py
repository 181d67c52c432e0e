"""Progress bars: tqdm in a terminal, every update to the current sink, and no tqdm when the
sink is the only display (a notebook cell)."""

from __future__ import annotations

import pytest

from workbench.progress import bar, reporting_to


def _count(n: int) -> None:
    with bar(n, "work", unit="item") as meter:
        for _ in range(n):
            meter.update()


def test_a_sink_hears_every_update_and_tqdm_still_draws(capsys: pytest.CaptureFixture[str]):
    seen: list[tuple[str, int, int | None]] = []
    with reporting_to(lambda desc, done, total: seen.append((desc, done, total))):
        _count(3)
    assert seen == [("work", n, 3) for n in range(4)]
    assert "work" in capsys.readouterr().err


def test_a_sink_that_is_the_only_display_turns_tqdm_off(capsys: pytest.CaptureFixture[str]):
    seen: list[int] = []
    with reporting_to(lambda _desc, done, _total: seen.append(done), terminal=False):
        _count(3)
    assert seen == [0, 1, 2, 3]
    assert capsys.readouterr().err == ""
    _count(1)  # outside the context: a terminal bar again
    assert "work" in capsys.readouterr().err

"""Notebook magics: ``%load_ext workbench``, then ``%wb ...`` and ``%%wb distributed -n N``.

Thin over the services: parse the line, call one service function, return a Python object
(a DataFrame for lists). Bad arguments and workbench errors raise :class:`MagicError`, which
IPython shows as the usage and what was wrong (a failed rank: that rank's traceback), never a
traceback from inside the workbench; the cell still counts as failed, so a notebook run stops.
"""

from __future__ import annotations

import shlex
import sys
from typing import Any

from IPython.core.magic import Magics, line_cell_magic, magics_class

from workbench.errors import WorkbenchError
from workbench.magics.cell_progress import CellProgress
from workbench.magics.commands import ArgumentError, parser
from workbench.progress import reporting_to


class MagicError(Exception):
    """What a ``%wb`` command could not do. ``detail``: lines shown above the message (a
    failed rank's traceback); IPython renders this instead of a Python traceback."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail

    def _render_traceback_(self) -> list[str]:
        return [*self.detail.splitlines(), f"{type(self).__name__}: {self}"]


@magics_class
class WorkbenchMagics(Magics):
    @line_cell_magic
    def wb(self, line: str, cell: str | None = None) -> Any:
        """Workbench from a notebook; ``%wb --help`` lists the commands."""
        try:
            args = parser().parse_args(shlex.split(line))
        except ArgumentError as exc:
            raise MagicError(str(exc)) from None
        except ValueError as exc:  # shlex: an unclosed quote
            raise MagicError(f"%wb {line}: {exc}") from None
        if args.command is None:
            print(parser().format_help())
            return None
        if (cell is None) == (args.command == "distributed"):
            raise MagicError(
                "%%wb distributed is a cell magic (put the code below it)"
                if args.command == "distributed"
                else f"%%wb {args.command} takes no cell body: use the line magic %wb"
            )
        try:
            with reporting_to(CellProgress(), terminal=False):  # a line per bar, redrawn
                return args.run(args, cell=cell, namespace=self.shell.user_ns if self.shell else {})
        except ArgumentError as exc:
            raise MagicError(str(exc)) from None
        except WorkbenchError as exc:
            sys.stdout.flush()
            detail = getattr(exc, "traceback", "")
            raise MagicError(f"%wb {args.command}: {exc}", detail) from None


def load_ipython_extension(ipython: Any) -> None:
    ipython.register_magics(WorkbenchMagics)


__all__ = ["MagicError", "WorkbenchMagics", "load_ipython_extension"]

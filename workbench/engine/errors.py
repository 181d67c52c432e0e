"""Exceptions the engine raises; every one names what went wrong and what to do about it."""

from __future__ import annotations

from workbench.errors import InvalidInput, WorkbenchError


class EngineError(WorkbenchError, RuntimeError):
    """Base class for failures inside the collective engine.

    A ``RuntimeError`` too, as Horovod's errors are (``HorovodInternalError`` is one), so
    code written for Horovod that catches ``RuntimeError`` around a collective (elastic
    training, retry loops, Horovod's own tests) catches the engine's mismatch, stall, join
    and engine-failed errors as well.
    """


class CollectiveMismatchError(EngineError):
    """Ranks called the same collective with different arguments (name, shape, dtype, op).

    Raised on every rank of the communicator, with each rank's call described, so that no
    rank is left waiting in a collective another rank never enters.
    """


class UnsupportedDtypeError(EngineError, InvalidInput):
    """The array's dtype has no reduction kernel (see ``reduce_ops.SUPPORTED_DTYPES``)."""


class UnsupportedOpError(EngineError, InvalidInput):
    """The reduction op is unknown or undefined for the dtype."""


class TopologyError(EngineError, InvalidInput):
    """``WORKBENCH_TOPOLOGY`` / ``WORKBENCH_VIRTUAL_NODES`` do not fit the ranks launched."""


class InvalidProcessSetError(EngineError, InvalidInput, ValueError):
    """A process set names ranks that are not the world's, twice, or differently by rank."""


class StallError(EngineError):
    """A peer did not show up within the stall timeout (``WORKBENCH_STALL_TIMEOUT``)."""


class UnsafeDirectoryError(EngineError):
    """A directory the engine keeps private files in is not private (owner, mode, symlink)."""


class EngineNotInitializedError(EngineError):
    """A collective was called before ``workbench.engine.init()`` or after ``shutdown()``."""


class InvalidArgumentError(EngineError, InvalidInput, ValueError):
    """A collective's arguments are wrong on this rank (splits, shapes, ops); raised on this
    rank before anything is sent. A ``ValueError`` too, as Horovod's argument errors are."""


class DuplicateNameError(InvalidArgumentError):
    """An async collective was queued under the name of one still in flight on this rank;
    wait for the first (``synchronize``) or give the second another name."""

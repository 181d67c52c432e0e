"""Workbench: an open, Jupyter-centric data-science workbench."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("workbench")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"


def load_ipython_extension(ipython: object) -> None:
    """``%load_ext workbench``: the ``%wb`` and ``%%wb distributed`` magics."""
    from workbench.magics import load_ipython_extension as load

    load(ipython)


__all__ = ["__version__", "load_ipython_extension"]

"""``python -m workbench.cli``: the same app as the ``workbench`` console script."""

from workbench.cli import app

app()

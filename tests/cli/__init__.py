import sys
from pathlib import Path

WORKBENCH = str(Path(sys.executable).parent / "workbench")  # the installed console script

"""The disk tier: one private directory per swapping session, a file per swapped storage."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
import uuid
from pathlib import Path


class SpillError(OSError):
    """The spill directory cannot take (or give back) swapped bytes; says what to do."""


class SpillDir:
    """Files holding swapped bytes. Created on open, emptied on close, never shared."""

    def __init__(self, root: str | Path | None) -> None:
        base = Path(root) if root is not None else Path(tempfile.gettempdir()) / "workbench-swap"
        self.root = base
        self.path = base / f"session-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        try:
            self.path.mkdir(parents=True, mode=0o700)
            probe = self.path / ".probe"
            probe.write_bytes(b"\0")
            probe.unlink()
        except OSError as exc:
            shutil.rmtree(self.path, ignore_errors=True)
            raise SpillError(
                exc.errno,
                f"swap spill dir {base} is not writable ({exc.strerror}); "
                "pass SwapPolicy(spill_dir=...) pointing at a writable directory",
            ) from exc

    def file_for(self, key: int) -> Path:
        return self.path / f"{key}.bin"

    def write(self, key: int, data: memoryview) -> None:
        target = self.file_for(key)
        try:
            with open(target, "wb") as f:
                f.write(data)
        except OSError as exc:
            target.unlink(missing_ok=True)
            hint = "free space there or" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else ""
            raise SpillError(
                exc.errno,
                f"cannot write {len(data)} swapped bytes to {self.path}: {exc.strerror}; "
                f"{hint} pass SwapPolicy(spill_dir=...) on a disk with room".replace("  ", " "),
            ) from exc

    def read_into(self, key: int, buffer: memoryview) -> None:
        with open(self.file_for(key), "rb") as f:
            got = f.readinto(buffer)
        if got != len(buffer):
            raise SpillError(errno.EIO, f"swap file {self.file_for(key)} is truncated")

    def will_need(self, key: int) -> None:
        """Ask the kernel to start reading ``key``'s file into the page cache now."""
        fd = os.open(self.file_for(key), os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
        finally:
            os.close(fd)

    def remove(self, key: int) -> None:
        self.file_for(key).unlink(missing_ok=True)

    def close(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def files(self) -> list[Path]:
        return sorted(self.path.glob("*.bin")) if self.path.exists() else []

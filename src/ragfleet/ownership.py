"""One owner per embedded store: an exclusive lock on the store's folder.

Qdrant Edge is single-process; a second process opening the same folder would rewrite files
under the first one's feet. The owner holds a ``flock`` on ``<folder>/.owner`` for as long as
the store is open (the kernel drops it if the process dies, so a crash leaves no stale lock)
and writes its pid and command there, so the refusal can say who holds it.
"""

from __future__ import annotations

import fcntl
import os
import sys
from pathlib import Path

from ragfleet.errors import StoreBusyError

LOCK_NAME = ".owner"


class FolderLock:
    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / LOCK_NAME
        self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = self.path.read_text(errors="replace").strip() or "another process"
            os.close(self._fd)
            self._fd = None
            raise StoreBusyError(
                f"the embedded store {folder} is in use by {holder}; stop that process or use "
                "its HTTP API (or point RAGFLEET_DATA_DIR elsewhere)"
            ) from None
        os.ftruncate(self._fd, 0)
        command = " ".join(Path(arg).name if n == 0 else arg for n, arg in enumerate(sys.argv))
        os.write(self._fd, f"pid {os.getpid()} ({command[:200]})\n".encode())

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

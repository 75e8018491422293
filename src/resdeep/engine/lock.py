"""One writer per run folder: an advisory lock on RUN/.lock that the kernel drops when its process ends."""
from __future__ import annotations

import fcntl
import os
import socket
import time
from pathlib import Path

from resdeep.errors import UserError

LOCK_FILE = ".lock"


class RunLock:
    """The held lock of one run folder; release() (or the process ending, even by kill -9) frees it."""

    def __init__(self, folder: Path, handle: int):
        self.folder, self.handle = folder, handle

    def claim(self) -> None:
        """Say who holds the folder, for the one line a second process prints (written only by a writer)."""
        owner = f"process {os.getpid()} on {socket.gethostname()} (since {time.strftime('%Y-%m-%d %H:%M:%S')})"
        os.ftruncate(self.handle, 0)
        os.pwrite(self.handle, owner.encode(), 0)

    def release(self) -> None:
        if self.handle >= 0:
            # Unlock explicitly: a forked data-loader worker shares the descriptor and would keep it locked.
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            os.close(self.handle)
            self.handle = -1


def lock_run_folder(folder: Path) -> RunLock:
    """Take the folder's lock at once, or raise one line naming the process that holds it.

    flock, not a pid file: a lock left by a killed process cannot block, and there is no stale file to judge."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    handle = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        owner = os.pread(handle, 300, 0).decode(errors="replace").strip() or "another process"
        os.close(handle)
        raise UserError(f"{folder} is in use by {owner}; wait for it to end or stop it, or train under another name=") from None
    return RunLock(folder, handle)

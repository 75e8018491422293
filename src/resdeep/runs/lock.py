"""One writer per run folder: an advisory lock on RUN/.lock that the kernel drops when its process ends."""
from __future__ import annotations

import fcntl
import os
import socket
import time
from pathlib import Path

from resdeep.errors import UserError
from resdeep.runs.layout import LOCK_FILE


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


def lock_holder(folder: Path) -> tuple[int, str] | None:
    """(process id, host) that the folder's lock names, read without taking the lock; None when it names none."""
    try:
        owner = (Path(folder) / LOCK_FILE).read_text()
    except OSError:
        return None
    words = owner.split()
    if len(words) >= 4 and words[0] == "process" and words[1].isdigit() and words[2] == "on":
        return int(words[1]), words[3]
    return None


def holder_is_alive(folder: Path) -> bool | None:
    """Does a live process hold the folder's lock? Asked of the kernel on this host (its table of flock locks,
    else whether the named process exists); None when the lock names another host, which only the run's own
    recent writes can tell."""
    holder = lock_holder(folder)
    if holder is None:
        return False
    if holder[1] != socket.gethostname():
        return None
    held = _flock_held(Path(folder) / LOCK_FILE)
    if held is not None:
        return held
    try:
        os.kill(holder[0], 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    return True


def _flock_held(path: Path) -> bool | None:
    """Whether /proc/locks lists a flock on this file (Linux), without touching the lock; None where it cannot tell."""
    try:
        status, table = os.stat(path), Path("/proc/locks").read_text()
    except OSError:
        return None
    file_id = f"{os.major(status.st_dev):02x}:{os.minor(status.st_dev):02x}:{status.st_ino}"
    # "1: FLOCK  ADVISORY  WRITE 1234 fe:01:5678 0 EOF"; a waiter's line reads "1: -> FLOCK ..." and holds nothing
    return any(len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == file_id for fields in map(str.split, table.splitlines()))

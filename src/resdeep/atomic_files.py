"""Writing files that are never seen half-written (a temporary file, fsync, rename), and reading them back."""
from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Dict, List, Optional


def _umask() -> int:
    """The process's umask (os.umask can only be read by setting it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def naming(path: Path):
    """Give an OSError raised inside the name of the file being written (a failed write() names none), so
    'No space left on device' can say where."""
    try:
        yield
    except OSError as error:
        if error.filename is not None:
            raise
        raise OSError(error.errno, error.strerror, str(path)) from error


def atomic_write(path: Path, write: Callable, mode: str = "w") -> None:
    """Call write(stream) on a temporary file beside path, fsync it, rename it over path, fsync the folder.

    A reader sees the old file or the new one, never half of one, even after a crash."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        # mkstemp makes the file 0600; give it the mode any other new file of the user's gets.
        os.fchmod(handle, 0o666 & ~_umask())
        with naming(path), os.fdopen(handle, mode) as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def remove_stale_temporaries(folder: Path, name_pattern: str) -> None:
    """Delete the temporary files atomic_write leaves for names matching name_pattern when killed mid-write.

    Only the run's single writer calls this (the run lock), so no temporary being written is removed."""
    for stale in Path(folder).glob(f".{name_pattern}.*"):
        stale.unlink(missing_ok=True)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda stream: stream.write(text))


def write_csv(path: Path, rows: List[Dict], columns: Optional[List[str]] = None) -> None:
    """rows as CSV with a header (columns default to the first row's keys), written atomically."""
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=columns or list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, text.getvalue())


def write_json(path: Path, data) -> None:
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")


def read_json(path: Path):
    """The JSON in path, or None if it is missing or unreadable."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return None

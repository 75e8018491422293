"""Reading a run folder's files, each checked for the shape its writer gives it.

A file that is absent reads as None (or no records); one that is there but damaged (truncated, empty, not
JSON, JSON of another shape) raises DamagedFile, one line naming it, so a reader can list the run as
unreadable and go on with the others."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

from resdeep.errors import UserError
from resdeep.runs.layout import ERROR_FILE, IDENTITY_FILE, METRICS_FILE, RESULT_FILE, STATE_FILE

# The states a run's state.json or result.json can name (result.json: the last two).
WRITTEN_STATES = ("running", "interrupted", "failed", "finished", "diverged")
ENDED = ("finished", "diverged")


class DamagedFile(UserError):
    """A run file that is there but cannot be what its writer wrote."""

    def __init__(self, path: Path, why: str):
        super().__init__(f"{path} is damaged ({why})")
        self.path, self.why = Path(path), why


def _json_object(path: Path, required: dict) -> Optional[dict]:
    """The JSON object in path with the required {key: type} entries; None when the file is absent."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as error:
        raise DamagedFile(path, f"unreadable: {error}") from None
    if not text.strip():
        raise DamagedFile(path, "empty")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise DamagedFile(path, f"not JSON: {error.msg} at line {error.lineno}") from None
    if not isinstance(value, dict):
        raise DamagedFile(path, f"a JSON {type(value).__name__}, not an object")
    for key, kind in required.items():
        if not isinstance(value.get(key), kind) or isinstance(value.get(key), bool) and kind is not bool:
            raise DamagedFile(path, f"'{key}' is missing or not {getattr(kind, '__name__', kind)}")
    return value


def read_identity(folder: Path) -> Optional[dict]:
    """run.json: the model, data and recipe (objects) and the seed (an integer)."""
    identity = _json_object(Path(folder) / IDENTITY_FILE, {"model": dict, "data": dict, "recipe": dict, "seed": int})
    if identity is not None and not isinstance(identity["data"].get("name"), str):
        raise DamagedFile(Path(folder) / IDENTITY_FILE, "'data.name' is missing")
    return identity


def read_result(folder: Path) -> Optional[dict]:
    """result.json: how the run ended (finished or diverged) and after how many iterations."""
    result = _json_object(Path(folder) / RESULT_FILE, {"status": str, "iterations": int})
    if result is not None and result["status"] not in ENDED:
        raise DamagedFile(Path(folder) / RESULT_FILE, f"status '{result['status']}' is not one of {', '.join(ENDED)}")
    return result


def read_state(folder: Path) -> Optional[dict]:
    """state.json: the state the run last wrote and its iteration (absent in runs of resdeep before 0.2)."""
    state = _json_object(Path(folder) / STATE_FILE, {"state": str, "iteration": int})
    if state is not None and state["state"] not in WRITTEN_STATES:
        raise DamagedFile(Path(folder) / STATE_FILE, f"state '{state['state']}' is not one of {', '.join(WRITTEN_STATES)}")
    return state


def read_metrics(folder: Path) -> List[dict]:
    """Every record of metrics.jsonl (one per evaluation), in order; a torn last line (a crash mid-write) is dropped."""
    path = Path(folder) / METRICS_FILE
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as error:
        raise DamagedFile(path, f"unreadable: {error}") from None
    records = []
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):
                break
            raise DamagedFile(path, f"line {number} is not JSON") from None
        if not isinstance(record, dict) or not isinstance(record.get("iteration"), int):
            raise DamagedFile(path, f"line {number} is not a record with an iteration")
        records.append(record)
    return records


def last_error_line(folder: Path) -> Optional[str]:
    """The last non-empty line of error.log (the error itself, after any traceback), or None without one."""
    try:
        lines = [line.strip() for line in (Path(folder) / ERROR_FILE).read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return None
    return lines[-1] if lines else "(error.log is empty)"

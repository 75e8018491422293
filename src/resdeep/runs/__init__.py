"""The run folder: its files (layout), what each holds (records), the run's identity and state, and finding runs.

Every command that reads a run (status, report, analyze, eval, export, resdeep.load_run) reads it through this
package, and the training engine writes it through this package, so they cannot disagree about a run.
Importing it stays light (no torch): `resdeep status` answers at once."""
from resdeep.runs.records import DamagedFile
from resdeep.runs.state import STATES, Run, read_run
from resdeep.runs.survey import survey

__all__ = ["STATES", "DamagedFile", "Run", "read_run", "survey"]

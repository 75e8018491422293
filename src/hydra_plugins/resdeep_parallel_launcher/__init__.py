"""resdeep's parallel local launcher for Hydra: `hydra/launcher=parallel` (one job per GPU, or cores split on a CPU).

No module here may use `from __future__ import annotations`: Hydra's plugin scan executes these modules
without entering them in sys.modules, and a dataclass with string annotations then fails to build.
"""

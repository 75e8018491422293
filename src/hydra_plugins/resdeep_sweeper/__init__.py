"""resdeep's sweeper for Hydra: the basic sweeper, ending without a traceback hint (see sweeper.py).

No module here may use `from __future__ import annotations`: Hydra's plugin scan executes these modules
without entering them in sys.modules, and a dataclass with string annotations then fails to build.
"""

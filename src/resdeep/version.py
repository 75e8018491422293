"""`resdeep --version`: resdeep's version and what it runs on, without importing torch or Hydra."""
from __future__ import annotations

import platform
from importlib.metadata import version

__version__ = "0.1.0"  # the one place it is written (pyproject.toml reads it from here)


def version_text() -> str:
    """resdeep's version, then the versions of Hydra, PyTorch and Python."""
    return f"resdeep {__version__} (Hydra {version('hydra-core')}, PyTorch {version('torch')}, Python {platform.python_version()})"

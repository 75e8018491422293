"""resdeep: reproduce the degradation experiments of He et al. 2016 (plain vs residual networks)."""

from resdeep.version import __version__  # noqa: F401

__all__ = ["__version__", "load_run", "LoadedRun"]


def __dir__():
    """What `dir(resdeep)` and tab completion offer: the version and the notebook API (resdeep.api)."""
    return sorted(__all__)


def __getattr__(name):
    """`resdeep.load_run(path)`, imported on first use so that `import resdeep` stays light (see resdeep.api)."""
    if name in ("load_run", "LoadedRun"):
        from resdeep import api  # start-up: `import resdeep` stays light; torch loads on first use

        return getattr(api, name)
    raise AttributeError(f"module 'resdeep' has no attribute {name!r}")

"""resdeep: reproduce the degradation experiments of He et al. 2016 (plain vs residual networks)."""

__version__ = "0.1.0"

"""`photonctl`: the admin CLI, a thin layer over `photon.client`, one module per noun."""

from ._main import main as main

__all__ = ["main"]

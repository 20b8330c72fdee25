"""PHOTON: an agent mesh for running AI coding tools and ordinary tools across many machines."""

__version__ = "0.1.0"

__all__ = ["__version__"]

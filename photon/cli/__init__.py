"""Command-line entry points (thin layers over photon.client and the daemons)."""

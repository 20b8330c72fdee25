"""The plugins PHOTON ships; registered through entry points like any third-party plugin."""

"""`--version` on the three commands, run as real processes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from photon import __version__
from photon.plugins import PLUGIN_API_VERSION


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        ("photon.cli.ctl", f"photonctl {__version__}"),
        ("photon.cli.hub", f"photon-hub {__version__}"),
        ("photon.cli.agent", f"photon-agent {__version__} (plugin API {PLUGIN_API_VERSION})"),
    ],
)
def test_version_flag_prints_the_package_version(module: str, expected: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", module, "--version"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == expected + "\n"
    assert __version__.count(".") == 2

"""The daemons import at start only what they use while idle (each module stays in their memory).

Heavy packages needed only by other commands or by the first task are imported where they are
used; these tests keep them out of `photon-agent run` and `photon-hub serve` as started.
"""

import json
import subprocess
import sys

import pytest

# What `photon-agent run` imports before it connects: its CLI module and every plugin.
AGENT = "import photon.cli.agent; from photon.plugins import load_plugins; load_plugins()"
HUB = "import photon.cli.hub"

AGENT_ABSENT = {
    "cryptography",  # join only; the start-up expiry check uses photon._x509
    "hashlib",  # OpenSSL's set-up, through secrets
    "http.client",  # the http tool's first request
    "jsonschema",
    "photon.certs",
    "photon.client",
    "prometheus_client",
    "urllib.request",
    "yaml",  # a YAML --inputs-file
}
HUB_ABSENT = {
    "jsonschema",  # the first task's input check
    "photon.client",  # `photon-hub init` writes a client context
    "prometheus_client",  # the first scrape
    "tomli_w",
    "yaml",
}


def _imported(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}; import sys, json; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(json.loads(out.splitlines()[-1]))


@pytest.mark.parametrize(("code", "absent"), [(AGENT, AGENT_ABSENT), (HUB, HUB_ABSENT)])
def test_heavy_modules_wait_until_used(code: str, absent: set[str]) -> None:
    assert _imported(code) & absent == set()

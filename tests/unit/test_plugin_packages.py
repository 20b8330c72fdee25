"""The `http` and `zai` built-ins are packages: their front doors export the plugins, and the
http client loads at the first request. (Their modules' import order is kept by
tests/unit/test_layers.py.)"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("package", "names"),
    [
        ("http", ["HttpPlugin", "MAX_BODY_BYTES"]),
        ("zai", ["ZaiPlugin", "CHAT_SCHEMA", "DEFAULT_MODEL", "KEY_NAME", "PLANS"]),
    ],
)
def test_the_front_door_exports_the_plugin(package: str, names: list[str]) -> None:
    module = __import__(f"photon.plugins.builtin.{package}", fromlist=["__all__"])
    assert set(names) <= set(module.__all__)
    assert all(hasattr(module, name) for name in module.__all__)


def test_the_http_client_waits_for_the_first_request() -> None:
    code = (
        "import sys, json; from photon.plugins.builtin.http import HttpPlugin; HttpPlugin();"
        " print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    loaded = set(json.loads(out))
    assert "photon.plugins.builtin.http._plugin" in loaded
    assert {
        "photon.plugins.builtin.http._fetch",
        "photon.plugins.builtin.http._response",
        "http.client",
        "urllib.request",
    } & loaded == set()

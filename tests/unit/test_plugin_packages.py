"""The `http` and `zai` built-ins are packages whose modules import one way: the plugin at the
top, pure helpers at the bottom, the front door (`__init__`) re-exporting from them.

Every import counts: at the top of a module, inside a function (lazy) and under TYPE_CHECKING.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

BUILTIN = Path(__file__).resolve().parents[2] / "photon" / "plugins" / "builtin"

# Bottom first: a module may import only modules listed before it.
LAYERS = {
    "http": ("_request", "_response", "_fetch", "_plugin"),
    "zai": (
        "_failures",
        "_sse",
        "_reply",
        "_endpoint",
        "_request",
        "_http11",
        "_exchange",
        "_plugin",
    ),
}


def _siblings(package: str, module: str, root: Path = BUILTIN) -> set[str]:
    """The modules of `package` (under `root`) that `module` imports, anywhere in its body."""
    path = root / package / f"{module}.py"
    here = f"photon.plugins.builtin.{package}"
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:
                names = [node.module] if node.module else [a.name for a in node.names]
            elif node.level == 0 and (node.module or "").startswith(here):
                rest = (node.module or "").removeprefix(here).lstrip(".")
                names = [rest.split(".")[0] or "__init__"]
            else:
                continue
            found.update(names)
        elif isinstance(node, ast.Import):
            found.update(
                a.name.removeprefix(here).lstrip(".").split(".")[0] or "__init__"
                for a in node.names
                if a.name == here or a.name.startswith(here + ".")
            )
    return found


@pytest.mark.parametrize("package", sorted(LAYERS))
def test_every_module_has_its_place(package: str) -> None:
    modules = {p.stem for p in (BUILTIN / package).glob("*.py")} - {"__init__"}
    assert modules == set(LAYERS[package])


def _wrong_way(package: str, order: tuple[str, ...], root: Path = BUILTIN) -> list[str]:
    return [
        f"{module} -> {imported}"
        for rank, module in enumerate(order)
        for imported in sorted(_siblings(package, module, root))
        if imported not in order[:rank]
    ]


@pytest.mark.parametrize("package", sorted(LAYERS))
def test_imports_go_down_only(package: str) -> None:
    assert _wrong_way(package, LAYERS[package]) == []


def test_the_import_reader_sees_lazy_imports() -> None:
    # The plugin's only way to the fetch client is a lazy import: a reader that missed it would
    # pass the rule above whatever the code did.
    assert _siblings("http", "_plugin") == {"_request", "_fetch", "_response"}


def test_a_wrong_way_import_is_reported(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "_low.py").write_text("def f():\n    from ._high import g\n")
    (package / "_high.py").write_text("from ._low import f\n")
    assert _wrong_way("pkg", ("_low", "_high"), tmp_path) == ["_low -> _high"]
    assert _wrong_way("pkg", ("_high", "_low"), tmp_path) == ["_high -> _low"]


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

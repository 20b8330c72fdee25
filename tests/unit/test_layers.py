"""The code keeps the architecture docs/ARCHITECTURE.md describes.

Every import in photon/ counts: at the top of a module, inside a function (lazy) and under
`if TYPE_CHECKING:`. The rules:
- no import cycle anywhere in photon/;
- only edge modules import gRPC or the generated code (photon.v1);
- layered packages import downwards only: the hub (edge: api, mesh, web -> domain: reports
  -> workflows -> tasks -> fleet, and security -> store -> stats -> core, with the composition
  root above them all), the agent (lifecycle -> session -> runner -> tools, workspaces -> config)
  and the http and zai plugins
  (the plugin module at the top, pure helpers at the bottom);
- the programs stay apart: the hub, the agent, the client and the plugin SDK import none of
  each other (the agent runs plugins; the CLI sits on top of them all).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "photon"

# Modules (and packages, with everything under them) that may speak gRPC and protobuf.
EDGES = (
    "photon.v1",
    "photon.wire",
    "photon.hub.api",
    "photon.hub.mesh",
    "photon.hub.web",
    "photon.agent.session",
    "photon.client",
)
WIRE_MODULES = ("grpc", "grpc_health", "google.protobuf", "photon.v1")

# Layered packages: their parts, lowest first. A module may import its own part and lower ones,
# never a higher one nor another part of the same rank; what is in no part (the package's front
# door, its composition root) sits above them all.
LAYERED: dict[str, tuple[tuple[str, ...], ...]] = {
    "photon.hub": (
        ("core",),
        ("stats",),
        ("store",),
        ("audit", "fleet", "security", "secrets"),
        ("tasks",),
        ("workflows",),
        ("reports",),
        ("api", "mesh", "web"),
    ),
    "photon.agent": (
        ("config",),
        ("tools", "workspaces"),
        ("runner",),
        ("session",),
        ("lifecycle",),
    ),
    "photon.plugins.builtin.http": (
        ("_policy", "_request"),
        ("_response",),
        ("_fetch",),
        ("_plugin",),
    ),
    "photon.plugins.builtin.zai": (
        ("_failures",),
        ("_sse",),
        ("_reply",),
        ("_endpoint",),
        ("_request",),
        ("_http11",),
        ("_exchange",),
        ("_plugin",),
    ),
}

# Programs that must not import each other, but for what each one is built on.
PROGRAMS = ("photon.hub", "photon.agent", "photon.client", "photon.plugins")
BUILT_ON = {"photon.agent": ("photon.plugins",)}  # the agent runs plugins


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {
        _module_name(path): path
        for path in PACKAGE.rglob("*.py")
        if "v1" not in path.relative_to(PACKAGE).parts[:1]
    }


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _imports(name: str, path: Path, known: set[str]) -> Iterator[str]:
    """Every module this one imports, anywhere in its body, resolved to full names."""
    package = name if _is_package(path) else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            for alias in node.names:
                child = f"{target}.{alias.name}"
                yield child if child in known else target


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules) | {"photon.v1"}
    return {name: set(_imports(name, path, known)) for name, path in modules.items()}


def _internal(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    return {m: {i for i in imports if i in graph and i != m} for m, imports in graph.items()}


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


# What may sit above a layered package's parts: its front door ("") and composition root.
TOPS = {"photon.hub": {"", "_hub", "_config", "_init"}}


def _part(package: str, module: str) -> tuple[int, str] | None:
    """The rank and name of the part of `package` that `module` is in; None outside it."""
    if not _under(module, (package,)):
        return None
    name = module.removeprefix(package).lstrip(".").split(".")[0]
    for rank, part in enumerate(LAYERED[package]):
        if name in part:
            return rank, name
    return len(LAYERED[package]), "top"


def _wrong_way(edges: dict[str, set[str]], package: str) -> list[str]:
    wrong = []
    for module, imports in edges.items():
        here = _part(package, module)
        if here is None:
            continue
        for imported in imports:
            there = _part(package, imported)
            if there is None or there[1] == here[1]:
                continue
            if there[0] >= here[0]:
                wrong.append(f"{module} ({here[1]}) -> {imported} ({there[1]})")
    return wrong


def test_the_graph_is_read(graph: dict[str, set[str]]) -> None:
    # A parser that found nothing would pass every rule below.
    assert len(graph) > 60
    assert "photon.hub.tasks._machine" in graph["photon.hub.tasks._engine"]
    assert "photon.hub.core" in graph["photon.hub.tasks._machine"]
    # Lazy imports count: the http plugin reaches its fetch client only inside a function.
    assert "photon.plugins.builtin.http._fetch" in graph["photon.plugins.builtin.http._plugin"]
    assert "grpc" in graph["photon.agent.session._link"]


def test_no_import_cycles(graph: dict[str, set[str]]) -> None:
    assert _cycles(_internal(graph)) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_only_edges_speak_grpc_and_protobuf(graph: dict[str, set[str]]) -> None:
    offenders = {
        module: sorted(i for i in imports if _under(i, WIRE_MODULES))
        for module, imports in graph.items()
        if not _under(module, EDGES)
    }
    assert {m: i for m, i in offenders.items() if i} == {}


@pytest.mark.parametrize("package", sorted(LAYERED))
def test_layered_packages_import_downwards(graph: dict[str, set[str]], package: str) -> None:
    members = [m for m in graph if _under(m, (package,))]
    named = {m.removeprefix(package).lstrip(".").split(".")[0] for m in members}
    parts = {n for part in LAYERED[package] for n in part}
    assert named - parts == TOPS.get(package, {""})  # every module has its place
    assert _wrong_way(_internal(graph), package) == []


def test_a_wrong_way_import_is_reported() -> None:
    edges = {"photon.hub.core._x": {"photon.hub.tasks"}, "photon.hub.api._y": {"photon.hub.mesh"}}
    assert _wrong_way(edges, "photon.hub") == [
        "photon.hub.core._x (core) -> photon.hub.tasks (tasks)",
        "photon.hub.api._y (api) -> photon.hub.mesh (mesh)",
    ]


def test_programs_stay_apart(graph: dict[str, set[str]]) -> None:
    wrong = []
    for module, imports in _internal(graph).items():
        home = next((p for p in PROGRAMS if _under(module, (p,))), None)
        if home is None:
            continue
        allowed = (home, *BUILT_ON.get(home, ()))
        wrong += [
            f"{module} -> {i}" for i in imports if _under(i, PROGRAMS) and not _under(i, allowed)
        ]
    assert wrong == []


def test_layer_sizes_are_reported(
    graph: dict[str, set[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    for package in ("photon.hub", "photon.agent"):
        sizes: dict[str, int] = {}
        for module in graph:
            if (part := _part(package, module)) is not None:
                sizes[part[1]] = sizes.get(part[1], 0) + 1
        with capsys.disabled():
            print(f"\n{package} modules per part:", dict(sorted(sizes.items())))
        assert "top" in sizes

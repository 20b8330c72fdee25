"""The plugin author's guide (docs/plugins.md) and the sample plugin's README, run.

Every fenced block is either run or checked, so the guide cannot drift from the SDK or from
examples/hello-plugin:
- ```python: the adapter must be examples/hello-plugin's module, word for word; blocks with
  `test_` functions are the guide's tests, run by pytest (configured by the guide's own
  `[tool.pytest.ini_options]` block) against that adapter; every other block is executed, with a
  fake task context as `ctx`, and a top-level `detect`/`run` must have the contract's signature;
- ```toml: a pyproject fragment must agree with examples/hello-plugin/pyproject.toml; any other is
  an agent.toml, which the agent's config loader must accept;
- ```yaml: a workflow, which the hub's parser must accept;
- ```console and ```text are shown only (commands and their output, file trees). Any other info
  string, or none, fails: a snippet that cannot run says so by being `text`.
"""

from __future__ import annotations
import __future__

import ast
import inspect
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from photon.agent import AgentFlags, agent_config
from photon.hub.workflows import parse_workflow
from photon.plugins import Action, Plugin
from photon.plugins.builtin.http._policy import AddressPolicy
from photon.plugins.testing import FakeTaskContext

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "plugins.md"
EXAMPLE = ROOT / "examples" / "hello-plugin"
DOCS = (GUIDE, EXAMPLE / "README.md")

CHECKED = frozenset({"python", "toml", "yaml"})
SHOWN = frozenset({"console", "text"})
PYPROJECT_TABLES = frozenset({"build-system", "project", "tool"})

_FENCE = re.compile(
    r"^(?P<indent>[ ]*)```(?P<info>[^`\n]*)\n(?P<code>.*?)^(?P=indent)```[ ]*$", re.M | re.S
)
_LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")


@dataclass(frozen=True, slots=True, kw_only=True)
class Block:
    doc: Path
    line: int
    info: str
    code: str

    @property
    def name(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}"

    @property
    def is_adapter(self) -> bool:
        return self.info == "python" and "class HelloPlugin" in self.code

    @property
    def tests(self) -> list[str]:
        """The names of the test functions this block defines."""
        if self.info != "python":
            return []
        return [
            node.name
            for node in ast.parse(self.code).body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.name.startswith("test_")
        ]


def _blocks(doc: Path) -> list[Block]:
    text = doc.read_text()
    found = []
    for match in _FENCE.finditer(text):
        indent = len(match["indent"])
        lines = match["code"].splitlines(keepends=True)
        found.append(
            Block(
                doc=doc,
                line=text.count("\n", 0, match.start()) + 1,
                info=match["info"].strip(),
                code="".join(line[indent:] for line in lines),
            )
        )
    return found


BLOCKS = [block for doc in DOCS for block in _blocks(doc)]
ADAPTERS = [b for b in BLOCKS if b.is_adapter]
TESTS = [b for b in BLOCKS if b.tests and not b.is_adapter]
SNIPPETS = [b for b in BLOCKS if b.info == "python" and not b.is_adapter and not b.tests]
TOML = [b for b in BLOCKS if b.info == "toml"]
YAML = [b for b in BLOCKS if b.info == "yaml"]


def _ids(blocks: list[Block]) -> list[str]:
    return [b.name for b in blocks]


def test_the_blocks_are_found() -> None:
    # A parser that found nothing would pass every test below.
    guide = [b for b in BLOCKS if b.doc == GUIDE]
    assert len(guide) >= 15
    assert {b.info for b in guide} >= {"python", "toml", "yaml", "console", "text"}
    assert len(ADAPTERS) == 1 and ADAPTERS[0].doc == GUIDE
    assert len(TESTS) >= 2 and len(SNIPPETS) >= 5


def test_every_block_is_run_or_marked_as_shown_only() -> None:
    unmarked = [f"{b.name} ```{b.info}" for b in BLOCKS if b.info not in CHECKED | SHOWN]
    assert unmarked == []
    python = [b for b in BLOCKS if b.info == "python"]
    assert sorted(_ids(ADAPTERS + TESTS + SNIPPETS)) == sorted(_ids(python))


def test_the_guide_names_no_section_of_a_file_users_do_not_have() -> None:
    text = GUIDE.read_text()
    assert re.findall(r"SPEC|§", text) == []


@pytest.mark.parametrize("doc", DOCS, ids=lambda doc: doc.name)
def test_links_lead_somewhere(doc: Path) -> None:
    text = doc.read_text()
    anchors = {_anchor(line) for line in text.splitlines() if line.startswith("#")}
    broken = []
    for match in _LINK.finditer(text):
        target = match["target"]
        if target.startswith(("http://", "https://")):
            continue
        if target.startswith("#"):
            if target[1:] not in anchors:
                broken.append(target)
        elif not (doc.parent / target.partition("#")[0]).exists():
            broken.append(target)
    assert broken == []


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as dashes."""
    title = heading.lstrip("#").strip().lower()
    return re.sub(r"[^\w\- ]", "", title).replace(" ", "-")


def test_the_guides_adapter_is_the_example_plugin() -> None:
    module = EXAMPLE / "src" / "photon_hello" / "__init__.py"
    assert ADAPTERS[0].code == module.read_text()


def test_the_guides_tests_pass_on_its_adapter(tmp_path: Path) -> None:
    """What a reader gets who copies the guide: its adapter, its tests, its pytest settings."""
    (tmp_path / "photon_hello.py").write_text(ADAPTERS[0].code)
    config = [b.code for b in TOML if "tool" in tomllib.loads(b.code)]
    assert config, "the guide shows no [tool.pytest.ini_options]"
    (tmp_path / "pyproject.toml").write_text("\n".join(config))
    tests = tmp_path / "tests"
    tests.mkdir()
    for block in TESTS:
        (tests / f"test_guide_{block.line}.py").write_text(block.code)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PHOTON_", "PYTEST_"))}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error", "tests"],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    count = sum(len(block.tests) for block in TESTS)
    assert f"{count} passed" in result.stdout, result.stdout


@pytest.mark.parametrize("block", SNIPPETS, ids=_ids(SNIPPETS))
async def test_python_snippet_runs(block: Block, tmp_path: Path) -> None:
    tool = tmp_path / "tool"  # what `binary` names in the process snippet
    tool.write_text('#!/bin/sh\necho "$@"\n')
    tool.chmod(0o755)
    workdir = tmp_path / "workspace"
    workdir.mkdir()
    namespace: dict[str, Any] = {
        "__name__": "snippet",
        "ctx": FakeTaskContext(inputs={"path": "notes/a.txt"}, workdir=workdir),
        "binary": str(tool),
        "args": ["plan"],
        "env": None,
    }
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT | __future__.annotations.compiler_flag
    code = compile(block.code, block.name, "exec", flags=flags, dont_inherit=True)
    ran = eval(code, namespace)
    if code.co_flags & inspect.CO_COROUTINE:
        await ran

    for name in _top_level_functions(block.code):
        if name in {"detect", "run"}:
            shown, contract = namespace[name], getattr(Plugin, name)
            assert inspect.iscoroutinefunction(shown), f"{name} must be async def"
            assert inspect.signature(shown) == inspect.signature(contract)
    for value in namespace.values():
        if isinstance(value, Action):
            Draft202012Validator.check_schema(dict(value.input_schema))


def _top_level_functions(code: str) -> list[str]:
    return [
        node.name
        for node in ast.parse(code).body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    ]


def test_a_snippet_with_the_wrong_signature_is_caught() -> None:
    # The signature check above compares like this; it must see a difference.
    namespace: dict[str, Any] = {}
    flags = __future__.annotations.compiler_flag
    exec(compile("async def run(self, task): ...", "x", "exec", flags=flags), namespace)
    assert inspect.signature(namespace["run"]) != inspect.signature(Plugin.run)


@pytest.mark.parametrize("block", TOML, ids=_ids(TOML))
def test_toml_snippet(block: Block, tmp_path: Path) -> None:
    data = tomllib.loads(block.code)
    if set(data) <= PYPROJECT_TABLES:
        example = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())
        assert _differences(data, example) == []
    else:
        config = agent_config(
            data_dir=tmp_path,
            file=data,
            source=tmp_path / "agent.toml",
            env={},
            flags=AgentFlags(),
            home=tmp_path,
        )
        # The agent passes [tools.http] through as it is; the http tool is what reads it.
        AddressPolicy.from_settings(config.tools.get("http", {}))


def _differences(shown: Mapping[str, Any], actual: Mapping[str, Any], at: str = "") -> list[str]:
    """Where `shown` says something `actual` does not (`actual` may say more)."""
    found = []
    for key, value in shown.items():
        where = f"{at}.{key}" if at else key
        if key not in actual:
            found.append(f"{where}: not in examples/hello-plugin/pyproject.toml")
        elif isinstance(value, Mapping) and isinstance(actual[key], Mapping):
            found += _differences(value, actual[key], where)
        elif value != actual[key]:
            found.append(f"{where}: {value!r} here, {actual[key]!r} in the example")
    return found


def test_differences_are_found() -> None:
    example = {"project": {"name": "a", "dependencies": ["x"]}, "tool": {}}
    assert _differences({"project": {"name": "a"}}, example) == []
    assert _differences({"project": {"name": "b", "version": "1"}}, example) == [
        "project.name: 'b' here, 'a' in the example",
        "project.version: not in examples/hello-plugin/pyproject.toml",
    ]


@pytest.mark.parametrize("block", YAML, ids=_ids(YAML))
def test_yaml_snippet_is_a_workflow(block: Block) -> None:
    spec = parse_workflow(yaml.safe_load(block.code))
    assert spec.steps

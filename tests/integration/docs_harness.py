"""Reading the docs' fenced blocks, checking them, and running them (see test_docs.py).

Info strings and what happens to each kind of block:
- ```sh: run with bash (`set -euo pipefail`) in a throw-away home, against a real hub and agent;
  a command ending in `&` is started in the background and waited for until it is ready; a
  command with the trailing comment `# exits N` must exit with status N; the commands in SKIPPED
  are not run (their own check says why that is safe);
- ```python: run as a script against the same hub;
- ```console: `$ ` lines are commands; PHOTON's own commands in them are parsed with the real
  argument parsers (flags and arguments must exist), nothing is run;
- ```yaml: a workflow file, named in its first line (`# NAME.yaml`); the hub's parser must accept
  it, and a `sh` block of the same page must run it. `# NAME.yaml is refused: MESSAGE` says the
  hub refuses it with exactly that message, which the page's run checks on a real hub;
- ```toml: loaded by the real loader of its kind (hub config, agent.toml, client config);
- ```text: shown only (diagrams, output samples).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from photon.agent import AgentFlags, agent_config
from photon.client import ClientContext, PhotonClient, load_context, save_context
from photon.errors import InvalidArgumentError
from photon.hub.workflows import parse_workflow

from .harness import Proc, wait_for

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent  # the venv's console scripts: photon-hub, photonctl, ...
README = ROOT / "README.md"
PAGES = tuple(
    ROOT / "docs" / name
    for name in ("tasks.md", "workflows.md", "cli.md", "security.md", "observability.md")
)
DOCS = (
    README,
    *PAGES,
    ROOT / "docs" / "configuration.md",
    ROOT / "docs" / "ARCHITECTURE.md",
    ROOT / "docs" / "dashboard.md",
)

RUN = frozenset({"sh", "python"})
CHECKED = frozenset({"console", "yaml", "toml"})
SHOWN = frozenset({"text"})
KNOWN = RUN | CHECKED | SHOWN

# Commands the docs show that this test does not run, and why that is safe.
SKIPPED = {
    "make demo": "CI runs it; the Makefile must have the target",
    "make test": "CI runs it; the Makefile must have the target",
    "pip install -e '.[hub]'": "the tests run in that install, which must have the extra",
}

_FENCE = re.compile(
    r"^(?P<indent>[ ]*)```(?P<info>[^`\n]*)\n(?P<code>.*?)^(?P=indent)```[ ]*$", re.M | re.S
)
_WORKFLOW_HEADER = re.compile(r"^# (?P<file>[\w.-]+\.ya?ml)(?: is refused: (?P<refused>.+))?$")
_EXITS = re.compile(r"^exits (?P<status>\d+)\b")
_ASSIGNMENT = re.compile(r"^(?:export\s+)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)=")
_LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")


@dataclass(frozen=True, slots=True, kw_only=True)
class Block:
    doc: Path
    line: int
    info: str
    code: str

    @property
    def name(self) -> str:
        try:
            return f"{self.doc.relative_to(ROOT)}:{self.line}"
        except ValueError:
            return f"{self.doc}:{self.line}"


def read_blocks(doc: Path, text: str | None = None) -> list[Block]:
    text = doc.read_text() if text is None else text
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


def unknown_info(blocks: list[Block]) -> list[str]:
    """The blocks whose info string says neither how to run them nor that they are shown only."""
    return [f"{b.name} ```{b.info}" for b in blocks if b.info not in KNOWN]


# -- links --------------------------------------------------------------------------------------


def anchors(text: str) -> set[str]:
    """GitHub's anchors for the headings outside code blocks."""
    prose = _FENCE.sub("", text)
    found = set()
    for line in prose.splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            found.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return found


def broken_links(doc: Path, text: str | None = None) -> list[str]:
    """Relative links to files that do not exist, or to headings those files do not have."""
    text = doc.read_text() if text is None else text
    broken = []
    for match in _LINK.finditer(_FENCE.sub("", text)):
        target = match["target"]
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, anchor = target.partition("#")
        if not path:
            if anchor not in anchors(text):
                broken.append(target)
        elif not (doc.parent / path).exists():
            broken.append(target)
        elif anchor and path.endswith(".md"):
            if anchor not in anchors((doc.parent / path).read_text()):
                broken.append(target)
    return broken


# -- shell --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ShellLine:
    code: str  # without its comment
    exits: int | None = None  # `# exits N`: the status the docs say it ends with
    background: bool = False  # ends with `&`


def split_comment(line: str) -> tuple[str, str]:
    """A shell line's code and its trailing comment (a `#` outside quotes, after a blank)."""
    quote = ""
    for i, char in enumerate(line):
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i].rstrip(), line[i + 1 :].strip()
    return line.rstrip(), ""


def shell_lines(code: str) -> list[ShellLine]:
    """The commands of a `sh` block: continuation lines joined, comment-only lines dropped."""
    joined: list[str] = []
    pending = ""
    for raw in code.splitlines():
        text, comment = split_comment(raw)
        if text.endswith("\\"):
            pending += text[:-1] + " "
            continue
        text = (pending + text).strip()
        pending = ""
        if not text:
            continue
        joined.append(text + (f"  # {comment}" if comment else ""))
    lines = []
    for text in joined:
        code_part, comment = split_comment(text)
        exits = _EXITS.match(comment)
        background = code_part.endswith("&") and not code_part.endswith("&&")
        lines.append(
            ShellLine(
                code=code_part[:-1].rstrip() if background else code_part,
                exits=int(exits["status"]) if exits else None,
                background=background,
            )
        )
    return lines


def console_commands(code: str) -> list[str]:
    """The commands of a `console` block (its `$ ` lines)."""
    return [line[2:].strip() for line in code.splitlines() if line.startswith("$ ")]


# -- PHOTON's command lines, parsed by the real parsers ------------------------------------------


def _parsers() -> dict[str, Callable[[], argparse.ArgumentParser]]:
    from photon.cli import agent, hub
    from photon.cli.ctl import _main as ctl

    return {"photon-hub": hub._parser, "photon-agent": agent._parser, "photonctl": ctl.parser}


def parser_for(program: str) -> argparse.ArgumentParser:
    return _parsers()[program]()


def _simple_commands(text: str) -> Iterator[list[str]]:
    """The simple commands of a shell line, command substitutions included, without their
    variable assignments and redirections."""
    substitution = re.compile(r"\$\(([^()]*)\)")
    for inner in substitution.findall(text):
        yield from _simple_commands(inner)
    lexer = shlex.shlex(substitution.sub("X", text), posix=True, punctuation_chars=";&|<>")
    lexer.whitespace_split = True
    command: list[str] = []
    redirect = False
    for token in lexer:
        if redirect:
            redirect = False
        elif token in {">", ">>", "<"}:
            redirect = True
        elif token in {"|", "||", "&&", ";", "&"}:
            yield command
            command = []
        elif token == "!" and not command:
            continue
        elif not command and _ASSIGNMENT.match(token):
            continue
        else:
            command.append(token)
    yield command


def command_problems(text: str) -> list[str]:
    """What the parsers of PHOTON's commands say about a shell line (empty: it parses)."""
    problems = []
    for argv in _simple_commands(text):
        if not argv or argv[0] not in _parsers():
            continue
        errors = io.StringIO()
        try:
            with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(io.StringIO()):
                parser_for(argv[0]).parse_args(argv[1:])
        except SystemExit as exc:
            if exc.code not in (0, None):
                last = errors.getvalue().strip().splitlines()[-1:]
                problems.append(f"{shlex.join(argv)}: {' '.join(last)}")
    return problems


def options(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], str | None]]:
    """Every subcommand path and each of its long options (None for the path itself)."""
    yield path, None
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from options(sub, (*path, name))
        else:
            for option in action.option_strings:
                if option.startswith("--") and option != "--help":
                    yield path, option


# -- workflow files -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkflowFile:
    file: str
    refused: str | None
    document: Any


def workflow_file(block: Block) -> WorkflowFile:
    """The file a `yaml` block is, checked by the hub's parser. Raises AssertionError or the
    parser's InvalidArgumentError."""
    first = block.code.splitlines()[0] if block.code.strip() else ""
    header = _WORKFLOW_HEADER.match(first)
    assert header, f"{block.name}: the first line must name the file: '# NAME.yaml'"
    document = yaml.safe_load(block.code)
    refused = header["refused"]
    if refused is None:
        parse_workflow(document)
    else:
        try:
            parse_workflow(document)
        except InvalidArgumentError as exc:
            assert str(exc) == refused, f"{block.name}: refused with {str(exc)!r}"
        # else the hub refuses it against its agents: the page's run checks that.
    return WorkflowFile(file=header["file"], refused=refused, document=document)


def unrun_workflows(blocks: list[Block]) -> list[str]:
    """Workflow files of a page that none of its `sh` (or `python`) blocks runs."""
    commands = [ln.code for b in blocks if b.info == "sh" for ln in shell_lines(b.code)]
    scripts = [b.code for b in blocks if b.info == "python"]
    missing = []
    for block in blocks:
        if block.info != "yaml":
            continue
        wf = workflow_file(block)
        if wf.refused is not None:
            continue
        ran = any(re.search(rf"workflow run {re.escape(wf.file)}\b", c) for c in commands)
        if not ran and not any(f'"{wf.file}"' in s for s in scripts):
            missing.append(f"{block.name} {wf.file}")
    return missing


# -- TOML ---------------------------------------------------------------------------------------

AGENT_KEYS = frozenset({"labels", "slots", "tools", "workspace_roots", "workspaces"})


def check_toml(block: Block, tmp: Path) -> str:
    """Load a `toml` block with the loader of its kind; return the kind. Raises what the loader
    raises, or AssertionError for a hub setting that the hub does not read."""
    data = tomllib.loads(block.code)
    path = tmp / "block.toml"
    path.write_text(block.code)
    if "contexts" in data:
        for name in data["contexts"]:
            load_context(path, name, env={})
        load_context(path, env={})
        return "client config"
    if set(data) <= AGENT_KEYS:
        agent_config(data_dir=tmp, file=data, source=path, env={}, flags=AgentFlags(), home=tmp)
        return "agent config"
    defaults = _hub_config_of({}, tmp)
    ignored = [key for key in data if _hub_config_of({key: data[key]}, tmp) == defaults]
    assert ignored == [], f"{block.name}: the hub ignores {ignored} (or they are its defaults)"
    return "hub config"


def _hub_config_of(data: Mapping[str, Any], tmp: Path) -> Any:
    from photon.cli.hub import _hub_config

    path = tmp / "hub-config.toml"
    path.write_text(_toml(data))
    args = parser_for("photon-hub").parse_args(["serve", "--config", str(path)])
    config = _hub_config(args, {"HOME": str(tmp)})
    return {f.name: getattr(config, f.name) for f in fields(config)}


def _toml(data: Mapping[str, Any]) -> str:
    import tomli_w

    return tomli_w.dumps(dict(data))


# -- running blocks -----------------------------------------------------------------------------


@dataclass
class Session:
    """Runs a page's `sh` and `python` blocks in order, as one reader would in one terminal:
    shell variables set by one block are there in the next, background commands keep running
    until `stop()`."""

    env: dict[str, str]
    cwd: Path
    work: Path  # scripts, logs and the shell state
    procs: list[Proc] = field(default_factory=list)
    variables: list[str] = field(default_factory=list)
    transcript: list[str] = field(default_factory=list)

    @property
    def home(self) -> Path:
        return Path(self.env["HOME"])

    @property
    def client_config(self) -> Path:
        return Path(self.env.get("PHOTON_CONFIG") or self.home / ".config/photon/config.toml")

    async def run(self, block: Block) -> None:
        if block.info == "sh":
            await self.sh(block)
        elif block.info == "python":
            self.python(block)
        else:
            raise AssertionError(f"{block.name}: a ```{block.info} block is not run")

    async def sh(self, block: Block) -> None:
        segment: list[ShellLine] = []
        for line in shell_lines(block.code):
            if line.code in SKIPPED:
                continue
            if line.background:
                self.bash(segment, block)
                segment = []
                await self.start(line, block)
            else:
                segment.append(line)
        self.bash(segment, block)

    def bash(self, lines: list[ShellLine], block: Block) -> None:
        if not lines:
            return
        state = self.work / "shell-state"
        script = ["set -euo pipefail", f"if [ -f {state} ]; then source {state}; fi", "set -x"]
        for line in lines:
            assigned = _ASSIGNMENT.match(line.code)
            if assigned and assigned["name"] not in self.variables:
                self.variables.append(assigned["name"])
            if line.exits is None:
                script.append(line.code)
            else:
                script += [
                    "set +e",
                    line.code,
                    "_docs_status=$?",
                    "set -e",
                    f'if [ "$_docs_status" -ne {line.exits} ]; then',
                    f'  echo "docs: exit status $_docs_status, not {line.exits}:'
                    f' {_quoted(line.code)}" >&2',
                    "  exit 1",
                    "fi",
                ]
        script.append("set +x")
        if self.variables:  # (`declare -p` alone would dump every variable, readonly ones too)
            script.append(f"declare -p {' '.join(self.variables)} > {state} 2>/dev/null || true")
        path = self.work / f"block-{block.line}.sh"
        path.write_text("\n".join(script) + "\n")
        result = subprocess.run(
            ["bash", str(path)],
            env=self.env,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=100,
        )
        self.transcript.append(f"--- {block.name}\n{result.stdout}{result.stderr}")
        assert result.returncode == 0, (
            f"{block.name}: exit status {result.returncode}\n{result.stdout}{result.stderr}"
        )

    async def start(self, line: ShellLine, block: Block) -> None:
        state = self.work / "shell-state"
        proc = Proc(
            ["bash", "-c", f"if [ -f {state} ]; then source {state}; fi; exec {line.code}"],
            self.env,
            self.work / f"background-{len(self.procs)}.log",
        ).start()
        self.procs.append(proc)
        argv = shlex.split(line.code)
        program = Path(argv[0]).name
        if program == "photon-hub" and "serve" in argv:
            await self._hub_ready(proc, parser_for(program).parse_args(argv[1:]))
        elif program == "photon-agent" and "run" in argv:
            await self._agent_ready(proc, parser_for(program).parse_args(argv[1:]))
        else:
            raise AssertionError(f"{block.name}: no way to know when `{line.code}` is ready")

    def _died(self, proc: Proc) -> bool:
        return proc.popen is not None and proc.popen.poll() is not None

    async def _hub_ready(self, proc: Proc, args: argparse.Namespace) -> None:
        data_dir = args.data_dir or Path(
            self.env.get("PHOTON_HUB_DIR") or self.home / ".local/share/photon/hub"
        )
        serving = data_dir / "serving.json"
        await wait_for(lambda: serving.exists() or self._died(proc), timeout=30)
        assert serving.exists(), proc.output()
        # The one substitution: `photon-hub init` wrote its default api address (:7444) into
        # the context; the hub here listens on a free port instead.
        api = json.loads(serving.read_text())["api"]
        context = load_context(self.client_config, env={})
        save_context(
            self.client_config,
            ClientContext(
                name=context.name, api=api, ca_pem=context.ca_pem, api_key=context.api_key
            ),
        )

    async def _agent_ready(self, proc: Proc, args: argparse.Namespace) -> None:
        data_dir = args.data_dir or Path(
            self.env.get("PHOTON_AGENT_DIR") or self.home / ".local/share/photon/agent"
        )
        name = json.loads((data_dir / "identity.json").read_text())["name"]
        context = load_context(self.client_config, env={})
        async with PhotonClient.from_context(context) as client:

            async def connected() -> bool:
                if self._died(proc):
                    return True
                agents = await client.list_agents()
                return any(a.name == name and a.state.value == "connected" for a in agents)

            await wait_for(connected, timeout=30)
        assert not self._died(proc), proc.output()

    def python(self, block: Block) -> None:
        path = self.work / f"block-{block.line}.py"
        path.write_text(block.code)
        result = subprocess.run(
            [sys.executable, str(path)],
            env=self.env,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=100,
        )
        self.transcript.append(f"--- {block.name}\n{result.stdout}{result.stderr}")
        assert result.returncode == 0, (
            f"{block.name}: exit status {result.returncode}\n{result.stdout}{result.stderr}"
        )

    def refused(self, block: Block, wf: WorkflowFile) -> None:
        """A workflow file the docs say the hub refuses, submitted to the hub."""
        result = subprocess.run(
            [sys.executable, "-m", "photon.cli.ctl", "workflow", "run", wf.file],
            env=self.env,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert (result.returncode, result.stderr.strip()) == (1, f"error: {wf.refused}"), (
            f"{block.name}: exit status {result.returncode}\n{result.stdout}{result.stderr}"
        )

    def stop(self) -> None:
        for proc in reversed(self.procs):  # agents before the hub they report to
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.stop(timeout=10)


def _quoted(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$").replace("`", "\\`")

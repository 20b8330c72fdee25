"""The README and the reference pages (docs/tasks.md, workflows.md, cli.md, configuration.md,
ARCHITECTURE.md), run or checked so they cannot drift from the code.

Every fenced block has an info string saying what happens to it (docs_harness.py has the
rules): `sh` and `python` blocks run against a real hub and a real agent, page by page in the
order a reader meets them; `console` commands are parsed by the real argument parsers; `yaml`
workflow files are parsed by the hub's parser, and run by the page's `sh` blocks (or refused by
a real hub with the message the page gives); `toml` blocks are loaded by the real config
loaders; `text` is shown only. Any other info string fails.

The README's Quick start builds its own world: a throw-away HOME, `photon-hub init` and
`serve`, a join token, an agent. The only substitution is the ports: `PHOTON_HUB_*_LISTEN` ask
for free ones, and the context `init` wrote is pointed at the api port the hub bound. The other
pages run in the world the Quick start describes (an agent `laptop`, labelled kind=local, with
shell allowed), built with the harness.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import os
import re
from pathlib import Path

import pytest

from photon.errors import ConfigError, InvalidArgumentError
from photon.hub.core import Limits

from .docs_harness import (
    BIN,
    DOCS,
    PAGES,
    README,
    ROOT,
    SKIPPED,
    Block,
    Session,
    broken_links,
    check_toml,
    command_problems,
    console_commands,
    options,
    parser_for,
    read_blocks,
    shell_lines,
    unknown_info,
    unrun_workflows,
    workflow_file,
)
from .harness import Mesh, make_env

BLOCKS = [block for doc in DOCS for block in read_blocks(doc)]
CLI = ROOT / "docs" / "cli.md"


def _ids(blocks: list[Block]) -> list[str]:
    return [b.name for b in blocks]


def _of(info: str) -> list[Block]:
    return [b for b in BLOCKS if b.info == info]


# -- what is found, and what every block must be -------------------------------------------------


def test_the_blocks_are_found() -> None:
    # A reader that found nothing would pass every test below.
    for doc in DOCS:
        assert read_blocks(doc), doc
    counts = {info: len(_of(info)) for info in ("sh", "python", "console", "yaml", "toml", "text")}
    assert counts["sh"] >= 20 and counts["python"] >= 5 and counts["yaml"] >= 10, counts
    assert counts["console"] >= 5 and counts["toml"] >= 3 and counts["text"] >= 5, counts


def test_every_block_is_run_checked_or_marked_as_shown_only() -> None:
    assert unknown_info(BLOCKS) == []


def test_an_unmarked_block_is_caught() -> None:
    doc = ROOT / "docs" / "x.md"
    blocks = read_blocks(doc, "```bash\nls\n```\n\n```\nplain\n```\n\n```sh\nls\n```\n")
    assert unknown_info(blocks) == ["docs/x.md:1 ```bash", "docs/x.md:5 ```"]


def test_no_doc_sends_readers_to_the_internal_spec() -> None:
    for doc in DOCS:
        assert re.findall(r"SPEC|§", doc.read_text()) == [], doc


@pytest.mark.parametrize("doc", DOCS, ids=lambda doc: doc.name)
def test_links_lead_somewhere(doc: Path) -> None:
    assert broken_links(doc) == []


def test_a_broken_link_is_caught() -> None:
    text = "# Title\n[a](tasks.md#no-such-heading) [b](nowhere.md) [c](#title) [d](#nope)\n"
    assert broken_links(ROOT / "docs" / "x.md", text) == [
        "tasks.md#no-such-heading",
        "nowhere.md",
        "#nope",
    ]


# -- commands: the flags and arguments the docs use exist ----------------------------------------

COMMAND_BLOCKS = [b for b in BLOCKS if b.info in {"sh", "console"}]


@pytest.mark.parametrize("block", COMMAND_BLOCKS, ids=_ids(COMMAND_BLOCKS))
def test_commands_parse(block: Block) -> None:
    if block.info == "console":
        lines = console_commands(block.code)
        assert lines, f"{block.name}: a console block without `$ ` commands"
    else:
        lines = [line.code for line in shell_lines(block.code)]
    assert [p for line in lines for p in command_problems(line)] == []


def test_a_wrong_flag_is_caught() -> None:
    assert command_problems("photonctl run echo --input message=hi --agent laptop") == []
    assert command_problems("TOKEN=$(photonctl join-token create --labels kind=local)") == []
    assert command_problems("photonctl run echo --colour red")
    assert command_problems("TOKEN=$(photonctl join-token create --lables kind=local)")
    assert command_problems("photonctl tasks show -o json | jq .state && photon-hub serve --port 1")
    assert command_problems("photon-agent join --token T --name n --region eu")


def test_the_skipped_commands_are_safe_to_skip() -> None:
    shown = {line.code for b in _of("sh") for line in shell_lines(b.code)}
    assert shown >= set(SKIPPED), "a skipped command the docs no longer show: drop it"
    makefile = (ROOT / "Makefile").read_text()
    for target in ("demo", "test"):
        assert re.search(rf"^{target}:", makefile, re.M), target
    extras = importlib.metadata.metadata("photon-mesh").get_all("Provides-Extra") or []
    assert "hub" in extras


def test_every_command_and_flag_is_in_the_cli_reference() -> None:
    text = CLI.read_text()
    found = [
        (program, path, option)
        for program in ("photon-hub", "photon-agent", "photonctl")
        for path, option in options(parser_for(program))
    ]
    assert len(found) >= 60, "the parsers were not walked"
    missing = []
    for program, path, option in found:
        command = " ".join((program, *path))
        if option is None:
            if path and command not in text and f"`{' '.join(path)}" not in text:
                missing.append(command)
        elif not re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text):
            missing.append(f"{command} {option}")
    assert missing == []


def test_every_environment_variable_is_in_the_cli_reference() -> None:
    used = set()
    for source in (ROOT / "photon").rglob("*.py"):
        if "v1" not in source.relative_to(ROOT / "photon").parts:
            used |= set(re.findall(r"[\"'](PHOTON_[A-Z_]+)[\"']", source.read_text()))
    text = CLI.read_text()
    listed = set(re.findall(r"^\| `(PHOTON_[A-Z_]+)`", text, re.M))
    assert len(used) >= 15, used
    assert sorted(used - listed) == [], "read by the code, not in docs/cli.md"
    assert sorted(listed - used) == [], "in docs/cli.md, read by no code"


# -- workflow files -----------------------------------------------------------------------------

YAML = _of("yaml")


@pytest.mark.parametrize("block", YAML, ids=_ids(YAML))
def test_workflow_file_parses(block: Block) -> None:
    wf = workflow_file(block)
    assert wf.document["name"]


@pytest.mark.parametrize("doc", DOCS, ids=lambda doc: doc.name)
def test_every_workflow_file_is_run(doc: Path) -> None:
    blocks = read_blocks(doc)
    assert unrun_workflows(blocks) == []
    files = [workflow_file(b).file for b in blocks if b.info == "yaml"]
    assert len(files) == len(set(files)), "two blocks name the same file"


def test_a_broken_workflow_file_is_caught() -> None:
    def block(code: str) -> Block:
        return Block(doc=ROOT / "docs" / "x.md", line=1, info="yaml", code=code)

    cycle = (
        "name: c\nsteps:\n  - {id: a, tool: echo, needs: b}\n  - {id: b, tool: echo, needs: a}\n"
    )
    with pytest.raises(InvalidArgumentError, match="form a cycle"):
        workflow_file(block("# cycle.yaml\n" + cycle))
    with pytest.raises(AssertionError, match="refused with"):
        workflow_file(block("# cycle.yaml is refused: something else\n" + cycle))
    with pytest.raises(AssertionError, match="must name the file"):
        workflow_file(block(cycle))
    workflow_file(block("# cycle.yaml is refused: steps a, b form a cycle through needs\n" + cycle))

    run = Block(doc=ROOT / "x.md", line=9, info="sh", code="photonctl workflow run other.yaml\n")
    shown = block("# ok.yaml\nname: ok\nsteps: [{id: a, tool: echo}]\n")
    assert unrun_workflows([shown, run]) == ["docs/x.md:1 ok.yaml"]


# -- config files -------------------------------------------------------------------------------

TOML = _of("toml")


@pytest.mark.parametrize("block", TOML, ids=_ids(TOML))
def test_toml_block_loads(block: Block, tmp_path: Path) -> None:
    check_toml(block, tmp_path)


def test_config_kinds_are_told_apart_and_typos_are_caught(tmp_path: Path) -> None:
    kinds = {check_toml(b, tmp_path) for b in TOML}
    assert kinds == {"hub config", "agent config", "client config"}

    def block(code: str) -> Block:
        return Block(doc=ROOT / "docs" / "x.md", line=1, info="toml", code=code)

    with pytest.raises(ConfigError, match="unknown key 'heartbeat-intervall'"):
        check_toml(block("heartbeat-interval = 2.0\nheartbeat-intervall = 2.0\n"), tmp_path)
    with pytest.raises(Exception, match="slots"):
        check_toml(block('slots = "many"\n'), tmp_path)


# -- the runner can fail ------------------------------------------------------------------------


def _session(tmp_path: Path) -> Session:
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "HOME": str(tmp_path), "PATH": f"{BIN}:{os.environ['PATH']}"}
    return Session(env=env, cwd=work, work=work)


async def test_a_failing_snippet_is_caught(tmp_path: Path) -> None:
    session = _session(tmp_path)

    def block(info: str, code: str) -> Block:
        return Block(doc=ROOT / "docs" / "x.md", line=len(session.transcript), info=info, code=code)

    try:
        await session.run(block("sh", "GREETING=hello\nfalse  # exits 1\n"))
        await session.run(block("sh", 'test "$GREETING" = hello   # a variable lives on\n'))
        for code in ("true\nfalse\n", "true  # exits 1\n", "photonctl --no-such-flag  # exits 1\n"):
            with pytest.raises(AssertionError, match="exit status"):
                await session.run(block("sh", code))
        await session.run(block("python", "print('fine')\n"))
        with pytest.raises(AssertionError, match="ZeroDivisionError"):
            await session.run(block("python", "1 / 0\n"))
        with pytest.raises(AssertionError, match="no way to know"):
            await session.run(block("sh", "sleep 30 &\n"))
    finally:
        session.stop()


# -- the pages, run ------------------------------------------------------------------------------


async def _run_page(doc: Path, session: Session) -> None:
    blocks = read_blocks(doc)
    # Every file first, as a reader who saved them: a page may run one before showing it.
    for block in blocks:
        if block.info == "yaml":
            (session.cwd / workflow_file(block).file).write_text(block.code)
    for block in blocks:
        if block.info in {"sh", "python"}:
            await session.run(block)
        elif block.info == "yaml":
            wf = workflow_file(block)
            if wf.refused is not None:
                session.refused(block, wf)


async def test_the_readme_runs_as_written(tmp_path: Path) -> None:
    tmp_path.chmod(0o700)
    home = tmp_path / "home"
    home.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHOTON_")}
    env.update(
        HOME=str(home),
        PATH=f"{BIN}:{env['PATH']}",
        PYTHONUNBUFFERED="1",
        PHOTON_HUB_LISTEN="127.0.0.1:0",
        PHOTON_HUB_API_LISTEN="127.0.0.1:0",
        PHOTON_HUB_HTTP_LISTEN="127.0.0.1:0",
    )
    session = Session(env=env, cwd=work, work=work)
    try:
        await _run_page(README, session)
        # The Quick start made the world the other pages assume.
        transcript = "\n".join(session.transcript)
        assert re.search(r"laptop\s+connected\s+kind=local\s.*shell", transcript), transcript
    finally:
        session.stop()


@pytest.mark.parametrize("doc", PAGES, ids=lambda doc: doc.name)
async def test_the_page_runs_as_written(doc: Path, tmp_path: Path) -> None:
    tmp_path.chmod(0o700)
    mesh = Mesh(root=tmp_path, env=make_env(tmp_path))
    work = tmp_path / "work"
    work.mkdir()
    session = Session(env={**mesh.env, "PATH": f"{BIN}:{mesh.env['PATH']}"}, cwd=work, work=work)
    try:
        mesh.init()
        await mesh.start_hub()
        mesh.start_agent(mesh.join("laptop", token_labels="kind=local"), "--allow-tool", "shell")
        await mesh.wait_agent_state("laptop", "connected")
        await _run_page(doc, session)
    finally:
        session.stop()
        mesh.stop_all()


def test_every_request_limit_is_in_the_table_with_its_default() -> None:
    page = (ROOT / "docs" / "configuration.md").read_text()
    rows = dict(re.findall(r"^\| `(max-[a-z-]+)` \| ([^|]+) \|", page, re.MULTILINE))
    units = {"KiB": 1024, "MiB": 1024 * 1024}
    documented = {}
    for name, default in rows.items():
        number, _, unit = default.strip().partition(" ")
        documented[name] = int(number) * units.get(unit, 1)
    fields = {f.name.replace("_", "-"): f.default for f in dataclasses.fields(Limits)}
    assert documented == fields

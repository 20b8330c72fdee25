"""photonctl's commands against fake clients: usage checked before the hub, and the views."""

from __future__ import annotations

import argparse
import ast
import time
from pathlib import Path
from typing import Any

import pytest

from photon.cli.ctl import _join_token, _main, _workflow
from photon.cli.ctl._command import event_line
from photon.client import JoinTokenInfo, Task, TaskEvent, task_spec
from photon.errors import UsageError
from photon.model import TaskState

CTL = Path(_main.__file__).parent
NOW = 1_000_000.0


class RefusingClient:
    """A client whose every call fails the test: usage errors must be found before the hub."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the hub was called ({name}) for a usage error")


class RecordingClient:
    """Answers `submit` and `list_join_tokens`, keeping what it was given."""

    def __init__(self, tokens: list[JoinTokenInfo] | None = None) -> None:
        self.tokens = tokens or []
        self.submitted: list[tuple[str, str, dict[str, Any]]] = []

    async def submit(self, tool: str, action: str = "", **fields: Any) -> Task:
        self.submitted.append((tool, action, fields))
        return Task(
            id="t1",
            spec=task_spec(tool, action),
            state=TaskState.QUEUED,
            attempt=0,
            agent_id="",
            outputs=None,
            failure=None,
            created_at=NOW,
            started_at=None,
            finished_at=None,
        )

    async def list_join_tokens(self) -> list[JoinTokenInfo]:
        return self.tokens


def parse(*argv: str) -> argparse.Namespace:
    return _main.parser().parse_args(argv)


async def usage_error(*argv: str) -> str:
    args = parse(*argv)
    with pytest.raises(UsageError) as info:
        await args.handler(args, RefusingClient())
    message = str(info.value)
    assert "\n" not in message
    return message


# -- the layout: one module per noun, imports one way -----------------------------------------


def _actions(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (sub,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def test_every_action_has_a_handler() -> None:
    nouns = _actions(_main.parser())
    assert list(nouns) == [
        "join-token",
        "agents",
        "run",
        "workflow",
        "tasks",
        "report",
        "user",
        "secret",
        "audit",
        "top",
        "context",
        "dashboard",
        "completion",
    ]
    leaves = {name: nouns.pop(name) for name in ("run", "top", "dashboard", "completion")}
    for noun, parser in nouns.items():
        leaves.update({f"{noun} {a}": p for a, p in _actions(parser).items()})
    assert len(leaves) == 35  # tasks diff, report cost and dashboard among them
    for name, parser in leaves.items():
        # A command on the client config alone (`context`, `completion`) names a `local`
        # handler instead.
        kind = "local" if name.startswith(("context ", "completion")) else "handler"
        assert callable(parser.get_default(kind)), name


def test_noun_modules_do_not_import_the_main_module() -> None:
    for path in CTL.glob("_[!_]*.py"):  # not the front doors, __init__ and __main__
        if path.name == "_main.py":
            continue
        tree = ast.parse(path.read_text())
        imported = {
            f"{'.' * node.level}{node.module or ''}"
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
        }
        imported |= {
            f".{alias.name}"
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.level == 1 and not node.module
            for alias in node.names
        }
        assert not imported & {"._main", ".", "photon.cli.ctl", "photon.cli.ctl._main"}, path


# -- usage errors are caught before any call to the hub (exit 2 through run()) ----------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("run", "echo", "--priority", "12"), "--priority must be between 0 and 9, not 12"),
        (("run", "echo", "--priority", "-1"), "--priority must be between 0 and 9, not -1"),
        (("run", "echo", "--selector", "a=(b"), "selector term 'a=(b' is not valid"),
        (("run", "echo", "--selector", "a in (x, y"), "selector term 'a in (x, y' is not valid"),
        (("run", "echo", "--detach", "--selector", "!"), "selector term '!' is not valid"),
        (("tasks", "list", "--limit", "0"), "--limit must be at least 1"),
        (("workflow", "list", "--limit", "-5"), "--limit must be at least 1"),
        (("join-token", "create", "--uses", "0"), "--uses must be at least 1"),
        (("join-token", "create", "--uses", str(2**31)), "--uses must be at most 2147483647"),
        (("tasks", "list", "--limit", str(2**40)), "--limit must be at most 2147483647"),
    ],
)
async def test_bad_flags_are_usage_errors(argv: tuple[str, ...], message: str) -> None:
    assert await usage_error(*argv) == message


async def test_good_selector_and_priority_reach_the_hub() -> None:
    args = parse("run", "echo", "--detach", "--selector", "zone in (a,b),!gpu", "--priority", "9")
    client = RecordingClient()
    assert await args.handler(args, client) == 0
    ((tool, _, fields),) = client.submitted
    assert (tool, fields["selector"], fields["priority"]) == ("echo", "zone in (a,b),!gpu", 9)


@pytest.mark.parametrize("noun", ["run echo", "workflow run wf.yaml"])
async def test_unreadable_inputs_file_is_a_usage_error(noun: str, tmp_path: Path) -> None:
    (tmp_path / "wf.yaml").write_text("name: x\nsteps: []\n")
    blob = tmp_path / "blob.bin"
    blob.write_bytes(b"\xff\xfe\x00")
    argv = [*noun.replace("wf.yaml", str(tmp_path / "wf.yaml")).split(), "--inputs-file"]
    message = await usage_error(*argv, str(blob))
    assert message.startswith(f"--inputs-file: cannot read {blob}: not UTF-8 text")
    message = await usage_error(*argv, str(tmp_path))
    assert message == f"--inputs-file: cannot read {tmp_path}: Is a directory"
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]")
    message = await usage_error(*argv, str(listed))
    assert message == "--inputs-file: expected a JSON or YAML object"


# -- join-token list: the time left, not the age of a future time ----------------------------


def _token(expires_at: float, *, revoked: bool = False) -> JoinTokenInfo:
    return JoinTokenInfo(
        id="tok",
        labels={},
        uses_left=1,
        expires_at=expires_at,
        revoked=revoked,
        created_at=NOW - 60,
    )


@pytest.mark.parametrize(
    ("token", "shown"),
    [
        (_token(NOW + 14 * 60 + 59), "14m"),
        (_token(NOW + 7 * 86400), "7d"),
        (_token(NOW + 5), "5s"),
        (_token(NOW), "expired"),
        (_token(NOW - 3600), "expired"),
        (_token(NOW + 600, revoked=True), "revoked"),
        (_token(NOW - 600, revoked=True), "revoked"),
    ],
)
def test_token_expiry(token: JoinTokenInfo, shown: str) -> None:
    assert _join_token.expiry(token, NOW) == shown


async def test_token_list_shows_time_left(capsys: pytest.CaptureFixture[str]) -> None:
    now = time.time()
    tokens = [_token(now + 15 * 60 - 1), _token(now - 1), _token(now + 60, revoked=True)]
    args = parse("join-token", "list")
    assert await args.handler(args, RecordingClient(tokens)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[-1] == "EXPIRES"
    assert [line.split()[-1] for line in lines[1:]] == ["14m", "expired", "revoked"]


# -- workflow files: anything but a mapping is a usage error ----------------------------------


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("- a\n- b\n", "a list"),
        ("[]", "a list"),
        ("hello\n", "a string"),
        ("42\n", "a number"),
        ("1.5\n", "a number"),
        ("true\n", "a boolean"),
        ("", "an empty document"),
        ("# only a comment\n", "an empty document"),
        ("null\n", "an empty document"),
    ],
)
def test_workflow_must_be_a_mapping(text: str, kind: str) -> None:
    with pytest.raises(UsageError) as info:
        _workflow.parse_workflow(text, "wf.yaml")
    assert str(info.value) == f"wf.yaml: a workflow is a mapping with name and steps, not {kind}"


def test_workflow_timestamps_stay_text() -> None:
    # yaml.safe_load made a date of it, which then could not be sent (a traceback).
    document = _workflow.parse_workflow("name: x\ncreated: 2024-01-01\nsteps: []\n", "wf.yaml")
    assert document == {"name": "x", "created": "2024-01-01", "steps": []}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\nsteps: !!binary aGk=\n", "wf.yaml: not JSON-compatible (Object of type bytes"),
        ("name: &x [*x]\n", "wf.yaml: not JSON-compatible (Circular reference detected)"),
        ("name: " + "[" * 5_000, "wf.yaml: nested deeper than the limit max-input-depth (32)"),
        (
            "name: x\nsteps: []\n"
            + "".join(
                f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 9)
            ).replace("*a0", "lol"),
            "wf.yaml: expands to more than 1048576 bytes (aliases repeat what they name)",
        ),
        (
            '{"name": "x", "description": "' + "x" * 1_048_576 + '"}',
            "wf.yaml: size exceeds the limit max-workflow-bytes (1048608 > 1048576)",
        ),
        ("name: x\nsteps: [\n", "wf.yaml is not valid YAML or JSON (line 3)"),
    ],
)
def test_workflow_that_cannot_be_sent(text: str, message: str) -> None:
    with pytest.raises(UsageError) as info:
        _workflow.parse_workflow(text, "wf.yaml")
    assert str(info.value).startswith(message)


async def test_workflow_file_that_cannot_be_read(tmp_path: Path) -> None:
    assert await usage_error("workflow", "run", str(tmp_path)) == (
        f"cannot read {tmp_path}: Is a directory"
    )
    blob = tmp_path / "blob.yaml"
    blob.write_bytes(b"name: \xff\n")
    assert (await usage_error("workflow", "run", str(blob))).startswith(
        f"cannot read {blob}: not UTF-8 text"
    )
    listed = tmp_path / "list.yaml"
    listed.write_text("- id: a\n  tool: echo\n")
    assert await usage_error("workflow", "run", str(listed)) == (
        f"{listed}: a workflow is a mapping with name and steps, not a list"
    )


# -- run --env and secret set: where values come from --------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("run", "echo", "--env", "NOEQUALS"), "--env 'NOEQUALS': expected NAME=VALUE"),
        (("run", "echo", "--env", "=v"), "--env '=v': expected NAME=VALUE"),
        (("run", "echo", "--env", "A=1", "--env", "A=2"), "--env 'A': given twice"),
        (("run", "echo", "--env", "A=secret:has space"), "--env 'A': secret name: must be"),
        (("secret", "set", "tok", "--from-env", "PHOTON_TEST_UNSET_VAR"), "is not set"),
    ],
)
async def test_bad_env_and_secret_sources_are_usage_errors(
    argv: tuple[str, ...], message: str
) -> None:
    assert message in await usage_error(*argv)


async def test_env_flags_reach_the_hub_as_given() -> None:
    args = parse("run", "echo", "--detach", "-e", "TOKEN=secret:tok", "--env", "A=b=c")
    client = RecordingClient()
    assert await args.handler(args, client) == 0
    ((_, _, fields),) = client.submitted
    assert fields["env"] == {"TOKEN": "secret:tok", "A": "b=c"}


class SecretClient:
    def __init__(self) -> None:
        self.values: list[tuple[str, bytes]] = []

    async def set_secret(self, name: str, value: bytes) -> Any:
        from photon.client import SecretInfo

        self.values.append((name, value))
        return SecretInfo(name=name, version=len(self.values), set_by="admin", set_at=NOW)


@pytest.mark.parametrize(
    ("content", "flags", "stored"),
    [
        (b"value\n", (), b"value"),
        (b"value\r\n", (), b"value"),
        (b"value\n\n", (), b"value\n"),  # one newline only
        (b"value\n", ("--keep-newline",), b"value\n"),
        (b"no newline", (), b"no newline"),
    ],
)
async def test_secret_set_from_a_file_drops_one_trailing_newline(
    tmp_path: Path, content: bytes, flags: tuple[str, ...], stored: bytes
) -> None:
    path = tmp_path / "value"
    path.write_bytes(content)
    args = parse("secret", "set", "tok", "--from-file", str(path), *flags)
    client = SecretClient()
    assert await args.handler(args, client) == 0
    assert client.values == [("tok", stored)]


async def test_secret_set_from_env_takes_the_value_as_it_is(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PHOTON_TEST_SECRET_VALUE", "v\n")
    args = parse("secret", "set", "tok", "--from-env", "PHOTON_TEST_SECRET_VALUE")
    client = SecretClient()
    assert await args.handler(args, client) == 0
    assert client.values == [("tok", b"v\n")]
    assert capsys.readouterr().out == "secret tok set (version 1)\n"


async def test_an_empty_or_unreadable_value_is_a_usage_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_bytes(b"\n")
    assert await usage_error("secret", "set", "tok", "--from-file", str(empty)) == (
        f"{empty} is empty: a secret needs a value"
    )
    missing = tmp_path / "missing"
    assert await usage_error("secret", "set", "tok", "--from-file", str(missing)) == (
        f"cannot read {missing}: No such file or directory"
    )


def test_a_secret_value_cannot_be_given_as_a_flag() -> None:
    with pytest.raises(SystemExit):
        parse("secret", "set", "tok", "--value", "hunter2")
    with pytest.raises(SystemExit):
        parse("secret", "set", "tok", "hunter2")
    with pytest.raises(SystemExit):  # one source at a time
        parse("secret", "set", "tok", "--from-file", "f", "--from-env", "V")


def test_tasks_list_since_is_sent_as_the_unix_time_that_long_ago() -> None:
    from photon.cli.ctl._tasks import list_filters

    before = time.time()
    filters = list_filters(
        parse("tasks", "list", "--since", "1h", "--label", "a=1", "--label", "b=2")
    )
    assert before - 3600 <= filters["since"] <= time.time() - 3600
    assert filters["labels"] == {"a": "1", "b": "2"}
    assert list_filters(parse("tasks", "list"))["since"] == 0.0


def test_an_event_with_no_text_shows_its_values() -> None:
    usage = TaskEvent(
        seq=1,
        attempt=1,
        kind="usage",
        message="",
        data={"scope": "total", "input_tokens": 21, "output_tokens": 7, "nested": {"x": 1}},
        time=0.0,
    )
    assert event_line(usage).split(" ", 1)[1] == (
        "usage: scope=total input_tokens=21 output_tokens=7"
    )
    said = TaskEvent(seq=2, attempt=1, kind="log", message="hi", data={"n": 1}, time=0.0)
    assert event_line(said).endswith(" log: hi")

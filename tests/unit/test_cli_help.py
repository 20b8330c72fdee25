"""Every option of every photonctl, photon-hub and photon-agent command says what it does, and
every command's help shows examples."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from photon.cli import agent, hub
from photon.cli.ctl import _main

PARSERS = {"photonctl": _main.parser, "photon-hub": hub._parser, "photon-agent": agent._parser}


def _commands(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """The parser and every parser below it."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):  # aliases share a parser
                yield from _commands(child)


def _is_leaf(parser: argparse.ArgumentParser) -> bool:
    return not any(isinstance(a, argparse._SubParsersAction) for a in parser._actions)


@pytest.mark.parametrize("program", PARSERS)
def test_every_option_and_argument_has_help(program: str) -> None:
    missing = [
        f"{command.prog}: {'/'.join(action.option_strings) or action.dest}"
        for command in _commands(PARSERS[program]())
        for action in command._actions
        if not action.help and not isinstance(action, argparse._SubParsersAction)
    ]
    assert missing == []


@pytest.mark.parametrize("program", PARSERS)
def test_every_subcommand_has_help(program: str) -> None:
    # Listed in its parent's help, and completed by `photonctl completion`.
    missing = []
    for command in _commands(PARSERS[program]()):
        for action in command._actions:
            if isinstance(action, argparse._SubParsersAction):
                described = {a.dest for a in action._get_subactions() if a.help}
                missing += [f"{command.prog} {n}" for n in action.choices if n not in described]
    assert missing == []


@pytest.mark.parametrize("program", PARSERS)
def test_every_command_shows_examples(program: str) -> None:
    without = [
        command.prog
        for command in _commands(PARSERS[program]())
        if _is_leaf(command) and "examples:" not in (command.epilog or "")
    ]
    assert without == []
    some = next(c for c in _commands(PARSERS[program]()) if _is_leaf(c))
    assert some.prog.split()[0] in some.format_help().split("examples:")[1]

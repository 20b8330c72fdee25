"""The `photonctl` command: global flags, one subcommand per noun, errors to exit codes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ...client import PhotonClient, default_config_path, load_context
from .._colour import use_colour
from .._common import add_examples, add_version_flag, environ, run
from . import (
    _agents,
    _audit,
    _completion,
    _contexts,
    _dashboard,
    _join_token,
    _report,
    _run,
    _secret,
    _tasks,
    _top,
    _users,
    _workflow,
)
from ._command import Handler, LocalHandler
from ._examples import EXAMPLES

# In the order `photonctl --help` lists them.
NOUNS = (
    _join_token,
    _agents,
    _run,
    _workflow,
    _tasks,
    _report,
    _users,
    _secret,
    _audit,
    _top,
    _contexts,
    _dashboard,
    _completion,
)


def parser() -> argparse.ArgumentParser:
    """The whole command line; each action's parser sets the `handler` that runs it."""
    parser = argparse.ArgumentParser(prog="photonctl", description="PHOTON admin CLI")
    parser.add_argument("--config", type=Path, help="client config (env PHOTON_CONFIG)")
    parser.add_argument("--context", help="context name in the client config")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    add_version_flag(parser)
    commands = parser.add_subparsers(dest="command", required=True)
    for noun in NOUNS:
        noun.register(commands)
    add_examples(parser, EXAMPLES)
    parser.set_defaults(command_line=parser)  # for `photonctl completion`
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    env = environ()
    args.colour = use_colour(sys.stdout, env)
    local: LocalHandler | None = getattr(args, "local", None)
    if local is not None:
        path = args.config or default_config_path(env)
        return run(lambda: local(args, path, env), debug=args.debug)
    handler: Handler = args.handler

    async def command() -> int:
        context = load_context(args.config, args.context, env=env)
        async with PhotonClient.from_context(context) as client:
            return await handler(args, client)

    return run(command, debug=args.debug)

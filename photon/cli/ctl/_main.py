"""The `photonctl` command: global flags, one subcommand per noun, errors to exit codes."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from ...client import PhotonClient, load_context
from .._common import environ, run
from . import _agents, _join_token, _run, _secret, _tasks, _workflow
from ._command import Handler

# In the order `photonctl --help` lists them.
NOUNS = (_join_token, _agents, _run, _workflow, _tasks, _secret)


def parser() -> argparse.ArgumentParser:
    """The whole command line; each action's parser sets the `handler` that runs it."""
    parser = argparse.ArgumentParser(prog="photonctl", description="PHOTON admin CLI")
    parser.add_argument("--config", type=Path, help="client config (env PHOTON_CONFIG)")
    parser.add_argument("--context", help="context name in the client config")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    commands = parser.add_subparsers(dest="command", required=True)
    for noun in NOUNS:
        noun.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    handler: Handler = args.handler
    env = environ()

    async def command() -> int:
        context = load_context(args.config, args.context, env=env)
        async with PhotonClient.from_context(context) as client:
            return await handler(args, client)

    return run(command, debug=args.debug)

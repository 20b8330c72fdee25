"""`photonctl completion bash|zsh`: a shell completion script for photonctl, on stdout."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import shtab

from .._common import EXIT_OK

if TYPE_CHECKING:
    from ._command import Commands

SHELLS = ("bash", "zsh")


def register(commands: Commands) -> None:
    parser = commands.add_parser("completion", help="print a shell completion script")
    parser.add_argument("shell", choices=SHELLS, help="the shell to complete in")
    parser.set_defaults(local=_completion)


async def _completion(args: argparse.Namespace, config: Path, env: Mapping[str, str]) -> int:
    # The whole command line, which holds this command: `photonctl` sets it as a default.
    print(shtab.complete(args.command_line, shell=args.shell), end="")
    return EXIT_OK

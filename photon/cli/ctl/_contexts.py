"""`photonctl context list|use|add|delete`: the hubs and credentials of the client config.

These change only the local file (see `--config`, `PHOTON_CONFIG`); they need no hub.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ..._address import split_address
from ..._text import escape_controls
from ...client import ClientContext, delete_context, list_contexts, save_context, use_context
from ...errors import UsageError
from .._common import EXIT_OK
from .._inputs import read_text_file
from .._output import render
from ._command import output_flag

if TYPE_CHECKING:
    from ._command import Commands

COLUMNS = [("current", "current"), ("name", "name"), ("api", "api")]


def register(commands: Commands) -> None:
    actions = commands.add_parser(
        "context", help="hubs and credentials of the client config"
    ).add_subparsers(dest="action", required=True)
    actions.add_parser("list", parents=[output_flag()], help="every context").set_defaults(
        local=_list
    )
    use = actions.add_parser("use", help="make a context current")
    use.add_argument("name", help="the context to make current")
    use.set_defaults(local=_use)
    add = actions.add_parser(
        "add", help="add or replace a context; the API key is read from stdin unless --from-env"
    )
    add.add_argument("name", help="the context's name")
    add.add_argument("--api", required=True, metavar="HOST:PORT", help="the hub's api address")
    add.add_argument("--ca-file", required=True, help="the hub's CA certificate (PEM)")
    add.add_argument("--from-env", metavar="VAR", help="read the API key from this variable")
    add.add_argument("--use", action="store_true", help="make it the current context")
    add.set_defaults(local=_add)
    delete = actions.add_parser("delete", help="remove a context and its key")
    delete.add_argument("name", help="the context to remove")
    delete.set_defaults(local=_delete)


async def _list(args: argparse.Namespace, path: Path, env: Mapping[str, str]) -> int:
    rows = [
        {"current": "*" if c.current else "", "name": c.name, "api": c.api}
        for c in list_contexts(path)
    ]
    print(render(rows, args.output, columns=COLUMNS))
    return EXIT_OK


async def _use(args: argparse.Namespace, path: Path, env: Mapping[str, str]) -> int:
    use_context(path, args.name)
    print(f"current context is now {escape_controls(args.name)}")
    return EXIT_OK


async def _add(args: argparse.Namespace, path: Path, env: Mapping[str, str]) -> int:
    try:
        split_address(args.api)
    except ValueError as exc:
        raise UsageError(f"--api: {exc}") from None
    ca_pem = read_text_file(args.ca_file)
    if "BEGIN CERTIFICATE" not in ca_pem:
        raise UsageError(f"--ca-file {args.ca_file}: not a PEM certificate")
    if args.from_env:
        api_key = env.get(args.from_env, "")
        if not api_key:
            raise UsageError(f"--from-env: {args.from_env} is not set")
    else:
        api_key = sys.stdin.readline()
    api_key = api_key.strip()
    if not api_key.startswith("phk_"):
        raise UsageError("that is not an API key (they start with phk_)")
    context = ClientContext(name=args.name, api=args.api, ca_pem=ca_pem, api_key=api_key)
    save_context(path, context, make_current=args.use)
    print(f"context {escape_controls(args.name)} saved to {path}")
    return EXIT_OK


async def _delete(args: argparse.Namespace, path: Path, env: Mapping[str, str]) -> int:
    delete_context(path, args.name)
    print(f"context {escape_controls(args.name)} deleted")
    return EXIT_OK

"""`photonctl user create|list|token|delete`: who may use the admin API, with which role."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from ..._text import escape_controls
from ..._utc import rfc3339
from ...client import PhotonClient, User
from .._common import EXIT_OK
from .._inputs import parse_duration
from .._output import human_age, render
from .._times import plain
from ._command import output_flag
from ._listing import Listing, add_list_flags, show_list

if TYPE_CHECKING:
    from ._command import Commands

ROLES = ("admin", "operator", "viewer")
COLUMNS = [("name", "name"), ("role", "role"), ("created by", "created_by"), ("age", "age")]


def register(commands: Commands) -> None:
    actions = commands.add_parser("user", help="users of the admin API").add_subparsers(
        dest="action", required=True
    )
    create = actions.add_parser(
        "create", parents=[output_flag()], help="make a user and print its API key"
    )
    create.add_argument("name", help="the new user's name")
    create.add_argument("--role", choices=ROLES, required=True, help="what the user may do")
    create.set_defaults(handler=_create)
    listing = actions.add_parser("list", help="every user and role")
    add_list_flags(listing)
    listing.set_defaults(handler=_list)
    token = actions.add_parser(
        "token", parents=[output_flag()], help="print a short-lived token acting as a user"
    )
    token.add_argument("name", help="the user the token acts as")
    token.add_argument("--ttl", default="1h", help="how long it is valid (at most 1h)")
    token.set_defaults(handler=_token)
    delete = actions.add_parser("delete", help="delete a user and its keys")
    delete.add_argument("name", help="the user to delete")
    delete.set_defaults(handler=_delete)


def _row(user: User, now: float) -> dict[str, Any]:
    return {**user.to_dict(), "age": human_age(user.created_at, now)}


async def _create(args: argparse.Namespace, client: PhotonClient) -> int:
    user, api_key = await client.create_user(args.name, args.role)
    if args.output == "table":
        print(escape_controls(api_key))
    else:
        print(render({**plain(user), "api_key": api_key}, args.output))
    return EXIT_OK


async def _list(args: argparse.Namespace, client: PhotonClient) -> int:
    await show_list(args, Listing(fetch=client.list_users, row=_row, columns=COLUMNS))
    return EXIT_OK


async def _token(args: argparse.Namespace, client: PhotonClient) -> int:
    token, expires_at = await client.create_user_token(args.name, ttl=parse_duration(args.ttl))
    if args.output == "table":
        print(token)
    else:
        print(render({"token": token, "expires_at": rfc3339(expires_at)}, args.output))
    return EXIT_OK


async def _delete(args: argparse.Namespace, client: PhotonClient) -> int:
    await client.delete_user(args.name)
    print(f"user {escape_controls(args.name)} deleted; its keys and tokens no longer work")
    return EXIT_OK

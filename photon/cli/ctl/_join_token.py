"""`photonctl join-token create|list|revoke`: the tokens new agents join with."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from ..._text import escape_controls
from ...client import JoinTokenInfo, PhotonClient
from .._common import EXIT_OK
from .._inputs import parse_duration, parse_labels
from .._output import human_time_left, render
from .._times import plain
from ._command import check_count, output_flag
from ._listing import Listing, add_list_flags, show_list

if TYPE_CHECKING:
    from ._command import Commands

COLUMNS = [
    ("id", "id"),
    ("labels", "labels"),
    ("uses left", "uses_left"),
    ("expires", "expires"),
]


def register(commands: Commands) -> None:
    actions = commands.add_parser("join-token", help="join tokens").add_subparsers(
        dest="action", required=True
    )
    create = actions.add_parser(
        "create", parents=[output_flag()], help="make a token an agent joins with"
    )
    create.add_argument("--labels", default="", help="labels agents joining with it get: k=v,...")
    create.add_argument(
        "--ttl", default="15m", help="how long it is valid (default 15m, at most 7d)"
    )
    create.add_argument(
        "--uses", type=int, default=1, help="how many agents may join with it (default 1)"
    )
    create.set_defaults(handler=_create)
    listing = actions.add_parser("list", help="the tokens and the time they have left")
    add_list_flags(listing)
    listing.set_defaults(handler=_list)
    revoke = actions.add_parser("revoke", help="make a token unusable")
    revoke.add_argument("id", help="the token's id")
    revoke.set_defaults(handler=_revoke)


def expiry(token: JoinTokenInfo, now: float) -> str:
    """The EXPIRES column: the time left ("14m"), else "expired" or "revoked"."""
    if token.revoked:
        return "revoked"
    if token.expires_at <= now:
        return "expired"
    return human_time_left(token.expires_at, now)


def _row(token: JoinTokenInfo, now: float) -> dict[str, Any]:
    return {**token.to_dict(), "expires": expiry(token, now)}


async def _create(args: argparse.Namespace, client: PhotonClient) -> int:
    check_count(args.uses, "--uses")
    labels, ttl = parse_labels(args.labels), parse_duration(args.ttl)
    token, info = await client.create_join_token(labels=labels, ttl=ttl, uses=args.uses)
    if args.output == "table":
        print(escape_controls(token))
    else:
        print(render({"token": token, **plain(info)}, args.output))
    return EXIT_OK


async def _list(args: argparse.Namespace, client: PhotonClient) -> int:
    await show_list(args, Listing(fetch=client.list_join_tokens, row=_row, columns=COLUMNS))
    return EXIT_OK


async def _revoke(args: argparse.Namespace, client: PhotonClient) -> int:
    await client.revoke_join_token(args.id)
    print(f"join token {args.id} revoked")
    return EXIT_OK

"""`photonctl audit list|verify`: the hub's audit trail, and whether it is intact."""

from __future__ import annotations

import argparse
import time
from functools import partial
from typing import TYPE_CHECKING, Any

from ...client import AuditRecord, PhotonClient
from ...errors import PhotonError
from .._common import EXIT_OK
from .._inputs import parse_duration
from ._command import check_count
from ._listing import Listing, add_list_flags, show_list

if TYPE_CHECKING:
    from ._command import Commands

COLUMNS = [
    ("seq", "seq"),
    ("time", "when"),
    ("actor", "actor"),
    ("action", "action"),
    ("target", "target"),
    ("outcome", "outcome"),
]


def register(commands: Commands) -> None:
    actions = commands.add_parser("audit", help="the audit trail").add_subparsers(
        dest="action", required=True
    )
    listing = actions.add_parser("list", help="audit records, oldest first")
    add_list_flags(listing)
    listing.add_argument("--since", help="only records this recent, e.g. 1h, 7d")
    listing.add_argument("--actor", default="", help="a user name or an agent id")
    listing.add_argument("--action", default="", help="an action or its start, e.g. admin.")
    listing.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    listing.set_defaults(handler=_list)
    actions.add_parser("verify", help="check the hash chain").set_defaults(handler=_verify)


def _row(record: AuditRecord, now: float) -> dict[str, Any]:
    return {
        **record.to_dict(),
        "when": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.time)),
    }


async def _list(args: argparse.Namespace, client: PhotonClient) -> int:
    check_count(args.limit, "--limit")
    since = time.time() - parse_duration(args.since) if args.since else 0.0
    fetch = partial(
        client.list_audit, since=since, actor=args.actor, action=args.action, limit=args.limit
    )
    await show_list(args, Listing(fetch=fetch, row=_row, columns=COLUMNS))
    return EXIT_OK


async def _verify(args: argparse.Namespace, client: PhotonClient) -> int:
    count, problem = await client.verify_audit()
    if problem:
        raise PhotonError(f"the audit trail is not intact: {problem}")
    print(f"the audit trail is intact: {count} records")
    return EXIT_OK

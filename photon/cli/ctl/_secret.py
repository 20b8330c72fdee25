"""`photonctl secret set|list|delete`: values tasks reference as `secret:NAME` in their env.

A value is never taken from a flag (it would show in `ps` and in shell history): it comes
from stdin (typed without echo when stdin is a terminal), a file, or an environment variable.
One trailing newline is dropped from stdin and from a file (what `echo` and editors add);
`--keep-newline` keeps it. A variable's value is taken as it is.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import TYPE_CHECKING, Any, BinaryIO

from ..._text import escape_controls
from ...client import PhotonClient, SecretInfo
from ...errors import UsageError
from .._common import EXIT_OK, environ
from .._output import human_age, render
from .._times import plain
from ._command import output_flag
from ._listing import Listing, add_list_flags, show_list

if TYPE_CHECKING:
    from ._command import Commands

# The most photonctl reads for one value; the hub's own limit (max-secret-bytes, 64 KiB by
# default) is what counts, and it says so.
MAX_READ = 1024 * 1024

COLUMNS = [
    ("name", "name"),
    ("version", "version"),
    ("set by", "set_by"),
    ("set", "set"),
]


def register(commands: Commands) -> None:
    actions = commands.add_parser("secret", help="secrets tasks reference").add_subparsers(
        dest="action", required=True
    )
    set_ = actions.add_parser(
        "set",
        parents=[output_flag()],
        help="store a new version of a secret (the value from stdin unless told otherwise)",
    )
    set_.add_argument("name", help="the secret's name")
    source = set_.add_mutually_exclusive_group()
    source.add_argument("--from-file", metavar="FILE", help="read the value from FILE")
    source.add_argument("--from-env", metavar="VAR", help="take the value of variable VAR")
    set_.add_argument(
        "--keep-newline",
        action="store_true",
        help="keep a trailing newline of stdin or the file",
    )
    set_.set_defaults(handler=_set)
    listing = actions.add_parser("list", help="every secret, never a value")
    add_list_flags(listing)
    listing.set_defaults(handler=_list)
    delete = actions.add_parser("delete", help="remove every version of a secret")
    delete.add_argument("name", help="the secret's name")
    delete.set_defaults(handler=_delete)


def _read_limited(stream: BinaryIO, where: str) -> bytes:
    data = stream.read(MAX_READ + 1)
    if len(data) > MAX_READ:
        raise UsageError(f"{where}: larger than {MAX_READ} bytes")
    return data


def _drop_newline(data: bytes) -> bytes:
    """`data` without one trailing newline (LF or CRLF)."""
    if data.endswith(b"\r\n"):
        return data[:-2]
    return data.removesuffix(b"\n")


def read_value(args: argparse.Namespace) -> bytes:
    """The value the flags say where to find. Raises UsageError when it cannot be read or is
    empty."""
    if args.from_env is not None:
        env = environ()
        if args.from_env not in env:
            raise UsageError(f"--from-env: variable {args.from_env} is not set")
        data = env[args.from_env].encode("utf-8", "surrogateescape")
        where = f"variable {args.from_env}"
    elif args.from_file is not None:
        try:
            with open(args.from_file, "rb") as f:
                data = _read_limited(f, args.from_file)
        except OSError as exc:
            raise UsageError(f"cannot read {args.from_file}: {exc.strerror or exc}") from None
        where = args.from_file
    elif sys.stdin.isatty():
        data = getpass.getpass(f"value of secret {args.name}: ").encode()
        where = "the value typed"
    else:
        data = _read_limited(sys.stdin.buffer, "stdin")
        where = "stdin"
    if args.from_env is None and not args.keep_newline:
        data = _drop_newline(data)
    if not data:
        raise UsageError(f"{where} is empty: a secret needs a value")
    return data


def _row(info: SecretInfo, now: float) -> dict[str, Any]:
    return {**info.to_dict(), "set": human_age(info.set_at, now) + " ago"}


async def _set(args: argparse.Namespace, client: PhotonClient) -> int:
    value = read_value(args)  # before any call: a bad source is a usage error
    info = await client.set_secret(args.name, value)
    if args.output == "table":
        print(escape_controls(f"secret {info.name} set (version {info.version})"))
    else:
        print(render(plain(info), args.output))
    return EXIT_OK


async def _list(args: argparse.Namespace, client: PhotonClient) -> int:
    await show_list(args, Listing(fetch=client.list_secrets, row=_row, columns=COLUMNS))
    return EXIT_OK


async def _delete(args: argparse.Namespace, client: PhotonClient) -> int:
    versions = await client.delete_secret(args.name)
    noun = "version" if versions == 1 else "versions"
    print(escape_controls(f"secret {args.name} deleted ({versions} {noun})"))
    return EXIT_OK

"""`photonctl dashboard`: open the hub's web dashboard, logged in as the caller."""

from __future__ import annotations

import argparse
import os
import sys
import urllib.parse
import webbrowser
from typing import TYPE_CHECKING

from ..._address import split_address
from ...client import PhotonClient
from .._common import EXIT_OK

if TYPE_CHECKING:
    from ._command import Commands


def register(commands: Commands) -> None:
    dashboard = commands.add_parser(
        "dashboard", help="open the web dashboard with a one-time login link"
    )
    dashboard.add_argument(
        "--print-url", action="store_true", help="only print the link, do not open a browser"
    )
    dashboard.set_defaults(handler=_open)


def dashboard_url(api_address: str, http_port: int, code: str) -> str:
    """The login link: the host the client dials, the hub's http port, the code."""
    host, _ = split_address(api_address)
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{http_port}/login?" + urllib.parse.urlencode({"code": code})


def _has_display() -> bool:
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


async def _open(args: argparse.Namespace, client: PhotonClient) -> int:
    code, http_port, ttl = await client.create_dashboard_login()
    url = dashboard_url(client.address, http_port, code)
    print(url)
    if not args.print_url and _has_display() and webbrowser.open(url):
        print(f"opened in your browser; the link works once, within {ttl:.0f}s", file=sys.stderr)
    return EXIT_OK

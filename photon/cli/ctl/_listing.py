"""What every `list` command shares: `-o table|wide|json|yaml`, `--watch`, colour.

A list is fetched, then shown: a table of rows (`wide` adds columns), or the records
themselves in JSON or YAML (times in RFC 3339, no table-only columns such as ages). With
`--watch` it is fetched again every few seconds: on a terminal the table is redrawn in place;
piped, each new or changed record is printed once (a row, one JSON object a line, a YAML
document or a CSV row).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .._output import FORMATS, cell, lookup, render
from .._times import plain

WATCH_INTERVAL = 2.0  # seconds between fetches
_HOME_AND_CLEAR = "\x1b[H\x1b[J"
# Columns that change with the clock alone: a row differing only there has not changed.
_CLOCK_COLUMNS = frozenset({"age", "heartbeat", "expires", "set", "when"})

Columns = Sequence[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Listing:
    """How one list command shows its records."""

    fetch: Callable[[], Awaitable[Sequence[Any]]]
    row: Callable[[Any, float], Mapping[str, Any]]
    columns: Columns
    wide: Columns = ()  # the columns `-o wide` adds at the end

    def table(self, records: Sequence[Any], *, wide: bool, colour: bool, now: float) -> str:
        columns = [*self.columns, *self.wide] if wide else self.columns
        return render([self.row(r, now) for r in records], "table", columns=columns, colour=colour)


def add_list_flags(parser: argparse.ArgumentParser) -> None:
    """`-o table|wide|json|yaml` and `-w/--watch`."""
    parser.add_argument(
        "-o",
        "--output",
        choices=(*FORMATS, "wide"),
        default="table",
        help="table (default), wide (a table with more columns), json, yaml or csv",
    )
    parser.add_argument(
        "-w",
        "--watch",
        action="store_true",
        help="keep watching: redraw on a terminal, print each change once when piped",
    )


async def show_list(args: argparse.Namespace, listing: Listing) -> None:
    """Print the list once, or (`--watch`) until interrupted."""
    colour = getattr(args, "colour", False)
    wide = args.output == "wide"
    tabular = args.output in ("table", "wide")
    if not args.watch:
        records = await listing.fetch()
        if tabular:
            print(listing.table(records, wide=wide, colour=colour, now=time.time()))
        else:
            print(render(plain(list(records)), args.output))
        return
    if tabular and sys.stdout.isatty():
        while True:
            text = listing.table(await listing.fetch(), wide=wide, colour=colour, now=time.time())
            print(_HOME_AND_CLEAR + text, flush=True)
            await asyncio.sleep(WATCH_INTERVAL)
    await _print_changes(args.output, listing)


async def _print_changes(fmt: str, listing: Listing) -> None:
    """Each new or changed record once, as it is seen (the first fetch: all of them); a
    table's header once, its columns as wide as the first rows need."""
    columns = [*listing.columns, *listing.wide] if fmt == "wide" else listing.columns
    seen: dict[Any, Mapping[str, Any]] = {}
    widths: list[int] | None = None
    while True:
        now = time.time()
        changed = []
        for record in reversed(await listing.fetch()):  # oldest first, as they happened
            row = listing.row(record, now)
            state = {k: v for k, v in row.items() if k not in _CLOCK_COLUMNS}
            key = lookup(row, columns[0][1])
            if seen.get(key) != state:
                seen[key] = state
                changed.append((record, [cell(lookup(row, k)) for _, k in columns]))
        if fmt in ("json", "yaml"):
            for record, _ in changed:
                data = plain(record)
                print(json.dumps(data) if fmt == "json" else "---\n" + render(data, "yaml"))
        elif fmt == "csv" and changed:
            text = render(plain([record for record, _ in changed]), "csv").splitlines()
            print("\n".join(text if widths is None else text[1:]))  # the header once
            widths = []
        elif changed:
            headers = [h.upper() for h, _ in columns]
            if widths is None:
                grid = [headers, *(cells for _, cells in changed)]
                widths = [max(len(line[i]) for line in grid) for i in range(len(columns))]
                print(_line(headers, widths))
            for _, cells in changed:
                print(_line(cells, widths))
        sys.stdout.flush()
        await asyncio.sleep(WATCH_INTERVAL)


def _line(cells: Sequence[str], widths: Sequence[int]) -> str:
    return "  ".join(text.ljust(width) for text, width in zip(cells, widths, strict=True)).rstrip()

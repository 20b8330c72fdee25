"""The real-CLI matrix: each scenario test records one row; `make test-clis` prints the table.

Rows go to a JSON-lines file beside the CLI cache (pytest-xdist workers each append), which the
controller empties at the start of the run and prints at its end.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

_COLUMNS = ("cli", "scenario", "state", "failure_class", "attempts", "seconds")


def matrix_path() -> Path:
    return Path(os.environ.get("PHOTON_CLI_BIN", ".")).parent.parent / "matrix.jsonl"


def record(cli: str, scenario: str, task: dict[str, Any], seconds: float) -> None:
    """One row from the task JSON that `photonctl run ... -o json` printed."""
    failure = task.get("failure") or {}
    row = {
        "cli": cli,
        "scenario": scenario,
        "state": task.get("state", "?"),
        "failure_class": failure.get("failure_class", ""),
        "attempts": task.get("attempt", ""),
        "seconds": f"{seconds:.1f}",
    }
    with matrix_path().open("a", encoding="utf-8") as out:
        out.write(json.dumps(row) + "\n")


def table() -> str:
    path = matrix_path()
    if not path.exists():
        return ""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    rows.sort(key=lambda r: (r["cli"], r["scenario"]))
    cells = [_COLUMNS, *[tuple(str(r[c]) for c in _COLUMNS) for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(_COLUMNS))]
    lines = ("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells)
    return "\n".join(line.rstrip() for line in lines)

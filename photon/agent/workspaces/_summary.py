"""What a task changed, from git's own summaries: files, counts and a patch cut to a bound."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

# A patch in a task's outputs is cut at the last whole line before this many bytes; the whole
# change stays in the commit on the task's branch.
MAX_PATCH_BYTES: Final = 256 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    files: tuple[str, ...] = ()
    insertions: int = 0
    deletions: int = 0
    stat: str = ""
    patch: str = ""

    def outputs(self) -> dict[str, Any]:
        patch, truncated = bounded_patch(self.patch)
        return {
            "files_changed": list(self.files),
            "diffstat": self.stat,
            "insertions": self.insertions,
            "deletions": self.deletions,
            "patch": patch,
            "patch_truncated": truncated,
        }


def parse_numstat(text: str) -> tuple[tuple[str, ...], int, int]:
    """`git diff --numstat -z`: the files and the lines inserted and deleted (binary files
    count no lines)."""
    files: list[str] = []
    insertions = deletions = 0
    for entry in text.split("\0"):
        if not entry:
            continue
        added, removed, path = entry.split("\t", 2)
        files.append(path)
        insertions += int(added) if added.isdigit() else 0
        deletions += int(removed) if removed.isdigit() else 0
    return tuple(files), insertions, deletions


def bounded_patch(patch: str, limit: int = MAX_PATCH_BYTES) -> tuple[str, bool]:
    """`patch` whole, or cut at the last line end within `limit` bytes; and whether it was."""
    data = patch.encode()
    if len(data) <= limit:
        return patch, False
    cut = data[:limit]
    end = cut.rfind(b"\n")
    return cut[: end + 1 if end >= 0 else limit].decode(errors="ignore"), True

"""The agent's settings: its config file (agent.toml) layered with the environment and flags.

Pure: the CLI reads the file and the environment and hands them in; nothing here touches the
filesystem or `os.environ`. Precedence: defaults < file < environment < flags.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from ...errors import ConfigError
from ._config import AgentConfig

ENV_SLOTS: Final = "PHOTON_AGENT_SLOTS"
ENV_LABELS: Final = "PHOTON_AGENT_LABELS"
ENV_ALLOW_TOOLS: Final = "PHOTON_AGENT_ALLOW_TOOLS"

_KEYS: Final = ("labels", "slots", "tools", "workspace_roots", "workspaces")
_TOOL_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_LABEL_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,62}")
_LABEL_VALUE_MAX = 63


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentFlags:
    """What the command line said; None or empty for a flag that was not given."""

    slots: int | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    allowed_tools: frozenset[str] = frozenset()


def agent_config(
    *,
    data_dir: Path,
    file: Mapping[str, Any],
    source: Path | None,
    env: Mapping[str, str],
    flags: AgentFlags,
    home: Path,
) -> AgentConfig:
    """The agent's config from its layers: defaults < `file` < `env` < `flags`.

    `file` is the parsed agent.toml (empty without one) and `source` its path, named in errors
    and used to resolve relative workspace roots; `home` expands a leading `~`. Labels merge key
    by key (a higher layer wins per key); `--allow-tool` and PHOTON_AGENT_ALLOW_TOOLS add to the
    tools the file enables. Raises ConfigError naming the file and key, or the variable.
    """
    where = f"agent config {source}" if source is not None else "agent config"
    unknown = sorted(set(file) - set(_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(_KEYS)})")

    slots = 4
    if "slots" in file:
        slots = _slots(file["slots"], f"{where}: slots")
    if env.get(ENV_SLOTS, "").strip():
        raw = env[ENV_SLOTS].strip()
        slots = _slots(int(raw) if raw.isdigit() else raw, ENV_SLOTS)
    if flags.slots is not None:
        slots = flags.slots

    labels = _file_labels(file.get("labels", {}), where)
    labels.update(_env_labels(env.get(ENV_LABELS, "")))
    labels.update(flags.labels)

    allowed = {t.strip() for t in env.get(ENV_ALLOW_TOOLS, "").split(",") if t.strip()}
    allowed |= flags.allowed_tools

    roots: tuple[Path, ...] = ()
    if "workspace_roots" in file:
        base = source.parent if source is not None else data_dir
        roots = _workspace_roots(file["workspace_roots"], where, base=base, home=home)

    return AgentConfig(
        keep_days=_keep_days(file.get("workspaces", {}), where),
        data_dir=data_dir,
        slots=slots,
        allowed_tools=frozenset(allowed),
        labels=labels,
        tools=_tools(file.get("tools", {}), where),
        workspace_roots=roots,
    )


def _slots(value: object, what: str) -> int:
    if type(value) is not int or value < 1:
        raise ConfigError(f"{what} must be a whole number of at least 1, not {value!r}")
    return value


def _file_labels(value: object, where: str) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise ConfigError(
            f'{where}: labels must be a table of strings, e.g. labels = {{ gpu = "a100" }}'
        )
    labels: dict[str, str] = {}
    for key, label in value.items():
        if not isinstance(label, str):
            raise ConfigError(f"{where}: labels.{key} must be a string")
        _check_label(key, label, f"{where}: labels.{key}")
        labels[key] = label
    return labels


def _env_labels(text: str) -> dict[str, str]:
    labels: dict[str, str] = {}
    for raw in text.split(","):
        part = raw.strip()
        if not part:
            continue
        key, eq, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not eq:
            raise ConfigError(f"{ENV_LABELS}: label {part!r}: expected k=v")
        _check_label(key, value, f"{ENV_LABELS}: label {part!r}")
        labels[key] = value
    return labels


def _check_label(key: str, value: str, what: str) -> None:
    if not _LABEL_KEY.fullmatch(key):
        raise ConfigError(
            f"{what}: invalid key {key!r} (letters, digits and ._/- not first, at most 63 chars)"
        )
    if "=" in value or "," in value:
        raise ConfigError(f"{what}: value must not contain '=' or ','")
    if len(value) > _LABEL_VALUE_MAX:
        raise ConfigError(f"{what}: value longer than {_LABEL_VALUE_MAX} chars")


def _workspace_roots(value: object, where: str, *, base: Path, home: Path) -> tuple[Path, ...]:
    what = f"{where}: workspace_roots"
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ConfigError(f'{what} must be a list of directories, e.g. ["/home/me/src"]')
    if not value:
        raise ConfigError(f"{what} must name at least one directory")
    roots: list[Path] = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip() or "\x00" in item:
            raise ConfigError(f"{what}[{i}] must be a non-empty path")
        if item == "~" or item.startswith("~/"):
            path = home / item[2:]
        elif item.startswith("~"):
            raise ConfigError(f"{what}[{i}]: only ~ and ~/... are expanded, not {item!r}")
        else:
            path = base / item  # an absolute item replaces `base`
        if path in roots:
            raise ConfigError(f"{what}[{i}]: {item!r} is listed twice")
        roots.append(path)
    return tuple(roots)


def _keep_days(value: object, where: str) -> float:
    """[workspaces] keep_days: how long kept worktrees and task branches stay (default 7)."""
    what = f"{where}: workspaces"
    if not isinstance(value, Mapping):
        raise ConfigError(f"{what} must be a table ([workspaces])")
    if unknown := sorted(set(value) - {"keep_days"}):
        raise ConfigError(f"{what}: unknown key {unknown[0]!r} (known: keep_days)")
    days = value.get("keep_days", 7)
    if isinstance(days, bool) or not isinstance(days, int | float) or not 0 <= days < 36500:
        raise ConfigError(f"{what}.keep_days must be a number of days, at least 0")
    return float(days)


def _tools(value: object, where: str) -> Mapping[str, Mapping[str, Any]]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: tools must be a table of [tools.NAME] sections")
    tools: dict[str, Mapping[str, Any]] = {}
    for name, settings in value.items():
        what = f"{where}: tools.{name}"
        if not _TOOL_NAME.fullmatch(name):
            raise ConfigError(f"{what}: invalid tool name (lowercase letters, digits and ._-)")
        if not isinstance(settings, Mapping):
            raise ConfigError(f"{what} must be a table ([tools.{name}])")
        for key, check in _KNOWN_SETTINGS.items():
            if key in settings and (problem := check(settings[key])) is not None:
                raise ConfigError(f"{what}.{key} must be {problem}")
        tools[name] = MappingProxyType(dict(settings))
    return MappingProxyType(tools)


def _bool(value: object) -> str | None:
    return None if isinstance(value, bool) else "true or false"


def _text(value: object) -> str | None:
    return None if isinstance(value, str) and value.strip() else "a non-empty string"


def _strings(value: object) -> str | None:
    ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
    return None if ok else "a list of strings"


def _string_table(value: object) -> str | None:
    ok = isinstance(value, Mapping) and all(isinstance(v, str) for v in value.values())
    return None if ok else "a table of strings"


# The per-tool keys the SDK gives a meaning to (`enabled` here, the rest in the built-ins and
# CliAdapter); checked at start so a typo'd type is one clear line, not a failed task later.
# Any other key is passed to the plugin as is.
_KNOWN_SETTINGS: Final = {
    "enabled": _bool,
    "script": _bool,
    "binary": _text,
    "model": _text,
    "extra_args": _strings,
    "env": _string_table,
}

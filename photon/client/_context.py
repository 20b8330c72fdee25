"""Client contexts in `~/.config/photon/config.toml`: which hub, which CA, which credential."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from .._fs import write_atomic
from ..errors import ConfigError


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientContext:
    name: str
    api: str
    ca_pem: str
    api_key: str
    token: str = ""  # a short-lived token instead of the key (`photonctl user token`)


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except RecursionError:  # tomllib recurses once per level of nested arrays and tables
        raise ConfigError(f"cannot read {path}: nested too deeply") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None


def default_config_path(env: Mapping[str, str] | None = None) -> Path:
    """`PHOTON_CONFIG`, else ~/.config/photon/config.toml."""
    env = os.environ if env is None else env
    return Path(env.get("PHOTON_CONFIG") or Path.home() / ".config/photon/config.toml")


def load_context(
    path: Path | None = None, name: str | None = None, *, env: Mapping[str, str] | None = None
) -> ClientContext:
    """A context from a client config: `path`, else `PHOTON_CONFIG`, else
    ~/.config/photon/config.toml; the context `name`, else `PHOTON_CONTEXT`, else the file's
    current one. `env` stands for the process environment (the default).

    `PHOTON_API_KEY` in `env` stands in for the context's API key, and `PHOTON_TOKEN` for a
    token to call with instead of one (for scripts and CI: the context then needs no key).

    Raises ConfigError when the file, the context or one of its fields is missing.
    """
    env = os.environ if env is None else env
    path = path or default_config_path(env)
    name = name or env.get("PHOTON_CONTEXT") or None
    data = _read(path)
    if not data:
        raise ConfigError(
            f"no client config at {path}; run photon-hub init on the hub host or pass --config"
        )
    name = name or data.get("current-context", "")
    context = data.get("contexts", {}).get(name)
    if not isinstance(context, dict):
        raise ConfigError(f"context {name!r} not found in {path}")
    api_key = env.get("PHOTON_API_KEY") or context.get("api-key")
    token = env.get("PHOTON_TOKEN", "")
    try:
        if api_key is None and not token:
            raise KeyError("api-key")
        return ClientContext(
            name=name,
            api=str(context["api"]),
            ca_pem=str(context["ca-pem"]),
            api_key=str(api_key or ""),
            token=token,
        )
    except KeyError as exc:
        raise ConfigError(f"context {name!r} in {path} lacks {exc.args[0]!r}") from None


def save_context(path: Path, context: ClientContext, *, make_current: bool = True) -> None:
    """Add or replace the context; the file holds a credential, so it is written 0600."""
    data = _read(path)
    data.setdefault("contexts", {})[context.name] = {
        "api": context.api,
        "ca-pem": context.ca_pem,
        "api-key": context.api_key,
    }
    if make_current or "current-context" not in data:
        data["current-context"] = context.name
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomic(path, tomli_w.dumps(data).encode(), mode=0o600)


@dataclass(frozen=True, slots=True, kw_only=True)
class ContextEntry:
    """One context of a client config, as `photonctl context list` shows it."""

    name: str
    api: str
    current: bool


def list_contexts(path: Path) -> list[ContextEntry]:
    """The contexts of the client config at `path`, by name (none when there is no file)."""
    data = _read(path)
    current = data.get("current-context", "")
    contexts = data.get("contexts", {})
    return [
        ContextEntry(name=name, api=str(body.get("api", "")), current=name == current)
        for name, body in sorted(contexts.items())
        if isinstance(body, dict)
    ]


def use_context(path: Path, name: str) -> None:
    """Make `name` the current context. Raises ConfigError when there is no such context."""
    data = _read(path)
    if name not in data.get("contexts", {}):
        raise ConfigError(f"context {name!r} not found in {path}")
    data["current-context"] = name
    write_atomic(path, tomli_w.dumps(data).encode(), mode=0o600)


def delete_context(path: Path, name: str) -> None:
    """Remove the context (and its credential). Raises ConfigError when there is none; a
    config left without its current context has none current until `use_context`."""
    data = _read(path)
    contexts = data.get("contexts", {})
    if name not in contexts:
        raise ConfigError(f"context {name!r} not found in {path}")
    del contexts[name]
    if data.get("current-context") == name:
        data.pop("current-context")
    write_atomic(path, tomli_w.dumps(data).encode(), mode=0o600)

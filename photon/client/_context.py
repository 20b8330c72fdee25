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
    try:
        return ClientContext(
            name=name,
            api=str(context["api"]),
            ca_pem=str(context["ca-pem"]),
            api_key=str(context["api-key"]),
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

"""The agent's frozen config and the files in its data dir."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..._fs import write_atomic
from ...errors import ConfigError


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentPaths:
    root: Path

    @property
    def key(self) -> Path:
        return self.root / "agent.key"

    @property
    def cert(self) -> Path:
        return self.root / "agent.crt"

    @property
    def next_key(self) -> Path:
        """A renewed key, until it and `next_cert` replace `key` and `cert` together."""
        return self.root / "agent.key.next"

    @property
    def next_cert(self) -> Path:
        return self.root / "agent.crt.next"

    @property
    def ca_cert(self) -> Path:
        return self.root / "ca.crt"

    @property
    def identity(self) -> Path:
        return self.root / "identity.json"

    @property
    def outbox(self) -> Path:
        return self.root / "outbox"

    @property
    def workspace(self) -> Path:
        return self.root / "workspace"

    @property
    def lock(self) -> Path:
        """Held (flock) by the agent running on this data dir, and naming its pid."""
        return self.root / "agent.lock"


@dataclass(frozen=True, slots=True, kw_only=True)
class Identity:
    """What enrolment established: who this agent is and where its hub is."""

    agent_id: str
    name: str
    mesh_addresses: Sequence[str]
    labels: Mapping[str, str]

    def save(self, path: Path) -> None:
        data = {
            "agent_id": self.agent_id,
            "name": self.name,
            "mesh_addresses": list(self.mesh_addresses),
            "labels": dict(self.labels),
        }
        write_atomic(path, json.dumps(data, indent=2).encode(), mode=0o600)

    @classmethod
    def load(cls, path: Path) -> Identity:
        """Raises ConfigError when the agent has not joined a hub yet."""
        try:
            raw = json.loads(path.read_text())
            return cls(
                agent_id=raw["agent_id"],
                name=raw["name"],
                mesh_addresses=tuple(raw["mesh_addresses"]),
                labels=raw["labels"],
            )
        except FileNotFoundError:
            raise ConfigError(
                f"this agent has not joined a hub ({path.parent} has no identity);"
                " run: photon-agent join --token TOKEN"
            ) from None
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path} is damaged: {exc}") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentConfig:
    data_dir: Path
    slots: int = 4
    allowed_tools: frozenset[str] = frozenset()
    labels: Mapping[str, str] = field(default_factory=dict)
    # Per-tool settings, the [tools.NAME] sections of agent.toml; each plugin sees its own.
    tools: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # Where tools may work; the first is every task's working directory.
    workspace_roots: tuple[Path, ...] = ()
    # How long a failed task's worktree and a task's branch are kept ([workspaces] keep_days).
    keep_days: float = 7.0
    shutdown_grace: float = 10.0

    @property
    def paths(self) -> AgentPaths:
        return AgentPaths(root=self.data_dir)

    @property
    def workspace_root(self) -> Path:
        return self.workspace_roots[0] if self.workspace_roots else self.paths.workspace

    @property
    def local_repo_roots(self) -> tuple[Path, ...]:
        """Where a task's workspace may name a repository on this machine's disk."""
        return self.workspace_roots or (self.paths.workspace,)

    def tool_enabled(self, name: str, *, by_default: bool) -> bool:
        """Whether tool `name` may run: allowed by a flag, switched on or off in its settings,
        or else as its plugin says by default."""
        if name in self.allowed_tools:
            return True
        switch = self.tools.get(name, {}).get("enabled")
        return switch if isinstance(switch, bool) else by_default

"""The hub's frozen config and the files in its data dir."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .core import DEFAULT_LIMITS, Limits
from .tasks import ToolLimit


@dataclass(frozen=True, slots=True, kw_only=True)
class HubPaths:
    """Where each file lives in the hub data dir."""

    root: Path

    @property
    def ca_key(self) -> Path:
        return self.root / "ca.key"

    @property
    def ca_cert(self) -> Path:
        return self.root / "ca.crt"

    @property
    def hub_key(self) -> Path:
        return self.root / "hub.key"

    @property
    def hub_cert(self) -> Path:
        return self.root / "hub.crt"

    @property
    def jwt_key(self) -> Path:
        return self.root / "jwt.key"

    @property
    def audit_anchor(self) -> Path:
        """The audit trail's head, kept apart from the store so that a cut log is noticed."""
        return self.root / "audit.head"

    @property
    def secrets_key(self) -> Path:
        return self.root / "secrets.key"

    @property
    def database(self) -> Path:
        return self.root / "hub.db"

    @property
    def serving(self) -> Path:
        """Written once the hub serves: the addresses it bound (ports may have been 0)."""
        return self.root / "serving.json"


@dataclass(frozen=True, slots=True, kw_only=True)
class HubConfig:
    data_dir: Path
    mesh_listen: str = "0.0.0.0:7443"
    api_listen: str = "0.0.0.0:7444"
    http_listen: str = "127.0.0.1:7480"
    store_url: str = ""
    advertise_host: str = ""
    heartbeat_interval: float = 5.0
    missed_beats: int = 4
    failover_grace: float = 60.0
    token_ttl: float = 3600.0
    agent_cert_ttl: float = 86400.0  # seconds an agent's certificate is valid, at join and renewal
    send_queue_limit: int = 4096
    # Seconds an agent's connection lasts before the hub asks it to connect anew: each new
    # connection shows the agent's current certificate, checked then (renewals, revocations).
    mesh_connection_age: float = 3600.0
    shutdown_grace: float = 10.0
    tool_limits: Mapping[str, ToolLimit] = field(default_factory=dict)
    limits: Limits = DEFAULT_LIMITS

    @property
    def paths(self) -> HubPaths:
        return HubPaths(root=self.data_dir)

    @property
    def lost_after(self) -> float:
        return self.heartbeat_interval * self.missed_beats

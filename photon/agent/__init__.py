"""The agent daemon: enrolment, the hub stream, heartbeats, task runner, outbox.

The agent is layered; each layer imports only the layers below it, never above:

    lifecycle/  `AgentDaemon`, the composition root: data dir lock, certificate check, the
                tools, the runner and the hub link started in order and stopped in stages
    session/    the edge: the mesh stream to the hub (Hello/Welcome, heartbeats, reconnect
                with backoff), the durable outbox of results, enrolment (`join`); gRPC,
                protobuf (photon.v1) and photon.wire stop here
    runner/     runs assigned attempts through plugins with deadlines and cancellation; speaks
                frozen values (`Assignment` in, `RunOutcome` out)
    tools/      plugins loaded and detected, which tools are enabled, host metrics: frozen values
    config/     the frozen config and identity every layer is handed, and how config is layered

lifecycle -> session -> runner -> tools -> config. tests/unit/test_agent_layers.py holds the
code to this.
"""

from .config import AgentConfig as AgentConfig
from .config import AgentFlags as AgentFlags
from .config import AgentPaths as AgentPaths
from .config import Identity as Identity
from .config import agent_config as agent_config
from .lifecycle import AgentDaemon as AgentDaemon
from .session import join as join

__all__ = [
    "AgentConfig",
    "AgentDaemon",
    "AgentFlags",
    "AgentPaths",
    "Identity",
    "agent_config",
    "join",
]

"""The agent daemon: enrolment, the hub stream, heartbeats, task runner, outbox."""

from ._config import AgentConfig as AgentConfig
from ._config import AgentPaths as AgentPaths
from ._config import Identity as Identity
from ._daemon import AgentDaemon as AgentDaemon
from ._enrol import join as join
from ._settings import AgentFlags as AgentFlags
from ._settings import agent_config as agent_config

__all__ = [
    "AgentConfig",
    "AgentDaemon",
    "AgentFlags",
    "AgentPaths",
    "Identity",
    "agent_config",
    "join",
]

"""The agent's lifecycle: `AgentDaemon` puts the layers together and takes them down in stages."""

from ._daemon import AgentDaemon as AgentDaemon

__all__ = ["AgentDaemon"]

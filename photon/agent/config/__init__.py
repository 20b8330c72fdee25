"""The agent's config: the frozen values every layer is handed, and how they are layered.

`agent_config` builds an `AgentConfig` from defaults < agent.toml < environment < flags;
`Identity` is what enrolment established; `AgentPaths` names the files in the data dir.
"""

from ._config import AgentConfig as AgentConfig
from ._config import AgentPaths as AgentPaths
from ._config import Identity as Identity
from ._settings import AgentFlags as AgentFlags
from ._settings import agent_config as agent_config

__all__ = [
    "AgentConfig",
    "AgentFlags",
    "AgentPaths",
    "Identity",
    "agent_config",
]

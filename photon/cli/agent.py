"""`photon-agent`: join a hub, then run."""

from __future__ import annotations

import os

# grpcio's fork handlers can abort a child between fork and exec (grpc/grpc#43055); the agent
# starts tool processes all the time and never forks to run gRPC, so it turns them off. This
# must happen before grpc is imported.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..agent import AgentDaemon, AgentFlags, agent_config, join
from ..errors import UsageError
from ..plugins import PLUGIN_API_VERSION
from ._common import (
    EXIT_OK,
    add_examples,
    add_version_flag,
    environ,
    load_toml,
    run,
    serve_until_signalled,
    setup_logging,
)
from ._inputs import parse_labels

EXAMPLES = {
    "join": ('photon-agent join --token "$TOKEN" --name build-1 --labels kind=cloud',),
    "run": (
        "photon-agent run --allow-tool shell --slots 8",
        "photon-agent run --log-format json --log-level debug",
    ),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="photon-agent", description="PHOTON agent daemon")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    add_version_flag(parser, extra=f"plugin API {PLUGIN_API_VERSION}")
    sub = parser.add_subparsers(dest="command", required=True)

    join_cmd = sub.add_parser("join", help="enrol this host with a hub")
    join_cmd.add_argument("--token", help="join token (or env PHOTON_JOIN_TOKEN)")
    join_cmd.add_argument("--name", default="", help="the agent's name (default: the hostname)")
    join_cmd.add_argument("--labels", default="", help="k=v,k2=v2")
    join_cmd.add_argument(
        "--data-dir", type=Path, help="the agent's data dir (env PHOTON_AGENT_DIR)"
    )

    run_cmd = sub.add_parser("run", help="connect to the hub and run tasks")
    run_cmd.add_argument(
        "--data-dir", type=Path, help="the agent's data dir (env PHOTON_AGENT_DIR)"
    )
    run_cmd.add_argument(
        "--config",
        type=Path,
        help="agent config file (env PHOTON_AGENT_CONFIG; default DATA_DIR/agent.toml if present)",
    )
    run_cmd.add_argument(
        "--allow-tool", action="append", default=[], help="enable a tool that is off by default"
    )
    run_cmd.add_argument("--slots", type=int, help="tasks run at once (default 4)")
    run_cmd.add_argument("--labels", help="extra labels k=v,...")
    run_cmd.add_argument(
        "--log-format",
        choices=["text", "json"],
        default="text",
        help="text (default) or one JSON object a line",
    )
    run_cmd.add_argument(
        "--log-level", default="info", help="debug, info (default), warning or error"
    )
    add_examples(parser, EXAMPLES)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    env = environ()
    data_dir = args.data_dir or Path(
        env.get("PHOTON_AGENT_DIR") or Path.home() / ".local/share/photon/agent"
    )

    async def command() -> int:
        if args.command == "join":
            token = args.token or env.get("PHOTON_JOIN_TOKEN")
            if not token:
                raise UsageError("--token is required (or set PHOTON_JOIN_TOKEN)")
            identity = await join(
                token_text=token,
                data_dir=data_dir,
                name=args.name,
                labels=parse_labels(args.labels),
            )
            print(
                f"joined as {identity.name} ({identity.agent_id}); start it with: photon-agent run"
            )
            return EXIT_OK
        if args.slots is not None and args.slots < 1:
            raise UsageError("--slots must be at least 1")
        flags = AgentFlags(
            slots=args.slots,
            labels=parse_labels(args.labels or ""),
            allowed_tools=frozenset(args.allow_tool),
        )
        config_path = _config_path(args.config, env, data_dir)
        config = agent_config(
            data_dir=data_dir,
            file=load_toml(config_path),
            source=config_path,
            env=env,
            flags=flags,
            home=Path.home(),
        )
        setup_logging(level=args.log_level, fmt=args.log_format)
        daemon = AgentDaemon(config)
        await serve_until_signalled(daemon.run(), daemon.stop)
        return EXIT_OK

    return run(command, debug=args.debug)


def _config_path(flag: Path | None, env: Mapping[str, str], data_dir: Path) -> Path | None:
    """The agent config file: --config, else PHOTON_AGENT_CONFIG (both must exist), else
    DATA_DIR/agent.toml when there is one."""
    if flag is not None:
        return flag
    if env.get("PHOTON_AGENT_CONFIG"):
        return Path(env["PHOTON_AGENT_CONFIG"])
    default = data_dir / "agent.toml"
    return default if default.is_file() else None


if __name__ == "__main__":
    sys.exit(main())

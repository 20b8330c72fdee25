"""`photon-hub`: initialise a hub's data dir and serve."""

from __future__ import annotations

import argparse
import gc
import logging
import sys
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path

from .._duration import parse_duration
from ..errors import ConfigError, InvalidArgumentError, UsageError
from ..hub import (
    AGENT_CERT_TTL,
    Hub,
    HubConfig,
    Limits,
    ToolLimit,
    check_agent_cert_ttl,
    init_hub,
)
from ._common import (
    EXIT_OK,
    add_examples,
    add_version_flag,
    environ,
    layered,
    load_toml,
    raise_open_file_limit,
    run,
    serve_until_signalled,
    setup_logging,
)

# Not __name__: that is "__main__" under `python -m`.
log = logging.getLogger("photon.cli.hub")
GIL_SWITCH_INTERVAL = 0.0001  # seconds
MIN_CONNECTION_AGE = 5.0  # seconds: a reconnection costs a TLS handshake and a reconcile


def _default_data_dir(env: dict[str, str]) -> Path:
    return Path(env.get("PHOTON_HUB_DIR") or Path.home() / ".local/share/photon/hub")


def _context_path(env: dict[str, str]) -> Path:
    return Path(env.get("PHOTON_CONFIG") or Path.home() / ".config/photon/config.toml")


EXAMPLES = {
    "init": (
        "photon-hub init",
        "photon-hub init --san hub.example.com --api-address hub.example.com:7444",
    ),
    "serve": (
        "photon-hub serve",
        "photon-hub serve --config hub.toml --log-format json",
    ),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="photon-hub", description="PHOTON hub daemon")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    add_version_flag(parser)
    sub = parser.add_subparsers(dest="command", required=True)

    init = sub.add_parser("init", help="create the CA, keys and a first admin credential")
    init.add_argument("--data-dir", type=Path, help="the hub's data dir (env PHOTON_HUB_DIR)")
    init.add_argument("--san", action="append", default=[], help="extra hub certificate name")
    init.add_argument(
        "--api-address", default="127.0.0.1:7444", help="address photonctl should use"
    )
    init.add_argument("--no-context", action="store_true", help="do not write a photonctl context")

    serve = sub.add_parser("serve", help="run the hub")
    serve.add_argument("--config", type=Path, help="TOML config file")
    serve.add_argument("--data-dir", type=Path, help="the hub's data dir (env PHOTON_HUB_DIR)")
    serve.add_argument("--listen", help="mesh address (default 0.0.0.0:7443)")
    serve.add_argument("--api-listen", help="api address (default 0.0.0.0:7444)")
    serve.add_argument("--http-listen", help="http address (default 127.0.0.1:7480)")
    serve.add_argument("--store", help="store URL (default: SQLite in the data dir)")
    serve.add_argument("--advertise-host", help="host name agents use to reach this hub")
    serve.add_argument("--heartbeat-interval", type=float, help="seconds (default 5)")
    serve.add_argument("--failover-grace", type=float, help="seconds (default 60)")
    serve.add_argument(
        "--send-queue-limit", type=int, help="messages buffered per agent (default 4096)"
    )
    serve.add_argument(
        "--mesh-connection-age",
        type=float,
        help="seconds before an agent reconnects, showing its current certificate (default 3600)",
    )
    serve.add_argument(
        "--agent-cert-ttl",
        help="how long agents' certificates are valid, e.g. 12h (default 24h; 30s to 365d)",
    )
    serve.add_argument(
        "--log-format",
        choices=["text", "json"],
        help="text (default) or one JSON object a line (env PHOTON_LOG_FORMAT)",
    )
    serve.add_argument(
        "--log-level", default="info", help="debug, info (default), warning or error"
    )
    add_examples(parser, EXAMPLES)
    return parser


# What a hub config file may set (each key also in its dashed spelling).
_FILE_KEYS = frozenset(
    {
        "data_dir",
        "mesh_listen",
        "api_listen",
        "http_listen",
        "store_url",
        "advertise_host",
        "heartbeat_interval",
        "failover_grace",
        "send_queue_limit",
        "agent_cert_ttl",
        "mesh_connection_age",
        "limits",
    }
)


def _hub_config(args: argparse.Namespace, env: dict[str, str]) -> HubConfig:
    file = load_toml(args.config)
    if unknown := sorted(k for k in file if k.replace("-", "_") not in _FILE_KEYS):
        known = ", ".join(sorted(k.replace("_", "-") for k in _FILE_KEYS))
        raise ConfigError(f"config file {args.config}: unknown key {unknown[0]!r} (known: {known})")
    defaults = HubConfig(data_dir=_default_data_dir(env))

    def pick(name: str, flag: object, env_name: str) -> object:
        return layered(
            name, flag, env=env, env_name=env_name, file=file, default=getattr(defaults, name)
        )

    table = dict(file.get("limits", {}))
    try:
        tool_limits = {
            str(tool): ToolLimit(**{k.replace("-", "_"): v for k, v in dict(values).items()})
            for tool, values in table.items()
            if isinstance(values, dict)
        }
    except (TypeError, ValueError) as exc:
        raise UsageError(f"config [limits]: {exc}") from None
    limits = Limits.from_config(
        {k: v for k, v in table.items() if not isinstance(v, dict)}, where="config [limits]"
    )
    try:
        return HubConfig(
            tool_limits=tool_limits,
            limits=limits,
            data_dir=Path(str(pick("data_dir", args.data_dir, "PHOTON_HUB_DIR"))),
            mesh_listen=str(pick("mesh_listen", args.listen, "PHOTON_HUB_LISTEN")),
            api_listen=str(pick("api_listen", args.api_listen, "PHOTON_HUB_API_LISTEN")),
            http_listen=str(pick("http_listen", args.http_listen, "PHOTON_HUB_HTTP_LISTEN")),
            store_url=str(pick("store_url", args.store, "PHOTON_HUB_STORE")),
            advertise_host=str(pick("advertise_host", args.advertise_host, "PHOTON_HUB_ADVERTISE")),
            heartbeat_interval=float(
                str(pick("heartbeat_interval", args.heartbeat_interval, "PHOTON_HEARTBEAT"))
            ),
            failover_grace=float(
                str(pick("failover_grace", args.failover_grace, "PHOTON_FAILOVER_GRACE"))
            ),
            send_queue_limit=int(
                str(pick("send_queue_limit", args.send_queue_limit, "PHOTON_SEND_QUEUE_LIMIT"))
            ),
            agent_cert_ttl=_agent_cert_ttl(args, env, file),
            mesh_connection_age=_at_least(
                "mesh_connection_age",
                float(
                    str(
                        pick(
                            "mesh_connection_age",
                            args.mesh_connection_age,
                            "PHOTON_MESH_CONNECTION_AGE",
                        )
                    )
                ),
                MIN_CONNECTION_AGE,
            ),
        )
    except ValueError as exc:
        raise UsageError(f"bad setting: {exc}") from None


def _at_least(name: str, value: float, least: float) -> float:
    if not value >= least:
        raise ValueError(f"{name.replace('_', '-')} must be at least {least:g} (got {value:g})")
    return value


def _agent_cert_ttl(
    args: argparse.Namespace, env: dict[str, str], file: Mapping[str, object]
) -> float:
    """Seconds agents' certificates are valid, from a duration (`90s`, `12h`, `7d`; a bare
    number is seconds). Raises UsageError naming where a bad one came from: one that does not
    parse, or is out of range."""
    value = layered(
        "agent_cert_ttl",
        args.agent_cert_ttl,
        env=env,
        env_name="PHOTON_AGENT_CERT_TTL",
        file=file,
        default=None,
    )
    if value is None:
        return AGENT_CERT_TTL.total_seconds()
    if args.agent_cert_ttl is not None:
        where = "--agent-cert-ttl"
    elif env.get("PHOTON_AGENT_CERT_TTL", "").strip():
        where = "PHOTON_AGENT_CERT_TTL"
    else:
        where = f"config file {args.config}: agent-cert-ttl"
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            seconds = float(value)
        elif isinstance(value, str):
            seconds = parse_duration(value)
        else:
            raise ValueError("expected a duration such as 24h")
        check_agent_cert_ttl(timedelta(seconds=seconds))
    except (ValueError, OverflowError, InvalidArgumentError) as exc:
        raise UsageError(f"{where} {value}: {exc}") from None
    return seconds


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    env = dict(environ())

    async def command() -> int:
        if args.command == "init":
            data_dir = args.data_dir or _default_data_dir(env)
            result = await init_hub(data_dir=data_dir, sans=args.san)
            if result.created_ca:
                print(f"created CA {result.ca_fingerprint} in {data_dir}")
            else:
                print(f"kept the existing CA {result.ca_fingerprint} in {data_dir}")
            if result.admin_key is None:
                print("an admin credential already exists; none created")
            elif args.no_context:
                print(f"admin API key (shown once): {result.admin_key}")
            else:
                # Imported here: the client (and tomli_w) would stay in a serving hub's memory.
                from ..client import ClientContext, save_context

                path = _context_path(env)
                save_context(
                    path,
                    ClientContext(
                        name="default",
                        api=args.api_address,
                        ca_pem=result.ca_pem.decode(),
                        api_key=result.admin_key,
                    ),
                )
                print(f"wrote photonctl context 'default' to {path}")
            return EXIT_OK
        config = _hub_config(args, env)
        setup_logging(
            level=args.log_level, fmt=args.log_format or env.get("PHOTON_LOG_FORMAT", "text")
        )
        if (raised := raise_open_file_limit()) is not None:
            log.info("raised the open-file limit from %d to %d (a socket per agent)", *raised)
        # Checks too costly for the event loop run in threads; by default the loop waits up to
        # 5 ms for the GIL at each of a task's hops while one runs, and a task makes several.
        sys.setswitchinterval(GIL_SWITCH_INTERVAL)
        # What start-up made (modules, classes, descriptors) lives as long as the process: out
        # of the collector's sight, a full collection under load pauses the loop ~10-25 ms,
        # not ~30-50.
        gc.freeze()
        hub = Hub(config)
        await serve_until_signalled(hub.run(), hub.stop)
        return EXIT_OK

    return run(command, debug=args.debug)


if __name__ == "__main__":
    sys.exit(main())

"""`AgentDaemon`: the agent's composition root, from its data dir to a staged shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random

from ..._fs import check_private_dir
from ..._log_fields import AGENT_ID
from ...errors import PhotonError
from ..config import AgentConfig, Identity
from ..runner import Runner
from ..session import HubLink, Outbox, Reporter, check_certificate
from ..tools import load_tools
from ..workspaces import Workspaces
from ._lock import hold_data_dir

log = logging.getLogger(__name__)


class AgentDaemon:
    """Keeps one stream to the hub alive and runs the tasks it is assigned, until `stop()`.

    `connected` is set while a stream to the hub is established.
    """

    def __init__(self, config: AgentConfig, *, rng: random.Random | None = None) -> None:
        self._config = config
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self.connected = asyncio.Event()
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Shut down gracefully. Safe to call twice or before `run()`."""
        self._stopping.set()

    async def __aenter__(self) -> AgentDaemon:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop()

    async def run(self) -> None:
        """Serve until stopped, then shut down in stages: take no new work, let running tasks
        finish within the shutdown grace, cancel the rest, close the stream and the outbox.

        Raises ConfigError when the data dir is not private, the agent has not joined, another
        agent runs on this data dir, or its certificate is missing or has expired; and
        PermissionDeniedError (with the hub's words) when the hub refuses this agent: it was
        removed from the mesh, or is not a member. When that happens while tasks run (or the
        certificate expires meanwhile), they are cancelled first, without a grace period.
        Cancelling `run()` cancels every running task at once.
        """
        config = self._config
        paths = config.paths
        check_private_dir(config.data_dir)
        identity = Identity.load(paths.identity)
        AGENT_ID.set(identity.agent_id)  # in every line this agent logs from now on
        with contextlib.ExitStack() as stack:
            stack.enter_context(hold_data_dir(paths))
            check_certificate(paths)
            config.workspace_root.mkdir(parents=True, exist_ok=True)
            toolbox = await load_tools(config)
            outbox = Outbox(paths.outbox)
            stack.callback(outbox.close)
            reporter = Reporter(outbox)
            workspaces = Workspaces(
                data_dir=config.data_dir,
                local_roots=config.local_repo_roots,
                agent_name=identity.name,
                keep_days=config.keep_days,
            )
            await workspaces.prune()
            runner = Runner(
                toolbox=toolbox,
                workdir=config.workspace_root,
                reports=reporter,
                workspaces=workspaces,
            )
            link = HubLink(
                config=config,
                identity=identity,
                tools=toolbox.tools,
                runner=runner,
                reporter=reporter,
                rng=self._rng,
                connected=self.connected,
            )
            ended = await self._serve(runner, link)
        if ended is not None:
            raise ended

    async def _serve(self, runner: Runner, link: HubLink) -> PhotonError | None:
        """Run until `stop()` or until the link ends for good; returns why it ended then."""
        async with asyncio.TaskGroup() as group:
            group.create_task(runner.run())
            linked = group.create_task(_run_link(link))
            stopping = group.create_task(self._stopping.wait())
            await asyncio.wait((linked, stopping), return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            ended = linked.result() if linked.done() else None
            if ended is not None:
                # Nothing this agent runs can reach the hub any more: stop it all now. (The
                # error itself is the CLI's one line.)
                if runner.running:
                    log.info("cancelling %d running task(s)", len(runner.running))
                await runner.drain(grace=0.0)
            else:
                await runner.drain(grace=self._config.shutdown_grace)
            link.stop()
        return ended


async def _run_link(link: HubLink) -> PhotonError | None:
    """The link's run, with the error that ends it as a value: raised inside the task group it
    would cancel the running tasks before the daemon could stop them in order."""
    try:
        await link.run()
    except PhotonError as exc:
        return exc
    return None

"""`python -m bench.scale [--agents N] [--procs P] [--tasks T] [--quick]`: one hub, many agents.

The claim under test: one hub holds 1,000 connected agents heartbeating every 5 s using under a
quarter of one core, and still dispatches W1 within target meanwhile.

It starts a real hub and 2 real agents of 1 slot (as `bench.photon_system` does for W1), measures
the hub with those 2 alone, then enrols N more agents through the real join flow (N join tokens
from the admin API; each simulated agent makes its key and joins in one of P `bench.sim_agents`
processes) and holds one real mTLS Connect stream per agent, heartbeating at the hub's interval.
Once the hub lists all N as connected it measures again: hub CPU over a quiet window (psutil CPU
time of the hub process ÷ wall time), hub RSS, `list_agents` latency, and W1 (sequential no-op
`echo` tasks, submit → result). The simulated agents offer no enabled tool, so W1 runs on the 2
real agents. One table at the end; logs and data dirs stay in the work dir.

Every process it starts carries a BENCH_TAG, and whatever still carries it at the end (also after
Ctrl-C or SIGTERM) is ended.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import statistics
import sys
import tempfile
import time
import traceback
import urllib.request
import uuid
from collections.abc import Awaitable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psutil
import uvloop

from photon.errors import PhotonError
from photon.model import AgentState

from .photon_system import PhotonSystem
from .procs import PYTHON, TAG_VARIABLE, Daemon, rss_mb, sweep, wait_until
from .sim_agents import LABELS
from .workloads import WORKERS, Sizes, percentile, w1_latencies, warm_up

T = TypeVar("T")

CPU_TARGET_PERCENT = 25.0
W1_P50_TARGET_MS = 1.0
W1_P99_TARGET_MS = 3.0
TOKENS_AT_ONCE = 32
TOKEN_TTL = 3_600.0
# Every simulated agent joins from this host: the hub's per-peer join throttle is raised so
# that N joins in a few seconds are not held back.
SCALE_HUB_CONFIG = "[limits]\nmax-auth-attempts-per-second = 100000\n"
LIST_AGENTS_CALLS = 5
POLL = 1.0
# After the last agent connected, more than a heartbeat interval: connection work is over.
SETTLE = 8.0
START_WITHIN = 180.0
TOKENS_WITHIN = 180.0
SIM_KEY, SIM_VALUE = next(iter(LABELS.items()))


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    agents: int
    procs: int
    tasks: int
    window: float  # seconds of CPU measurement
    warmup: int
    workdir: Path

    @property
    def connect_within(self) -> float:
        return max(180.0, self.agents * 0.4)

    @property
    def w1_within(self) -> float:
        return 60.0 + self.tasks * 0.5


@dataclass(slots=True, kw_only=True)
class Measured:
    """The figures for one fleet size."""

    agents: int
    hub_cpu_percent: float | None = None
    hub_rss_mb: float | None = None
    list_agents_ms: float | None = None
    list_agents_error: str = ""
    w1_p50_ms: float | None = None
    w1_p99_ms: float | None = None
    sims_cpu_percent: float | None = None
    machine_cpu_percent: float | None = None  # all cores, every process: is the machine quiet?
    heartbeats_per_s: float | None = None


@dataclass(slots=True, kw_only=True)
class Outcome:
    plan: Plan
    alone: Measured
    crowded: Measured | None = None
    heartbeat_interval: float | None = None
    list_agents_failed_at: int | None = None  # connected agents when list_agents first failed
    notes: list[str] = field(default_factory=list)


@dataclass(slots=True, kw_only=True)
class Simulator:
    """One `bench.sim_agents` process and its status file."""

    daemon: Daemon
    status: Path

    def counters(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.status.read_text()))
        except (FileNotFoundError, ValueError):
            return {}


def _say(text: str) -> None:
    print(f"scale: {text}", file=sys.stderr, flush=True)


async def _within(seconds: float, what: str, work: Awaitable[T]) -> T:
    try:
        async with asyncio.timeout(seconds):
            return await work
    except TimeoutError:
        raise TimeoutError(f"{what}: not within {seconds:.0f} s") from None


def _total(sims: Sequence[Simulator], counter: str) -> int:
    return sum(int(s.counters().get(counter, 0)) for s in sims)


async def cpu_percent(pids: Sequence[int], seconds: float) -> dict[int, float]:
    """CPU time each process used over the next `seconds`, as % of one core."""
    procs = {pid: psutil.Process(pid) for pid in pids}
    start = {pid: sum(p.cpu_times()[:2]) for pid, p in procs.items()}
    t0 = time.monotonic()
    await asyncio.sleep(seconds)
    wall = time.monotonic() - t0
    return {pid: (sum(p.cpu_times()[:2]) - start[pid]) / wall * 100 for pid, p in procs.items()}


def machine_cpu_percent() -> float:
    """Busy share of all cores since the previous call (the first call starts the count)."""
    return psutil.cpu_percent(interval=None)


async def _time_list_agents(system: PhotonSystem, measured: Measured) -> None:
    samples = []
    for _ in range(LIST_AGENTS_CALLS):
        t0 = time.perf_counter()
        try:
            await system.client.list_agents()
        except PhotonError as exc:
            measured.list_agents_error = f"{type(exc).__name__}: {exc}"
            return
        samples.append(time.perf_counter() - t0)
    measured.list_agents_ms = statistics.median(samples) * 1e3


async def measure(
    system: PhotonSystem, plan: Plan, measured: Measured, sims: Sequence[Simulator]
) -> None:
    """Hub CPU over a quiet window, RSS, list_agents, then W1; fills in `measured` as it goes."""
    hub_pid = system.hub_pid
    assert hub_pid is not None
    agents = measured.agents
    _say(f"{agents:,} agents: hub CPU over {plan.window:.0f} s")
    beats = _total(sims, "heartbeats")
    t0 = time.monotonic()
    machine_cpu_percent()
    usage = await cpu_percent([hub_pid, *(s.daemon.pid for s in sims)], plan.window)
    measured.machine_cpu_percent = machine_cpu_percent()
    if sims:
        measured.heartbeats_per_s = (_total(sims, "heartbeats") - beats) / (time.monotonic() - t0)
        measured.sims_cpu_percent = sum(usage[s.daemon.pid] for s in sims)
    measured.hub_cpu_percent = usage[hub_pid]
    measured.hub_rss_mb = rss_mb(hub_pid)
    await _time_list_agents(system, measured)
    _say(f"{agents:,} agents: W1, {plan.tasks} sequential echo tasks")
    sizes = Sizes(latency=plan.tasks, warmup=plan.warmup)
    await _within(plan.w1_within, "warm-up", warm_up(system, sizes))
    samples = await _within(plan.w1_within, "W1", w1_latencies(system, plan.tasks))
    measured.w1_p50_ms = percentile(samples, 50) * 1e3
    measured.w1_p99_ms = percentile(samples, 99) * 1e3


async def create_tokens(system: PhotonSystem, n: int) -> list[str]:
    """n single-use join tokens through the admin API, a window of calls in flight."""
    gate = asyncio.Semaphore(TOKENS_AT_ONCE)

    async def one() -> str:
        async with gate:
            token, _ = await system.client.create_join_token(labels=LABELS, ttl=TOKEN_TTL)
            return token

    return list(await asyncio.gather(*(one() for _ in range(n))))


def start_simulators(system: PhotonSystem, plan: Plan, tokens: Sequence[str]) -> list[Simulator]:
    """P processes, the tokens dealt out evenly."""
    root = plan.workdir / "sim"
    root.mkdir(mode=0o700, exist_ok=True)
    sims = []
    for k in range(plan.procs):
        share = tokens[k :: plan.procs]
        if not share:
            continue
        token_file = root / f"tokens-{k}.txt"
        token_file.touch(mode=0o600)
        token_file.write_text("\n".join(share) + "\n")
        status = root / f"status-{k}.json"
        args = [PYTHON, "-m", "bench.sim_agents", "--tokens", str(token_file)]
        args += ["--data-dir", str(root / "agents"), "--status", str(status)]
        args += ["--name-prefix", f"sim{k}"]
        daemon = Daemon(args, plan.workdir / f"sim-{k}.log", env=system.env).start()
        sims.append(Simulator(daemon=daemon, status=status))
    return sims


_CONNECTED = re.compile(r'^photon_agents\{state="connected"\}\s+(\S+)$', re.MULTILINE)


def _connected_per_metrics(system: PhotonSystem) -> int:
    """Connected agents (real and simulated) as the hub's /metrics counts them."""
    url = f"http://{system.addresses()['http']}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    match = _CONNECTED.search(text)
    return int(float(match.group(1))) if match else 0


async def connected_sims(system: PhotonSystem, outcome: Outcome) -> int:
    """Simulated agents the hub lists as connected; falls back to /metrics (and says so) when
    list_agents fails."""
    try:
        agents = await system.client.list_agents()
    except PhotonError as exc:
        connected = await asyncio.to_thread(_connected_per_metrics, system) - WORKERS
        if outcome.list_agents_failed_at is None:
            outcome.list_agents_failed_at = connected
            outcome.notes.append(
                f"list_agents started failing at about {connected + WORKERS:,} connected agents "
                f"({type(exc).__name__}: {exc}); connections were counted from /metrics instead"
            )
            _say(outcome.notes[-1])
        return connected
    return sum(
        1 for a in agents if a.labels.get(SIM_KEY) == SIM_VALUE and a.state == AgentState.CONNECTED
    )


async def bring_up(
    system: PhotonSystem, plan: Plan, outcome: Outcome, sims: list[Simulator]
) -> None:
    """Tokens, simulator processes, and the wait until the hub has all N connected."""
    _say(f"creating {plan.agents:,} join tokens")
    t0 = time.monotonic()
    tokens = await _within(TOKENS_WITHIN, "join tokens", create_tokens(system, plan.agents))
    outcome.notes.append(f"{plan.agents:,} join tokens created in {time.monotonic() - t0:.1f} s")
    _say(f"starting {plan.procs} simulator processes")
    t0 = time.monotonic()
    sims.extend(start_simulators(system, plan, tokens))

    async def all_connected() -> bool:
        for sim in sims:
            if not sim.daemon.running:
                raise RuntimeError(f"a simulator exited:\n{sim.daemon.tail()}")
        failures = _total(sims, "join_failures")
        if failures:
            errors = {str(s.counters().get("last_error", "")) for s in sims} - {""}
            raise RuntimeError(f"{failures} join(s) failed: {'; '.join(sorted(errors))}")
        joined = _total(sims, "joined")
        connected = await connected_sims(system, outcome)
        _say(f"joined {joined:,}, connected {connected:,} of {plan.agents:,}")
        return connected >= plan.agents

    await wait_until(
        all_connected, within=plan.connect_within, interval=POLL, what="agents connected"
    )
    elapsed = time.monotonic() - t0
    outcome.notes.append(
        f"all {plan.agents:,} simulated agents joined and connected {elapsed:.1f} s after "
        f"the simulators started ({plan.agents / elapsed:,.0f}/s)"
    )


async def run(plan: Plan) -> Outcome:
    system = PhotonSystem(workdir=plan.workdir, hub_config=SCALE_HUB_CONFIG)
    sims: list[Simulator] = []
    try:
        _say("starting the hub and 2 agents (1 slot each)")
        await _within(START_WITHIN, "start", system.start(slots=1))
        outcome = Outcome(plan=plan, alone=Measured(agents=WORKERS))
        await measure(system, plan, outcome.alone, [])
        try:
            await bring_up(system, plan, outcome, sims)
            await asyncio.sleep(SETTLE)
            outcome.heartbeat_interval = max(
                float(s.counters().get("heartbeat_interval", 0.0)) for s in sims
            )
            outcome.crowded = Measured(agents=WORKERS + plan.agents)
            await measure(system, plan, outcome.crowded, sims)
        except (TimeoutError, RuntimeError, PhotonError) as exc:
            outcome.notes.append(f"stopped early: {exc}")
            _say(f"stopped early: {exc}")
            return outcome
        connected = await connected_sims(system, outcome)
        reconnects = _total(sims, "reconnects")
        assigned = _total(sims, "assigned")
        outcome.notes.append(
            f"after the run: {connected:,} of {plan.agents:,} simulated agents connected, "
            f"{reconnects} reconnect(s), {assigned} task(s) assigned to simulated agents"
        )
        return outcome
    finally:
        _say("stopping")
        await asyncio.gather(*(asyncio.to_thread(s.daemon.stop) for s in sims))
        await system.stop()


def _cell(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _meets(value: float | None, limit: float, *, strict: bool = False) -> str:
    if value is None:
        return "?"
    return "yes" if (value < limit if strict else value <= limit) else "NO"


def _row(cells: Sequence[str], widths: Sequence[int]) -> str:
    first, *rest = cells
    return "  ".join(
        [first.ljust(widths[0])] + [c.rjust(w) for c, w in zip(rest, widths[1:], strict=True)]
    )


def render(outcome: Outcome) -> str:
    plan, alone, crowded = outcome.plan, outcome.alone, outcome.crowded
    empty = Measured(agents=WORKERS + plan.agents)
    loaded = crowded or empty
    interval = (
        f"every {outcome.heartbeat_interval:g} s ±10 %" if outcome.heartbeat_interval else "-"
    )
    rows = [
        (
            f"hub CPU % of one core ({plan.window:.0f} s, idle)",
            _cell(alone.hub_cpu_percent, 1),
            _cell(loaded.hub_cpu_percent, 1),
            f"<{CPU_TARGET_PERCENT:.0f}",
            _meets(loaded.hub_cpu_percent, CPU_TARGET_PERCENT, strict=True),
        ),
        ("hub RSS MB", _cell(alone.hub_rss_mb, 1), _cell(loaded.hub_rss_mb, 1), "", ""),
        (
            f"W1 p50 ms ({plan.tasks} tasks)",
            _cell(alone.w1_p50_ms),
            _cell(loaded.w1_p50_ms),
            f"<={W1_P50_TARGET_MS:.2f}",
            _meets(loaded.w1_p50_ms, W1_P50_TARGET_MS),
        ),
        (
            "W1 p99 ms",
            _cell(alone.w1_p99_ms),
            _cell(loaded.w1_p99_ms),
            f"<={W1_P99_TARGET_MS:.2f}",
            _meets(loaded.w1_p99_ms, W1_P99_TARGET_MS),
        ),
        (
            f"list_agents ms (median of {LIST_AGENTS_CALLS})",
            "failed" if alone.list_agents_error else _cell(alone.list_agents_ms),
            "failed" if loaded.list_agents_error else _cell(loaded.list_agents_ms),
            "",
            "",
        ),
    ]
    header = ("", f"{WORKERS} agents", f"{WORKERS + plan.agents:,} agents", "target", "meets")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(5)]
    lines = [
        f"PHOTON scale: {plan.agents:,} simulated agents in {plan.procs} process(es) "
        f"+ {WORKERS} real agents of 1 slot; heartbeats {interval}",
        *(_row(cells, widths) for cells in [header, *rows]),
    ]
    notes = list(outcome.notes)
    if crowded is not None and crowded.heartbeats_per_s is not None:
        notes.append(
            f"during the CPU window the simulators sent {crowded.heartbeats_per_s:,.0f} "
            f"heartbeats/s and used {_cell(crowded.sims_cpu_percent, 0)} % of one core in total"
        )
    if crowded is not None:
        notes.append(
            f"the machine's {psutil.cpu_count()} cores were {_cell(alone.machine_cpu_percent, 0)}"
            f" % and {_cell(crowded.machine_cpu_percent, 0)} % busy during the two CPU windows"
            " (every process; more than this benchmark's means other load)"
        )
    for measured in (alone, loaded):
        if measured.list_agents_error:
            notes.append(f"list_agents, {measured.agents:,} agents: {measured.list_agents_error}")
    lines += [f"- {note}" for note in notes]
    return "\n".join(lines)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--agents", type=int, default=1_000, help="simulated agents (1000)")
    parser.add_argument("--procs", type=int, default=4, help="simulator processes (4)")
    parser.add_argument("--tasks", type=int, help="W1 tasks per measurement (500; 200 --quick)")
    parser.add_argument("--quick", action="store_true", help="10 s CPU windows, fewer tasks")
    parser.add_argument("--workdir", type=Path, help="where data dirs and logs go (kept)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.agents < 1 or args.procs < 1:
        parser.error("--agents and --procs must be at least 1")
    args.tasks = args.tasks or (200 if args.quick else 500)
    return args


async def _main(plan: Plan) -> Outcome:
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        # The first signal cancels the run; further ones must not cut its stopping short.
        if not task.cancelling():
            _say("stopping what was started (a few seconds)")
            task.cancel()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    return await run(plan)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="photon-scale-"))
    workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
    plan = Plan(
        agents=args.agents,
        procs=min(args.procs, args.agents),
        tasks=args.tasks,
        window=10.0 if args.quick else 30.0,
        warmup=20 if args.quick else 50,
        workdir=workdir,
    )
    # Everything started from here on inherits the tag; the sweep below ends what is left.
    tag = uuid.uuid4().hex
    os.environ[TAG_VARIABLE] = tag
    _say(f"logs and data in {workdir}")
    t0 = time.monotonic()
    try:
        outcome = uvloop.run(_main(plan))
    except (KeyboardInterrupt, asyncio.CancelledError):
        _say("interrupted")
        return 130
    except Exception:
        traceback.print_exc()
        return 1
    finally:
        left = sweep(tag)
        if left:
            _say(f"ended {left} leftover process(es)")
    print(render(outcome))
    _say(f"took {time.monotonic() - t0:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(asdict(outcome), default=str, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`python -m bench.run [--runs N] [--quick] [--only photon,ray,...]`: run all, print one table.

Each run starts every selected system in turn (the order rotated from run to run, so no system
always goes first on a cold machine or last on a hot one), as a `bench.session` child process in
its own process group with a time budget. A session that overruns is stopped and reported as a
timeout; whatever a session started is ended when it finishes (found by the BENCH_TAG its
processes inherit), and also on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from .procs import PYTHON, TAG_VARIABLE, child_env, sweep
from .table import Results, render
from .workloads import Budgets

SYSTEMS = ("photon", "floor", "ray", "dask", "celery")
REQUIRES = {"ray": "ray", "dask": "distributed", "celery": "celery"}
REDIS = ("127.0.0.1", 6379)
STOP_GRACE = 30.0


def _redis_reachable() -> bool:
    try:
        with socket.create_connection(REDIS, timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _unavailable(system: str) -> str | None:
    """Why a system cannot run here, or None."""
    module = REQUIRES.get(system)
    if module and importlib.util.find_spec(module) is None:
        return f"skipped: {module} is not installed (pip install -e '.[bench]')"
    if system == "celery" and not _redis_reachable():
        return f"skipped: no Redis reachable at {REDIS[0]}:{REDIS[1]}"
    return None


class Session:
    """One `bench.session` child process and everything it starts."""

    def __init__(self, system: str, workdir: Path, *, quick: bool) -> None:
        self.system = system
        self.workdir = workdir
        self.out = workdir / "results.jsonl"
        self.tag = uuid.uuid4().hex
        self._quick = quick
        self._popen: subprocess.Popen[bytes] | None = None

    def run(self, budget: float) -> tuple[list[dict[str, object]], bool]:
        """Run to the end or to the budget; returns the reported lines and whether it overran."""
        self.workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
        args = [PYTHON, "-m", "bench.session", self.system, "--workdir", str(self.workdir)]
        args += ["--out", str(self.out), *(["--quick"] if self._quick else [])]
        with (self.workdir / "session.log").open("ab") as log:
            self._popen = subprocess.Popen(
                args,
                env=child_env({TAG_VARIABLE: self.tag}),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        overran = False
        try:
            self._popen.wait(budget)
        except subprocess.TimeoutExpired:
            overran = True
        finally:
            self.stop()
        return self.lines(), overran

    def stop(self) -> None:
        """End the session (SIGTERM to its group, then SIGKILL) and anything it left behind."""
        if self._popen is not None and self._popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._popen.pid, signal.SIGTERM)
            try:
                self._popen.wait(STOP_GRACE)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self._popen.pid, signal.SIGKILL)
                self._popen.wait()
        # Whatever outlived the session (even in a session of its own) still carries its tag.
        sweep(self.tag)

    def lines(self) -> list[dict[str, object]]:
        try:
            text = self.out.read_text()
        except FileNotFoundError:
            return []
        lines = []
        for raw in text.splitlines():
            with contextlib.suppress(json.JSONDecodeError):
                lines.append(json.loads(raw))
        return lines


def _collect(results: Results, system: str, run: int, lines: list[dict[str, object]]) -> str:
    errors = []
    for line in lines:
        if "metric" in line:
            value = line["value"]
            results.add(
                system, run, str(line["metric"]), value if isinstance(value, float | int) else None
            )
        elif "native" in line and isinstance(line["native"], list):
            results.native.setdefault(system, set()).update(map(str, line["native"]))
        elif "error" in line:
            errors.append(str(line["error"]))
    return "; ".join(errors)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--runs", type=int, help="interleaved runs (default 5; 1 with --quick)")
    parser.add_argument("--quick", action="store_true", help="small counts: a smoke run")
    parser.add_argument(
        "--only", help=f"comma-separated systems (default all: {','.join(SYSTEMS)})"
    )
    parser.add_argument("--workdir", type=Path, help="where data dirs and logs go (kept)")
    parser.add_argument("--json", type=Path, help="also write every measured value here")
    args = parser.parse_args(argv)
    chosen = [s.strip() for s in (args.only or ",".join(SYSTEMS)).split(",") if s.strip()]
    unknown = sorted(set(chosen) - set(SYSTEMS))
    if unknown:
        parser.error(f"unknown system(s) {', '.join(unknown)}; choose from {', '.join(SYSTEMS)}")
    args.systems = [s for s in SYSTEMS if s in chosen]
    args.runs = args.runs or (1 if args.quick else 5)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="photon-bench-"))
    results = Results(runs=args.runs)
    runnable = []
    for system in args.systems:
        reason = _unavailable(system)
        if reason:
            results.note(system, reason)
        else:
            runnable.append(system)
    budget = Budgets().total
    print(f"bench: logs and data in {workdir}", file=sys.stderr)

    def on_sigterm(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)
    # Also when started in the background by a shell that ignores SIGINT there.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    run = 0
    current: Session | None = None
    interrupted = False
    try:
        for run in range(args.runs):
            shift = run % len(runnable) if runnable else 0
            order = runnable[shift:] + runnable[:shift]
            for system in order:
                current = Session(system, workdir / f"run{run + 1}-{system}", quick=args.quick)
                t0 = time.monotonic()
                print(
                    f"bench: run {run + 1}/{args.runs}: {system} ...", file=sys.stderr, flush=True
                )
                lines, overran = current.run(budget)
                error = _collect(results, system, run, lines)
                if overran:
                    error = f"session overran its {budget:.0f} s budget" + (
                        f" ({error})" if error else ""
                    )
                if error:
                    results.note(system, f"run {run + 1}: {error}")
                status = error or "ok"
                print(
                    f"bench: run {run + 1}/{args.runs}: {system} {status} "
                    f"({time.monotonic() - t0:.0f} s)",
                    file=sys.stderr,
                    flush=True,
                )
                current = None
    except KeyboardInterrupt:
        interrupted = True
        print("bench: interrupted; stopping what was started", file=sys.stderr)
        if current is not None:
            current.stop()
            _collect(results, current.system, run, current.lines())
            results.note(current.system, f"run {run + 1}: interrupted")
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
    systems = [s for s in args.systems if s in runnable or s in results.notes]
    print(render(results, systems))
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "runs": args.runs,
                    "values": results.values,
                    "by_run": results.by_run,
                    "native": {k: sorted(v) for k, v in results.native.items()},
                    "notes": results.notes,
                },
                indent=2,
            )
        )
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())

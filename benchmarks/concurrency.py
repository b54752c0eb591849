"""Concurrency: gunicorn -w 4 REST:giv_api under a burst of concurrent GET /runAll.

All clients are released at once by a barrier; the simulator's request log says how many
inverter reads the burst caused (one HR(0,60) at 0x11 per read) and the clients give the
latency distribution.

    .venv/bin/python -m benchmarks.concurrency [--clients 50] [--latency 0.25]
"""

from __future__ import annotations

import argparse
import collections
import json
import signal
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .common import (
    DEFAULT_LAUNCH,
    LOOPBACK,
    PROJECT_ROOT,
    PYTHON,
    is_inverter_read,
    last_seq,
    measure,
    median,
    ms,
    percentile,
    read_env,
    requests_since,
    simulator,
)
from .servers import free_port

WORKERS = 4
BATTERIES = 1
BOOT_TIMEOUT = 30.0
REQUEST_TIMEOUT = 120.0


@contextmanager
def gunicorn(env: dict[str, str], workdir: Path) -> Iterator[int]:
    """``gunicorn -w 4 -b 127.0.0.1:<free> REST:giv_api``; yields the port once every worker
    has booted and the app answers."""
    port = free_port()
    log = workdir / "gunicorn.log"
    argv = [PYTHON, "-m", "gunicorn", "-w", str(WORKERS), "-b", f"{LOOPBACK}:{port}"]
    with log.open("wb") as handle:
        proc = subprocess.Popen(
            [*argv, "REST:giv_api"], cwd=PROJECT_ROOT, env=env, stdout=handle, stderr=handle
        )
    try:
        _wait_ready(proc, port, log)
        yield port
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_ready(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + BOOT_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited: {log.read_text()[-500:]}")
        if log.read_text().count("Booting worker") >= WORKERS and _answers(port):
            return
        time.sleep(0.05)
    raise RuntimeError(f"gunicorn not ready within {BOOT_TIMEOUT:.0f} s: {log.read_text()[-500:]}")


def _answers(port: int) -> bool:
    try:
        urllib.request.urlopen(f"http://{LOOPBACK}:{port}/not-a-route", timeout=2).close()
    except urllib.error.HTTPError as exc:
        return exc.code == 404
    except OSError:
        return False
    return False


def _burst(port: int, clients: int) -> list[tuple[int | str, float]]:
    """``clients`` concurrent GET /runAll released together: (status, seconds) each."""
    barrier = threading.Barrier(clients)
    results: list[tuple[int | str, float]] = [("not run", 0.0)] * clients

    def client(index: int) -> None:
        barrier.wait()
        start = time.perf_counter()
        try:
            with urllib.request.urlopen(
                f"http://{LOOPBACK}:{port}/runAll", timeout=REQUEST_TIMEOUT
            ) as reply:
                json.loads(reply.read())
                status: int | str = reply.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except (OSError, ValueError) as exc:
            status = type(exc).__name__
        results[index] = (status, time.perf_counter() - start)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def run(clients: int = 50, latency: float = 0.25) -> dict[str, Any]:
    """One burst of ``clients`` GET /runAll against 4 gunicorn workers."""
    with (
        simulator(latency=latency, batteries=BATTERIES) as sim,
        tempfile.TemporaryDirectory() as tmp,
    ):
        env = read_env(sim.port, Path(tmp) / "state")
        # A cron-like run first, so the battery list and last-good values exist, as they would.
        warm = measure(DEFAULT_LAUNCH.command("runAll"), env)
        with gunicorn(env, Path(tmp)) as port:
            seq = last_seq(sim)
            started = time.perf_counter()
            results = _burst(port, clients)
            burst = time.perf_counter() - started
            records = requests_since(sim, seq)
    times = [seconds for _, seconds in results]
    return {
        "workers": WORKERS,
        "clients": clients,
        "latency_s": latency,
        "batteries": BATTERIES,
        "warm_up_exit_code": warm.code,
        "statuses": dict(collections.Counter(str(status) for status, _ in results)),
        "inverter_reads": sum(is_inverter_read(r) for r in records),
        "requests": len(records),
        "connections": len({r.client for r in records}),
        "burst_ms": ms(burst),
        "latency_ms": {
            "min": ms(min(times)),
            "median": ms(median(times)),
            "p90": ms(percentile(times, 90)),
            "max": ms(max(times)),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50, help="concurrent GET /runAll")
    parser.add_argument("--latency", type=float, default=0.25, help="simulator answer delay (s)")
    parser.add_argument("--quick", action="store_true", help="8 clients: proves the script works")
    args = parser.parse_args(argv)
    print(json.dumps(run(8 if args.quick else args.clients, args.latency), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

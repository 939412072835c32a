"""A bounded load test of ``bayesnet serve`` on loopback: concurrent clients posting posterior requests.

    python scripts/loadtest.py [--clients 50] [--duration 20] [--think 0] [--url http://127.0.0.1:8000] [--json]

Without ``--url`` it starts ``bayesnet serve --port 0`` (this interpreter, the shipped knowledge
base) in a child process, waits for it to answer, and stops it at the end. Each client holds one
keep-alive HTTP/1.1 connection and posts ``/api/posteriors`` requests one after another (after
``--think`` milliseconds of pause, 0 by default: a closed loop with no pause), cycling through the
seed-derived cases of ``scripts/scenarios.csv``, each client from a different starting case. The
clients are plain asyncio streams in one process, so the load generator costs little beside the
server. A request counts from its first byte sent to its last byte read; any status but 200 is an
error. Prints requests per second and the latency percentiles.
"""
from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

SCENARIOS = Path(__file__).resolve().parent / "scenarios.csv"


def case_bodies() -> list[bytes]:
    """One request body per seed-derived case: ``{"evidence": {node: state, ...}}``."""
    bodies = []
    with SCENARIOS.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            evidence = dict(token.split("=", 1) for token in row["evidence"].split())
            bodies.append(json.dumps({"evidence": evidence}).encode())
    return bodies


def start_server() -> tuple[subprocess.Popen, str]:
    """``bayesnet serve --port 0`` in a child process, and its address once it listens."""
    process = subprocess.Popen([sys.executable, "-m", "bayesnet", "serve", "--port", "0"], stderr=subprocess.PIPE,
                               stdout=subprocess.DEVNULL, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines = []
    for line in process.stderr:
        lines.append(line)
        found = re.search(r"at (http://[^ ]+?)/? \(", line)
        if found:
            # keep reading what the server says, so that a full pipe can never stall it
            threading.Thread(target=process.stderr.read, daemon=True).start()
            return process, found.group(1)
    process.wait()
    raise SystemExit("bayesnet serve did not start:\n" + "".join(lines))


async def client(host: str, port: int, bodies: list[bytes], start: int, stop_at: float, think: float,
                 latencies: list[float], errors: list[str]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    i = start
    try:
        while time.perf_counter() < stop_at:
            body = bodies[i % len(bodies)]
            i += 1
            request = (f"POST /api/posteriors HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
                       f"Content-Length: {len(body)}\r\n\r\n").encode() + body
            began = time.perf_counter()
            writer.write(request)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - began)
            status = head.split(b" ", 2)[1]
            if status != b"200":
                errors.append(status.decode())
            if think:
                await asyncio.sleep(think)
    finally:
        writer.close()


async def run(url: str, clients: int, duration: float, think: float) -> dict:
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    bodies = case_bodies()
    latencies: list[float] = []
    errors: list[str] = []
    # a short warm-up on every connection's first request is not counted
    await asyncio.gather(*(client(host, port, bodies, k, time.perf_counter() + 0.5, 0, [], []) for k in range(clients)))
    began = time.perf_counter()
    stop_at = began + duration
    await asyncio.gather(*(client(host, port, bodies, k, stop_at, think, latencies, errors) for k in range(clients)))
    elapsed = time.perf_counter() - began
    ms = sorted(1000 * x for x in latencies)

    def pct(q: float) -> float:
        return ms[min(len(ms) - 1, int(q * len(ms)))] if ms else float("nan")

    return {"clients": clients, "duration_s": round(elapsed, 2), "think_ms": 1000 * think, "requests": len(ms),
            "errors": len(errors), "requests_per_s": round(len(ms) / elapsed, 1),
            "p50_ms": round(pct(0.50), 2), "p95_ms": round(pct(0.95), 2), "p99_ms": round(pct(0.99), 2),
            "max_ms": round(ms[-1], 2) if ms else None, "mean_ms": round(statistics.fmean(ms), 2) if ms else None,
            "cases": len(bodies)}


def server_cpu_seconds(process: subprocess.Popen | None) -> float | None:
    """The server process's CPU time so far (user + system), from /proc where there is one."""
    try:
        fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (AttributeError, OSError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (default 50)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load (default 20)")
    parser.add_argument("--think", type=float, default=0.0, help="milliseconds each client pauses between requests")
    parser.add_argument("--url", help="a running server (default: start bayesnet serve on a free port)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.clients < 1 or args.duration <= 0 or args.think < 0:
        parser.error("--clients must be at least 1, --duration above 0 and --think at least 0")
    process = None
    url = args.url
    if url is None:
        process, url = start_server()
    try:
        cpu = server_cpu_seconds(process)
        figures = asyncio.run(run(url, args.clients, args.duration, args.think / 1000))
        if process is not None and cpu is not None:
            used = server_cpu_seconds(process) - cpu
            figures["server_cpu_ms_per_request"] = round(1000 * used / max(1, figures["requests"]), 3)
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)
    figures["load_average_1min"] = round(os.getloadavg()[0], 2)
    if args.json:
        print(json.dumps(figures))
    else:
        print(f"{figures['clients']} clients, {figures['duration_s']} s, think {figures['think_ms']:g} ms: "
              f"{figures['requests']} posterior requests ({figures['errors']} errors), "
              f"{figures['requests_per_s']:,.0f} requests/s; latency p50 {figures['p50_ms']} ms, "
              f"p95 {figures['p95_ms']} ms, p99 {figures['p99_ms']} ms, max {figures['max_ms']} ms "
              f"(load average {figures['load_average_1min']}"
              + (f"; server CPU {figures['server_cpu_ms_per_request']} ms a request" if "server_cpu_ms_per_request" in figures else "")
              + ")")
    return 0 if figures["errors"] == 0 and figures["requests"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())

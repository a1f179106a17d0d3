"""POST-claim throughput of the HTTP service against a bare ASGI hello-world (a script, not a test).

Usage::

    python tests/benchmarks/http_throughput.py [--duration 5] [--rounds 3] [--connections 64]
        [--stores memory,sqlite,redis] [--redis redis://127.0.0.1:6379/14] [--workers 1] [--floors]

Each server runs alone on loopback with the same uvicorn settings (one worker, httptools, uvloop,
no access log) and is driven by ``wrk`` with a Lua script that POSTs claims with unique request
and customer ids. The bare hello-world reads the body and answers a small JSON 201, so the ratio
measures what the service costs on top of the server. Printed per server: requests/s, p50 and
p99 latency, the share of 201 answers, and the ratio to the bare server (targets: memory >= 60%,
sqlite >= 50%, redis >= 40%). The machine is shared: read ratios, not absolute numbers.

``--floors`` adds two cut-down copies of the service (``http_floor_app.py``): the same app whose
claim route answers a canned 201 (``canned``), or parses and validates the body first
(``parsed``). They split the service's cost per request into the server and app plumbing, the
request codec, and the engine + store + answer.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "bench-token"
TARGETS = {"memory": 0.60, "sqlite": 0.50, "redis": 0.40}

WRK_LUA = r"""
counter = 0
ok = 0  -- globals, so that done() can read them with thread:get()
other = 0
last_other = 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function init(args)
  prefix = args[1] or "r"
end

function request()
  counter = counter + 1
  local key = prefix .. "-" .. tid .. "-" .. counter
  local body = '{"request_id":"' .. key .. '","customer_id":"c' .. key .. '","device_id":"d' ..
    (counter % 997) .. '","ip":"10.0.' .. (counter % 250) .. '.1"}'
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
  if status == 201 then ok = ok + 1 else other = other + 1; last_other = status end
end

function done(summary, latency, requests)
  local total_ok, total_other, last = 0, 0, 0
  for _, thread in ipairs(threads) do
    total_ok = total_ok + thread:get("ok")
    total_other = total_other + thread:get("other")
    last = math.max(last, thread:get("last_other"))
  end
  io.write(string.format(
    'RESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"ok":%d,"other":%d,' ..
    '"other_status":%d,"socket_errors":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    total_ok, total_other, last,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""

HELLO = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    body = b'{"outcome":"ok"}'
    await send({"type": "http.response.start", "status": 201, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_up(url: str, process: subprocess.Popen[bytes], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=0.5).read()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"server at {url} did not come up")


def start_hello(port: int, workdir: Path) -> subprocess.Popen[bytes]:
    (workdir / "hello_asgi.py").write_text(HELLO)
    command = [sys.executable, "-m", "uvicorn", "hello_asgi:app", "--port", str(port)]
    command += ["--http", "httptools", "--loop", "uvloop", "--no-access-log"]
    command += ["--log-level", "warning", "--app-dir", str(workdir), "--backlog", "4096"]
    return subprocess.Popen(command, cwd=workdir)


def start_floor(port: int, floor: str) -> subprocess.Popen[bytes]:
    """The service with its claim route cut down to a floor (``http_floor_app``)."""
    command = [sys.executable, "-m", "uvicorn", f"http_floor_app:{floor}", "--factory"]
    command += ["--port", str(port), "--http", "httptools", "--loop", "uvloop"]
    command += ["--no-access-log", "--log-level", "warning", "--backlog", "4096"]
    command += ["--app-dir", str(Path(__file__).resolve().parent)]
    env = {**os.environ, "COUPONLAB_ADMIN_TOKEN": TOKEN}
    return subprocess.Popen(command, cwd=ROOT, env=env)


def start_service(
    port: int, store: str, workers: int, threads: int = 32
) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "engine.http.cli", "--store", store, "--port", str(port)]
    command += ["--seed", "1", "--log-level", "warning", "--workers", str(workers)]
    command += ["--threads", str(threads)]
    env = {**os.environ, "COUPONLAB_ADMIN_TOKEN": TOKEN}
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)


def create_stock(url: str) -> str:
    now = time.time()
    stock = {
        "id": "bench",
        "kind": "voucher",
        "face_fen": 1,
        "quota": 10**9,
        "budget_fen": 10**9,
        "window": {"start": now - 60, "end": now + 86400},
        "validity": {"days_after_claim": 7},
    }
    request = urllib.request.Request(
        f"{url}/v1/stocks",
        data=json.dumps(stock).encode(),
        headers={"authorization": f"Bearer {TOKEN}", "content-type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=10).read()
    return "/v1/stocks/bench/claims"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its reaped children (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def redis_cpu_seconds(url: str) -> float:
    """User + system CPU time of the Redis server (``INFO cpu``), all its threads."""
    import redis

    client = redis.Redis.from_url(url)
    info = client.info("cpu")
    client.close()
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def run_wrk(
    url: str,
    args: argparse.Namespace,
    script: Path,
    prefix: str,
    seconds: int,
    pid: int = 0,
    redis_url: str = "",
) -> dict[str, Any]:
    cpu_before = cpu_seconds(pid) if pid else 0.0
    redis_before = redis_cpu_seconds(redis_url) if redis_url else 0.0
    command = [args.wrk, f"-t{args.threads}", f"-c{args.connections}", f"-d{seconds}s"]
    command += ["--timeout", "10s", "-s", str(script), url, "--", prefix]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    line = next(line for line in output.splitlines() if line.startswith("RESULT "))
    result: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    requests = max(1, result["requests"])
    if pid:
        result["cpu_us"] = (cpu_seconds(pid) - cpu_before) * 1e6 / requests
    result["redis_us"] = 0.0
    if redis_url:
        result["redis_us"] = (redis_cpu_seconds(redis_url) - redis_before) * 1e6 / requests
    return result


def flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per run (5)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over all servers (3)")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up seconds per server (2)")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (64)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (1)")
    parser.add_argument("--stores", default="memory,sqlite,redis")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--workers", type=int, default=1, help="server workers (1)")
    parser.add_argument(
        "--server-threads", type=int, default=32, help="couponlab serve --threads (32)"
    )
    parser.add_argument("--wrk", default=shutil.which("wrk") or "/usr/bin/wrk")
    parser.add_argument(
        "--floors",
        action="store_true",
        help="also run the service with its claim route cut down: 'canned' (a canned 201) and "
        "'parsed' (body parsed and validated, then the canned 201); see http_floor_app.py",
    )
    args = parser.parse_args()
    if not Path(args.wrk).exists():
        raise SystemExit(f"wrk not found at {args.wrk}: install it (apt-get install -y wrk)")
    print(f"command: python tests/benchmarks/{Path(sys.argv[0]).name} {' '.join(sys.argv[1:])}")
    print(
        f"wrk -t{args.threads} -c{args.connections}, {args.rounds} rounds of {args.duration} s "
        f"per server (interleaved), loopback, {os.cpu_count()} CPUs, load average at the start "
        + ", ".join(f"{x:.2f}" for x in os.getloadavg())
    )
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        script = workdir / "claims.lua"
        script.write_text(WRK_LUA)
        targets, processes = start_all(args, workdir)
        try:
            runs = drive(args, script, targets)
        finally:
            for process in processes:
                process.terminate()
                process.wait(30)
            if "redis" in targets:
                flush_redis(args.redis)
    report(runs)
    print(
        "load average (1, 5, 15 min) at the end: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())
    )
    return 0


def start_all(
    args: argparse.Namespace, workdir: Path
) -> tuple[dict[str, tuple[str, int]], list[subprocess.Popen[bytes]]]:
    """Start the bare server and one service per store; returns claim URLs by name."""
    targets: dict[str, tuple[str, int]] = {}
    processes: list[subprocess.Popen[bytes]] = []
    port = free_port()
    processes.append(start_hello(port, workdir))
    wait_up(f"http://127.0.0.1:{port}/", processes[-1])
    targets["bare"] = (f"http://127.0.0.1:{port}/claims", processes[-1].pid)
    for floor in ("canned", "parsed") if args.floors else ():
        port = free_port()
        processes.append(start_floor(port, floor))
        wait_up(f"http://127.0.0.1:{port}/healthz", processes[-1])
        targets[floor] = (f"http://127.0.0.1:{port}/v1/stocks/bench/claims", processes[-1].pid)
    for name in args.stores.split(","):
        store = {"memory": "memory", "sqlite": f"sqlite:{workdir / 'bench.sqlite3'}"}.get(
            name, args.redis
        )
        if name == "redis":
            flush_redis(args.redis)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        processes.append(start_service(port, store, args.workers, args.server_threads))
        wait_up(url + "/healthz", processes[-1])
        targets[name] = (url + create_stock(url), processes[-1].pid)
    return targets, processes


def drive(
    args: argparse.Namespace, script: Path, targets: dict[str, tuple[str, int]]
) -> dict[str, list[dict[str, Any]]]:
    """Warm every server up, then run rounds; each round drives each server once, in turn."""
    for name, (url, _) in targets.items():
        run_wrk(url, args, script, f"warm-{name}", args.warmup)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
    for round_index in range(args.rounds):
        for name, (url, pid) in targets.items():
            redis_url = args.redis if name == "redis" else ""
            prefix = f"run{round_index}-{name}"
            result = run_wrk(url, args, script, prefix, args.duration, pid, redis_url)
            runs[name].append(result)
            print(
                f"  round {round_index + 1} {name:7} {result['rps']:8.0f} req/s "
                f"{result['cpu_us']:6.0f} us server CPU per request",
                flush=True,
            )
    return runs


def report(runs: dict[str, list[dict[str, Any]]]) -> None:
    """Medians over rounds. ``ratio`` is the median of per-round throughput ratios to the bare
    server; ``cpu ratio`` is bare CPU per request / this server's CPU per request, the throughput
    ratio the server's own core would give on an idle machine."""
    bare = runs["bare"]
    print(
        f"{'server':8} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'201 %':>6} {'CPU us':>7} "
        f"{'ratio':>6} {'cpu ratio':>9}  target"
    )
    for name, results in runs.items():
        pairs = list(zip(results, bare, strict=True))
        ratio = statistics.median(run["rps"] / base["rps"] for run, base in pairs)
        cpu_ratio = statistics.median(base["cpu_us"] / run["cpu_us"] for run, base in pairs)
        answered = sum(run["ok"] + run["other"] for run in results)
        ok_share = 100 * sum(run["ok"] for run in results) / answered if answered else 0.0
        target = TARGETS.get(name)
        verdict = (
            "" if target is None else f">= {target:.0%} {'met' if ratio >= target else 'MISSED'}"
        )
        print(
            f"{name:8} {_median(results, 'rps'):8.0f} {_median(results, 'p50_us') / 1000:7.2f} "
            f"{_median(results, 'p99_us') / 1000:7.2f} {ok_share:6.1f} "
            f"{_median(results, 'cpu_us'):7.0f} {ratio:6.1%} {cpu_ratio:9.1%}  {verdict}"
        )
        if any(run["redis_us"] for run in results):
            print(f"         + redis-server CPU {_median(results, 'redis_us'):.0f} us per request")
        errors = sum(run["socket_errors"] for run in results)
        if errors:
            print(f"         socket errors: {errors}")
        others = {run["other_status"] for run in results if run["other"]}
        if others:
            print(f"         answers other than 201 include status {sorted(others)}")


def _median(results: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(run[key] for run in results))


if __name__ == "__main__":
    sys.exit(main())

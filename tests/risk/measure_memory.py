"""Measure the memory of the risk engine's state per distinct key (figures for docs/risk.md).

Run: ``python tests/risk/measure_memory.py [KEYS]`` (default 1,000,000). Each line builds one
RiskEngine, feeds it KEYS claims, and prints what it retains, measured with tracemalloc (Python
allocations still alive after the run, key strings included; the requests themselves are freed):

* one count window (claims per IP) holding KEYS IPs, one event each — a key table;
* one distinct-count window (accounts per device) holding KEYS devices, one account each — the
  state lives on the devices' identity nodes, so this includes the KEYS device nodes;
* the identity graph after KEYS claims with all-new identifiers (customer, phone, device, card);
* the default pack after KEYS claims with all-new identifiers: every key kind gets KEYS new keys
  (KEYS IPs, KEYS /24 subnets — the IPs are spread so — and 4 × KEYS identity nodes, each with
  its window state), no Decision log.

and the process's peak RSS.
"""

from __future__ import annotations

import resource
import sys
import tracemalloc
from collections.abc import Callable

from engine.requests import ClaimRequest
from engine.risk import RiskEngine, Rule, default_pack, rules_from_dicts

COUNT_BY_IP = {
    "id": "ip",
    "kind": "count",
    "key": "ip",
    "window_s": 86_400,
    "threshold": 20,
    "action": "reject",
}
ACCOUNTS_PER_DEVICE = {"id": "dev", "kind": "distinct", "key": "device", "distinct": "customer",
                       "window_s": 86_400, "threshold": 2, "action": "reject"}  # fmt: skip


def measured(label: str, keys: int, build: Callable[[], object]) -> None:
    tracemalloc.start()
    kept = build()
    size, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"{label:<58} {size / 2**20:8.1f} MiB  {size / keys:6.0f} B per key", flush=True)
    del kept


def _ip(i: int) -> str:
    return f"{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}.{i >> 24}"  # a new /24 for every i


def _claim(i: int) -> ClaimRequest:
    return ClaimRequest(f"r{i}", "s", f"c{i}", f"d{i}", f"p{i}", f"k{i}", _ip(i))


def _feed(rules: tuple[Rule, ...], keys: int, request: Callable[[int], ClaimRequest]) -> object:
    risk = RiskEngine(rules, keep_log=False)
    for i in range(keys):
        claim = request(i)
        risk.assess_claim(claim, risk.person_of(claim), 0.0, 10.0 + i * 1e-3)
    return risk


def main(keys: int) -> None:
    ip_only = rules_from_dicts([COUNT_BY_IP])
    devices = rules_from_dicts([ACCOUNTS_PER_DEVICE])
    print(f"{keys:,} distinct keys")
    cases: list[tuple[str, Callable[[], object]]] = [
        ("count window, 1 event per IP (key table)",
         lambda: _feed(ip_only, keys, lambda i: ClaimRequest("r", "s", "c", ip=_ip(i)))),
        ("distinct window, 1 account per device (on device nodes)",
         lambda: _feed(devices, keys, lambda i: ClaimRequest("r", "s", "c", device_id=f"d{i}"))),
        ("identity graph only (4 identifiers per claim)", lambda: _feed((), keys, _claim)),
        ("default pack (15 Rules), all-new identifiers (per claim)",
         lambda: _feed(default_pack(), keys, _claim)),
    ]  # fmt: skip
    for label, build in cases:
        measured(label, keys, build)
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10:.0f} MiB")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)

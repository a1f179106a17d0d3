"""Serve the HTTP issuance API on uvicorn (httptools + uvloop).

Prints the URL, the store, the seed and the admin token (a generated one, or a note that
COUPONLAB_ADMIN_TOKEN is used). ``--workers W`` > 1 runs W processes that share one stock through
the store, so it needs a shared store: Redis, or SQLite when its store is multi-process safe;
the in-memory store refuses it.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import sys

from engine.errors import CouponlabError
from engine.http.app import CONFIG_ENV, ServiceConfig, store_kind
from engine.http.auth import TOKEN_ENV, admin_token


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        default="memory",
        help="memory | sqlite:PATH | redis://HOST:PORT/DB (default: memory)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    parser.add_argument(
        "--workers", type=int, default=1, help="server processes (> 1 needs a shared store)"
    )
    parser.add_argument("--seed", type=int, default=None, help="engine seed (default: random)")
    parser.add_argument(
        "--risk", choices=("none", "default"), default="none", help="risk rule pack (default none)"
    )
    parser.add_argument(
        "--rate-limit-per-ip",
        type=float,
        default=0.0,
        metavar="N",
        help="claims per second per client IP, burst N; 0 = off (default)",
    )
    parser.add_argument(
        "--max-body-bytes", type=int, default=64 * 1024, help="request body limit (default 64 KiB)"
    )
    parser.add_argument(
        "--threads", type=int, default=32, help="threads for blocking stores (default 32)"
    )
    parser.add_argument("--access-log", action="store_true", help="log every request (slower)")
    parser.add_argument(
        "--log-level", default="info", choices=("critical", "error", "warning", "info", "debug")
    )


def _check(args: argparse.Namespace) -> str | None:
    """An error message naming the bad flag, or None."""
    if args.workers < 1:
        return f"--workers {args.workers}: expected an integer >= 1"
    if not 1 <= args.port <= 65535:
        return f"--port {args.port}: expected 1..65535"
    if args.max_body_bytes < 1024:
        return f"--max-body-bytes {args.max_body_bytes}: expected >= 1024"
    if args.rate_limit_per_ip < 0:
        return f"--rate-limit-per-ip {args.rate_limit_per_ip}: expected >= 0 (0 = off)"
    if args.threads < 1:
        return f"--threads {args.threads}: expected >= 1"
    if args.workers > 1:
        return _check_shared(args.store, args.workers)
    return None


def _check_shared(url: str, workers: int) -> str | None:
    """Refuse ``--workers`` > 1 for a store that is not shared between processes.

    Redis is shared by design. The SQLite store documents that several processes may open one
    file (each process has its own group-commit writer; ``BEGIN IMMEDIATE`` serialises them), so
    it is allowed too, though throughput does not grow with processes. Memory is per process.
    """
    if store_kind(url) == "memory":
        return (
            f"--workers {workers} with --store memory: each worker would hold its own stock "
            "and over-issue; use --workers 1, or a shared store (sqlite:PATH, redis://…)"
        )
    return None


def run(args: argparse.Namespace) -> int:
    problem = _check(args)
    if problem is not None:
        print(f"couponlab serve: {problem}", file=sys.stderr)
        return 2
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    config = ServiceConfig(
        store_url=args.store,
        seed=seed,
        risk=args.risk,
        rate_limit_per_ip=args.rate_limit_per_ip,
        max_body_bytes=args.max_body_bytes,
        threads=args.threads,
    )
    token, generated = admin_token()
    try:
        _probe(config, token)
    except (CouponlabError, ValueError) as error:
        print(f"couponlab serve: {error}", file=sys.stderr)
        return 2
    _announce(args, config, token, generated)
    os.environ[CONFIG_ENV] = config.to_json()
    os.environ[TOKEN_ENV] = token
    return _serve(args)


def _probe(config: ServiceConfig, token: str) -> None:
    """Build the app once in this process so a bad store URL fails here, with a clear message."""
    from engine.http.app import create_app

    create_app(config, token).close()


def _announce(args: argparse.Namespace, config: ServiceConfig, token: str, generated: bool) -> None:
    print(
        f"couponlab serve: http://{args.host}:{args.port} store={_masked(config.store_url)} "
        f"workers={args.workers} seed={config.seed} risk={config.risk} "
        f"rate_limit_per_ip={config.rate_limit_per_ip or 'off'}",
        flush=True,
    )
    if generated:
        print(f"admin token: {token}", flush=True)
    else:
        print(f"admin token: from {TOKEN_ENV}", flush=True)


def _masked(url: str) -> str:
    """The store URL without credentials (``redis://:secret@host`` → ``redis://***@host``)."""
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest:
        return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
    return url


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s %(message)s")
    uvicorn.run(
        "engine.http.app:create_app_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=args.access_log,
        log_level=args.log_level,
        backlog=4096,
        timeout_keep_alive=30,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m engine.http.cli [flags]``: the same as ``couponlab serve`` without importing
    the other subcommands (the simulation's imports cost seconds at start)."""
    parser = argparse.ArgumentParser(prog="couponlab serve", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

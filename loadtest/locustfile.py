"""Locust users for the Friday 10:00 flash sale, and its load shape.

Run it with plain Locust against a running ``couponlab serve`` (same admin token)::

    COUPONLAB_ADMIN_TOKEN=secret couponlab serve --port 8000 --store sqlite:/tmp/friday.db &
    COUPONLAB_ADMIN_TOKEN=secret locust -f loadtest/locustfile.py --host http://127.0.0.1:8000 \\
        --headless -u 50 -r 50 -t 10s

When its test starts, the master (or the single process) creates a fresh copy of the scenario's
stock (default ``scenarios/friday_flash_sale.toml``) whose window opens ``window_opens_after_s``
later, tells the workers its id, and writes ``run.json`` into ``--record-dir``; ``--stock-id``
claims from an existing stock instead. ``-u``/``-r``/``-t`` override the profile's ``users``,
``spawn_rate`` and ``duration_s``. Options (each also an environment variable
``COUPONLAB_LT_<NAME>``): ``--scenario``, ``--stock-id``, ``--quota``, ``--profile-json``
(profile keys overriding the scenario's), ``--window-open-s``, ``--record-dir``, ``--lt-seed``,
``--max-claims`` (per process), ``--flash-shape on|off``; ``--admin-token`` (environment
``COUPONLAB_ADMIN_TOKEN``).

Users (weights from the profile's shares): :class:`EarlyCustomer` waits for the opening and
claims at once; :class:`LateCustomer` arrives during the spike and decay; :class:`WoolPullerBot`
rotates many accounts over few devices and an IP pool and fires the instant the window opens;
:class:`RetryingCustomer` retries the same ``request_id`` after a timeout. Every attempt is
recorded (:mod:`loadtest.records`). With ``arrival_rate_per_s > 0`` the load is an open model:
the customers claim when the process's arrival clock (:mod:`loadtest.arrivals`) says a customer
arrived, at the target rate whatever the server's speed; the bots keep their bursts.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from typing import Any

import gevent
from locust import FastHttpUser, LoadTestShape, between, constant, events, task
from locust.exception import StopUser
from locust.runners import STATE_CLEANUP, STATE_STOPPED, STATE_STOPPING, WorkerRunner
from locust.user.task import LOCUST_STATE_STOPPING

from engine.errors import InvalidDefinition
from loadtest import harness
from loadtest.harness import RunContext, context
from loadtest.lifetime import DIE_WITH_PARENT_ENV, die_with_parent
from loadtest.profile import Profile, users_at
from loadtest.records import SETTLING, UNKNOWN, Attempt, classify
from loadtest.server import ServerError

STOPPING_IDLE_S = 3600.0
ARRIVAL_POLL_S = 0.25
STOPPING_STATES = (STATE_CLEANUP, STATE_STOPPING, STATE_STOPPED)
RETRY_TIMEOUT_SHARE = 0.1  # a retrying (impatient) client gives up after this share of timeout_s

# gevent's default resolver runs getaddrinfo in a thread pool; when a thousand users connect at
# the opening, each lookup waits for the GIL behind the busy event loop, and measured latencies
# grew by up to 10 s on the client alone. The host is an IP literal: resolve in the loop.
if "GEVENT_RESOLVER" not in os.environ:
    gevent.config.resolver = "block"


def _on_init(environment: Any, **_kwargs: Any) -> None:
    """Read the options, check the server (fail fast: exit 2 with one line), install the run."""
    options = environment.parsed_options
    if options is None:  # used as a library (tests): configure() is called instead
        return
    if os.environ.get(DIE_WITH_PARENT_ENV) and isinstance(environment.runner, WorkerRunner):
        die_with_parent(os.getppid())  # a worker forked by --processes ends with its master
    try:
        run = harness.run_context(options)
        if not isinstance(environment.runner, WorkerRunner):
            harness.check_server(environment.host, run)
    except (InvalidDefinition, ServerError) as error:
        sys.stderr.write(f"loadtest/locustfile.py: {error}\n")
        sys.exit(2)
    configure(run)


def configure(run: RunContext) -> None:
    """Install the run context: user weights, timeouts and pauses follow the profile. In the
    open model the customers do not pause (the arrival clock paces them); bots never do."""
    harness.install(run)
    profile = run.profile
    shares = {
        EarlyCustomer: profile.early_share,
        LateCustomer: profile.late_share,
        WoolPullerBot: profile.bot_share,
        RetryingCustomer: profile.retry_share,
    }
    think = between(0.5, 2.0) if profile.think_time_s is None else constant(profile.think_time_s)
    for user_class, share in shares.items():
        user_class.weight = max(0, round(share * 1000))
        user_class.network_timeout = profile.timeout_s
        user_class.connection_timeout = profile.timeout_s
        if user_class is not WoolPullerBot:
            user_class.wait_time = constant(0) if profile.open_model else think
    RetryingCustomer.network_timeout = profile.timeout_s * RETRY_TIMEOUT_SHARE


class _Claimant(FastHttpUser):
    """A client of the claim endpoint. Subclasses say who claims and when they arrive."""

    abstract = True
    wait_time = between(0.5, 2.0)  # think time between two customers on this client
    retries = 0  # attempts after an unknown outcome, with the same request_id
    paced = True  # open model: claims when the arrival clock says a customer arrived
    _serial = 0

    def on_start(self) -> None:
        run = context()
        _Claimant._serial += 1
        self.rng = random.Random(f"{run.seed}:{os.getpid()}:{_Claimant._serial}")
        self.claims = 0
        if not run.stock_id or run.open_s <= 0:  # no stock (logged at the test start)
            gevent.sleep(STOPPING_IDLE_S)  # quietly, until the quit that is under way
        self._arrive(run.open_s + self.arrival_delay_s(run.profile))

    def _arrive(self, arrive_s: float) -> None:
        """Wait on the page until ``arrive_s``, or until this user or the test is stopped (a
        user that never arrived leaves at once: the shape's decay and Locust's stop timeout
        are not held up by customers who were never there)."""
        while time.time() < arrive_s and not self._leaving():
            gevent.sleep(min(ARRIVAL_POLL_S, arrive_s - time.time()))

    def _leaving(self) -> bool:
        stopping = self._state == LOCUST_STATE_STOPPING  # asked to stop by the shape's decay
        return stopping or self.environment.runner.state in STOPPING_STATES

    def arrival_delay_s(self, profile: Profile) -> float:
        """Seconds after the opening this client starts claiming."""
        return self.rng.expovariate(1 / 0.3)  # human reaction at 10:00 sharp

    def identity(self, profile: Profile, open_s: float) -> dict[str, Any]:
        """The next customer at this client: a random one of the profile's customers."""
        number = self.rng.randrange(max(1, profile.customers))
        return {
            "customer_id": f"c{number}",
            "card": f"card-{number}",
            "device_id": f"dev-{number}",
            "phone": f"138{number:08d}",
            "ip": f"10.{number >> 16 & 255}.{number >> 8 & 255}.{number & 255}",
            "account_created_s": open_s - 86_400 * (30 + number % 1000),
        }

    @task
    def claim(self) -> None:
        run = context()
        due_s = 0.0
        if run.arrivals is not None and self.paced:  # open model: wait for a customer
            due_s = run.arrivals.take(self._leaving) or 0.0
            if not due_s:
                raise StopUser()  # asked to leave while waiting (a return would spin)
        if run.sent >= run.max_claims or self.environment.runner.state in STOPPING_STATES:
            raise StopUser()  # Locust kills waiting users without waiting: none may start a claim
        self.claims += 1
        body = {
            "request_id": f"{run.run_tag}.{os.getpid()}.{id(self):x}.{self.claims}",
            **self.identity(run.profile, run.open_s),
        }
        self._settle(run, body, due_s)

    def _settle(self, run: RunContext, body: dict[str, Any], due_s: float) -> None:
        """Send, and resend the same request id (``retries`` times at most) while its fate is
        unknown: a 429 after a timeout settles nothing (it precedes the server's replay
        lookup), an answer of the store's step does (:data:`~loadtest.records.SETTLING`)."""
        unknown = False
        for attempt in range(1, self.retries + 2):
            outcome = self._attempt(run, body, attempt, due_s)
            unknown = unknown or outcome in UNKNOWN
            if outcome in SETTLING or not unknown:
                return
            gevent.sleep(0.05 * attempt)

    def _attempt(self, run: RunContext, body: dict[str, Any], attempt: int, due_s: float) -> str:
        """Send once and record; returns the outcome class."""
        run.sent += 1
        sent_s = time.time()
        pending = Attempt(
            body["request_id"], type(self).__name__, attempt, body["customer_id"], body["card"],
            body["device_id"], body["ip"], sent_s, sent_s, 0, "", "in_flight", "", 0.0, due_s,
        )  # fmt: skip
        key = id(pending)
        run.in_flight[key] = pending
        record = pending
        try:
            record = self._send(run, body, pending)
        finally:
            run.in_flight.pop(key, None)
            if record is pending:  # Locust killed this user mid-request: the outcome is unknown
                record = pending._replace(done_s=time.time())
            run.recorder.write(record)
        return record.outcome

    def _send(self, run: RunContext, body: dict[str, Any], pending: Attempt) -> Attempt:
        with self.client.post(run.path(), json=body, name="claim", catch_response=True) as reply:
            record = _answered(pending, reply)
            if record.outcome in UNKNOWN:
                reply.failure(record.outcome)
            else:
                reply.success()
        return record


def _answered(pending: Attempt, reply: Any) -> Attempt:
    status = reply.status_code or 0
    payload: dict[str, Any] = {}
    if status and reply.content:
        try:
            payload = json.loads(reply.content)
        except ValueError:
            payload = {}
    coupon = payload.get("coupon") or {}
    code = str(payload.get("error", ""))
    transport = repr(reply.error) if status == 0 else ""
    return pending._replace(
        done_s=time.time(),
        status=status,
        error=code or transport[:80],
        outcome=classify(status, code, transport),
        coupon_id=str(coupon.get("coupon_id", "")),
        claimed_s=float(coupon.get("claimed_s", 0.0) or 0.0),
    )


class EarlyCustomer(_Claimant):
    """Waits on the page before 10:00 and claims at the opening (with human reaction time)."""


class LateCustomer(_Claimant):
    """Arrives some time into the sale, during the spike or the decay."""

    def arrival_delay_s(self, profile: Profile) -> float:
        return self.rng.expovariate(1 / max(0.1, profile.spike_s))


class RetryingCustomer(_Claimant):
    """An impatient app: gives up after ``RETRY_TIMEOUT_SHARE × timeout_s`` (so a loaded server
    does time it out) and retries the SAME request_id after that timeout, a connection error or
    a 5xx, up to 3 times. The server must answer the first outcome, never a second coupon."""

    retries = 3

    def arrival_delay_s(self, profile: Profile) -> float:
        return self.rng.expovariate(1.0)


class WoolPullerBot(_Claimant):
    """A ring's bot: many accounts over few devices and an IP pool, firing the instant the
    window opens and as fast as the server answers (in the open model too: bots do not
    arrive like customers, they hammer)."""

    wait_time = between(0.0, 0.05)
    paced = False

    def arrival_delay_s(self, profile: Profile) -> float:
        return 0.0

    def identity(self, profile: Profile, open_s: float) -> dict[str, Any]:
        account = self.rng.randrange(max(1, profile.bot_accounts))
        address = self.rng.randrange(max(1, profile.bot_ip_pool))
        return {
            "customer_id": f"bot-{account}",
            "card": f"bot-card-{account}",
            "device_id": f"bot-dev-{account % max(1, profile.bot_devices)}",
            "phone": f"170{account:08d}",
            "ip": f"100.64.{address >> 8 & 255}.{address & 255}",
            "is_new_customer": True,
            "account_created_s": open_s - 3600 * (1 + account % 48),
        }


class FlashSaleShape(LoadTestShape):
    """Waiting crowd, opening spike, decay (:func:`loadtest.profile.users_at`); with
    ``--flash-shape off`` a constant crowd of ``users`` for ``duration_s``. Locust's ``-u``,
    ``-r`` and ``-t`` set the profile's ``users``, ``spawn_rate`` and ``duration_s``."""

    use_common_options = True

    def tick(self) -> tuple[int, float] | None:
        run = context()
        elapsed_s = self.get_run_time()  # type: ignore[no-untyped-call]
        if not run.flash_shape:
            profile = run.profile
            if elapsed_s >= profile.duration_s:
                return None
            return profile.users, profile.spawn_rate
        return users_at(run.profile, elapsed_s)


# Locust's event hooks (its Events are untyped: registered through Any, not by decorators)
_events: Any = events
_events.init_command_line_parser.add_listener(harness.add_arguments)
_events.init.add_listener(_on_init)
_events.test_start.add_listener(harness.on_test_start)
_events.test_stop.add_listener(harness.on_test_stop)
_events.quitting.add_listener(harness.on_quitting)

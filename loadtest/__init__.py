"""Flash-sale load tests against the HTTP issuance endpoint, with a Jepsen-style verdict.

- :mod:`loadtest.locustfile` — Locust users (early and late customers, wool-puller bots, retrying
  clients) and the flash-sale :class:`~locust.LoadTestShape`; runs under plain ``locust``.
- :mod:`loadtest.harness` — the run around the users: options, per-process context, creating
  the test stock when the test starts, CPU sampling.
- :mod:`loadtest.profile` — the scenario's ``[load]`` profile and the shape's pure schedule.
- :mod:`loadtest.arrivals` — the open model's arrival clock (Poisson, per Locust process).
- :mod:`loadtest.stock` — the scenario's stock rewritten to open a few seconds from now.
- :mod:`loadtest.records` — what every Locust process records (outcomes, HdrHistogram, CPU).
- :mod:`loadtest.checker` — pure invariant checks over the records and the server's claims.
- :mod:`loadtest.verdict` — reads the server after the run, checks, reports;
  ``python -m loadtest.verdict`` after a plain Locust run.
- :mod:`loadtest.report`, :mod:`loadtest.series`, :mod:`loadtest.plots`, :mod:`loadtest.page`
  — ``summary.json``, CSV time series, PNG plots, ``report.html``.
- :mod:`loadtest.cpu` — generator and server CPU: the one sampling core, the server's sampler,
  summaries, warnings, the bottleneck.
- :mod:`loadtest.server` — start/stop ``couponlab serve`` on loopback; the admin calls.
- :mod:`loadtest.lifetime` — SIGTERM/SIGHUP/SIGINT clean up alike; children die with the
  parent (``PR_SET_PDEATHSIG``).
- :mod:`loadtest.cli` (with :mod:`loadtest.flags`) — ``couponlab loadtest``: start the server,
  run Locust, check, report.
- :mod:`loadtest.generators` — ``python -m loadtest.generators``: Locust vs wrk, peak per store.

The load test talks to the engine only over HTTP (plus starting the server).
"""

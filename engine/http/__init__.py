"""The HTTP issuance service: a raw ASGI application over :class:`~engine.engine.Engine`.

``couponlab serve`` (:mod:`engine.http.cli`) runs it on uvicorn. The modules split by concept:
:mod:`~engine.http.app` (ASGI plumbing and the router), :mod:`~engine.http.handlers` (one short
adapter per route), :mod:`~engine.http.codec` (strict JSON bodies in, JSON out),
:mod:`~engine.http.errors` (the one table from outcomes and exceptions to HTTP statuses),
:mod:`~engine.http.auth`, :mod:`~engine.http.ratelimit`, :mod:`~engine.http.metrics` and
:mod:`~engine.http.openapi`. See ``docs/http.md``.
"""

from engine.http.app import CouponlabApp, ServiceConfig, create_app

__all__ = ["CouponlabApp", "ServiceConfig", "create_app"]

"""Floors under the claim route, for ``http_throughput.py --floors`` (benchmark code only).

Each factory builds the real service (memory store, the same ``create_app``) and swaps only the
claim route's work, so the server, routing, body reading, metrics and response path are exactly
the service's:

* ``canned``: the route answers a canned 201 of the same bytes as a real one, doing nothing else;
* ``parsed``: the route parses and validates the body into a ``ClaimRequest`` (the real codec),
  then answers the canned 201: the cost of the engine, the store and the 201's encoding is what
  separates this floor from the real ``memory`` service.

uvicorn starts them with ``--factory http_floor_app:canned`` (or ``:parsed``).
"""

from __future__ import annotations

import os

from engine.http import codec
from engine.http.app import CouponlabApp, ServiceConfig, create_app
from engine.http.handlers import JSON, Call, Response

TOKEN_ENV = "COUPONLAB_ADMIN_TOKEN"
# The bytes of a real 201 of the throughput script's claims (same length, same shape).
CANNED_201 = (
    b'{"outcome":"ok","flagged":false,"reasons":[],"coupon":{"coupon_id":"bench.100000",'
    b'"stock_id":"bench","customer_id":"crun0-memory-1-100000","value_fen":1,'
    b'"claimed_s":1796484112.9302065,"valid_until_s":1797088912.9302065,"state":"issued"}}'
)


def _with_claim_route(route: object) -> CouponlabApp:
    app = create_app(ServiceConfig(store_url="memory", seed=1), os.environ[TOKEN_ENV])
    app.handlers.claim_now = route  # type: ignore[assignment]
    app.static, app.per_stock = app._routes(app.handlers)
    return app


def canned() -> CouponlabApp:
    def claim(call: Call) -> Response:
        return Response(201, CANNED_201, JSON)

    return _with_claim_route(claim)


def parsed() -> CouponlabApp:
    def claim(call: Call) -> Response:
        codec.claim_request(call.path_id, codec.parse_json(call.body))
        return Response(201, CANNED_201, JSON)

    return _with_claim_route(claim)

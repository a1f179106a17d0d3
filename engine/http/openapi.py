"""The hand-written OpenAPI 3 document served at ``/openapi.json``.

It describes exactly what the handlers accept and answer: request bodies are closed objects
(``additionalProperties: false``) with the bounds that :mod:`engine.http.codec` enforces, and
every status a route can answer is listed. The tests run Schemathesis against it.
"""

from __future__ import annotations

from typing import Any

from engine.http.codec import MAX_BUDGET_FEN, MAX_ID_CHARS, MAX_LINE_FEN, MAX_LINES, MAX_NUMBER
from engine.stock import Funding, Kind, Period, RefundPolicy, ReviewPolicy, Subject

VERSION = "1.0.0"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _closed(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        schema["required"] = list(required)
    return schema


def _open(properties: dict[str, Any], required: tuple[str, ...]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required)}


ID = {"type": "string", "minLength": 1, "maxLength": MAX_ID_CHARS}
OPTIONAL_ID = {"type": "string", "maxLength": MAX_ID_CHARS}
INT = {"type": "integer"}
NUMBER = {"type": "number"}
BOOL = {"type": "boolean"}
STRINGS = {"type": "array", "items": {"type": "string"}}
TIME = {
    "oneOf": [{"type": "string", "format": "date-time"}, {"type": "number"}],
    "description": "ISO 8601 with a UTC offset, or epoch seconds",
}


def _fen(maximum: int = MAX_LINE_FEN) -> dict[str, Any]:
    return {"type": "integer", "minimum": 0, "maximum": maximum, "description": "fen (分)"}


def _enum(values: type[Any]) -> dict[str, Any]:
    return {"type": "string", "enum": [member.value for member in values]}


def _stock_definition() -> dict[str, Any]:
    """The ``engine.spec_io`` stock format (kind-specific fields are checked by the server)."""
    limit = _closed(
        {"subject": _enum(Subject), "period": _enum(Period), "count": {**INT, "minimum": 1}},
        ("subject", "period", "count"),
    )
    weekly = _closed(
        {
            "weekday": {
                "type": "string",
                "enum": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            },
            "start": {"type": "string", "description": "HH:MM local time"},
            "end": {"type": "string", "description": "HH:MM local time"},
        },
        ("weekday", "start", "end"),
    )
    return _closed(
        {
            "request_id": ID,
            "id": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$"},
            "name": {"type": "string"},
            "kind": _enum(Kind),
            "face_fen": INT,
            "threshold_fen": INT,
            "percent_off": INT,
            "cap_fen": INT,
            "tiers": {
                "type": "array",
                "items": _closed({"amount_fen": INT, "weight": NUMBER}, ("amount_fen", "weight")),
            },
            "min_fen": INT,
            "max_fen": INT,
            "mean_fen": INT,
            "quota": {**INT, "minimum": 1},
            "daily_quota": {**INT, "minimum": 1},
            "budget_fen": _fen(MAX_BUDGET_FEN),
            "daily_budget_fen": _fen(MAX_BUDGET_FEN),
            "funding": _enum(Funding),
            "refund_policy": _enum(RefundPolicy),
            "review_policy": _enum(ReviewPolicy),
            "challenge_pass_share": {**NUMBER, "minimum": 0, "maximum": 1},
            "timezone": {"type": "string", "example": "Asia/Shanghai"},
            "limits": {"type": "array", "items": limit},
            "window": _closed(
                {"start": TIME, "end": TIME, "weekly": {"type": "array", "items": weekly}},
                ("start", "end"),
            ),
            "validity": _closed({"end": TIME, "days_after_claim": {**INT, "minimum": 1}}),
            "scope": _closed({"items": STRINGS, "categories": STRINGS}),
            "eligibility": _closed(
                {"segments": STRINGS, "whitelist": STRINGS, "new_customers_only": BOOL}
            ),
        },
        ("id", "kind", "quota", "budget_fen", "window", "validity"),
    )


def _schemas() -> dict[str, Any]:
    """The components/schemas section: claim side, then redemption and refund side."""
    return {**_claim_schemas(), **_payment_schemas()}


def _claim_schemas() -> dict[str, Any]:
    status = _open(
        dict.fromkeys(_STATUS_FIELDS, INT),
        _STATUS_FIELDS,
    )
    coupon = _open(
        {
            "coupon_id": ID,
            "stock_id": ID,
            "customer_id": ID,
            "value_fen": INT,
            "claimed_s": NUMBER,
            "valid_until_s": NUMBER,
            "state": {"type": "string", "enum": ["issued", "redeemed", "expired"]},
        },
        ("coupon_id", "stock_id", "customer_id", "value_fen", "claimed_s", "valid_until_s"),
    )
    return {
        "Error": _open(
            {"error": {"type": "string"}, "message": {"type": "string"}}, ("error", "message")
        ),
        "Status": status,
        "StockDefinition": _stock_definition(),
        "StockView": _open(
            {"stock": {"type": "object"}, "status": _ref("Status")}, ("stock", "status")
        ),
        "ClaimRequest": _closed(
            {
                "request_id": ID,
                "customer_id": ID,
                **dict.fromkeys(_CLAIM_TEXT, OPTIONAL_ID),
                "is_new_customer": BOOL,
                "account_created_s": {
                    **NUMBER,
                    "nullable": True,
                    "minimum": -MAX_NUMBER,
                    "maximum": MAX_NUMBER,
                },
            },
            ("request_id", "customer_id"),
        ),
        "Coupon": coupon,
        "ClaimOk": _open(
            {
                "outcome": {"type": "string", "enum": ["ok"]},
                "coupon": _ref("Coupon"),
                "flagged": BOOL,
                "reasons": STRINGS,
            },
            ("outcome", "coupon", "flagged", "reasons"),
        ),
        "Rejection": _open(
            {
                "error": {"type": "string"},
                "message": {"type": "string"},
                "outcome": {"type": "string", "description": "absent for request_conflict"},
            },
            ("error", "message"),
        ),
        "ClaimList": _claim_list(),
    }


def _payment_schemas() -> dict[str, Any]:
    redemption = _redemption_schema()
    return {
        "RedemptionRequest": _closed(
            {
                "request_id": ID,
                "coupon_id": ID,
                "customer_id": ID,
                "lines": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": MAX_LINES,
                    "items": _closed(
                        {
                            "line_id": ID,
                            "amount_fen": _fen(),
                            "item_id": OPTIONAL_ID,
                            "category": OPTIONAL_ID,
                        },
                        ("line_id", "amount_fen"),
                    ),
                },
                "device_id": OPTIONAL_ID,
                "ip": OPTIONAL_ID,
            },
            ("request_id", "coupon_id", "customer_id", "lines"),
        ),
        "Redemption": redemption,
        "RedemptionOk": _open(
            {"outcome": {"type": "string"}, "redemption": _ref("Redemption")},
            ("outcome", "redemption"),
        ),
        "RefundRequest": _closed(
            {"request_id": ID, "redemption_id": ID, "amount_fen": _fen(MAX_LINE_FEN * MAX_LINES)},
            ("request_id", "redemption_id", "amount_fen"),
        ),
        "RefundOk": _open(
            {"outcome": {"type": "string"}, "clawed_back_fen": INT, "coupon_returned": BOOL},
            ("outcome", "clawed_back_fen", "coupon_returned"),
        ),
        "BudgetAdjustment": _closed(
            {
                "request_id": ID,
                "expected_budget_fen": _fen(MAX_BUDGET_FEN),
                "new_budget_fen": _fen(MAX_BUDGET_FEN),
            },
            ("request_id", "expected_budget_fen", "new_budget_fen"),
        ),
        "BudgetResult": _open(
            {"outcome": {"type": "string"}, "budget_fen": INT}, ("outcome", "budget_fen")
        ),
        "Reconciliation": _open(
            {
                "ok": BOOL,
                "mismatches": STRINGS,
                "entries": INT,
                "replayed": _ref("Status"),
            },
            ("ok", "mismatches", "entries", "replayed"),
        ),
        "Health": _open(
            {"status": {"type": "string"}, "store": {"type": "string"}, "stocks": INT},
            ("status", "store"),
        ),
    }


def _redemption_schema() -> dict[str, Any]:
    return _open(
        {
            "redemption_id": ID,
            "coupon_id": ID,
            "discount_fen": INT,
            "paid_fen": INT,
            "lines": {
                "type": "array",
                "items": _open({"line_id": ID, "discount_fen": INT}, ("line_id", "discount_fen")),
            },
            "refunded_fen": INT,
            "clawed_back_fen": INT,
            "returned": BOOL,
        },
        ("redemption_id", "coupon_id", "discount_fen", "paid_fen", "lines"),
    )


_STATUS_FIELDS = (
    "budget_fen",
    "available_fen",
    "reserved_fen",
    "spent_fen",
    "issued",
    "redeemed",
    "expired",
)
_CLAIM_TEXT = ("device_id", "phone", "card", "ip", "id_hash", "segment")


def _claim_list() -> dict[str, Any]:
    claim = _open(
        {
            "request_id": ID,
            "customer_id": ID,
            "device_id": {"type": "string"},
            "phone_hash": {
                "type": "string",
                "description": "HMAC-SHA256 prefix (keyed by the server); absent if no phone",
            },
            "card": {"type": "string"},
            "ip": {"type": "string"},
            "coupon_id": ID,
            "value_fen": INT,
            "claimed_s": NUMBER,
        },
        ("request_id", "customer_id", "coupon_id", "value_fen", "claimed_s"),
    )
    limit = _open(
        {
            "limit": _open(
                {"subject": {"type": "string"}, "period": {"type": "string"}, "count": INT},
                ("subject", "period", "count"),
            ),
            "subject_value": {"type": "string", "description": "phone values are hashed"},
            "period_key": INT,
            "used": INT,
        },
        ("limit", "subject_value", "period_key", "used"),
    )
    return _open(
        {
            "claims": {"type": "array", "items": claim},
            "limits": {"type": "array", "items": limit},
        },
        ("claims", "limits"),
    )


def _json(schema: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(status): _json("Error", _ERROR_TEXT[status]) for status in statuses}


_ERROR_TEXT = {
    400: "invalid JSON",
    401: "missing or wrong admin token",
    404: "unknown stock, coupon or redemption",
    409: "a conflict: duplicate stock, request id reused with another payload, or an outcome",
    413: "body too large",
    422: "a field is missing, unknown, of the wrong type or out of bounds (named in `field`)",
    429: "rate limited (see Retry-After)",
    503: "the store is unavailable",
}
_BODY_ERRORS = (400, 413, 422, 503)
STOCK_ID: dict[str, Any] = {
    "name": "stock_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
}
ADMIN: list[dict[str, list[str]]] = [{"bearer": []}]


def _body(schema: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(schema)}}}


EXAMPLE_STOCK = {
    "id": "friday",
    "name": "周五嗨购日 满200减50",
    "kind": "voucher",
    "face_fen": 5000,
    "threshold_fen": 20000,
    "quota": 50000,
    "budget_fen": 250_000_000,
    "limits": [{"subject": "card", "period": "day", "count": 1}],
    "window": {"start": "2026-01-01T00:00:00+08:00", "end": "2030-01-01T00:00:00+08:00"},
    "validity": {"days_after_claim": 7},
}
_STOCK_ID_FROM_BODY = {"parameters": {"stock_id": "$response.body#/stock/id"}}
_STOCK_LINKS = {
    name: {"operationId": name, **_STOCK_ID_FROM_BODY}
    for name in ("getStock", "claim", "listClaims", "adjustBudget", "reconcile")
}


def _paths() -> dict[str, Any]:
    """The paths section: stocks and claims, then admin, payments and service routes."""
    return {**_stock_paths(), **_other_paths()}


def _stock_paths() -> dict[str, Any]:
    return {
        "/v1/stocks": {
            "post": {
                "summary": "Create a stock (admin), idempotent by request_id",
                "description": "A replay (same request_id, same definition) answers what the "
                "first call answered (201 and its body). A new request_id for an existing "
                "stock with this definition answers 200 with its current status. Another "
                "definition under an existing stock id is 409 duplicate_stock; a request_id "
                "used for another request is 409 request_conflict. Without request_id it is "
                "create-<id>, so a re-sent body is a replay.",
                "operationId": "createStock",
                "security": ADMIN,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": _ref("StockDefinition"),
                            "example": EXAMPLE_STOCK,
                        }
                    },
                },
                "responses": {
                    "201": {
                        **_json("StockView", "created by this request (or its replay)"),
                        "links": _STOCK_LINKS,
                    },
                    "200": {
                        **_json("StockView", "exists with this definition (new request_id)"),
                        "links": _STOCK_LINKS,
                    },
                    "409": _json("Error", "duplicate_stock or request_conflict"),
                    **_errors(401, *_BODY_ERRORS),
                },
            }
        },
        "/v1/stocks/{stock_id}": {
            "get": {
                "summary": "A stock's definition, budget accounts and counters",
                "operationId": "getStock",
                "parameters": [STOCK_ID],
                "responses": {"200": _json("StockView", "the stock"), **_errors(404, 503)},
            }
        },
        "/v1/stocks/{stock_id}/claims": {
            "post": {
                "summary": "Claim a coupon; a replay of a request id answers the same",
                "operationId": "claim",
                "parameters": [STOCK_ID],
                "requestBody": _body("ClaimRequest"),
                "responses": {
                    "201": _json("ClaimOk", "issued"),
                    "403": _json("Rejection", "not_eligible or risk_rejected"),
                    "409": _json(
                        "Rejection",
                        "sold_out, daily_sold_out, budget_exhausted, limit_reached "
                        "(or request_conflict, without outcome)",
                    ),
                    "425": _json("Rejection", "not_open: outside the claim window"),
                    **_errors(404, 429, *_BODY_ERRORS),
                },
            },
            "get": {
                "summary": "Every issued claim and every limit counter (admin)",
                "operationId": "listClaims",
                "security": ADMIN,
                "parameters": [STOCK_ID],
                "responses": {"200": _json("ClaimList", "claims"), **_errors(401, 404, 503)},
            },
        },
    }


def _other_paths() -> dict[str, Any]:
    return {**_admin_paths(), **_payment_and_service_paths()}


def _admin_paths() -> dict[str, Any]:
    return {
        "/v1/stocks/{stock_id}/budget": {
            "post": {
                "summary": "Compare-and-set the budget (admin)",
                "operationId": "adjustBudget",
                "security": ADMIN,
                "parameters": [STOCK_ID],
                "requestBody": _body("BudgetAdjustment"),
                "responses": {
                    "200": _json("BudgetResult", "adjusted"),
                    **_errors(401, 404, 409, *_BODY_ERRORS),
                },
            }
        },
        "/v1/stocks/{stock_id}/reconciliation": {
            "get": {
                "summary": "Replay the ledger against the counters (对账)",
                "operationId": "reconcile",
                "parameters": [STOCK_ID],
                "responses": {
                    "200": _json("Reconciliation", "the check"),
                    **_errors(404, 503),
                },
            }
        },
    }


def _payment_and_service_paths() -> dict[str, Any]:
    return {
        "/v1/redemptions": {
            "post": {
                "summary": "Redeem a coupon on an order",
                "operationId": "redeem",
                "requestBody": _body("RedemptionRequest"),
                "responses": {
                    "201": _json("RedemptionOk", "redeemed"),
                    "403": _json("Rejection", "not_owner or risk_rejected"),
                    "404": _json("Error", "unknown_coupon"),
                    "409": _json(
                        "Rejection",
                        "expired, already_redeemed, below_threshold, not_applicable "
                        "(no line in scope, or a percentage discount rounding to 0 fen) "
                        "(or request_conflict, without outcome)",
                    ),
                    **_errors(*_BODY_ERRORS),
                },
            }
        },
        "/v1/refunds": {
            "post": {
                "summary": "Refund part or all of a redemption",
                "operationId": "refund",
                "requestBody": _body("RefundRequest"),
                "responses": {
                    "201": _json("RefundOk", "refunded"),
                    "404": _json("Error", "unknown_redemption: no redemption has this id"),
                    "409": _json("Rejection", "refund_exceeds_paid (or request_conflict)"),
                    **_errors(*_BODY_ERRORS),
                },
            }
        },
        "/healthz": {
            "get": {
                "summary": "Liveness and store reachability",
                "operationId": "health",
                "responses": {"200": _json("Health", "healthy"), **_errors(503)},
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "operationId": "metrics",
                "responses": {
                    "200": {
                        "description": "text exposition format 0.0.4",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "operationId": "openapi",
                "responses": {
                    "200": {
                        "description": "OpenAPI 3",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
    }


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Couponlab issuance API",
            "version": VERSION,
            "description": "Coupon stocks, claims, redemptions and refunds. Money is integer fen. "
            "Every mutating call carries a request_id: a replay answers the first outcome.",
        },
        "paths": _paths(),
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }

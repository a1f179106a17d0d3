"""Admin authentication: ``Authorization: Bearer <token>`` on the admin routes.

The token comes from ``COUPONLAB_ADMIN_TOKEN``, or ``couponlab serve`` generates one and prints it
at start. Comparison is constant-time so that response timing does not leak the token.
"""

from __future__ import annotations

import hmac
import os
import secrets

from engine.http.errors import Unauthorized

TOKEN_ENV = "COUPONLAB_ADMIN_TOKEN"
_SCHEME = b"bearer "


class AdminAuth:
    """Checks the ``authorization`` header of admin calls against one token."""

    __slots__ = ("_expected",)

    def __init__(self, token: str) -> None:
        if not token:
            raise ValueError("the admin token must not be empty")
        self._expected = token.encode("utf-8")

    def check(self, header: bytes | None) -> None:
        """Return if ``header`` is ``Bearer <token>``; raise :class:`Unauthorized` otherwise."""
        if header is None:
            raise Unauthorized("admin call: send 'Authorization: Bearer <token>'")
        if header[: len(_SCHEME)].lower() != _SCHEME:
            raise Unauthorized("admin call: the Authorization scheme must be Bearer")
        if not hmac.compare_digest(header[len(_SCHEME) :].strip(), self._expected):
            raise Unauthorized("admin call: wrong token")


def admin_token() -> tuple[str, bool]:
    """The token from the environment, or a fresh random one; and whether it was generated."""
    token = os.environ.get(TOKEN_ENV, "")
    if token:
        return token, False
    return secrets.token_urlsafe(24), True

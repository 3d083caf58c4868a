"""The service's refusals: each an HTTP status and a message that says what to change."""

from __future__ import annotations

from lec_opt.errors import LecOptError


class ServiceError(LecOptError):
    """A request the service refuses; ``status`` is the HTTP status it answers with."""

    status = 400


class Unauthorized(ServiceError):
    """No token, a malformed token or an unknown one."""

    status = 401


class Forbidden(ServiceError):
    """A valid token that may not do this (a peer on an operator route, the operator on a peer's own)."""

    status = 403


class NotFound(ServiceError):
    """An interval or a peer the community does not have."""

    status = 404


class Conflict(ServiceError):
    """A different reading for an interval already cleared (correct it with ``POST /operator/reopen``)."""

    status = 409


class Invalid(ServiceError):
    """A body or query that is well-formed JSON but not a valid request (time off the grid, unknown peer)."""

    status = 422


class TooLarge(ServiceError):
    """A request body over the size limit."""

    status = 413

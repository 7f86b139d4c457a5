"""How seatsync's errors are answered over HTTP: the status code and the JSON body."""

from __future__ import annotations

from typing import Any

from seatsync.errors import (
    ConfigurationError,
    Conflict,
    ConnectorError,
    DatabaseBusy,
    ImportRejected,
    InvalidField,
    MissingRights,
    NotFound,
    SeatsyncError,
    UnsupportedOption,
    UserInputError,
)
from seatsync.web.auth import Forbidden, NotAuthenticated, TooManyAttempts


def status_for(exc: SeatsyncError) -> int:
    if isinstance(exc, NotAuthenticated):
        return 401
    if isinstance(exc, Forbidden):
        return 403
    if isinstance(exc, TooManyAttempts):
        return 429
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, UnsupportedOption):
        return 422  # what was asked cannot be done by that target (as the push endpoint documents)
    if isinstance(exc, Conflict | ConfigurationError):
        return 409
    if isinstance(exc, UserInputError):
        return 422
    if isinstance(exc, ConnectorError):
        return 502
    if isinstance(exc, DatabaseBusy):
        return 503
    return 500


def error_body(exc: SeatsyncError) -> dict[str, Any]:
    if isinstance(exc, ImportRejected):
        head = str(exc).split("\n", 1)[0]
        return {
            "detail": head,
            "total": exc.total,
            "errors": [{"line": e.line, "column": e.column, "reason": e.reason} for e in exc.errors],
        }
    body: dict[str, Any] = {"detail": str(exc)}
    if isinstance(exc, InvalidField):
        body["field"] = exc.field  # the request's own field name (the message names it so too)
    if isinstance(exc, MissingRights):
        body["missing_rights"] = list(exc.rights)
    if isinstance(exc, ConnectorError) and exc.system:
        body["system"] = exc.system
    return body

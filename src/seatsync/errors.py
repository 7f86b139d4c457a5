"""Every error seatsync raises on purpose, grouped by what the caller does next.

    SeatsyncError
    ├── UserInputError            bad input from a person or a script: show the message, exit 1 / HTTP 4xx
    │   ├── InvalidPeriod          "2026-13" is not a month
    │   ├── InvalidTimeZone
    │   ├── InvalidField           one field of a form, command or request; each surface names it in its own words
    │   ├── ImportRejected         a file with bad rows; carries every RowError
    │   ├── PeriodNotStarted       a push of a month that has not begun (CLI exit 2, HTTP 422; nothing sent)
    │   ├── NotFound               a tenant, company, run ... that does not exist (for this tenant)
    │   └── Conflict               the request contradicts stored state (duplicate slug, broken mapping chain,
    │       │                      a push of the same tenant and target already running)
    │       └── MissingRights       an action needs rights the remote API member lacks (each named)
    ├── ConfigurationError         the installation is not set up (missing key, integration not connected)
    │   └── UnsupportedOption      a billing target cannot honour a push option (never silently dropped)
    ├── DatabaseBusy               the embedded database is busy with another write: try again (HTTP 503)
    └── ConnectorError             a remote API (ConnectWise, Gradient, ...) did not do what was asked
        ├── RetriableError          worth trying again: the engine backs off and retries
        │   ├── RateLimited          429; carries retry_after seconds
        │   ├── ServerError          5xx
        │   └── TransportError       timeout, refused or dropped connection
        ├── AmbiguousAnswer         a write may have been carried out, but its answer cannot be read (HTML or
        │                           a body that is not JSON on a 2xx, JSON missing fields, a 5xx or a lost
        │                           answer after the request may have been processed): read the remote state
        │                           back before trying again (``maybe_applied`` says which errors are so)
        └── FatalError              retrying cannot help: record the reason and move on
            ├── AuthenticationFailed 401: the credentials were rejected
            ├── PermissionDenied     403: a right is missing (named when known)
            ├── RecordNotFound       404: the record is gone (named)
            ├── RequestRejected      any other 4xx, with the remote system's own (JSON) message
            │   └── PostedPeriod      the billing period is already approved and posted (Autotask): not changed
            └── HostNotAllowed       the address is not the system's public API nor allowed by the operator
                                     (also a UserInputError: a tenant admin gave it; nothing was sent)

Library exceptions (httpx, SQLAlchemy) are translated into these at the boundary; none leak past it.
"""

from __future__ import annotations

from dataclasses import dataclass


class SeatsyncError(Exception):
    """Base of every deliberate seatsync error. ``str(err)`` is a sentence a person can act on."""


class UserInputError(SeatsyncError):
    pass


class InvalidPeriod(UserInputError):
    pass


class InvalidTimeZone(UserInputError):
    pass


@dataclass(frozen=True, slots=True)
class RowError:
    """One reason one row of an imported file was refused."""

    line: int
    column: str | None
    reason: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", column {self.column}" if self.column else "")
        return f"{where}: {self.reason}"


class InvalidField(UserInputError):
    """One field is wrong. ``str(err)`` names it by its key (the API's field name: ``day must be ...``); a
    surface with other words for it says ``err.named(label)``: the web page its field label, the CLI its flag."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field} {problem}")

    def named(self, label: str) -> str:
        return f"{label} {self.problem}"


class ImportRejected(UserInputError):
    """The whole file was refused; nothing of it was stored."""

    #: how many row errors are listed in the message (all are kept in ``errors``... up to ``kept``)
    shown = 100

    def __init__(self, source: str, errors: list[RowError], total: int | None = None, rows: int | None = None) -> None:
        self.source = source
        self.errors = errors
        #: how many problems, and in how many rows (a row can have several)
        self.total = total if total is not None else len(errors)
        self.rows = rows if rows is not None else len({e.line for e in errors})
        plural = "s" if self.rows != 1 else ""
        problems = f" ({self.total} problems)" if self.total != self.rows else ""
        head = f"{source} rejected: {self.rows} bad row{plural}{problems}; nothing was stored"
        lines = [str(e) for e in errors[: self.shown]]
        more = self.total - len(lines)
        if more > 0:
            lines.append(f"... and {more} more")
        super().__init__("\n".join([head, *("  " + line for line in lines)]))


class PeriodNotStarted(UserInputError):
    """A push of a period that has not started; the CLI exits with 2."""

    exit_code = 2

    def __init__(self, period: str, *, starts: str) -> None:
        super().__init__(f"{period} has not started yet (it starts {starts}); nothing was sent")
        self.period = period


class NotFound(UserInputError):
    pass


class Conflict(UserInputError):
    pass


class MissingRights(Conflict):
    """Checked before acting: nothing was changed. ``rights`` names each missing security-role setting."""

    def __init__(self, message: str, *, rights: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.rights = rights


class DatabaseBusy(SeatsyncError):
    """SQLite's one writer is busy (a long import's merge, say) for longer than a request waits."""

    def __init__(self, retry_after: int = 5) -> None:
        self.retry_after = retry_after
        super().__init__(
            f"the database is busy with another change (such as a large import): try again in {retry_after} seconds"
        )


class ConfigurationError(SeatsyncError):
    pass


class UnsupportedOption(ConfigurationError):
    """A billing target was asked for a push option it cannot honour."""

    def __init__(self, target: str, option: str, why: str) -> None:
        super().__init__(f"a push to {target} cannot honour {option}: {why}")
        self.target = target
        self.option = option


class ConnectorError(SeatsyncError):
    """A remote system refused or failed a request. ``system`` names it ("ConnectWise", "Autotask" ...)."""

    def __init__(
        self,
        message: str,
        *,
        system: str = "",
        status_code: int | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.system = system
        self.status_code = status_code
        self.method = method
        self.path = path


class RetriableError(ConnectorError):
    pass


class RateLimited(RetriableError):
    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_after = retry_after


class ServerError(RetriableError):
    pass


class TransportError(RetriableError):
    """No answer. ``maybe_processed`` is false when the connection was never made (safe to repeat a POST)."""

    def __init__(self, message: str, *, maybe_processed: bool = True, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.maybe_processed = maybe_processed


class AmbiguousAnswer(ConnectorError):
    """A write reached the remote system and may have been carried out, but what it answered cannot be read (an
    HTML page from a proxy with status 200, JSON missing the fields that say what was done). Never retried as it
    stands: the caller reads the remote state back (the quantity, the documents) and records what it finds."""


class FatalError(ConnectorError):
    pass


class AuthenticationFailed(FatalError):
    pass


class PermissionDenied(FatalError):
    def __init__(self, message: str, *, right: str | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.right = right


class RecordNotFound(FatalError):
    pass


class RequestRejected(FatalError):
    pass


class PostedPeriod(RequestRejected):
    """The PSA refused to change a billing period it has already approved and posted (invoiced)."""


class HostNotAllowed(UserInputError, FatalError):
    """An outbound request to an address that is neither the remote system's public API nor allowed by the
    operator (``SEATSYNC_ALLOWED_HOSTS``): refused before anything is sent."""


def maybe_applied(exc: ConnectorError) -> bool:
    """Whether a write that raised ``exc`` may nevertheless have been carried out: an unreadable answer, a 5xx,
    or a transport failure after the request may have been sent. A 429 and the other 4xx answers were refused
    before anything was done."""
    if isinstance(exc, AmbiguousAnswer | ServerError):
        return True
    return isinstance(exc, TransportError) and exc.maybe_processed

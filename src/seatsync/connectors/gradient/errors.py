"""The two Gradient answers a caller must tell apart from the general ``seatsync.errors`` classes."""

from __future__ import annotations

from seatsync.errors import RecordNotFound, RequestRejected


class NotMappedInGradient(RecordNotFound):
    """404 on a unit count: the MSP has not mapped this account (or service) in Synthesize.

    Gradient calls this normal: record it as "not mapped in Gradient", not as a failed push.
    """

    def __init__(self, message: str, *, account_id: str, service_id: str, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.account_id = account_id
        self.service_id = service_id


class AccountsAlreadyExist(RequestRejected):
    """409 on account creation: some ids exist already (whether Gradient answers this or upserts is unconfirmed)."""

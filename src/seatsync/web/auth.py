"""Who is calling: operator login (argon2), browser sessions, CSRF tokens, login throttling, API tokens.

Browser sessions are server-side: the cookie carries 32 random bytes, the database keeps only their SHA-256
(with the session's CSRF token), so there is no signing secret to manage and logout really ends a session.
API tokens work the same way (``ss_<prefix>_<secret>``, SHA-256 stored, shown once).
"""

from __future__ import annotations

import enum
import functools
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, bindparam, delete, func, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from seatsync.db.models import ApiToken, LoginFailure, Operator, Tenant, WebSession
from seatsync.errors import NotFound, UserInputError
from seatsync.security.passwords import hash_password, verify_password

Clock = Callable[[], datetime]

SESSION_LIFETIME = timedelta(hours=12)
THROTTLE_WINDOW = timedelta(minutes=15)
THROTTLE_FAILURES = 5
TOKEN_PREFIX = "ss_"  # noqa: S105 - a public marker, not a secret


class Role(enum.StrEnum):
    ADMIN = "admin"
    VIEWER = "viewer"


class TooManyAttempts(UserInputError):
    """Login throttled; ``retry_after`` seconds until the oldest counted failure leaves the window."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NotAuthenticated(UserInputError):
    pass


class Forbidden(UserInputError):
    pass


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of one request."""

    operator_id: int
    tenant_id: int
    email: str
    role: Role
    #: "session" (a browser: CSRF applies) or "token" (a script)
    via: str
    csrf_token: str | None = None
    token_id: int | None = None
    #: the token's "last used" instant is due for an update
    touch: bool = False

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@functools.cache
def _dummy_hash() -> str:
    """A real hash of a random password: an unknown email costs the same time as a wrong password."""
    return hash_password(secrets.token_hex(16))


def _throttle_key(email: str, client: str) -> str:
    return _sha256(f"{email.strip().lower()}|{client}")


def _serialise_attempts(session: Session, *, key: str, now: datetime) -> None:
    """Make parallel attempts with one key wait for each other until the transaction ends, so each counts the
    failures of those before it (otherwise 30 guesses sent at once all read "no failures yet")."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0))))
    # old failures are useless: keep the table small. On SQLite this write also takes the database's write lock
    # for the rest of the transaction, which queues parallel attempts the same way
    session.execute(delete(LoginFailure).where(LoginFailure.at < now - THROTTLE_WINDOW))


def check_throttle(session: Session, *, email: str, client: str, now: datetime) -> None:
    """Refuse (``TooManyAttempts``) a key that failed ``THROTTLE_FAILURES`` times in the window. Atomic: parallel
    attempts of one key are serialised until each one's transaction ends (its failure committed)."""
    key = _throttle_key(email, client)
    _serialise_attempts(session, key=key, now=now)
    since = now - THROTTLE_WINDOW
    rows = session.execute(
        select(func.count(), func.min(LoginFailure.at)).where(LoginFailure.key_hash == key, LoginFailure.at > since)
    ).one()
    count, oldest = int(rows[0]), rows[1]
    if count >= THROTTLE_FAILURES:
        retry = max(1, int((oldest + THROTTLE_WINDOW - now).total_seconds()) + 1)
        raise TooManyAttempts(
            f"too many failed logins for this email from your address: try again in {retry // 60 + 1} minutes",
            retry_after=retry,
        )


def login(session: Session, *, email: str, password: str, client: str, now: datetime) -> tuple[Operator, str, str]:
    """Check the password and open a session: returns (operator, cookie value, CSRF token).

    Failures are recorded and throttled per email and client address; the message never says which part was wrong.
    """
    check_throttle(session, email=email, client=client, now=now)
    operator = session.scalar(select(Operator).where(Operator.email == email.strip().lower()))
    ok = verify_password(operator.password_hash if operator else _dummy_hash(), password)
    if operator is None or not ok or operator.disabled:
        session.add(LoginFailure(key_hash=_throttle_key(email, client), at=now))
        session.flush()
        raise NotAuthenticated("the email or password is not right")
    session.execute(delete(LoginFailure).where(LoginFailure.key_hash == _throttle_key(email, client)))
    session.execute(delete(WebSession).where(WebSession.operator_id == operator.id, WebSession.expires_at < now))
    cookie = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            tenant_id=operator.tenant_id,
            operator_id=operator.id,
            session_hash=_sha256(cookie),
            csrf_token=csrf,
            created_at=now,
            expires_at=now + SESSION_LIFETIME,
        )
    )
    session.flush()
    return operator, cookie, csrf


def logout(session: Session, *, cookie: str) -> None:
    session.execute(delete(WebSession).where(WebSession.session_hash == _sha256(cookie)))


# built once: every request asks one of these (building a statement costs more than running it on SQLite)
_BY_SESSION = (
    select(
        WebSession.csrf_token,
        WebSession.expires_at,
        Operator.id,
        Operator.email,
        Operator.role,
        Operator.disabled,
        Tenant,
    )
    .join(Operator, Operator.id == WebSession.operator_id)
    .join(Tenant, Tenant.id == Operator.tenant_id)
    .where(WebSession.session_hash == bindparam("digest"))
)
_BY_TOKEN = (
    select(
        ApiToken.id,
        ApiToken.role,
        ApiToken.revoked_at,
        ApiToken.last_used_at,
        Operator.id,
        Operator.email,
        Operator.role,
        Operator.disabled,
        Tenant,
    )
    .join(Operator, Operator.id == ApiToken.operator_id)
    .join(Tenant, Tenant.id == Operator.tenant_id)
    .where(ApiToken.token_hash == bindparam("digest"))
)


def principal_from_cookie(session: Session, *, cookie: str, now: datetime) -> tuple[Principal, Tenant] | None:
    """The caller of a browser session and their tenant, in one query (every page asks)."""
    row = session.execute(_BY_SESSION, {"digest": _sha256(cookie)}).one_or_none()
    if row is None:
        return None
    csrf, expires_at, operator_id, email, role, disabled, tenant = row
    if expires_at <= now or disabled:
        return None
    return Principal(operator_id, tenant.id, email, Role(role), "session", csrf_token=csrf), tenant


def principal_from_token(session: Session, *, token: str, now: datetime) -> tuple[Principal, Tenant] | None:
    """The caller of an API token and their tenant, in one query (every API call asks)."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = session.execute(_BY_TOKEN, {"digest": _sha256(token)}).one_or_none()
    if row is None:
        return None
    token_id, token_role, revoked_at, last_used_at, operator_id, email, operator_role, disabled, tenant = row
    if revoked_at is not None or disabled:
        return None
    # a token never has more rights than its operator has now
    role = Role.VIEWER if Role.VIEWER in (Role(token_role), Role(operator_role)) else Role.ADMIN
    stale = last_used_at is None or now - last_used_at > timedelta(minutes=1)
    return Principal(operator_id, tenant.id, email, role, "token", token_id=token_id, touch=stale), tenant


def touch_token(engine: Engine, *, token_id: int, now: datetime) -> None:
    """Record when a token was last used: its own short transaction, at most once a minute, best effort (a busy
    database must not fail the request that merely used the token)."""
    try:
        with engine.begin() as conn:
            conn.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))
    except OperationalError:
        pass


def csrf_matches(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))


# --- API tokens -------------------------------------------------------------------------------------------------


def create_token(
    session: Session, *, principal: Principal, name: str, role: Role, now: datetime
) -> tuple[ApiToken, str]:
    """A new token (the secret is returned here and never again)."""
    name = name.strip()
    if not name:
        raise UserInputError("give the token a name that says what uses it")
    if role is Role.ADMIN and not principal.is_admin:
        raise Forbidden("a viewer can only create viewer tokens")
    secret = secrets.token_urlsafe(32)
    prefix = secrets.token_hex(4)
    token = f"{TOKEN_PREFIX}{prefix}_{secret}"
    row = ApiToken(
        tenant_id=principal.tenant_id,
        operator_id=principal.operator_id,
        name=name[:200],
        role=role.value,
        prefix=f"{TOKEN_PREFIX}{prefix}",
        token_hash=_sha256(token),
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row, token


def list_tokens(session: Session, *, tenant_id: int) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).where(ApiToken.tenant_id == tenant_id).order_by(ApiToken.id)))


def revoke_token(session: Session, *, tenant_id: int, token_id: int, now: datetime) -> ApiToken:
    row = session.scalar(select(ApiToken).where(ApiToken.tenant_id == tenant_id, ApiToken.id == token_id))
    if row is None:
        raise NotFound(f"no API token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = now
    return row

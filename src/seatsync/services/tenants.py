"""Tenants (MSPs) and their operators."""

from __future__ import annotations

import re
import unicodedata
import zoneinfo
from functools import cache

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from seatsync.db.models import ApiToken, Operator, Tenant, WebSession
from seatsync.domain.periods import time_zone
from seatsync.domain.rules import Rule
from seatsync.errors import Conflict, InvalidTimeZone, NotFound, UserInputError
from seatsync.security.passwords import hash_password

ROLES = ("admin", "viewer")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def slugify(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug[:60] or "tenant"


#: names the zone database holds that are not a place: the machine's own zone, or a file of rules
_NOT_PLACES = frozenset({"localtime", "posixrules", "Factory"})


@cache
def _known_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones()) - _NOT_PLACES


def check_time_zone(name: str) -> str:
    """``name`` when it is an IANA zone such as ``America/Chicago`` (``localtime`` is not: it is whatever the
    server's zone is today), else a clear error."""
    if name not in _known_zones():
        raise InvalidTimeZone(f"unknown time zone {name!r}: use an IANA name such as 'America/Chicago'")
    time_zone(name)
    return name


def parse_rule(value: str) -> Rule:
    try:
        return Rule(value)
    except ValueError:
        choices = ", ".join(r.value for r in Rule)
        raise UserInputError(f"unknown billing rule {value!r}: choose one of {choices}") from None


def create_tenant(session: Session, *, name: str, time_zone_name: str = "UTC", rule: str = "active") -> Tenant:
    name = name.strip()
    if not name:
        raise UserInputError("a tenant needs a name")
    check_time_zone(time_zone_name)
    base = slugify(name)
    slug, n = base, 1
    while session.scalar(select(Tenant.id).where(Tenant.slug == slug)) is not None:
        n += 1
        slug = f"{base}-{n}"
    tenant = Tenant(slug=slug, name=name, time_zone=time_zone_name, billing_rule=parse_rule(rule).value)
    session.add(tenant)
    session.flush()
    return tenant


def get_tenant(session: Session, *, slug: str) -> Tenant:
    tenant = session.scalar(select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        raise NotFound(f"no tenant with slug {slug!r} (list them with `seatsync tenant list`)")
    return tenant


def list_tenants(session: Session) -> list[Tenant]:
    return list(session.scalars(select(Tenant).order_by(Tenant.slug)))


def create_operator(session: Session, *, tenant: Tenant, email: str, password: str, role: str) -> Operator:
    email = email.strip().lower()
    if not _EMAIL.match(email):
        raise UserInputError(f"{email!r} is not an email address")
    if role not in ROLES:
        raise UserInputError(f"unknown role {role!r}: choose admin or viewer")
    if len(password) < 8:
        raise UserInputError("a password needs at least 8 characters")
    if session.scalar(select(Operator.id).where(Operator.email == email)) is not None:
        raise Conflict(f"an operator with email {email!r} already exists")
    operator = Operator(tenant_id=tenant.id, email=email, password_hash=hash_password(password), role=role)
    session.add(operator)
    session.flush()
    return operator


def list_operators(session: Session, *, tenant: Tenant) -> list[Operator]:
    """The tenant's operators, by email."""
    return list(session.scalars(select(Operator).where(Operator.tenant_id == tenant.id).order_by(Operator.email)))


def _operator(session: Session, tenant: Tenant, email: str) -> Operator:
    found = session.scalar(
        select(Operator).where(Operator.tenant_id == tenant.id, Operator.email == email.strip().lower())
    )
    if found is None:
        raise NotFound(f"no operator {email!r} in tenant {tenant.slug!r}")
    return found


def _keep_an_admin(session: Session, tenant: Tenant, leaving: Operator) -> None:
    if leaving.role != "admin":
        return
    others = session.scalar(
        select(Operator.id).where(
            Operator.tenant_id == tenant.id,
            Operator.role == "admin",
            Operator.id != leaving.id,
            Operator.disabled.is_(False),
        )
    )
    if others is None:
        raise Conflict(f"{leaving.email} is the tenant's last admin: make another operator admin first")


def set_operator_role(session: Session, *, tenant: Tenant, email: str, role: str) -> Operator:
    """Change an operator's role; the tenant always keeps one admin. Their sessions keep going with the new role."""
    if role not in ROLES:
        raise UserInputError(f"unknown role {role!r}: choose admin or viewer")
    operator = _operator(session, tenant, email)
    if role != operator.role:
        if role != "admin":
            _keep_an_admin(session, tenant, operator)
        operator.role = role
        session.flush()
    return operator


def remove_operator(session: Session, *, tenant: Tenant, email: str) -> str:
    """Remove an operator (their sessions end with them); the tenant always keeps one admin. Returns the email."""
    operator = _operator(session, tenant, email)
    _keep_an_admin(session, tenant, operator)
    # said here, not left to the foreign keys' cascade: a logged-in browser must not outlive its operator
    session.execute(delete(WebSession).where(WebSession.operator_id == operator.id))
    session.execute(delete(ApiToken).where(ApiToken.operator_id == operator.id))
    session.delete(operator)
    session.flush()
    return operator.email

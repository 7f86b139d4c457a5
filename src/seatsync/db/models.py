"""The ORM model. Every row belongs to exactly one tenant (``tenant_id``), directly.

Users' status history is stored as *intervals*: each status event row also carries ``valid_to``, the
instant of the user's next event (NULL while in force), maintained by the importer. A month's count is
then one indexed, set-based query (see ``seatsync.services.billing``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from seatsync.db.types import UTCDateTime, utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


# BigInteger ids that are still INTEGER PRIMARY KEY (rowid) on SQLite
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    billing_rule: Mapped[str] = mapped_column(String(32), default="active")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: raised by database triggers in the same transaction as any shown change to the tenant's companies or
    #: mappings (``seatsync.db.triggers``): a cached copy of them is current while this is unchanged
    directory_revision: Mapped[int] = mapped_column(default=0, server_default="0")


class Operator(Base):
    __tablename__ = "operators"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))  # admin | viewer
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)


class Company(Base):
    __tablename__ = "companies"
    __table_args__ = (UniqueConstraint("tenant_id", "company_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    company_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(300))
    #: ``sat;phishing`` — the products this company subscribes to
    products: Mapped[str] = mapped_column(String(64), default="sat;phishing")
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    #: when the client left (0013_company_archived): pushed for that period, skipped from the next one on
    archived_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    #: the company's own billing rule (``seatsync.domain.rules.Rule``); NULL: the tenant's (0012_company_rule)
    billing_rule: Mapped[str | None] = mapped_column(String(32))


class User(Base):
    """A user's details. Only the importer writes these rows, for the tenant it imports for, and tenants are never
    deleted: so no foreign key to tenants (on PostgreSQL its trigger locked the tenant row again for every user
    upserted, about a third of an import's users upsert; 0024_users_without_tenant_key)."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("tenant_id", "user_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column()
    user_id: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(300), default="")
    #: instant of the status event whose row last set email and name (the latest one wins, in any import order)
    details_at: Mapped[datetime] = mapped_column()


class StatusEvent(Base):
    """One status change of a user, and the interval ``[at, valid_to)`` it opened.

    Only the importer writes these rows, and it takes ``user_id`` and ``company_pk`` from the users it writes and
    the tenant's companies in the same transaction; neither tenants, users nor companies are ever deleted
    (companies are archived). So the table keeps just what the counts and the importer read (0018_import_speed):
    the natural key (each import's duplicate check, the ``engaged`` look-up by user and instant) and the covering
    count index, and no foreign keys to tenants, users or companies (they cost a look-up per row written, on
    PostgreSQL a trigger locking the parent row, and an index per key; 0022_events_without_tenant_key).
    """

    __tablename__ = "status_events"
    __table_args__ = (
        # with the interval's end: ``engaged``'s look-up of an activity's interval reads the index alone (0026)
        UniqueConstraint(
            "tenant_id",
            "user_id",
            "at",
            "status",
            "company_pk",
            name="uq_status_events_event",
            postgresql_include=["valid_to"],
        ),
        # the same look-up on SQLite, which has no INCLUDE (0026_engaged_lookup_covering)
        Index("ix_status_events_lookup", "tenant_id", "user_id", "at", "valid_to", "company_pk").ddl_if(
            dialect="sqlite"
        ),
        # the month's count (``seatsync.services.intervals``), read from these indexes alone: per length class,
        # closed active intervals of a tenant starting in a range of instants (0023_interval_span_class), and the
        # open active ones in company order (0027_open_intervals_index); other statuses are in neither. Each ends
        # with its predicate's columns: SQLite reads an index alone only when it holds every column a query names
        Index(
            "ix_status_events_span",
            "tenant_id",
            "span_class",
            "at",
            "valid_to",
            "company_pk",
            "user_id",
            "status",
            sqlite_where=text("status = 'active' AND span_class IS NOT NULL"),
            postgresql_where=text("status = 'active' AND span_class IS NOT NULL"),
        ),
        Index(
            "ix_status_events_open",
            "tenant_id",
            "company_pk",
            "user_id",
            "at",
            "status",
            "valid_to",
            sqlite_where=text("status = 'active' AND valid_to IS NULL"),
            postgresql_where=text("status = 'active' AND valid_to IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column()
    user_id: Mapped[str] = mapped_column(String(200))
    company_pk: Mapped[int] = mapped_column()
    status: Mapped[str] = mapped_column(String(16))
    #: order among events at the same instant (``seatsync.domain.rules.STATUS_RANK``)
    rank: Mapped[int] = mapped_column(SmallInteger)
    at: Mapped[datetime] = mapped_column()
    valid_to: Mapped[datetime | None] = mapped_column()
    #: the interval's length class (``seatsync.services.intervals.SPAN_DAYS``), NULL while it is open: what bounds a
    #: month's count to the intervals near the month
    span_class: Mapped[int | None] = mapped_column(SmallInteger)
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)


class ActivityEvent(Base):
    __tablename__ = "activity_events"
    __table_args__ = (
        UniqueConstraint("tenant_id", "user_id", "kind", "at", name="uq_activity_events_event"),
        # a period's activity with its user, read from the index alone (``engaged``; 0018_import_speed)
        Index("ix_activity_events_period", "tenant_id", "at", "user_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column()


class ImportDigest(Base):
    """The SHA-256 of the last import of one kind (users, activity) for a tenant: an equal import adds nothing
    (0018_import_speed)."""

    __tablename__ = "import_digests"

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column()
    imported_at: Mapped[datetime] = mapped_column()


class Integration(Base):
    """A tenant's connection to one target (``connectwise`` or ``gradient``).

    ``settings`` holds what is not secret (site, company id, client id, URL); ``secret`` holds the
    Fernet-encrypted JSON of what is (keys, tokens) and is never returned by the API.
    """

    __tablename__ = "integrations"
    __table_args__ = (UniqueConstraint("tenant_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    #: connected | broken | disconnected (and integration-specific states such as Gradient's pending)
    status: Mapped[str] = mapped_column(String(32), default="disconnected")
    status_reason: Mapped[str | None] = mapped_column(Text)
    connected_at: Mapped[datetime | None] = mapped_column()
    checked_at: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# --- web (0005_web) ---------------------------------------------------------------------------------------------


#: the mapper sorts a tenant's companies by name and pages through them
Index("ix_companies_tenant_name", Company.tenant_id, Company.name)
#: the companies with their own billing rule (0012_company_rule)
Index(
    "ix_companies_own_rule",
    Company.tenant_id,
    Company.id,
    Company.billing_rule,
    sqlite_where=Company.billing_rule.is_not(None),
    postgresql_where=Company.billing_rule.is_not(None),
)


class ApiToken(Base):
    """A Bearer token for scripts: only its SHA-256 is stored; the token itself is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    #: the token's first characters, to recognise it in a list
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


class WebSession(Base):
    """A logged-in browser: the cookie holds a random id whose SHA-256 is the key here."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id", ondelete="CASCADE"))
    session_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()


class LoginFailure(Base):
    """A failed login, keyed by a hash of email and client address, for throttling.

    Not tenant-scoped on purpose: a failed login does not (and must not reveal whether it does) belong to a tenant.
    """

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_key_at", "key_hash", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column()


# -- ConnectWise mapping and push runs (0003_push) -------------------------------------------------------


class CWMapping(Base):
    """Which ConnectWise company, agreement and addition a company bills to: one addition for all its products
    (``product`` ``""``) or one per product (``"sat"``, ``"phishing"``) (0010_cw_items)."""

    __tablename__ = "cw_mappings"
    __table_args__ = (
        UniqueConstraint("company_pk", "product", name="uq_cw_mappings_company_pk"),
        Index("ix_cw_mappings_item", "tenant_id", "agreement_id", "addition_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    company_pk: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    product: Mapped[str] = mapped_column(String(16), default="", server_default="")
    #: the addition is shared with other companies' mappings on purpose: it gets their sum
    billed_together: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    cw_company_id: Mapped[int | None] = mapped_column()
    cw_company_name: Mapped[str | None] = mapped_column(String(300))
    agreement_id: Mapped[int | None] = mapped_column()
    agreement_name: Mapped[str | None] = mapped_column(String(300))
    addition_id: Mapped[int | None] = mapped_column()
    addition_name: Mapped[str | None] = mapped_column(String(300))
    saved_at: Mapped[datetime] = mapped_column(default=utcnow)
    saved_by: Mapped[str] = mapped_column(String(320))
    #: the quantity seatsync last set on (or found agreeing in) this addition; a different one later is drift
    last_pushed_quantity: Mapped[float | None] = mapped_column()
    last_pushed_at: Mapped[datetime | None] = mapped_column()


class CWMappingChange(Base):
    """Every mapping change, so a wrong invoice can be traced to the change that caused it."""

    __tablename__ = "cw_mapping_changes"
    __table_args__ = (Index("ix_cw_mapping_changes_company", "tenant_id", "company_pk", "changed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    company_pk: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    changed_by: Mapped[str] = mapped_column(String(320))
    #: the mapping's product: ``""`` (all products), ``"sat"`` or ``"phishing"`` (0010_cw_items)
    product: Mapped[str] = mapped_column(String(16), default="", server_default="")
    #: ``{"cw_company_id", "cw_company_name", "agreement_id", ...}`` before and after (None: no mapping)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class CWCompany(Base):
    """A cached copy of the tenant's ConnectWise companies, searched by the mapper and auto-map."""

    __tablename__ = "cw_companies"
    __table_args__ = (UniqueConstraint("tenant_id", "cw_id"), Index("ix_cw_companies_name", "tenant_id", "name"))

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    cw_id: Mapped[int] = mapped_column()
    identifier: Mapped[str] = mapped_column(String(200), default="")
    name: Mapped[str] = mapped_column(String(300))
    status: Mapped[str | None] = mapped_column(String(64))
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    refreshed_at: Mapped[datetime] = mapped_column(default=utcnow)


class PushRun(Base):
    """One push of one period to one target (``connectwise`` or ``gradient``)."""

    __tablename__ = "push_runs"
    __table_args__ = (
        Index("ix_push_runs_latest", "tenant_id", "target", "period", "started_at"),
        # one live run per tenant and target, whichever process starts it (0015_push_seam)
        Index(
            "uq_push_runs_live",
            "tenant_id",
            "target",
            unique=True,
            sqlite_where=text("status = 'running'"),
            postgresql_where=text("status = 'running'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    target: Mapped[str] = mapped_column(String(16))
    period: Mapped[str] = mapped_column(String(7))
    #: an operator's email, "schedule" or "cli"
    started_by: Mapped[str] = mapped_column(String(320))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()
    #: ``seatsync.push.runs.RunStatus``
    status: Mapped[str] = mapped_column(String(16))
    #: why the whole run failed or was interrupted (per-company reasons are on the results)
    status_reason: Mapped[str | None] = mapped_column(Text)
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    forced: Mapped[bool] = mapped_column(Boolean, default=False)
    retry_failed: Mapped[bool] = mapped_column(Boolean, default=False)
    #: items whose period is already invoiced were left out (``PushOptions.skip_invoiced``)
    skip_invoiced: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: the operator who started it confirmed the rows over the approval threshold (0021_confirmed_changes)
    approved_over_threshold: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: the process running it, and its last sign of life: a run whose process is gone is interrupted
    host: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int | None] = mapped_column()
    heartbeat_at: Mapped[datetime | None] = mapped_column()
    total: Mapped[int] = mapped_column(default=0)
    succeeded: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    unchanged: Mapped[int] = mapped_column(default=0)
    skipped: Mapped[int] = mapped_column(default=0)
    blocked: Mapped[int] = mapped_column(default=0)
    not_mapped: Mapped[int] = mapped_column(default=0)


class PushResult(Base):
    """What happened to one company (and product/service, for Gradient) in one run."""

    __tablename__ = "push_results"
    __table_args__ = (Index("ix_push_results_company", "tenant_id", "company_pk", "run_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("push_runs.id", ondelete="CASCADE"), index=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    company_pk: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    product: Mapped[str | None] = mapped_column(String(32))
    service: Mapped[str | None] = mapped_column(String(200))
    #: ``seatsync.push.runs.Outcome``
    outcome: Mapped[str] = mapped_column(String(16))
    quantity_before: Mapped[float | None] = mapped_column()
    quantity_after: Mapped[float | None] = mapped_column()
    billable: Mapped[int | None] = mapped_column()
    cw_company_id: Mapped[int | None] = mapped_column()
    agreement_id: Mapped[int | None] = mapped_column()
    addition_id: Mapped[int | None] = mapped_column()
    document_id: Mapped[int | None] = mapped_column()
    #: the target's own id for other targets (a Gradient account id)
    remote_id: Mapped[str | None] = mapped_column(String(200))
    #: the item of the targets after ConnectWise (Autotask, HaloPSA ...), their own ids as text (0015_push_seam)
    psa_company_id: Mapped[str | None] = mapped_column(String(64))
    contract_id: Mapped[str | None] = mapped_column(String(64))
    item_id: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(default=0)
    reason: Mapped[str | None] = mapped_column(Text)
    report_sha256: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PushIntent(Base):
    """What a run was about to change on one item, committed before the request was sent (0020_push_intents).

    An item whose run recorded its result has nothing more to say here; an intent with no result of its run is a
    write whose answer never reached the database (the process was killed, or the answer could not be read):
    the next run of the tenant and target reads the item back and records the true before → after on the run
    that sent it (``seatsync.push.intents``). ``product`` is ``""`` for an item billing every product."""

    __tablename__ = "push_intents"
    __table_args__ = (Index("ix_push_intents_run_item", "run_id", "company_pk", "product"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("push_runs.id", ondelete="CASCADE"))
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    company_pk: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    product: Mapped[str] = mapped_column(String(32), default="")
    #: the quantity read just before sending, and the one the request sets (None: the target reads none)
    quantity_before: Mapped[float | None] = mapped_column()
    quantity_intended: Mapped[float | None] = mapped_column()
    billable: Mapped[int | None] = mapped_column()
    #: the report an upload attaches (found again by its hash)
    report_sha256: Mapped[str | None] = mapped_column(String(64))
    #: the target's ids of the item (the ``push_results`` columns it writes), to read it back
    item: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# -- mappings to the other PSAs (0008_psa_mappings) ----------------------------------------------------------


class PSAMapping(Base):
    """Which PSA company, contract and item one company bills to, in one PSA (``target``: ``autotask``,
    ``halopsa`` ...; ConnectWise keeps ``cw_mappings``).

    ``product`` is ``""`` when one item bills every product the company subscribes to, or ``sat`` / ``phishing``
    when that product has its own item: a company has either one ``""`` row or one row per product.
    Ids are the PSA's own, kept as text (every PSA's are integers today; text keeps the model one for all).
    """

    __tablename__ = "psa_mappings"
    __table_args__ = (
        UniqueConstraint("company_pk", "target", "product"),
        Index("ix_psa_mappings_item", "tenant_id", "target", "item_id"),
        Index("ix_psa_mappings_tenant_target", "tenant_id", "target"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    company_pk: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    target: Mapped[str] = mapped_column(String(16))
    product: Mapped[str] = mapped_column(String(16), default="")
    #: the item is shared with other companies' mappings on purpose: it gets their sum (0016_psa_billed_together)
    billed_together: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    psa_company_id: Mapped[str | None] = mapped_column(String(64))
    psa_company_name: Mapped[str | None] = mapped_column(String(300))
    contract_id: Mapped[str | None] = mapped_column(String(64))
    contract_name: Mapped[str | None] = mapped_column(String(300))
    item_id: Mapped[str | None] = mapped_column(String(64))
    item_name: Mapped[str | None] = mapped_column(String(300))
    saved_at: Mapped[datetime] = mapped_column(default=utcnow)
    saved_by: Mapped[str] = mapped_column(String(320))
    #: the quantity seatsync last set on (or found agreeing in) this item; a different one later is drift
    last_pushed_quantity: Mapped[float | None] = mapped_column()
    last_pushed_at: Mapped[datetime | None] = mapped_column()


class PSAMappingChange(Base):
    """Every change of a ``psa_mappings`` row (who, when, before → after), as ``cw_mapping_changes``."""

    __tablename__ = "psa_mapping_changes"
    __table_args__ = (Index("ix_psa_mapping_changes_company", "tenant_id", "company_pk", "changed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    company_pk: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    target: Mapped[str] = mapped_column(String(16))
    product: Mapped[str] = mapped_column(String(16), default="")
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    changed_by: Mapped[str] = mapped_column(String(320))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class PSACompany(Base):
    """A cached copy of a PSA's companies (Autotask companies, HaloPSA clients) for the mapper and auto-map."""

    __tablename__ = "psa_companies"
    __table_args__ = (
        UniqueConstraint("tenant_id", "target", "remote_id"),
        Index("ix_psa_companies_name", "tenant_id", "target", "name"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    target: Mapped[str] = mapped_column(String(16))
    remote_id: Mapped[str] = mapped_column(String(64))
    identifier: Mapped[str] = mapped_column(String(200), default="")
    name: Mapped[str] = mapped_column(String(300))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    refreshed_at: Mapped[datetime] = mapped_column(default=utcnow)


# -- Gradient schedule (0004_gradient) -------------------------------------------------------------------


class ScheduledPush(Base):
    """The schedule's claim on one period of one target for one tenant.

    Inserted, with the run it starts, before anything is sent: the unique key is what lets two processes
    catching up the same missed 1st push it once. A claim whose run failed or was interrupted may be taken
    again (``attempts`` is compared-and-set), a bounded number of times.
    """

    __tablename__ = "scheduled_pushes"
    __table_args__ = (UniqueConstraint("tenant_id", "target", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    target: Mapped[str] = mapped_column(String(16))
    period: Mapped[str] = mapped_column(String(7))
    claimed_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(default=1)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("push_runs.id", ondelete="SET NULL"))


# -- notifications (0009_notifications) ----------------------------------------------------------------------


class NotificationChannel(Base):
    """Where a tenant's notifications go: an e-mail address, or a webhook (generic JSON, Slack or Teams).

    A webhook's URL is a credential (Slack and Teams put the secret in it): it is kept only in ``secret``
    (sealed like an integration's keys); ``address`` holds the address to show (an e-mail, or the URL redacted).
    """

    __tablename__ = "notification_channels"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    #: ``email`` or ``webhook``
    kind: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(400))
    #: a webhook's format (``json``, ``slack``, ``teams``); ``""`` for e-mail
    format: Mapped[str] = mapped_column(String(16), default="")
    secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(320))


class NotificationDelivery(Base):
    """One event sent (or not) through one channel: what, when, how many attempts, and the last error."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (
        UniqueConstraint("channel_id", "event_key"),
        Index("ix_notification_deliveries_tenant", "tenant_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("notification_channels.id", ondelete="SET NULL"))
    #: the channel as it was shown when this was sent (it may be removed since)
    channel: Mapped[str] = mapped_column(String(440))
    #: ``seatsync.notify.EventKind``
    event: Mapped[str] = mapped_column(String(32))
    event_key: Mapped[str] = mapped_column(String(200))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("push_runs.id", ondelete="SET NULL"))
    subject: Mapped[str] = mapped_column(Text)
    #: ``sending``, ``sent`` or ``failed``
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()


# -- automation per target: tickets, approval threshold, schedule (0011_automation) ----------------------------


class TargetAutomation(Base):
    """A tenant's automation settings for one target: the service board tickets go to (PSAs), the approval
    threshold, and the monthly schedule. No row: no tickets, no threshold, the target's default schedule."""

    __tablename__ = "target_automation"
    __table_args__ = (UniqueConstraint("tenant_id", "target"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    target: Mapped[str] = mapped_column(String(16))
    #: the PSA's service board for tickets (its own id, as text); None: no tickets
    ticket_board_id: Mapped[str | None] = mapped_column(String(64))
    ticket_board_name: Mapped[str | None] = mapped_column(String(300))
    #: rows whose quantity would change by more than this many percent (of the current quantity) wait for approval
    approve_above_percent: Mapped[float | None] = mapped_column()
    #: ... or by more than this many seats
    approve_above_seats: Mapped[int | None] = mapped_column()
    #: the schedule: on day 1-28 or "last" of each month, at HH:MM in the tenant's zone, push the previous or
    #: current period; ``schedule_enabled`` None: the target's default (Gradient: day 1, 00:00, previous month;
    #: the PSAs: none), False: off (``schedule off``), True: these values
    schedule_enabled: Mapped[bool | None] = mapped_column(Boolean, default=None)
    schedule_day: Mapped[str] = mapped_column(String(4), default="1")
    schedule_at: Mapped[str] = mapped_column(String(5), default="00:00")
    schedule_period: Mapped[str] = mapped_column(String(8), default="previous")
    #: the scheduled push leaves out the items whose period the target has already invoiced
    #: (``PushOptions.skip_invoiced``; only a target that can tell, ConnectWise, takes it)
    schedule_skip_invoiced: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str] = mapped_column(String(320), default="")


class ServiceTicket(Base):
    """A ticket seatsync opened on a PSA's service board for a company whose push failed or was blocked: updated
    while it keeps failing, closed by the next success. At most one open per company and target."""

    __tablename__ = "service_tickets"
    __table_args__ = (Index("ix_service_tickets_company", "tenant_id", "target", "company_pk", "closed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    target: Mapped[str] = mapped_column(String(16))
    company_pk: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    board_id: Mapped[str] = mapped_column(String(64))
    #: the PSA's ticket id and the PSA company it is on
    ticket_id: Mapped[str] = mapped_column(String(64))
    psa_company_id: Mapped[str] = mapped_column(String(64))
    summary: Mapped[str] = mapped_column(String(300))
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    opened_run_id: Mapped[int | None] = mapped_column(ForeignKey("push_runs.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_run_id: Mapped[int | None] = mapped_column(ForeignKey("push_runs.id", ondelete="SET NULL"))
    updates: Mapped[int] = mapped_column(default=0)
    closed_at: Mapped[datetime | None] = mapped_column()
    closed_run_id: Mapped[int | None] = mapped_column(ForeignKey("push_runs.id", ondelete="SET NULL"))
    #: the PSA's refusal the last time seatsync tried to update or close it
    last_error: Mapped[str | None] = mapped_column(Text)


# -- approvals (0014_approvals) ------------------------------------------------------------------------------


class Approval(Base):
    """An admin's decision on one row a push held back (outcome ``awaiting``): approved rows are sent
    by a push of exactly those rows (``sent_run_id``), rejected ones are not sent."""

    __tablename__ = "approvals"
    __table_args__ = (
        UniqueConstraint("run_id", "company_pk", "product"),
        Index("ix_approvals_tenant", "tenant_id", "decided_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    #: the run that held the row back
    run_id: Mapped[int] = mapped_column(ForeignKey("push_runs.id", ondelete="CASCADE"))
    company_pk: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    #: ``""`` when the row is the company's only item
    product: Mapped[str] = mapped_column(String(16), default="")
    before: Mapped[float | None] = mapped_column()
    proposed: Mapped[float | None] = mapped_column()
    #: ``approved`` or ``rejected``
    decision: Mapped[str] = mapped_column(String(16))
    decided_by: Mapped[str] = mapped_column(String(320))
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: the push that sent an approved row
    sent_run_id: Mapped[int | None] = mapped_column(ForeignKey("push_runs.id", ondelete="SET NULL"))

"""Mappings validated against the ConnectWise sandbox, their history, the company cache and auto-map."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from seatsync.db.engine import transaction
from seatsync.errors import Conflict, NotFound, UserInputError
from seatsync.sandboxes.connectwise import ConnectWiseSandbox
from seatsync.sandboxes.server import BackgroundServer
from seatsync.services import automap, mappings
from tests.foundation.util import companies, csv_bytes, load, make_tenant
from tests.push.conftest import make_client


def test_set_mapping_validates_the_chain_and_keeps_every_change(
    engine: Engine, sandbox: ConnectWiseSandbox, server: BackgroundServer
) -> None:
    tenant = make_tenant(engine)
    companies(engine, tenant, "acme")
    acme = sandbox.add_company("Acme Corporation")
    other = sandbox.add_company("Globex")
    agreement = sandbox.add_agreement(acme["id"], name="Managed Acme")
    addition = sandbox.add_addition(agreement["id"], quantity=3)
    second = sandbox.add_addition(agreement["id"], quantity=5)
    foreign = sandbox.add_agreement(other["id"])
    foreign_addition = sandbox.add_addition(foreign["id"])
    cancelled = sandbox.add_agreement(acme["id"], status="Cancelled", cancelled=True)
    old = sandbox.add_addition(agreement["id"], cancelled_date="2025-01-01T00:00:00Z")
    gone = sandbox.add_company("Gone", deleted=True)

    def chain(cw: int, agreement_id: int | None = None, addition_id: int | None = None, by: str = "ops@msp.example"):
        with make_client(server.url) as client, transaction(engine) as session:
            return mappings.set_mapping(
                session,
                tenant=tenant,
                company_id="acme",
                cw_company=cw,
                agreement=agreement_id,
                addition=addition_id,
                by=by,
                client=client,
            )

    with pytest.raises(Conflict, match=f"agreement {foreign['id']} .* belongs to ConnectWise Globex"):
        chain(acme["id"], foreign["id"])
    with pytest.raises(Conflict, match=f"addition {foreign_addition['id']} on agreement {agreement['id']}"):
        chain(acme["id"], agreement["id"], foreign_addition["id"])
    with pytest.raises(Conflict, match="is Cancelled; choose an active one"):
        chain(acme["id"], cancelled["id"])
    with pytest.raises(Conflict, match="is cancelled; choose an active addition"):
        chain(acme["id"], agreement["id"], old["id"])
    with pytest.raises(Conflict, match="is deleted"):
        chain(gone["id"])
    with pytest.raises(Conflict, match="ConnectWise has no company 99999"):
        chain(99999)
    with pytest.raises(UserInputError, match="choose the agreement first"):
        chain(acme["id"], None, addition["id"])
    partial = chain(acme["id"])
    assert (partial.cw_company_name, partial.agreement_id) == ("Acme Corporation", None)
    saved = chain(acme["id"], agreement["id"], addition["id"])
    assert (saved.agreement_name, saved.addition_id, saved.addition_name) == (
        "Managed Acme",
        addition["id"],
        "PHISH-SAT - Security awareness training & phishing",
    )
    chain(acme["id"], agreement["id"], addition["id"], by="someone@msp.example")  # no change, no history
    with transaction(engine) as session:
        mapping = mappings.get_mapping(session, tenant=tenant, company_id="acme")
        assert mapping is not None
        mapping.last_pushed_quantity = 3.0
    moved = chain(acme["id"], agreement["id"], second["id"], by="other@msp.example")
    assert moved.last_pushed_quantity is None  # drift is judged per addition
    with transaction(engine) as session:
        mappings.clear_mapping(session, tenant=tenant, company_id="acme", by="ops@msp.example")
        history = mappings.mapping_history(session, tenant=tenant, company_id="acme")
        assert mappings.get_mapping(session, tenant=tenant, company_id="acme") is None
        rows = mappings.list_mappings(session, tenant=tenant)
        with pytest.raises(NotFound):
            mappings.get_mapping(session, tenant=tenant, company_id="nobody")
    assert [r.mapping for r in rows] == [None]
    assert [
        (h.changed_by, (h.before or {}).get("addition_id"), (h.after or {}).get("addition_id")) for h in history
    ] == [
        ("ops@msp.example", second["id"], None),
        ("other@msp.example", addition["id"], second["id"]),
        ("ops@msp.example", None, addition["id"]),
        ("ops@msp.example", None, None),
    ]
    assert history[-1].before is None


def test_company_cache_and_auto_map(engine: Engine, sandbox: ConnectWiseSandbox, server: BackgroundServer) -> None:
    tenant = make_tenant(engine)
    rows = ["smith,Smith and Sons Plumbing LLC", "fab,Fabrikam Inc", "two,Two Agreements Ltd", "zzz,Unrelated Zoo"]
    load(engine, tenant, "companies", csv_bytes("company_id,name", rows))
    smith = sandbox.add_company("Smith & Sons Plumbing")
    smith_agreement = sandbox.add_agreement(smith["id"])
    smith_addition = sandbox.add_addition(smith_agreement["id"])
    sandbox.add_addition(smith_agreement["id"], product="BACKUP-M365")
    sandbox.add_agreement(smith["id"], status="Cancelled", cancelled=True)
    sandbox.add_company("Fabrikam Inc", deleted=True)
    fabrikam = sandbox.add_company("Fabrikam")
    two = sandbox.add_company("Two Agreements")
    for _ in range(2):
        sandbox.add_addition(sandbox.add_agreement(two["id"])["id"])
    with make_client(server.url) as client, transaction(engine) as session:
        found = {s.company_id: s for s in automap.suggest(session, tenant=tenant, client=client)}
        assert len(mappings.search_cw_companies(session, tenant=tenant, query="fabrikam")) == 1
        assert len(mappings.search_cw_companies(session, tenant=tenant, query="FABRIKAM", include_deleted=True)) == 2
        assert mappings.get_mapping(session, tenant=tenant, company_id="smith") is None  # nothing saved
    assert set(found) == {"smith", "fab", "two"}
    assert (found["smith"].cw_company_id, found["smith"].confidence) == (smith["id"], 1.0)
    assert (found["smith"].agreement_id, found["smith"].addition_id) == (smith_agreement["id"], smith_addition["id"])
    assert found["fab"].cw_company_id == fabrikam["id"]  # never the deleted one
    assert (found["two"].agreement_id, found["two"].note) == (None, "2 active agreements: choose one")
    with make_client(server.url) as client, transaction(engine) as session:
        saved = automap.accept_all(
            session, tenant=tenant, suggestions=list(found.values()), above=0.95, by="ops@msp.example", client=client
        )
        smith_mapping = mappings.get_mapping(session, tenant=tenant, company_id="smith")
    assert sorted(s.company_id for s in saved) == ["fab", "smith", "two"]
    assert smith_mapping is not None and smith_mapping.addition_id == smith_addition["id"]
    # a company whose ConnectWise company is chosen gets only the agreement/addition suggested
    with make_client(server.url) as client, transaction(engine) as session:
        again = {s.company_id: s for s in automap.suggest(session, tenant=tenant, client=client)}
        sandbox.add_company("Unrelated Zoo Keepers")
        assert mappings.refresh_cw_companies(session, tenant=tenant, client=client) == 5
    assert set(again) == {"fab", "two"}
    assert (again["fab"].confidence, again["fab"].note) == (1.0, "0 active agreements: choose one")

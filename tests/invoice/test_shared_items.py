"""One item is billed by one mapping unless the companies on it are billed together (every PSA's mappings)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from seatsync.db.engine import transaction
from seatsync.db.models import CWMapping, PSAMapping
from seatsync.errors import Conflict
from seatsync.services import mappings, psa_mappings
from seatsync.services.psa_mappings import MappingValues
from tests.foundation.util import companies, make_tenant
from tests.push.conftest import World, make_client

ITEM = MappingValues("29683", "Alpha Co", "7", "Alpha SAT", "11", "Seats")


def test_psa_mappings_refuse_a_second_mapping_unless_billed_together(engine: Engine) -> None:
    tenant = make_tenant(engine)
    companies(engine, tenant, "alpha", "beta")
    with transaction(engine) as session:
        psa_mappings.save_mapping(session, tenant=tenant, target="autotask", company_id="alpha", values=ITEM, by="t")
        with pytest.raises(Conflict, match="already bills alpha"):
            psa_mappings.save_mapping(session, tenant=tenant, target="autotask", company_id="beta", values=ITEM, by="t")
        # another PSA's item with the same id is another item
        psa_mappings.save_mapping(session, tenant=tenant, target="halopsa", company_id="beta", values=ITEM, by="t")
        psa_mappings.save_mapping(
            session, tenant=tenant, target="autotask", company_id="beta", values=ITEM, by="t", billed_together=True
        )
        flags = session.scalars(
            select(PSAMapping.billed_together).where(PSAMapping.target == "autotask").order_by(PSAMapping.id)
        ).all()
        assert flags == [True, True]


def test_connectwise_refuses_a_second_mapping_unless_billed_together(world: World) -> None:
    taken = world.mapped["c01"]
    with make_client(world.url) as client, transaction(world.engine) as session:
        with pytest.raises(Conflict, match="already bills c01"):
            mappings.set_mapping(
                session,
                tenant=world.tenant,
                company_id="c04",
                cw_company=taken.cw_company,
                agreement=taken.agreement,
                addition=taken.addition,
                by="t",
                client=client,
            )
        mappings.set_mapping(
            session,
            tenant=world.tenant,
            company_id="c04",
            cw_company=taken.cw_company,
            agreement=taken.agreement,
            addition=taken.addition,
            by="t",
            client=client,
            billed_together=True,
        )
        shared = session.scalars(select(CWMapping.billed_together).where(CWMapping.addition_id == taken.addition)).all()
        assert shared == [True, True]

"""The demo's Autotask side: connect to the Autotask sandbox, map the demo's companies the first time, and give
a fresh sandbox back the units seatsync set before (the sandbox keeps its state in memory only)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Engine, func, select

from seatsync.config import Settings
from seatsync.db.engine import transaction
from seatsync.db.models import PSAMapping, Tenant
from seatsync.demo.data import ADMIN_EMAIL, DemoMapping, demo_companies
from seatsync.sandboxes.autotask import DEMO_INTEGRATION_CODE, DEMO_USERS, SECURITY_AWARENESS_SERVICE, AutotaskSandbox
from seatsync.sandboxes.autotask.seed import FIRST_COMPANY_ID, WITHOUT_CONTRACT
from seatsync.sandboxes.connectwise.seed import DEMO_COMPANIES
from seatsync.services import autotask_connection as at
from seatsync.services import autotask_mappings

#: the sandbox's API user with every permission (its public demo values)
DEMO_USER = DEMO_USERS[0]
_INDEX = {identifier: index for index, (identifier, _name, _deleted) in enumerate(DEMO_COMPANIES)}


def connect_autotask(
    engine: Engine, *, tenant_id: int, url: str, sandbox: AutotaskSandbox, settings: Settings
) -> at.ConnectionResult:
    with transaction(engine) as session:
        tenant = session.get(Tenant, tenant_id)
        assert tenant is not None
        result = at.connect(
            session,
            tenant=tenant,
            username=DEMO_USER.username,
            secret=DEMO_USER.secret,
            integration_code=DEMO_INTEGRATION_CODE,
            zone_url=url,
            settings=settings,
        )
        if result.status is not at.IntegrationStatus.CONNECTED:
            return result
        with at.client_for(session, tenant=tenant, settings=settings) as client:
            autotask_mappings.refresh_companies(session, tenant=tenant, client=client)
            mapped = session.scalar(
                select(func.count()).where(PSAMapping.tenant_id == tenant.id, PSAMapping.target == "autotask")
            )
            if not mapped:
                for company in demo_companies():
                    if company.mapping is DemoMapping.NONE or company.cw_identifier is None:
                        continue
                    index = _INDEX[company.cw_identifier]
                    contract = service = None
                    if company.mapping is DemoMapping.COMPLETE and index not in WITHOUT_CONTRACT:
                        contract = autotask_mappings.contracts(client, at_company=FIRST_COMPANY_ID + index)[0].id
                        service = SECURITY_AWARENESS_SERVICE  # the catalog service: its contract service is found
                    autotask_mappings.set_mapping(
                        session,
                        tenant=tenant,
                        company_id=company.company_id,
                        at_company=FIRST_COMPANY_ID + index,
                        contract=contract,
                        service=service,
                        by=ADMIN_EMAIL,
                        client=client,
                    )
        replay_pushed_units(session_engine=engine, tenant_id=tenant_id, sandbox=sandbox)
    return result


def replay_pushed_units(*, session_engine: Engine, tenant_id: int, sandbox: AutotaskSandbox) -> int:
    """Set each mapped contract service in the (fresh) sandbox to what seatsync last pushed to it, from the first
    day of the month it was pushed in."""
    replayed = 0
    with transaction(session_engine) as session:
        pushed = session.execute(
            select(PSAMapping.item_id, PSAMapping.last_pushed_quantity, PSAMapping.last_pushed_at).where(
                PSAMapping.tenant_id == tenant_id,
                PSAMapping.target == "autotask",
                PSAMapping.item_id.is_not(None),
                PSAMapping.last_pushed_quantity.is_not(None),
            )
        ).all()
    for item_id, units, at_instant in pushed:
        if item_id is None or units is None or at_instant is None:
            continue
        service_id = int(item_id)
        if service_id in sandbox.tables["ContractServices"]:
            day = date(at_instant.year, at_instant.month, 1)
            sandbox.set_units_by_hand(service_id, day, int(units), source="seatsync")
            replayed += 1
    return replayed

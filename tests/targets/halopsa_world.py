"""The contract suite's HaloPSA world: the HaloPSA sandbox over real sockets, three mapped companies."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from seatsync.connectors.halopsa import RETRY
from seatsync.db.models import Tenant
from seatsync.targets.base import ClientFactory, ItemKey
from tests.targets.worlds import PERIOD, ContractWorld, Refusing, world


@dataclass
class HaloPSAWorld:
    engine: Engine
    tenant_id: int
    sandbox: Any
    #: item key -> (subscription id, billable count)
    items: dict[ItemKey, tuple[int, int]]
    transport: Refusing = field(default_factory=Refusing)
    compares: bool = True

    def factory(self) -> ClientFactory:
        from seatsync.connectors.limits import Unlimited
        from seatsync.services import halopsa_connection as halo

        def make(session: Session, tenant: Tenant) -> Any:
            return halo.client_for(
                session,
                tenant=tenant,
                transport=self.transport,
                limiter=Unlimited(),
                retry=replace(RETRY, backoff_base=0.01, backoff_cap=0.05),
            )

        return make

    def expected(self) -> dict[ItemKey, float]:
        return {key: float(count) for key, (_, count) in self.items.items()}

    def remote(self) -> dict[ItemKey, float]:
        return {key: float(self.sandbox.licences[lid]["count"]) for key, (lid, _) in self.items.items()}

    def writes(self) -> int:
        return int(self.sandbox.request_counts["POST /api/SoftwareLicence"])

    def fail(self, key: ItemKey | None) -> None:
        licence = self.items[key][0] if key is not None else None
        self.transport.refuse = lambda r: (
            r.method == "POST" and f'"id":{licence},' in r.content.decode().replace(" ", "")
        )

    def drift(self, key: ItemKey) -> bool:
        self.sandbox.set_count_by_hand(self.items[key][0], 99)
        return True

    def refuse_credentials(self) -> None:
        with self.sandbox.lock:
            self.sandbox.applications.clear()
            self.sandbox.tokens.clear()


@world("halopsa")
@contextmanager
def halopsa_world(engine: Engine) -> Iterator[ContractWorld]:
    from tests.halopsa.worlds import mapped_world

    with mapped_world(engine, companies=3, period=PERIOD) as (sandbox, tenant_id, items):
        built = HaloPSAWorld(engine, tenant_id, sandbox, items)
        try:
            yield built  # type: ignore[misc]
        finally:
            built.transport.inner.close()

"""`seatsync catalog connectwise` and `seatsync map connectwise --create-addition / --product / --billed-together`."""

from __future__ import annotations

from seatsync.sandboxes.connectwise import ConnectWiseSandbox
from tests.push.conftest import World
from tests.push.test_cli import connect, invoke


def test_catalog_settings_then_create_addition_from_the_cli(
    world: World, sandbox: ConnectWiseSandbox, database_url: str
) -> None:
    connect(world)
    slug = world.tenant.slug
    code, out = invoke(database_url, "catalog", "connectwise", "--tenant", slug)
    assert code == 0, out
    assert "PHISH-SAT" in out and "(not chosen)" in out
    code, out = invoke(
        database_url,
        "catalog", "connectwise", "--tenant", slug,
        "--subcategory", "Training", "--type", "Service", "--sat-identifier", "SAT-SEATS",
    )  # fmt: skip
    assert code == 0, out
    assert "SAT-SEATS" in out and "subcategory: Training; type: Service" in out

    company = sandbox.add_company("Fresh Client")
    agreement = sandbox.add_agreement(company["id"])
    code, out = invoke(
        database_url,
        "map", "connectwise", "--tenant", slug, "--company", "c04", "--cw-company", str(company["id"]),
        "--agreement", str(agreement["id"]), "--create-addition", "--product", "sat",
    )  # fmt: skip
    assert code == 0, out
    assert "created the catalog product and addition: SAT-SEATS" in out
    assert "mapping saved for c04 (sat)" in out
    item = sandbox.find_catalog_item(identifier="SAT-SEATS")
    assert item is not None
    assert item["subcategory"]["name"] == "Training"
    assert [a["product"]["identifier"] for a in sandbox.additions.values() if a["agreementId"] == agreement["id"]] == [
        "SAT-SEATS"
    ]


def test_the_read_only_member_hears_which_rights_are_missing(
    world: World, sandbox: ConnectWiseSandbox, database_url: str
) -> None:
    connect(world, "readonly-public", "readonly-private")
    company = sandbox.add_company("Fresh Client")
    agreement = sandbox.add_agreement(company["id"])
    before = dict(sandbox.additions)
    code, out = invoke(
        database_url,
        "map", "connectwise", "--tenant", world.tenant.slug, "--company", "c04", "--cw-company", str(company["id"]),
        "--agreement", str(agreement["id"]), "--create-addition",
    )  # fmt: skip
    assert code != 0
    assert "Finance › Agreements › Edit Level (All)" in out
    assert sandbox.additions == before


def test_a_second_company_on_one_addition_needs_billed_together(world: World, database_url: str) -> None:
    connect(world)
    taken = world.mapped["c01"]
    args = [
        "map", "connectwise", "--tenant", world.tenant.slug, "--company", "c04", "--cw-company", str(taken.cw_company),
        "--agreement", str(taken.agreement), "--addition", str(taken.addition),
    ]  # fmt: skip
    code, out = invoke(database_url, *args)
    assert code != 0
    assert "already bills c01" in out and "billed together" in out
    code, out = invoke(database_url, *args, "--billed-together")
    assert code == 0, out
    assert "billed together" in out

"""The demo tenant's data: companies lined up with the ConnectWise sandbox's demo seed, users with status
histories over the last months, and activity. Pure and deterministic: the same ``now`` gives the same records.

The companies follow ``seatsync.sandboxes.connectwise.seed.DEMO_COMPANIES`` so that the mapper has something
real to do: most names are equal, some differ slightly (``Smith and Sons`` vs ``Smith & Sons``, ``Fabrikam, Inc.``
vs ``Fabrikam Inc`` which also has a deleted twin in ConnectWise, ``Contoso Ltd.`` vs ``Contoso Ltd``), and two
have no ConnectWise company at all.
"""

from __future__ import annotations

import enum
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from seatsync.sandboxes.connectwise.seed import DEMO_COMPANIES, demo_quantity

TENANT_NAME = "Demo MSP"
TENANT_SLUG = "demo"
TENANT_TIME_ZONE = "America/New_York"
ADMIN_EMAIL = "admin@demo.local"
#: how far back the users' histories go
HISTORY_DAYS = 183


class DemoMapping(enum.StrEnum):
    """How the demo leaves a company in the mapper."""

    COMPLETE = "complete"  # company, agreement and the PHISH-SAT addition chosen
    COMPANY_ONLY = "company-only"  # a half-finished choice: the row says what is missing
    NONE = "none"  # left for the operator (or auto-map) to do


@dataclass(frozen=True, slots=True)
class DemoCompany:
    company_id: str
    name: str
    products: str
    #: the ConnectWise sandbox company it bills to (its ``identifier``), None when ConnectWise has none
    cw_identifier: str | None
    mapping: DemoMapping
    #: roughly how many users it has (the ConnectWise addition's starting quantity, give or take)
    size: int


C, P, N = DemoMapping.COMPLETE, DemoMapping.COMPANY_ONLY, DemoMapping.NONE
BOTH, SAT, PHISHING = "sat;phishing", "sat", "phishing"

#: (ConnectWise identifier or None, seatsync name, products, mapping)
_COMPANIES: list[tuple[str | None, str, str, DemoMapping]] = [
    ("AcmeCorp", "Acme Corporation", BOTH, C),  # its agreement keeps a cancelled addition too
    ("NorthwindTraders", "Northwind Traders", BOTH, C),  # ConnectWise also has "Northwind Traders Inc."
    ("Contoso", "Contoso Ltd.", BOTH, N),  # plus a cancelled agreement in ConnectWise
    ("Fabrikam", "Fabrikam, Inc.", BOTH, N),  # ConnectWise has a deleted "Fabrikam Inc" too
    ("SmithSons", "Smith and Sons Plumbing", SAT, N),  # "Smith & Sons Plumbing" in ConnectWise
    ("Globex", "Globex Logistics", BOTH, C),  # plus an expired agreement
    ("Initech", "Initech", BOTH, C),
    ("UmbrellaHealth", "Umbrella Health Partners", BOTH, C),
    ("StarkDental", "Stark Dental Group", BOTH, C),
    ("WayneProperty", "Wayne Property Mgmt", PHISHING, N),
    ("BlueHarbor", "Blue Harbor Accounting", BOTH, C),
    ("CedarRidgeLaw", "Cedar Ridge Law, PLLC", BOTH, N),
    ("SummitVet", "Summit Veterinary Clinic", SAT, C),
    ("PinecrestSchools", "Pinecrest Schools", BOTH, C),
    ("RiverbendCU", "Riverbend Credit Union", BOTH, C),
    ("HarborViewHotels", "Harbor View Hotels", BOTH, C),
    ("MapleLeafIns", "Maple Leaf Insurance Agency", BOTH, N),
    ("RedwoodArch", "Redwood Architects", BOTH, C),
    ("Silverline", "Silverline Manufacturing", BOTH, C),
    ("OakwoodFP", "Oakwood Family Practice", SAT, C),
    ("Brightside", "Brightside Marketing", BOTH, P),
    ("Evergreen", "Evergreen Landscaping", BOTH, C),
    ("LakesideRealty", "Lakeside Realty", BOTH, C),
    ("Ironclad", "Ironclad Security", BOTH, C),
    ("GoldenGate", "Golden Gate Bakery", PHISHING, N),
    ("Keystone", "Keystone Engineering", BOTH, C),
    ("Horizon", "Horizon Travel", BOTH, C),
    ("Granite", "Granite Construction Company", BOTH, N),
    ("Willow", "Willow Creek Dental", BOTH, C),
    ("Bayside", "Bayside Medical Imaging", BOTH, C),
    ("Quantum", "Quantum Analytics", BOTH, C),
    ("Sterling", "Sterling & Co. Financial", BOTH, C),
    (None, "Zenith Pediatrics", BOTH, N),  # a new client, not in ConnectWise yet
    (None, "Old Mill Brewing", SAT, N),  # every user deleted months ago: 0 billable
]

_CW_INDEX = {identifier: index for index, (identifier, _name, _deleted) in enumerate(DEMO_COMPANIES)}


def demo_companies() -> list[DemoCompany]:
    found: list[DemoCompany] = []
    for number, (identifier, name, products, mapping) in enumerate(_COMPANIES):
        if identifier is not None:
            index = _CW_INDEX[identifier]  # a KeyError here means the sandbox seed changed: realign this list
            size = demo_quantity(index)
        else:
            size = 9 + number % 7
        found.append(DemoCompany(f"{1001 + number}", name, products, identifier, mapping, size))
    return found


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FIRST_NAMES = _words(
    "Olivia Liam Emma Noah Ava Elijah Sophia James Isabella William Mia Benjamin Charlotte Lucas Amelia Henry "
    "Harper Alexander Evelyn Mason Abigail Michael Emily Ethan Ella Daniel Elizabeth Jacob Camila Logan Luna "
    "Jackson Sofia Levi Avery Sebastian Mila Mateo Aria Jack Scarlett Owen Penelope Theodore Layla Aiden Chloe "
    "Samuel Victoria Joseph Madison John Eleanor David Grace Wyatt Nora Matthew Riley Luke Zoey Asher Hannah "
    "Carter Hazel Julian Lily Grayson Ellie Leo Violet Jayden Lillian Gabriel Zoe Isaac Stella Lincoln Aurora "
    "Anthony Natalie Hudson Emilia Dylan Everly Ezra Leah Thomas Aubrey Charles Willow Christopher Addison "
    "Jaxon Lucy Maverick Audrey Josiah Bella Isaiah Nova Andrew Brooklyn Elias Paisley Joshua Savannah Nathan "
    "Claire Caleb Skylar Ryan Isla Adrian Genesis Miles Naomi Eli Elena Nolan Caroline Christian Eliana Aaron "
    "Anna Cameron Maya Ezekiel Valentina Colton Ruby Luca Kennedy Landon Ivy Hunter Ariana Jonathan Aaliyah "
    "Santiago Cora Axel Madelyn Easton Alice Cooper Kinsley Jeremiah Hailey Angel Gabriella Roman Allison"
)
LAST_NAMES = _words(
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez Wilson "
    "Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez Lewis "
    "Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall "
    "Rivera Campbell Mitchell Carter Roberts Gomez Phillips Evans Turner Diaz Parker Cruz Edwards Collins Reyes "
    "Stewart Morris Morales Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard "
    "Ramos Kim Cox Ward Richardson Watson Brooks Chavez Wood James Bennett Gray Mendoza Ruiz Hughes Price "
    "Alvarez Castillo Sanders Patel Myers Long Ross Foster Jimenez Powell Jenkins Perry Russell Sullivan Bell "
    "Coleman Butler Henderson Barnes Gonzales Fisher Vasquez Simmons Romero Jordan Patterson Alexander Hamilton "
    "Graham Reynolds Griffin Wallace Moreno West Cole Hayes Bryant Herrera Gibson Ellis Tran Medina Aguilar "
    "Stevens Murray Ford Castro Marshall Owens Harrison Fernandez McDonald Woods Washington Kennedy Wells "
    "Vargas Henry Chen Freeman Webb Tucker Guzman Burns Crawford Olson Simpson Porter Hunter Gordon Mendez "
    "Silva Shaw Snyder Mason Dixon Munoz Hunt Hicks Holmes Palmer Wagner Black Robertson Boyd Rose Stone"
)


def domain_of(name: str) -> str:
    words = re.sub(r"[^a-z0-9 ]+", "", name.lower().replace("&", " and ")).split()
    stop = {"inc", "ltd", "llc", "pllc", "co", "company", "and", "the", "group", "of"}
    kept = [w for w in words if w not in stop][:2] or words[:1]
    return "".join(kept) + ".example"


@dataclass(frozen=True, slots=True)
class Change:
    at: datetime
    status: str
    company: DemoCompany


@dataclass
class DemoUser:
    user_id: str
    name: str
    local_part: str
    history: list[Change]

    def email(self, at: datetime) -> str:
        return f"{self.local_part}@{domain_of(self.company_at(at).name)}"

    def company_at(self, at: datetime) -> DemoCompany:
        current = self.history[0].company
        for change in self.history:
            if change.at > at:
                break
            current = change.company
        return current

    def status_at(self, at: datetime) -> str | None:
        status = None
        for change in self.history:
            if change.at > at:
                break
            status = change.status
        return status


@dataclass(frozen=True, slots=True)
class DemoData:
    companies: list[DemoCompany]
    users: list[DemoUser]
    #: (user id, kind, instant)
    activity: list[tuple[str, str, datetime]]

    def company_records(self) -> Iterator[tuple[int, dict[str, Any]]]:
        for line, company in enumerate(self.companies, start=2):
            yield line, {"company_id": company.company_id, "name": company.name, "products": company.products}

    def user_records(self) -> Iterator[tuple[int, dict[str, Any]]]:
        line = 1
        for user in self.users:
            for change in user.history:
                line += 1
                yield (
                    line,
                    {
                        "user_id": user.user_id,
                        "company_id": change.company.company_id,
                        "email": user.email(change.at),
                        "name": user.name,
                        "status": change.status,
                        "at": _iso(change.at),
                    },
                )

    def activity_records(self) -> Iterator[tuple[int, dict[str, Any]]]:
        for line, (user_id, kind, at) in enumerate(self.activity, start=2):
            yield line, {"user_id": user_id, "kind": kind, "at": _iso(at)}


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _between(rng: random.Random, start: datetime, end: datetime) -> datetime:
    """A random instant in [start, end), on a working hour, to the minute."""
    seconds = max(int((end - start).total_seconds()), 60)
    at = start + timedelta(seconds=rng.randrange(seconds))
    return at.replace(hour=13 + rng.randrange(9), minute=rng.randrange(60), second=0, microsecond=0)


def generate(now: datetime, *, seed: str = "seatsync-demo") -> DemoData:
    """Companies, users with histories up to ``now``, and monthly training/phishing activity."""
    rng = random.Random(seed)
    companies = demo_companies()
    window = now - timedelta(days=HISTORY_DAYS)
    end = now - timedelta(hours=12)
    users: list[DemoUser] = []
    taken: set[str] = set()
    number = 0
    for company in companies:
        # a few fewer or more users than ConnectWise bills for today, so that a push has something to change
        count = max(3, company.size + rng.choice((-3, -2, -1, 0, 0, 0, 1, 2, 4)))
        for _ in range(count):
            number += 1
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            local = f"{first}.{last}".lower()
            while local in taken:
                local = f"{first}.{last}{rng.randrange(2, 99)}".lower()
            taken.add(local)
            joined = (
                _between(rng, window - timedelta(days=400), window)
                if rng.random() < 0.7
                else _between(rng, window, end)
            )
            history = [Change(joined, "active", company)]
            if company.name == "Old Mill Brewing":
                history.append(Change(_between(rng, window, window + timedelta(days=20)), "deleted", company))
            else:
                _later_life(rng, history, companies, end)
            users.append(DemoUser(f"u{number:05d}", f"{first} {last}", local, history))
    activity = _activity(rng, users, window, end)
    return DemoData(companies, users, activity)


def _later_life(rng: random.Random, history: list[Change], companies: list[DemoCompany], end: datetime) -> None:
    """Some users fall asleep (and some wake up), some leave, a few move to another client."""
    start = max(history[-1].at, end - timedelta(days=HISTORY_DAYS)) + timedelta(days=1)
    if start >= end:
        return
    roll = rng.random()
    company = history[-1].company
    if roll < 0.10:
        slept = _between(rng, start, end)
        history.append(Change(slept, "sleeping", company))
        if rng.random() < 0.4 and slept + timedelta(days=2) < end:
            history.append(Change(_between(rng, slept + timedelta(days=1), end), "active", company))
    elif roll < 0.17:
        history.append(Change(_between(rng, start, end), "deleted", company))
    elif roll < 0.20:
        others = [c for c in companies if c is not company and c.name != "Old Mill Brewing"]
        history.append(Change(_between(rng, start, end), "active", rng.choice(others)))


def _activity(
    rng: random.Random, users: list[DemoUser], window: datetime, end: datetime
) -> list[tuple[str, str, datetime]]:
    found: list[tuple[str, str, datetime]] = []
    month = window.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    while month < end:
        for user in users:
            for kind, chance, day in (("training", 0.8, 3), ("phishing", 0.65, 12)):
                at = month.replace(day=day + rng.randrange(10), hour=14 + rng.randrange(6), minute=rng.randrange(60))
                if window <= at < end and rng.random() < chance and user.status_at(at) == "active":
                    found.append((user.user_id, kind, at))
        month = (month + timedelta(days=32)).replace(day=1)
    return found

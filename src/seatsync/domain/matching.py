"""Fuzzy company-name matching for auto-map suggestions. Pure, no I/O.

Names are normalised before comparing: case, accents, ``&`` → ``and``, punctuation, and legal suffixes
(Inc, LLC, Ltd, GmbH, Corp, Co ...) so "Smith & Sons Plumbing, LLC" and "Smith and Sons Plumbing" are
equal. The confidence (0–1) is the similarity of the normalised names, lowered when another candidate
is (almost) as good, because then the operator must choose.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz, process

LEGAL_SUFFIXES = frozenset(
    {
        "inc", "incorporated", "llc", "llp", "lp", "ltd", "limited", "gmbh", "corp", "corporation", "co",
        "company", "plc", "pty", "pte", "ag", "sa", "sas", "sarl", "bv", "nv", "pc", "pllc", "kg", "oy", "ab",
        "srl", "spa", "as", "aps",
    }
)  # fmt: skip
_PUNCT = re.compile(r"[^\w\s]|_")
#: how close the runner-up may come before a match counts as ambiguous
AMBIGUITY_MARGIN = 0.03
#: a confident match with a rival as good keeps at most this confidence (below the usual accept threshold)
AMBIGUOUS_CAP = 0.75


def normalise(name: str) -> str:
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    text = text.replace("&", " and ").replace("+", " and ")
    text = _PUNCT.sub(" ", text)
    words = text.split()
    # trailing legal forms only ("Co" in "Co-op Bakery" is a word of the name)
    while len(words) > 1 and words[-1] in LEGAL_SUFFIXES:
        words.pop()
    if len(words) > 1 and words[0] == "the":
        words.pop(0)
    return " ".join(words)


@dataclass(frozen=True, slots=True)
class Candidate:
    key: int
    name: str


@dataclass(frozen=True, slots=True)
class Match:
    candidate: Candidate
    #: 0–1
    confidence: float
    #: another candidate scored (almost) as high
    rival: Candidate | None = None


def _score(a: str, b: str) -> float:
    # token_sort tolerates word order; ratio keeps "Acme" from fully matching "Acme Dental Group"
    return max(fuzz.token_sort_ratio(a, b), fuzz.ratio(a, b)) / 100.0


class Matcher:
    """Candidates normalised once; ``best(name)`` for each company to match."""

    def __init__(self, candidates: Iterable[Candidate]) -> None:
        self.candidates: Sequence[Candidate] = list(candidates)
        self._names = [normalise(c.name) for c in self.candidates]

    def best(self, name: str, *, minimum: float = 0.5) -> Match | None:
        if not self.candidates:
            return None
        wanted = normalise(name)
        found = process.extract(
            wanted, self._names, scorer=fuzz.token_sort_ratio, limit=5, score_cutoff=minimum * 100 - 10
        )
        scored = sorted(
            ((_score(wanted, self._names[i]), exact_bonus(name, self.candidates[i].name), i) for _, _, i in found),
            reverse=True,
        )
        if not scored or scored[0][0] < minimum:
            return None
        top, top_exact, index = scored[0]
        rival = next((s for s in scored[1:] if s[0] >= top - AMBIGUITY_MARGIN), None)
        if rival is None:
            return Match(self.candidates[index], round(top, 4))
        if top_exact > rival[1]:
            # the same name as typed beats a rival that only matches after normalising
            return Match(self.candidates[index], round(top - AMBIGUITY_MARGIN, 4), self.candidates[rival[2]])
        return Match(self.candidates[index], round(min(top, AMBIGUOUS_CAP), 4), self.candidates[rival[2]])


def exact_bonus(a: str, b: str) -> int:
    """1 when the names are equal ignoring case and surrounding spaces."""
    return int(a.strip().casefold() == b.strip().casefold())

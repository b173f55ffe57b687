"""Ranking replacement names for an offending identifier (difflib similarity, case-insensitive)."""
from __future__ import annotations

from difflib import SequenceMatcher
from typing import Iterable

from adp.models import Candidate

MIN_SCORE = 0.5  # below this a name is no plausible replacement
LIMIT = 5


def similarity(a: str, b: str) -> float:
    return round(SequenceMatcher(None, a.lower(), b.lower()).ratio(), 3)


def rank(
    name: str,
    pool: Iterable[str],
    hints: Iterable[str] = (),
    min_score: float = MIN_SCORE,
    limit: int = LIMIT,
) -> list[Candidate]:
    """Names from `hints` (offered by the message) and `pool` (looked up), most similar first.

    The identifier itself is never a candidate; on equal scores a name the message offered wins.
    """
    scored: dict[str, Candidate] = {}
    for source, names in (("message", hints), ("lookup", pool)):
        for other in names:
            key = other.lower()
            if not other or key == name.lower() or key in scored:
                continue
            score = similarity(name, other)
            if score >= min_score:
                scored[key] = Candidate(other, score, source)
    ordered = sorted(scored.values(), key=lambda c: (-c.score, c.source != "message", c.name))
    return ordered[:limit]

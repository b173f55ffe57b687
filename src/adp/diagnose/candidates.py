"""Ranking replacement names for an offending identifier: the one ranker of diagnosis and fix rules alike.

The measure is a parameter: diagnosis ranks by `similarity` (difflib, case-insensitive); fix rules rank
by `adp.fixes.confidence.closeness` (edit distance and `_` tokens) and keep only the best two to know
their margin.
"""
from __future__ import annotations

from difflib import SequenceMatcher
from typing import Callable, Iterable

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
    *,
    measure: Callable[[str, str], float] = similarity,
    fold_case: bool = True,
) -> list[Candidate]:
    """Names from `hints` (offered by the message) and `pool` (looked up), best first by `measure`.

    The identifier itself is never a candidate (nor, with `fold_case`, a name differing only in case, and
    names are then deduplicated ignoring case); on equal scores a name the message offered wins, then the
    name in sort order.

    >>> [c.name for c in rank("stauts", ["status", "state", "amount"])]
    ['status', 'state']
    """
    scored: dict[str, Candidate] = {}
    for source, names in (("message", hints), ("lookup", pool)):
        for other in names:
            key = other.lower() if fold_case and other else other
            if not other or key == (name.lower() if fold_case else name) or key in scored:
                continue
            score = measure(name, other)
            if score >= min_score:
                scored[key] = Candidate(other, score, source)
    ordered = sorted(scored.values(), key=lambda c: (-c.score, c.source != "message", c.name))
    return ordered[:limit]

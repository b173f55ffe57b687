"""Confidence of a fix, derived from its evidence rather than fixed per rule.

The evidence is: how close the best candidate is to the offending identifier, the margin to the
runner-up (two equally good candidates mean we cannot choose), whether the hint came from the error
message itself or from our own lookup, and how cleanly the edit site was located in the file.

Fixes that change what the data means (`nullif` around a divisor, `try_cast`, a full refresh that drops
an incremental model's history, switching targets) are capped at `MEANING_CHANGE_CAP`, below the
default `autonomous.min_confidence` (0.8): autonomous mode never applies them on its own.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from adp.diagnose.candidates import rank as candidates_rank

MEANING_CHANGE_CAP = 0.6  # below the autonomous threshold: a person decides
AMBIGUOUS_CAP = 0.5  # two (nearly) equally good candidates
REVIEW_CAP = 0.4  # suggestions that need intent (needs_review)
MAX_TYPO_DISTANCE = 2  # beyond this a name is a different name, not a typo (unless one extends the other)
TIE_MARGIN = 0.02  # closeness difference under which two candidates count as equally good
CEILING = 0.97
PLAUSIBLE = 1e-9  # any closeness above 0 is a candidate; 0 means not a plausible replacement


def distance(a: str, b: str) -> int:
    """Optimal-string-alignment edit distance (a transposition counts as one edit), case-insensitive."""
    a, b = a.lower(), b.lower()
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


def _tokens(name: str) -> list[str]:
    return [t for t in re.split(r"[^a-z0-9]+", name.lower()) if t]


def closeness(wrong: str, candidate: str) -> float:
    """How plausibly `candidate` is what `wrong` meant, in [0, 1] (0: not a plausible replacement).

    A typo (edit distance <= MAX_TYPO_DISTANCE) scores its difflib ratio; a name that extends the other
    by whole `_` tokens (`email` -> `email_address`, a renamed column) scores 0.8.
    """
    if wrong.lower() == candidate.lower():
        return 1.0 if wrong == candidate else 0.98
    ratio = difflib.SequenceMatcher(None, wrong.lower(), candidate.lower()).ratio()
    dist = distance(wrong, candidate)
    if dist <= MAX_TYPO_DISTANCE and dist < max(len(wrong), len(candidate)) / 2:
        return round(ratio, 4)
    tw, tc = _tokens(wrong), _tokens(candidate)
    short, long_ = (tw, tc) if len(tw) <= len(tc) else (tc, tw)
    if short and len("".join(short)) >= 4 and (long_[: len(short)] == short or long_[-len(short):] == short):
        return 0.8
    if len(tw) == len(tc) >= 2 and sum(a != b for a, b in zip(tw, tc)) == 1 and tw[0] == tc[0]:
        return 0.65  # one `_` token swapped (`account_key` -> `account_id`): plausible, never certain
    return 0.0


def is_typo_fix(old: str, new: str) -> bool:
    """True when `new` is a spelling correction of `old` (not a different name)."""
    if not isinstance(old, str) or not isinstance(new, str) or old == new:
        return False
    return distance(old, new) <= MAX_TYPO_DISTANCE and closeness(old, new) >= 0.6


@dataclass(frozen=True)
class Ranked:
    """The best candidate for an identifier and the evidence behind choosing it."""

    name: str
    closeness: float
    margin: float  # closeness of the best minus that of the runner-up (1.0 when alone)


def rank(wrong: str, candidates: list[str]) -> Ranked | None:
    """The closest plausible candidate by `closeness` (None when none is plausible), and its margin.

    The ranking is `adp.diagnose.candidates.rank`'s, with this module's measure; names differing only in
    case stay candidates (`ref('Orders')` -> `orders`).
    """
    top = candidates_rank(wrong, candidates, min_score=PLAUSIBLE, limit=2, measure=closeness, fold_case=False)
    if not top:
        return None
    runner = top[1].score if len(top) > 1 else 0.0
    return Ranked(top[0].name, top[0].score, round(top[0].score - runner, 4))


JUDGED = 5  # candidates the binder judges for one fix
HINT_MARGIN = 0.25  # the margin of an engine-named candidate over a looked-up one at the same edit distance


@dataclass(frozen=True)
class Choice:
    """One candidate replacement and the evidence for it."""

    name: str
    closeness: float
    from_message: bool  # the engine's message named it (`Did you mean "sum"?`, `Candidate bindings: ...`)


def choices(wrong: str, names: list[str], offered: set[str], limit: int = JUDGED) -> list[Choice]:
    """The plausible candidates for `wrong` among `names`, best first (`rank`'s order: on a tie the engine's), at most `limit`."""
    hints = [n for n in names if n in offered]
    top = candidates_rank(wrong, names, hints, min_score=PLAUSIBLE, limit=limit, measure=closeness, fold_case=False)
    return [Choice(c.name, c.score, c.source == "message") for c in top]


def separation(wrong: str, best: Choice, runner: Choice | None) -> float:
    """The margin of `best` over `runner` (1.0 alone). The engine naming `best` is evidence that a looked-up
    runner-up at the same edit distance does not cancel.

    >>> least, left = Choice("least", 0.8, True), Choice("left", 0.8, False)
    >>> separation("leat", least, left), separation("leat", left, least)
    (0.25, 0.0)
    """
    if runner is None:
        return 1.0
    margin = round(best.closeness - runner.closeness, 4)
    if best.from_message and not runner.from_message and distance(wrong, best.name) <= distance(wrong, runner.name):
        return max(margin, HINT_MARGIN)
    return margin


def score(
    *,
    closeness: float,
    margin: float = 1.0,
    from_message: bool = False,
    occurrences: int = 1,
    verified: bool | None = None,
    cap: float = CEILING,
) -> float:
    """Combine evidence into a confidence in [0, 1].

    Args:
        closeness: how well the chosen replacement fits (1.0 for an exact structural match).
        margin: lead over the runner-up; below TIE_MARGIN the result is capped at AMBIGUOUS_CAP.
        from_message: the error message itself named the fix (DuckDB's own suggestion).
        occurrences: how many places in the file the edit touches or could touch (1 is cleanest).
        verified: the edited text was re-parsed successfully (True), failed (False), or not checked.
        cap: an upper bound (e.g. MEANING_CHANGE_CAP).

    >>> score(closeness=0.9, from_message=True) >= 0.8
    True
    >>> score(closeness=0.9, margin=0.0) < 0.8
    True
    """
    value = 0.45 + 0.5 * closeness
    if margin < 0.25:
        value -= (0.25 - margin) * 0.8
    if from_message:
        value += 0.05
    if occurrences > 1:
        value -= 0.05 * min(occurrences - 1, 3)
    if verified is True:
        value += 0.03
    elif verified is False:
        value -= 0.3
    if margin < TIE_MARGIN:
        value = min(value, AMBIGUOUS_CAP)
    return round(max(0.0, min(value, cap, CEILING)), 3)

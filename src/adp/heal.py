"""The self-healing loop (being built: for now one build, no healing)."""
from __future__ import annotations

from adp.pipeline import Outcome, Session, simple_outcome


def heal_loop(session: Session, *, heal: bool, mode: str, interactive: bool) -> Outcome:
    result = session.build()
    return simple_outcome(session, result)

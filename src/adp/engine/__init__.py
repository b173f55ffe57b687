"""Running dbt: one interface, two engines (a subprocess per call, or dbtRunner in this process)."""
from __future__ import annotations

from adp.engine.base import Engine, EngineResult, EventHandler


def get_engine(name: str) -> Engine:
    """The engine named in config (`subprocess` or `in_process`)."""
    if name == "in_process":
        from adp.engine.in_process import InProcessEngine

        return InProcessEngine()
    from adp.engine.subprocess import SubprocessEngine

    return SubprocessEngine()


__all__ = ["Engine", "EngineResult", "EventHandler", "get_engine"]

"""Agentic Data Platform: run, diagnose and heal dbt projects on DuckDB."""

__version__ = "0.1.0"

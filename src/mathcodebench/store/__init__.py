"""Stage: every run in one SQLite file, written attempt by attempt."""

from .sqlite import SCHEMA_VERSION, RunStore

__all__ = ["SCHEMA_VERSION", "RunStore"]

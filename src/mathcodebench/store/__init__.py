"""Stage: every run in one SQLite file, written attempt by attempt, by one writer at a time."""

from .migrations import SCHEMA_VERSION
from .record import DatasetInfo, EndpointRecord, Recorded, RunData, RunRecord, RunStatus, SessionRecord, Unit
from .sqlite import RunStore

__all__ = [
    "SCHEMA_VERSION",
    "DatasetInfo",
    "EndpointRecord",
    "Recorded",
    "RunData",
    "RunRecord",
    "RunStatus",
    "RunStore",
    "SessionRecord",
    "Unit",
]

"""What the store returns: the run's typed record, and one snapshot of everything a report reads (read once)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ..data import Problem
from ..grading import FINAL, Grade
from ..models.endpoints import EndpointStats
from ..settings import Settings
from ..solve import Attempt, Prompt, counted_attempts
from ..solve.prompts import DEFAULT


class RunStatus(StrEnum):
    RUNNING = "running"
    FINISHED = "finished"  # every problem graded
    INCOMPLETE = "incomplete"  # the pass ended with problems not attempted or not graded (infrastructure)
    INTERRUPTED = "interrupted"  # stopped before the pass ended (Ctrl-C, a backend down, an error)


class Recorded(BaseModel):
    """What the run was given once and must keep, whatever the files and the code say later: the prompt as it
    was read (template text and examples), the judge's prompt version and rubric, the study file."""

    prompt_version: str
    judge_prompt_version: str
    judge_rubric: str
    study: str | None = None  # the verbatim study file this run came from
    prompt: Prompt | None = None  # None: a run from before prompts were stored, made with the built-in solve-v1

    def solve_prompt(self) -> Prompt:
        return self.prompt or DEFAULT


class DatasetInfo(BaseModel):
    source: str
    selection_hash: str
    skipped: list[tuple[str, str]] = []  # (id, reason) of rows the source had but no usable item
    short_cells: list[str] = []


class SessionRecord(BaseModel):
    """One process that wrote the run: when, who, what it changed, how it ended."""

    number: int
    command: str
    pid: int
    host: str
    started_at: str
    ended_at: str | None = None  # None: still running, or killed without a word
    outcome: str | None = None  # finished | incomplete | interrupted | error, with ended_at
    detail: str = ""
    applied: dict[str, Any] = {}  # settings changed on --resume (only those that cannot change results)
    isolation: dict[str, Any] | None = None  # the sandbox this session ran programs in


class EndpointRecord(EndpointStats):
    """What one model endpoint did in one session of the run."""

    session: int
    role: str  # model | judge


class RunRecord(BaseModel):
    settings: Settings
    recorded: Recorded
    model: str
    model_info: dict[str, str]
    versions: dict[str, str]
    dataset: DatasetInfo
    isolation: dict[str, Any] | None = None  # the sandbox's mode, layers and self-test when the run started
    started_at: str
    finished_at: str | None = None
    status: RunStatus
    status_detail: str = ""
    sessions: list[SessionRecord] = []


Unit = tuple[str, int]  # (problem id, sample number): what is solved and graded once


@dataclass(frozen=True)
class RunData:
    """A run as read once from its database: the record, problems, every sample's attempts and grades."""

    path: Path
    record: RunRecord
    problems: list[Problem]
    attempts: dict[Unit, list[Attempt]]
    grades: dict[str, dict[Unit, Grade]]  # grader name -> (problem, sample) -> grade
    votes: dict[Unit, int] = field(default_factory=dict)  # sample's answer class, for majority voting
    endpoints: list[EndpointRecord] = field(default_factory=list)  # per session, role and server address
    _empty: dict[Unit, Grade] = field(default_factory=dict)

    @property
    def samples(self) -> int:
        return self.record.settings.samples

    @property
    def final(self) -> dict[Unit, Grade]:
        return self.grades.get(FINAL, self._empty)

    def grader(self, name: str) -> dict[Unit, Grade]:
        return self.grades.get(name, self._empty)

    def units(self, problem_id: str) -> list[Unit]:
        return [(problem_id, sample) for sample in range(1, self.samples + 1)]

    def tried(self, unit: Unit) -> list[Attempt]:
        return self.attempts.get(unit, [])

    def counted(self, unit: Unit) -> list[Attempt]:
        return counted_attempts(self.tried(unit))

    def finished(self, problem_id: str) -> bool:
        """Every sample of the problem graded."""
        return all(unit in self.final for unit in self.units(problem_id))

    def correct(self, problem_id: str) -> int:
        """How many of a finished problem's samples the verdict that counts calls correct."""
        return sum(self.final[unit].correct for unit in self.units(problem_id))

"""One node of a Ray run: the actor that solves problems there and streams every step back to the driver.

It owns the node's sandbox pool (fork servers started on that node, its isolation layers checked there), calls
the model endpoints itself and grades there; the driver stores what it streams. The module does not import Ray:
the driver wraps `NodeWorker` with `ray.remote` (executors/ray.py), so it stays importable without the extra.
"""

from __future__ import annotations

import queue
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from ..data import Problem
from ..grading import Grade, Grading
from ..models import ChatModel
from ..sandbox import create_sandbox
from ..settings import Settings
from ..solve import Attempt, SolvePolicy
from ..store import Unit
from ..work import Outcome, Worker
from .base import Usage, roles, sandbox_servers, usage_now, usage_since
from .local import sandbox_record


@dataclass(frozen=True)
class AttemptMade:
    attempt: Attempt


@dataclass(frozen=True)
class Graded:
    unit: Unit
    attempt: int | None
    grades: dict[str, Grade]


@dataclass(frozen=True)
class Voted:
    problem_id: str
    classes: dict[int, int]


@dataclass(frozen=True)
class GraderFailed:
    why: str


@dataclass(frozen=True)
class Judged:
    """A judge verdict for the run's cache (the driver writes it)."""

    key: str
    grade: Grade
    reply: str


@dataclass(frozen=True)
class ProblemDone:
    """The last event of a problem: each sample finished by this call, and the node's endpoint counts so far."""

    outcomes: list[tuple[int, Outcome]]
    usage: Usage


Event = AttemptMade | Graded | Voted | GraderFailed | Judged | ProblemDone


@dataclass(frozen=True)
class NodeInfo:
    node_id: str  # Ray's id of the node
    host: str
    version: str  # mathcodebench's version there (the driver refuses a mismatch)
    isolation: dict[str, Any]  # the node's sandbox record, its self-test run there


@dataclass(frozen=True)
class Models:
    """How a node gets the run's models. None: built there from the run's settings (its own connections, its own
    copy of embedded weights); else a copy sent along, for a model the settings do not describe (a test's
    scripted model, which must then be picklable)."""

    model: ChatModel | None
    judge: ChatModel | None

    def build(self, settings: Settings) -> tuple[ChatModel, ChatModel | None]:
        from .. import api  # api builds a run's models and imports this package: imported when used

        model = self.model or api.solver(settings)
        return model, self.judge or api.judge_model(settings.grading_settings(), model)


class _StreamSink:
    """A worker's sink that turns each step into an event for the driver."""

    def __init__(self, emit: Callable[[Event], None]) -> None:
        self.emit = emit

    def add_attempt(self, attempt: Attempt) -> None:
        self.emit(AttemptMade(attempt))

    def add_grades(self, unit: Unit, attempt: int | None, grades: dict[str, Grade]) -> None:
        self.emit(Graded(unit, attempt, grades))

    def set_votes(self, problem_id: str, classes: dict[int, int]) -> None:
        self.emit(Voted(problem_id, classes))

    def grader_failed(self, why: str) -> None:
        self.emit(GraderFailed(why))


class _ForwardingCache:
    """The judge cache on a node: the run's cache as the driver sent it, plus this node's new verdicts, each also
    streamed to the driver (through the sink of the problem being graded on this thread)."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[Grade, str]] = {}
        self.emit = threading.local()

    def get(self, key: str) -> tuple[Grade, str] | None:
        return self.entries.get(key)

    def put(self, key: str, grade: Grade, reply: str) -> None:
        self.entries[key] = (grade, reply)
        self.emit.to(Judged(key, grade, reply))


class NodeWorker:
    """The Ray actor of one node (threaded: one thread per problem in flight)."""

    def __init__(self, settings: Settings, policy: str, models: Models, cpus: int) -> None:
        """`policy`: the attempt loop's settings as JSON (a loaded prompt caches its compiled template, which does
        not pickle; the node compiles its own)."""
        self.settings, self.models, self.cpus = settings, models, cpus
        self.policy = SolvePolicy.model_validate_json(policy)
        self.cache = _ForwardingCache()

    def start(self) -> NodeInfo:
        """Build the models and start the sandbox pool on this node; its self-test runs here."""
        import ray

        self.model, self.judge = self.models.build(self.settings)
        self.sandbox = create_sandbox(
            self.settings.sandbox, workers=sandbox_servers(self.settings, self.model, self.cpus)
        )
        self.grading = Grading(self.settings.grading_settings(), self.judge, self.cache)
        self.worker = Worker(self.model, self.sandbox, self.grading, self.policy)
        self._models = roles(self.model, self.judge)
        self._start = usage_now(self._models)
        return NodeInfo(
            node_id=ray.get_runtime_context().get_node_id(),
            host=socket.gethostname(),
            version=metadata.version("mathcodebench"),
            isolation=sandbox_record(self.sandbox),
        )

    def prime(self, entries: dict[str, tuple[Grade, str]]) -> None:
        """The run's judge cache as stored, so verdicts already paid for are not asked again."""
        self.cache.entries.update(entries)

    def solve(self, problem: Problem, stored: dict[Unit, list[Attempt]], graded: dict[Unit, Grade]) -> Iterator[Event]:
        """Solve and grade the problem's open samples, yielding every step as it happens (a streaming call)."""
        events: queue.Queue[Event | BaseException] = queue.Queue()

        def work() -> None:
            self.cache.emit.to = events.put
            try:
                done = self.worker.solve_problem(problem, stored, graded, _StreamSink(events.put))
                events.put(ProblemDone([(d.sample, d.outcome) for d in done], self.usage()))
            except BaseException as exc:  # handed to the driver, which decides
                events.put(exc)

        threading.Thread(target=work, name=f"mcb-{problem.id}", daemon=True).start()
        while True:
            event = events.get()
            if isinstance(event, BaseException):
                raise event
            yield event
            if isinstance(event, ProblemDone):
                return

    def usage(self) -> Usage:
        return usage_since(self._models, self._start)

    def close(self) -> None:
        self.grading.close()
        self.sandbox.close()

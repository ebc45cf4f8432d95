"""What every executor is: the run's problems in, every step out through the driver's sink.

The driver (api.Run) is the only writer of the run database; an executor decides where `Worker.solve_problem`
runs (threads here, actors on a cluster's nodes) and hands every attempt, grade and vote to the driver's sink in
the order it happened, so the stored rows are the same whichever executor made them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ..data import Problem
from ..grading import Grade
from ..models import ChatModel
from ..models.endpoints import EndpointStats
from ..models.http import endpoint_stats
from ..settings import Settings
from ..solve import Attempt
from ..store import RunStore, Unit
from ..work import Done, Sink

Finished = Callable[[list[Done]], None]


def in_flight(settings: Settings, model: ChatModel) -> int:
    """Problems solved at once: --concurrency, else what the model's backend serves best."""
    return settings.concurrency or int(getattr(model, "default_concurrency", 1))


def sandbox_servers(settings: Settings, model: ChatModel, cores: int) -> int:
    """Fork servers to start: one per core; with tool-integrated reasoning at least one per solution in flight,
    since a solution holds a server for its whole length (its session, model turns included): with fewer, the
    solutions beyond them would wait for a server while the others generate."""
    return max(cores, in_flight(settings, model)) if settings.method == "tir" else cores


Usage = dict[str, list[EndpointStats]]  # role (model, judge) -> what each of its endpoints did


class DriverSink(Sink, Protocol):
    """The driver's sink: it stores each step and watches for outages; `stop` is set once the run is stopping."""

    stop: threading.Event


@dataclass(frozen=True)
class Plan:
    """What is left of a run: the problems with an ungraded sample, and what is stored already."""

    todo: list[Problem]
    stored: dict[Unit, list[Attempt]]
    graded: dict[Unit, Grade]
    store: RunStore  # the judge's cache lives there


class Executor(Protocol):
    name: str  # local | ray

    def isolation(self) -> dict[str, Any]:
        """What protects the programs: the sandbox's record (mode, layers, self-test, node), with `nodes` (one
        record per node) where programs run on several machines."""
        ...

    def run(self, plan: Plan, sink: DriverSink, finished: Finished) -> None:
        """Solve and grade `plan.todo`, every step through `sink`; `finished` gets each problem's samples."""
        ...

    def usage(self) -> Usage:
        """What each model endpoint did since the executor started (for the session's record)."""
        ...

    def close(self) -> None: ...


def roles(model: ChatModel, judge: ChatModel | None) -> dict[str, ChatModel]:
    """The run's models by role; a judge that is the solving model itself is counted once, as the model."""
    return {"model": model, **({"judge": judge} if judge is not None and judge is not model else {})}


def usage_since(models: dict[str, ChatModel], start: Usage) -> Usage:
    """Each role's endpoint counts now, less those at `start` (a model may outlive one run, e.g. in a study)."""
    out: Usage = {}
    for role, model in models.items():
        before = {s.url: s for s in start.get(role, [])}
        out[role] = [s.since(before.get(s.url)) for s in endpoint_stats(model)]
    return {role: stats for role, stats in out.items() if stats}


def usage_now(models: dict[str, ChatModel]) -> Usage:
    return usage_since(models, {})


def add_usage(parts: list[Usage]) -> Usage:
    """Several processes' counts for the same endpoints, summed (the nodes of a cluster)."""
    out: dict[str, dict[str, EndpointStats]] = {}
    for part in parts:
        for role, stats in part.items():
            mine = out.setdefault(role, {})
            for s in stats:
                mine[s.url] = mine[s.url].plus(s) if s.url in mine else s
    return {role: list(by_url.values()) for role, by_url in out.items()}

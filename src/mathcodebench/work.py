"""The unit of work every scheduler hands out: one problem, all its samples, solved and graded.

It knows nothing of where results go: a `Sink` receives each attempt, each sample's grades and the problem's
answer classes as they happen (the run's store locally; a stream back to the single writer on a cluster), so a
crash loses at most the step in flight and the stored steps are the same whichever executor ran them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from .data import Problem
from .grading import FINAL, Grade, GraderUnavailable, Grading
from .models import ChatModel
from .sandbox import Sandbox
from .solve import Attempt, AttemptStatus, SolvePolicy, solve
from .store import Unit


class Outcome(StrEnum):
    """What became of one sample of a problem in this session."""

    CORRECT = "correct"
    INCORRECT = "incorrect"
    NOT_ATTEMPTED = "not_attempted"  # its last attempt failed for infrastructure reasons: resume tries again
    UNGRADED = "ungraded"  # answered, but a grader could not be reached (the judge): resume grades it


class Sink(Protocol):
    """Where the steps of a problem go, in order."""

    def add_attempt(self, attempt: Attempt) -> None: ...

    def add_grades(self, unit: Unit, attempt: int | None, grades: dict[str, Grade]) -> None: ...

    def set_votes(self, problem_id: str, classes: dict[int, int]) -> None: ...

    def grader_failed(self, why: str) -> None:
        """A grader's backend could not be reached (the sample stays ungraded)."""
        ...


@dataclass(frozen=True)
class Done:
    """One sample finished in this session."""

    problem: Problem
    sample: int
    outcome: Outcome
    attempts: list[Attempt]


@dataclass(frozen=True)
class Worker:
    """Everything solving a problem needs; one per thread of a local run, one per actor on a cluster."""

    model: ChatModel
    sandbox: Sandbox
    grading: Grading
    policy: SolvePolicy

    def solve_problem(
        self, problem: Problem, stored: dict[Unit, list[Attempt]], graded: dict[Unit, Grade], sink: Sink
    ) -> list[Done]:
        """Solve and grade every sample of `problem` not graded yet, continuing from `stored` attempts (`graded`:
        final grades already stored). When every sample is graded, the answers are grouped for majority voting."""
        units = [(problem.id, sample) for sample in range(1, self.policy.samples + 1)]
        mine = {unit: graded[unit] for unit in units if unit in graded}
        done = []
        for unit in units:
            if unit in mine:
                continue
            attempts = solve(
                problem,
                self.model,
                self.sandbox,
                self.policy,
                on_attempt=sink.add_attempt,
                start_after=stored.get(unit),
                sample=unit[1],
            )
            done.append(
                Done(problem, unit[1], grade_sample(self.grading, problem, unit, attempts, mine, sink), attempts)
            )
        if done:
            vote(self.grading, problem, units, mine, sink)
        return done


def grade_sample(
    grading: Grading, problem: Problem, unit: Unit, attempts: list[Attempt], graded: dict[Unit, Grade], sink: Sink
) -> Outcome:
    """Grade one sample's answered attempt (or its lack of one) and hand every grader's verdict to the sink."""
    if attempts and attempts[-1].status.infrastructure:
        return Outcome.NOT_ATTEMPTED
    final = attempts[-1] if attempts and attempts[-1].status == AttemptStatus.ANSWERED else None
    try:
        grades = grading.grade(problem, final.graded_output() if final else None)
    except GraderUnavailable as exc:
        sink.grader_failed(str(exc))
        return Outcome.UNGRADED
    sink.add_grades(unit, final.number if final else None, grades)
    graded[unit] = grades[FINAL]
    return Outcome.CORRECT if grades[FINAL].correct else Outcome.INCORRECT


def vote(grading: Grading, problem: Problem, units: list[Unit], graded: dict[Unit, Grade], sink: Sink) -> None:
    """Once every sample of a problem with several is graded: group their answers for majority voting."""
    if len(units) > 1 and all(unit in graded for unit in units):
        answers = {unit[1]: graded[unit].answer for unit in units if graded[unit].status != "no_answer"}
        sink.set_votes(problem.id, grading.vote(problem, answers))


def regrade_problem(
    grading: Grading, problem: Problem, samples: int, attempts: dict[Unit, list[Attempt]], sink: Sink
) -> list[Done]:
    """Grade the given samples' stored attempts again (no model is called), then vote."""
    units = [(problem.id, sample) for sample in range(1, samples + 1)]
    graded: dict[Unit, Grade] = {}
    done = [
        Done(problem, unit[1], grade_sample(grading, problem, unit, attempts[unit], graded, sink), attempts[unit])
        for unit in units
        if unit in attempts
    ]
    vote(grading, problem, units, graded, sink)
    return done

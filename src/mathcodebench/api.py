"""The Python API behind the CLI: run a study (or resume one) from data through solve and grading to the store."""

from __future__ import annotations

import platform
import re
from collections.abc import Callable
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from .data import Loaded, Problem, Selection, load, select, selection_hash
from .errors import UserError
from .grading import Grade, SymbolicGrader
from .models import DEFAULT_MODEL, ChatModel, GenerationParams, create_model
from .sandbox import DEFAULT_MODE, MODES, Limits, Sandbox, create_sandbox
from .solve import PROMPT_VERSION, Attempt, AttemptStatus, SolvePolicy, solve
from .store import RunStore


class RunConfig(BaseModel):
    """Everything that defines a run; stored verbatim so the run can be reproduced or resumed."""

    model: str = DEFAULT_MODEL
    dataset: str = "sample"
    selection: Selection = Selection()
    attempts: int = Field(default=10, ge=1, le=100)
    feedback: Literal["error", "none"] = "error"
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    retry_temperature: float = Field(default=0.7, ge=0.0, le=2.0)
    max_tokens: int = Field(default=512, ge=16)
    seed: int = 0
    timeout_s: float = Field(default=10.0, gt=0)
    memory_mb: int = Field(default=2048, ge=64)
    sandbox: str = DEFAULT_MODE
    grader_deadline_s: float = Field(default=10.0, gt=0)
    prompt_version: str = PROMPT_VERSION

    def policy(self) -> SolvePolicy:
        return SolvePolicy(
            attempts=self.attempts,
            feedback=self.feedback,
            retry_temperature=self.retry_temperature,
            params=GenerationParams(temperature=self.temperature, max_tokens=self.max_tokens, seed=self.seed),
            limits=Limits(timeout_s=self.timeout_s, memory_mb=self.memory_mb),
        )


OnProblem = Callable[[Problem, Grade, list[Attempt]], None]
GRADER = "symbolic"


def default_db(model: str) -> Path:
    slug = re.sub(r"[^A-Za-z0-9.]+", "-", model).strip("-")
    return Path("runs") / f"{datetime.now():%Y%m%d-%H%M%S}-{slug}.sqlite"


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("mathcodebench", "math-verify", "sympy", "llama-cpp-python", "pydantic"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "absent"
    return out


class Chosen(BaseModel):
    """The problems a run uses and how they were found; stored with the run."""

    problems: list[Problem]
    source: str
    selection_hash: str
    skipped: list[tuple[str, str]]  # (id, reason) of rows the source had but no usable item
    short_cells: list[str]


def choose_problems(dataset: str, selection: Selection) -> Chosen:
    loaded: Loaded = load(dataset)
    problems, short = select(loaded.problems, selection)
    return Chosen(problems=problems, source=loaded.source, selection_hash=selection_hash(problems),
                  skipped=[(s.id, s.reason) for s in loaded.skipped], short_cells=short)


def start_run(config: RunConfig, db: Path, model: ChatModel | None = None) -> tuple[RunStore, ChatModel, Chosen]:
    """Validate everything, then create the store (nothing is written when the input is bad)."""
    chosen = choose_problems(config.dataset, config.selection)
    model = model or create_model(config.model)
    if config.sandbox not in MODES:
        raise UserError(f"unknown sandbox mode {config.sandbox!r} (available: {', '.join(MODES)})")
    if config.sandbox == "strict":
        create_sandbox(config.sandbox).close()  # refuses now, before anything is written
    dataset = chosen.model_dump(exclude={"problems"})
    store = RunStore.create(db, config.model_dump(), model.spec, model.describe(), versions(), dataset,
                            chosen.problems)
    return store, model, chosen


def resume_run(db: Path, model: ChatModel | None = None) -> tuple[RunStore, ChatModel, RunConfig]:
    store = RunStore.open(db)
    config = RunConfig.model_validate(store.run_info()["config"])
    return store, model or create_model(config.model), config


def execute(store: RunStore, model: ChatModel, config: RunConfig, on_problem: OnProblem | None = None,
            sandbox: Sandbox | None = None) -> None:
    """Solve and grade every problem of the run that has no grade yet; each step is stored as it happens."""
    problems = store.problems()
    stored = store.attempts()
    graded = store.grades(GRADER)
    sandbox = sandbox or create_sandbox(config.sandbox)
    policy = config.policy()
    store.set_status("running")
    try:
        with SymbolicGrader(config.grader_deadline_s) as grader:
            for problem in problems:
                if problem.id in graded:
                    continue
                attempts = solve(problem, model, sandbox, policy, on_attempt=store.add_attempt,
                                 start_after=stored.get(problem.id))
                final = attempts[-1] if attempts and attempts[-1].status == AttemptStatus.ANSWERED else None
                grade = (grader.grade(final.stdout, problem.answer) if final else
                         Grade(correct=False, status="no_answer", method="none", answer=""))
                store.add_grade(problem.id, GRADER, final.number if final else None, grade)
                if on_problem:
                    on_problem(problem, grade, attempts)
        store.set_status("finished")
    except BaseException:
        store.set_status("interrupted")
        raise
    finally:
        sandbox.close()


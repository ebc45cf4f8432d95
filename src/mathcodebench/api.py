"""The Python API behind the CLI: run a study (or resume one) from data through solve and grading to the store."""

from __future__ import annotations

import platform
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from .data import Loaded, Problem, Selection, load, select, selection_hash
from .errors import UserError
from .grading import FINAL, Grading, GradingSettings
from .models import DEFAULT_MODEL, ChatModel, GenerationParams, create_model
from .sandbox import DEFAULT_MODE, MODES, Limits, Sandbox, create_sandbox
from .solve import PROMPT_VERSION, Attempt, AttemptStatus, SolvePolicy, first_messages, require_prefix, solve
from .store import RunStore


class RunConfig(BaseModel):
    """Everything that defines a run; stored verbatim so the run can be reproduced or resumed."""

    model: str = DEFAULT_MODEL
    base_url: str | None = None  # for openai-compatible/ and ollama/ models (never holds a key)
    concurrency: int | None = Field(default=None, ge=1, le=512)  # problems in flight; None: the backend's default
    dataset: str = "sample"
    selection: Selection = Selection()
    attempts: int = Field(default=10, ge=1, le=100)
    feedback: Literal["error", "none"] = "error"
    unsafe: Literal["report", "block"] = "report"
    regeneration: Literal["full", "tbt"] = "full"
    chat_template: str | None = None  # tbt on a server model: a built-in name or a Jinja file
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    retry_temperature: float = Field(default=0.7, ge=0.0, le=2.0)
    max_tokens: int = Field(default=512, ge=16)
    seed: int = 0
    timeout_s: float = Field(default=10.0, gt=0)
    memory_mb: int = Field(default=2048, ge=64)
    sandbox: str = DEFAULT_MODE
    grading: GradingSettings = GradingSettings()
    prompt_version: str = PROMPT_VERSION
    study: str | None = None  # the verbatim study file this run came from

    def policy(self) -> SolvePolicy:
        return SolvePolicy(
            attempts=self.attempts,
            feedback=self.feedback,
            retry_temperature=self.retry_temperature,
            unsafe=self.unsafe,
            regeneration=self.regeneration,
            params=GenerationParams(temperature=self.temperature, max_tokens=self.max_tokens, seed=self.seed),
            limits=Limits(timeout_s=self.timeout_s, memory_mb=self.memory_mb),
        )


OnProblem = Callable[[Problem, bool, list[Attempt]], None]


def slug(spec: str) -> str:
    """A model spec as a file-name part: `ollama/llama3.1:8b` -> `ollama-llama3.1-8b`."""
    return re.sub(r"[^A-Za-z0-9.]+", "-", spec).strip("-")


def default_db(model: str) -> Path:
    return Path("runs") / f"{datetime.now():%Y%m%d-%H%M%S}-{slug(model)}.sqlite"


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


def start_run(config: RunConfig, db: Path, model: ChatModel | None = None,
              judge: ChatModel | None = None) -> tuple[RunStore, ChatModel, Chosen]:
    """Validate everything, then create the store (nothing is written when the input is bad)."""
    chosen = choose_problems(config.dataset, config.selection)
    model = model or solver(config)
    if config.regeneration == "tbt" and chosen.problems:
        require_prefix(model, first_messages(chosen.problems[0]))
    if judge is None:
        judge_model(config.grading, model)  # an unknown judge spec fails here, before anything is written
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
    return store, model or solver(config), config


def solver(config: RunConfig) -> ChatModel:
    return create_model(config.model, config.base_url, concurrency=config.concurrency,
                        chat_template=config.chat_template)


def judge_model(settings: GradingSettings, solver: ChatModel | None) -> ChatModel | None:
    """The judge, sharing the solver's instance when it is the same model (one copy of the weights)."""
    if settings.mode == "symbolic" or settings.judge is None:
        return None
    if solver is not None and solver.spec == settings.judge:
        return solver
    return create_model(settings.judge)


def answered(attempts: list[Attempt]) -> Attempt | None:
    """The attempt whose output is graded: the last one, if it printed an answer."""
    return attempts[-1] if attempts and attempts[-1].status == AttemptStatus.ANSWERED else None


def grade_and_store(grading: Grading, store: RunStore, problem: Problem, attempts: list[Attempt]) -> bool:
    """Grade a problem's answered attempt (or its lack of one), store every grader's verdict; return `final`."""
    final = answered(attempts)
    grades = grading.grade(problem, final.stdout if final else None)
    store.add_grades(problem.id, final.number if final else None, grades)
    return grades[FINAL].correct


class _Stopped(Exception):
    """Raised in a worker after its current attempt is stored, once the run is being stopped."""


# A model backend that fails this many attempts in a row (each after its own retries) is down, not flaky:
# the run stops, resumable, rather than spending the rest of the problems' attempts on a dead server.
OUTAGE_ATTEMPTS = 10


def execute(store: RunStore, model: ChatModel, config: RunConfig, on_problem: OnProblem | None = None,
            sandbox: Sandbox | None = None, judge: ChatModel | None = None) -> None:
    """Solve and grade every problem of the run that has no final grade yet; each step is stored as it happens.

    This is the run's one scheduler: up to `concurrency` problems are in flight at once (threads; the model
    backend bounds its own requests, the sandbox pool its executions). On Ctrl-C or a fatal error, workers stop
    after the attempt they are in is stored; `--resume` continues from there.
    """
    stored = store.attempts()
    graded = store.grades(FINAL)
    todo = [p for p in store.problems() if p.id not in graded]
    workers = config.concurrency or getattr(model, "default_concurrency", 1)
    sandbox = sandbox or create_sandbox(config.sandbox)
    grading = Grading(config.grading, judge or judge_model(config.grading, model), store)
    policy = config.policy()
    stop = threading.Event()
    failing = [0]  # consecutive model errors, across workers
    lock = threading.Lock()

    def record(attempt: Attempt) -> None:
        store.add_attempt(attempt)
        with lock:
            failing[0] = failing[0] + 1 if attempt.status == AttemptStatus.MODEL_ERROR else 0
            outage = failing[0] >= OUTAGE_ATTEMPTS
        if outage:
            stop.set()
            raise UserError(f"{model.spec} failed {OUTAGE_ATTEMPTS} attempts in a row ({attempt.stderr[:160]}); "
                            f"the run is stopped: when the model is back, continue with "
                            f"mathcodebench run --resume {store.path}")
        if stop.is_set():
            raise _Stopped

    def work(problem: Problem) -> tuple[Problem, bool, list[Attempt]]:
        attempts = solve(problem, model, sandbox, policy, on_attempt=record, start_after=stored.get(problem.id))
        return problem, grade_and_store(grading, store, problem, attempts), attempts

    store.set_status("running")
    try:
        if workers == 1:
            for problem in todo:
                result = work(problem)
                if on_problem:
                    on_problem(*result)
        else:
            with ThreadPoolExecutor(workers, thread_name_prefix="mcb-problem") as pool:
                futures = [pool.submit(work, problem) for problem in todo]
                try:
                    for future in as_completed(futures):
                        result = future.result()  # re-raises a worker's exception here
                        if on_problem:
                            on_problem(*result)
                except BaseException:
                    stop.set()
                    for future in futures:
                        future.cancel()
                    raise
        store.set_status("finished")
    except BaseException:
        stop.set()
        store.set_status("interrupted")
        raise
    finally:
        grading.close()
        sandbox.close()


def regrade(store: RunStore, settings: GradingSettings, judge: ChatModel | None = None,
            on_problem: OnProblem | None = None) -> None:
    """Grade a stored run again (another mode, judge or tolerance) without calling the solving model.

    Judge verdicts come from the run's cache where the same judge saw the same answer before.
    """
    config = RunConfig.model_validate(store.run_info()["config"])
    attempts = store.attempts()
    finished = set(store.grades(FINAL))  # an interrupted run's unfinished problems stay open for --resume
    grading = Grading(settings, judge or judge_model(settings, None), store)
    try:
        store.clear_grades()
        store.set_config(config.model_copy(update={"grading": settings}).model_dump())
        for problem in store.problems():
            if problem.id not in finished:
                continue
            tried = attempts.get(problem.id, [])
            correct = grade_and_store(grading, store, problem, tried)
            if on_problem:
                on_problem(problem, correct, tried)
    finally:
        grading.close()

